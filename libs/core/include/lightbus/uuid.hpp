#pragma once

#include <string>

namespace lightbus {

/// Returns a new time-based (version 1) UUID in canonical text form.
///
/// Python Lightbus writes `str(uuid.uuid1())` as message ids; we do the same.
/// Thread-safe; ids from one process are strictly increasing in time. The node
/// is a random 48-bit value with the multicast bit set (RFC 4122, 4.5).
std::string make_uuid1();

/// Returns true if `text` is a canonical lower-case UUID of any version.
bool is_uuid(const std::string& text) noexcept;

/// Returns the version nibble of a canonical UUID, or -1.
int uuid_version(const std::string& text) noexcept;

} // namespace lightbus
