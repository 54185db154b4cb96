#pragma once

#include <nlohmann/json_fwd.hpp>

namespace lightbus {

class api;
class config;
struct api_config;
struct error;
struct event_message;
struct parameter;
struct procedure;
struct result_message;
struct rpc_message;
template <class T>
class expected;

/// JSON value as used throughout lightbus (nlohmann::json).
using json = nlohmann::json;

} // namespace lightbus
