#pragma once

// What changes shape on a Redis Cluster: a command may only name keys of one
// slot (else Redis answers CROSSSLOT), so a read over several keys becomes
// one read per slot. Plain functions, unit-tested without a server; the
// callers choose them when `connection::cluster()` (or the URL) says so.

#include <string>
#include <string_view>
#include <vector>

namespace lightbus::redis {

/// Splits `keys` into the groups one multi-key command may name: all of them
/// in one group on a single Redis (`cluster` false: the command stays as it
/// always was), one group per hash slot on a cluster, in order of first
/// appearance, each keeping the keys' order. No empty group.
std::vector<std::vector<std::string>> groups_per_slot(const std::vector<std::string>& keys,
                                                      bool cluster);

/// Returns `{tag}`: a hash tag that puts every key containing it (first) in
/// the slot of `tag`.
std::string hash_tag(std::string_view tag);

} // namespace lightbus::redis
