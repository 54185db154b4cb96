// Fuzzes the stream-entry decoder (`decode_event_fields`, what a listener runs
// on every XREADGROUP entry). The input is the entry's fields as
// `name NUL value NUL name NUL value ...` (a missing last value is empty).
// Properties: no crash or sanitizer report; a decoded event re-encodes to
// fields that decode to the same event, and encoding is stable.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "lightbus/event.hpp"

using lightbus::fuzz::check;
using lightbus::fuzz::same_value;

namespace {

std::vector<lightbus::stream_field> split_fields(std::string_view in) {
  std::vector<std::string_view> parts;
  while (!in.empty()) {
    auto nul = in.find('\0');
    parts.push_back(in.substr(0, nul));
    if (nul == std::string_view::npos)
      break;
    in.remove_prefix(nul + 1);
  }
  std::vector<lightbus::stream_field> fields;
  for (size_t i = 0; i < parts.size(); i += 2)
    fields.emplace_back(std::string(parts[i]),
                        i + 1 < parts.size() ? std::string(parts[i + 1]) : std::string());
  return fields;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fields = split_fields(std::string_view(reinterpret_cast<const char*>(data), size));
  (void) lightbus::is_noop_entry(fields);
  auto msg = lightbus::decode_event_fields(fields);
  if (!msg)
    return 0;
  auto encoded = lightbus::encode_event_fields(*msg);
  auto again = lightbus::decode_event_fields(encoded);
  check(again.has_value(), "encoded event fields decode");
  check(again->id == msg->id && again->api_name == msg->api_name
          && again->event_name == msg->event_name && again->version == msg->version,
        "an event's metadata survives encode + decode");
  check(same_value(again->kwargs, msg->kwargs), "an event's kwargs survive encode + decode");
  check(lightbus::encode_event_fields(*again) == encoded,
        "encoding event fields is stable after one round");
  return 0;
}
