// Time-ordered 64-bit ids.
#include "gatehouse/core/ids.hpp"

#include <chrono>
#include <fmt/format.h>

namespace gatehouse::core {

std::string Id64::hex() const { return fmt::format("{:016x}", value); }

std::optional<Id64> Id64::parse(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  return Id64{v};
}

Id64 IdGenerator::next(std::uint64_t now_us) {
  std::uint64_t prev = last_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t cand = now_us > prev ? now_us : prev + 1;
    if (last_.compare_exchange_weak(prev, cand, std::memory_order_relaxed)) return Id64{cand};
  }
}

Id64 IdGenerator::next() {
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return next(static_cast<std::uint64_t>(now));
}

IdGenerator& global_ids() {
  static IdGenerator g;
  return g;
}

}  // namespace gatehouse::core
