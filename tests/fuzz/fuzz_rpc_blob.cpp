// Fuzzes the RPC call and result blob decoders (what a worker pops from
// `{api}:rpc_queue` and a caller pops from its result key). Properties: no
// crash or sanitizer report; whatever decodes re-encodes to a blob that
// decodes to the same message, and encoding is stable after one round.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "lightbus/message.hpp"

using lightbus::fuzz::check;
using lightbus::fuzz::same_value;

namespace {

void call_round_trip(std::string_view blob) {
  auto call = lightbus::decode_rpc_message(blob);
  if (!call)
    return;
  auto text = lightbus::encode(*call);
  auto again = lightbus::decode_rpc_message(text);
  check(again.has_value(), "an encoded call decodes");
  check(again->id == call->id && again->api_name == call->api_name
          && again->procedure_name == call->procedure_name
          && again->return_path == call->return_path,
        "a call's metadata survives encode + decode");
  check(same_value(again->kwargs, call->kwargs), "a call's kwargs survive encode + decode");
  check(lightbus::encode(*again) == text, "encoding a call is stable after one round");
}

void result_round_trip(std::string_view blob) {
  auto res = lightbus::decode_result_message(blob);
  if (!res)
    return;
  auto text = lightbus::encode(*res);
  auto again = lightbus::decode_result_message(text);
  check(again.has_value(), "an encoded result decodes");
  check(again->id == res->id && again->rpc_message_id == res->rpc_message_id
          && again->error == res->error,
        "a result's metadata survives encode + decode");
  check(same_value(again->result, res->result), "a result's value survives encode + decode");
  // The trace travels only with an error (as Python writes it).
  check(!res->error || again->trace.value_or("") == res->trace.value_or(""),
        "an error result's trace survives encode + decode");
  check(lightbus::encode(*again) == text, "encoding a result is stable after one round");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view blob(reinterpret_cast<const char*>(data), size);
  call_round_trip(blob);
  result_round_trip(blob);
  return 0;
}
