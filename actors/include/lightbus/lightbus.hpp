#pragma once

// Everything a service or client needs: APIs, the bus client, bus modules and
// the supervised worker.

#include <caf/all.hpp>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/api.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/message.hpp"
