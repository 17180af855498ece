// The machine's host name (gethostname), used when smtp.hostname is empty.
#pragma once
#include <string>
#include <string_view>

namespace gatehouse::core {
std::string system_hostname();
// `configured` when non-empty, else the system host name.
std::string effective_hostname(std::string_view configured);
}  // namespace gatehouse::core
