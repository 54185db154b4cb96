// Fuzzes the Redis reply reader: hiredis's RESP parser with the reply
// functions every connection uses (they build `reply` trees directly), then
// the stream-reply readers and the event decoder on whatever parsed, as a
// listener does with an XREADGROUP reply. The input is the bytes a server
// would send. Properties: no crash, leak or sanitizer report; feeding the
// bytes in small chunks gives the same replies as feeding them at once.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <hiredis/read.h>

#include "fuzz_support.hpp"
#include "lightbus/event.hpp"
#include "lightbus/redis/reply.hpp"
#include "reply_reader.hpp"
#include "stream_reply.hpp"

using lightbus::fuzz::check;
using lightbus::redis::reply;

namespace {

struct reader_deleter {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};

struct parsed {
  std::vector<reply> replies;
  bool failed = false;
};

// Pops every complete reply; false once the reader reported an error.
bool drain(redisReader* rd, parsed& out) {
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(rd, &raw) != REDIS_OK)
      return false;
    if (raw == nullptr)
      return true;
    std::unique_ptr<reply> r{static_cast<reply*>(raw)};
    out.replies.push_back(std::move(*r));
  }
}

// Feeds `in` in chunks of `chunk` bytes (all at once for 0).
parsed read_all(std::string_view in, size_t chunk) {
  parsed out;
  std::unique_ptr<redisReader, reader_deleter> rd{
    redisReaderCreateWithFunctions(lightbus::redis::detail::reply_object_functions())};
  check(rd != nullptr, "a reader is created");
  if (chunk == 0)
    chunk = in.size();
  while (!in.empty()) {
    auto n = std::min(chunk, in.size());
    if (redisReaderFeed(rd.get(), in.data(), n) != REDIS_OK || !drain(rd.get(), out)) {
      out.failed = true;
      return out;
    }
    in.remove_prefix(n);
  }
  return out;
}

bool same_reply(const reply& a, const reply& b) {
  if (a.type != b.type || a.integer != b.integer || a.str != b.str
      || a.elements.size() != b.elements.size())
    return false;
  for (size_t i = 0; i < a.elements.size(); ++i)
    if (!same_reply(a.elements[i], b.elements[i]))
      return false;
  return true;
}

// What a listener does with a reply: XRANGE / XCLAIM form
// ([[id, [f, v, ...]], ...]) and XREADGROUP form ([[stream, entries], ...]).
void decode_as_stream_reply(reply r) {
  namespace detail = lightbus::redis::detail;
  (void) detail::is_no_such_key(r);
  detail::for_each_field(r, [](const std::string&, const reply&) {});
  if (r.is_array())
    for (auto& stream : r.elements)
      if (stream.is_array() && stream.elements.size() == 2)
        for (auto& e : detail::parse_entries(reply(stream.elements[1])))
          if (!e.deleted && !lightbus::is_noop_entry(e.fields))
            (void) lightbus::decode_event_fields(e.fields);
  for (auto& e : detail::parse_entries(std::move(r)))
    if (!e.deleted)
      (void) lightbus::decode_event_fields(e.fields);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto whole = read_all(in, 0);
  auto pieces = read_all(in, 1 + size % 7);
  check(whole.failed == pieces.failed, "chunked input fails exactly when whole input fails");
  check(whole.replies.size() == pieces.replies.size(),
        "chunked input gives as many replies as whole input");
  for (size_t i = 0; i < whole.replies.size(); ++i)
    check(same_reply(whole.replies[i], pieces.replies[i]),
          "chunked input gives the same replies as whole input");
  for (auto& r : whole.replies)
    decode_as_stream_reply(std::move(r));
  return 0;
}
