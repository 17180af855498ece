#include "gatehouse/core/host.hpp"

#include <unistd.h>

namespace gatehouse::core {
std::string system_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}
std::string effective_hostname(std::string_view configured) {
  return configured.empty() ? system_hostname() : std::string(configured);
}
}  // namespace gatehouse::core
