#pragma once

// Encoding an event's stream fields into a buffer the caller keeps, for
// senders that write many events (actors/src/event_sender.cpp). Kept out of
// event.hpp, which nearly every file includes.

#include <vector>

#include "lightbus/event.hpp"

namespace lightbus {

/// The fields of `encode_event_fields(msg)`, byte for byte, written into
/// `out` in place of what it held: the strings already in it are reused, so
/// a vector kept for events of one shape allocates nothing per event.
void encode_event_fields(const event_message& msg, std::vector<stream_field>& out);

} // namespace lightbus
