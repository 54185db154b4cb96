#pragma once

#include <chrono>
#include <string_view>

#include "lightbus/error.hpp"
#include "lightbus/redis/connection.hpp"
#include "lightbus/redis/reply.hpp"

/// Writes that wait for replicas (`replicas` option): `WAIT n timeout` after
/// an event's XADD, a call's RPUSH and a result's LPUSH.
///
/// Redis replicates asynchronously: a write the master acknowledged may be
/// lost when the master dies before a replica got it, and Sentinel promotes
/// that replica. WAIT blocks until `n` replicas acknowledged every earlier
/// write of this connection (or the timeout passed) and returns how many
/// did. A write counts as done only when enough did.
namespace lightbus::redis {

/// Returns how much longer than usual a write on a connection opened with
/// `opts` may take: the WAIT timeout when `replicas` is set, else 0. Add it to
/// a read timeout so that a slow WAIT is not taken for a dead server.
std::chrono::milliseconds wait_allowance(const connection_options& opts) noexcept;

/// Appends `WAIT replicas timeout_ms` when `conn.durability().replicas > 0`;
/// returns the number of replies it adds to the pipeline (0 or 1).
size_t append_wait(connection& conn);

/// Judges a WAIT reply: nothing when at least `d.replicas` replicas
/// acknowledged; else errc::unavailable (retryable) saying how many of how
/// many acknowledged, that the write is on the master only, and what to do;
/// a Redis error reply (e.g. WAIT refused by an ACL) keeps its code.
/// `what` names the write ("XADD to api.*:stream").
expected<void> check_wait_reply(const reply& r, const durability& d, std::string_view what);

/// Reads the WAIT reply that `append_wait` queued (nothing when it queued
/// none) and judges it.
expected<void> read_wait_reply(connection& conn, std::string_view what);

} // namespace lightbus::redis
