#include "gatehouse/core/clock.hpp"

namespace gatehouse::core {
Clock& system_clock() {
  static SystemClock c;
  return c;
}
}  // namespace gatehouse::core
