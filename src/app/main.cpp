// gatehouse: composition root and command line (placeholder until the modules land).
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::puts("gatehouse 0.1.0");
    return 0;
  }
  std::fputs("usage: gatehouse [--data-dir DIR] <command> ...\n", stderr);
  return 2;
}
