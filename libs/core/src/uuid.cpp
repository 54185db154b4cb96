#include "lightbus/uuid.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace lightbus {

namespace {

// 100 ns intervals between 1582-10-15 and 1970-01-01.
constexpr uint64_t gregorian_offset = 0x01B21DD213814000ULL;

struct uuid_node {
  uint64_t node;
  uint16_t clock_seq;
  uuid_node() {
    std::random_device rd;
    std::mt19937_64 gen{(uint64_t(rd()) << 32) ^ rd()};
    node = (gen() & 0xFFFFFFFFFFFFULL) | 0x010000000000ULL; // multicast bit
    clock_seq = static_cast<uint16_t>(gen() & 0x3FFF);
  }
};

const uuid_node& node() {
  static const uuid_node instance;
  return instance;
}

std::atomic<uint64_t> last_timestamp{0};

uint64_t next_timestamp() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  uint64_t ts = static_cast<uint64_t>(
                  std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()
                  / 100)
                + gregorian_offset;
  // Strictly increasing, even for many ids within one 100 ns tick.
  uint64_t prev = last_timestamp.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = ts > prev ? ts : prev + 1;
    if (last_timestamp.compare_exchange_weak(prev, next, std::memory_order_relaxed))
      return next;
  }
}

constexpr char hex[] = "0123456789abcdef";

void put_hex(char*& out, uint64_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i)
    *out++ = hex[(value >> (4 * i)) & 0xF];
}

} // namespace

std::string make_uuid1() {
  const auto& n = node();
  uint64_t ts = next_timestamp();
  uint32_t time_low = static_cast<uint32_t>(ts & 0xFFFFFFFF);
  uint16_t time_mid = static_cast<uint16_t>((ts >> 32) & 0xFFFF);
  uint16_t time_hi = static_cast<uint16_t>(((ts >> 48) & 0x0FFF) | 0x1000);
  uint16_t clock_seq = static_cast<uint16_t>(n.clock_seq | 0x8000); // variant 10
  std::string out(36, '-');
  char* p = out.data();
  put_hex(p, time_low, 8);
  ++p;
  put_hex(p, time_mid, 4);
  ++p;
  put_hex(p, time_hi, 4);
  ++p;
  put_hex(p, clock_seq, 4);
  ++p;
  put_hex(p, n.node, 12);
  return out;
}

bool is_uuid(const std::string& text) noexcept {
  if (text.size() != 36)
    return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

int uuid_version(const std::string& text) noexcept {
  if (!is_uuid(text))
    return -1;
  char c = text[14];
  return c >= 'a' ? c - 'a' + 10 : c - '0';
}

} // namespace lightbus
