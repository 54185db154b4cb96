#pragma once

#include "lightbus/fwd.hpp"

namespace lightbus {

class hooks;
class schema_cache;

namespace engine {

class call_executor;
class client_pipeline;

} // namespace engine

} // namespace lightbus
