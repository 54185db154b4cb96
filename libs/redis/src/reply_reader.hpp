#pragma once

// Private to libs/redis (and its unit tests and fuzzers): the hiredis reply
// functions every connection reads with.

#include <hiredis/read.h>

namespace lightbus::redis::detail {

/// Returns the functions through which hiredis builds `reply` trees; a root
/// reply a reader hands out is a heap `reply` (free it with `delete`).
redisReplyObjectFunctions* reply_object_functions() noexcept;

} // namespace lightbus::redis::detail
