// Shared output conventions of every `gatehouse` sub-command: an error is one line
// "gatehouse: error: ..." on stderr with exit code 1 (refused) or 2 (usage); notes go to stderr.
// Control characters in messages become spaces, so an error is always exactly one line.
#pragma once
#include <cstdio>
#include <string>

namespace gatehouse::core::cli {

inline std::string one_line(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

inline int fail(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "gatehouse: error: %s\n", one_line(msg).c_str());
  return 1;
}

inline int usage_error(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "gatehouse: error: %s\n(run 'gatehouse --help' for usage)\n", one_line(msg).c_str());
  return 2;
}

inline void note(const std::string& msg) {
  std::fflush(stdout);
  std::fprintf(stderr, "gatehouse: %s\n", one_line(msg).c_str());
}

}  // namespace gatehouse::core::cli
