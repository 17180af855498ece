// Clock seam: production code asks a Clock for the time so tests can move it by hand.
#pragma once
#include <atomic>
#include <chrono>

namespace gatehouse::core {

using SysTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  SysTime now() const override { return std::chrono::system_clock::now(); }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(SysTime start = SysTime{std::chrono::seconds{1'700'000'000}}) : now_(start.time_since_epoch().count()) {}
  SysTime now() const override { return SysTime{SysTime::duration{now_.load()}}; }
  void advance(SysTime::duration d) { now_ += d.count(); }
  void set(SysTime t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<SysTime::rep> now_;
};

Clock& system_clock();

// Seconds since the Unix epoch, for records on disk.
inline std::int64_t to_unix(SysTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline SysTime from_unix(std::int64_t s) { return SysTime{std::chrono::seconds{s}}; }

}  // namespace gatehouse::core
