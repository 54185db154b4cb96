// How hiredis's reader builds `reply` trees (libs/redis/src/reply_reader.hpp): every
// connection reads with these, and the reply fuzzer (tests/fuzz) feeds them.

#include "reply_reader.hpp"

#include <algorithm>

#include "lightbus/redis/connection.hpp"

namespace lightbus::redis {

namespace {

// hiredis builds each reply through these functions: straight into a
// `reply` tree, with no redisReply objects to copy from and free (that copy
// was a third of a listener's allocations). A root is a heap `reply`; a child
// is a slot of its parent's `elements`, which grows as the children arrive: an
// array header alone must not allocate for every element it announces (a
// 12-byte `*100000000` asked for 7 GB; found by tests/fuzz/fuzz_redis_reply).
// Growing is safe: hiredis holds pointers only to the arrays still being
// read, and a parent gets child `idx` only after its earlier children are done.
constexpr size_t max_reserved_elements = 1024;

reply* slot_for(const redisReadTask* task) {
  if (task->parent == nullptr)
    return new reply;
  auto* parent = static_cast<reply*>(task->parent->obj);
  auto idx = static_cast<size_t>(task->idx);
  if (idx >= parent->elements.size())
    parent->elements.resize(idx + 1);
  return &parent->elements[idx];
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  auto* r = slot_for(task);
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      r->type = reply::kind::error;
      break;
    case REDIS_REPLY_STATUS:
      r->type = reply::kind::status;
      break;
    default:
      r->type = reply::kind::string;
      break;
  }
  r->str.assign(str, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* r = slot_for(task);
  r->type = reply::kind::array;
  r->elements.reserve(std::min(static_cast<size_t>(std::max(elements, 0)), max_reserved_elements));
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  auto* r = slot_for(task);
  r->type = reply::kind::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  auto* r = slot_for(task);
  r->type = reply::kind::nil;
  return r;
}

// hiredis frees only roots (a reply it will not hand out, or the one
// pending when the context is freed).
void free_reply(void* r) {
  delete static_cast<reply*>(r);
}

redisReplyObjectFunctions reply_functions{create_string, create_array, create_integer,
                                          create_nil, free_reply};

} // namespace

redisReplyObjectFunctions* detail::reply_object_functions() noexcept {
  return &reply_functions;
}

} // namespace lightbus::redis
