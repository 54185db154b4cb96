// Fuzzes the Python-style JSON writer (`dump_python`), two ways on every input:
// 1. the input as JSON text: parse -> write -> parse gives the same value, and
//    writing that value again gives the same bytes;
// 2. the input as the recipe of a value built in C++ (any bytes in strings,
//    any double, deep nesting): the output is printable ASCII JSON that
//    parses (when every number is finite), and for valid UTF-8 it
//    round-trips as in 1.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_support.hpp"
#include "lightbus/json.hpp"

using lightbus::json;
using lightbus::fuzz::check;
using lightbus::fuzz::same_value;
using lightbus::fuzz::valid_utf8;

namespace {

void round_trip_text(std::string_view text) {
  auto value = lightbus::parse_json(text);
  if (!value)
    return;
  auto once = lightbus::dump_python(*value);
  auto parsed = lightbus::parse_json(once);
  check(parsed.has_value(), "the writer's output of a parsed value parses");
  check(same_value(*parsed, *value), "parse -> write -> parse gives the same value");
  check(lightbus::dump_python(*parsed) == once, "writing is stable after one round");
}

struct recipe {
  FuzzedDataProvider& in;
  bool finite = true;     // every number is finite
  bool utf8 = true;       // every string and key is valid UTF-8

  std::string text() {
    auto s = in.ConsumeRandomLengthString(64);
    utf8 = utf8 && valid_utf8(s);
    return s;
  }

  json value(int depth) {
    switch (in.ConsumeIntegralInRange<int>(0, depth > 0 ? 7 : 5)) {
      case 0: return nullptr;
      case 1: return in.ConsumeBool();
      case 2: return in.ConsumeIntegral<int64_t>();
      case 3: return in.ConsumeIntegral<uint64_t>();
      case 4: {
        // Any bit pattern: NaN payloads, infinities, subnormals, -0.0.
        auto bits = in.ConsumeIntegral<uint64_t>();
        double x;
        std::memcpy(&x, &bits, sizeof x);
        finite = finite && std::isfinite(x);
        return x;
      }
      case 5: return text();
      case 6: {
        auto out = json::array();
        for (auto n = in.ConsumeIntegralInRange<int>(0, 8); n > 0 && in.remaining_bytes() > 0; --n)
          out.push_back(value(depth - 1));
        return out;
      }
      default: {
        auto out = json::object();
        for (auto n = in.ConsumeIntegralInRange<int>(0, 8); n > 0 && in.remaining_bytes() > 0; --n) {
          auto k = text();
          out[k] = value(depth - 1);
        }
        return out;
      }
    }
  }
};

void round_trip_built(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  recipe r{in};
  auto value = r.value(6);
  auto once = lightbus::dump_python(value);
  for (unsigned char c : once)
    check(c >= 0x20 && c < 0x7F, "the writer's output is printable ASCII");
  auto parsed = lightbus::parse_json(once);
  // NaN and Infinity are Python's extensions, which parse_json may refuse
  // (issue 12, item 4); when it reads them, they must round-trip too.
  check(parsed.has_value() || !r.finite, "the writer's output of a built value parses");
  if (!parsed || !r.utf8)
    return; // invalid UTF-8 was written as U+FFFD: a different value
  check(same_value(*parsed, value), "write -> parse gives the built value");
  check(lightbus::dump_python(*parsed) == once, "writing a built value is stable after one round");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  round_trip_text(std::string_view(reinterpret_cast<const char*>(data), size));
  round_trip_built(data, size);
  return 0;
}
