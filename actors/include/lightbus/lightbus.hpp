#pragma once

// Everything a service or client needs: APIs, the bus clients, bus modules,
// typed handler actors, the supervised worker and run_until_signal.
// <lightbus/client.hpp> alone is the blocking client, without CAF.

#include <caf/all.hpp>

#include "lightbus/actors/atoms.hpp"
#include "lightbus/actors/bus.hpp"
#include "lightbus/actors/errors.hpp"
#include "lightbus/actors/module.hpp"
#include "lightbus/actors/run.hpp"
#include "lightbus/actors/worker.hpp"
#include "lightbus/api.hpp"
#include "lightbus/client.hpp"
#include "lightbus/config.hpp"
#include "lightbus/error.hpp"
#include "lightbus/message.hpp"
