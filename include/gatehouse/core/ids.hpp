// Strong 64-bit ids (queue ids, session ids): time-ordered, unique within the process and
// across restarts (microseconds since the Unix epoch, bumped to stay strictly increasing),
// printed as 16 lower-case hex digits like OpenSMTPD's session ids.
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::core {

struct Id64 {
  std::uint64_t value = 0;
  std::string hex() const;
  static std::optional<Id64> parse(std::string_view hex16);
  friend bool operator==(Id64, Id64) = default;
  friend auto operator<=>(Id64, Id64) = default;
};

using QueueId = Id64;
using SessionId = Id64;

// Thread-safe generator. `now_us` is injected so tests stay deterministic.
class IdGenerator {
 public:
  Id64 next(std::uint64_t now_us);
  Id64 next();  // uses the system clock

 private:
  std::atomic<std::uint64_t> last_{0};
};

IdGenerator& global_ids();

}  // namespace gatehouse::core
