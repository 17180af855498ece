// The Public Suffix List shipped with the build (installer/effective_tld_names.dat), compiled
// into the binary with the assembler's .incbin, so that an installed gatehouse can install the
// list into a new data directory without any file of the source tree. GATEHOUSE_BUNDLED_PSL
// (src/auth/dmarc/dmarc.cmake) names the file; the build re-assembles this file when it changes.
// Must not: be edited to hold the list as text (it is ~300 KB).
#include "gatehouse/auth/psl.hpp"

// A NUL after the data keeps the bytes usable as a C string in a debugger; it is not counted.
__asm__(".pushsection .rodata\n"
        ".global gatehouse_psl_begin\n"
        "gatehouse_psl_begin:\n"
        ".incbin \"" GATEHOUSE_BUNDLED_PSL "\"\n"
        ".global gatehouse_psl_end\n"
        "gatehouse_psl_end:\n"
        ".byte 0\n"
        ".popsection\n");

extern "C" const char gatehouse_psl_begin[];
extern "C" const char gatehouse_psl_end[];

namespace gatehouse::auth::psl {

std::string_view bundled_list() {
  return std::string_view(gatehouse_psl_begin, static_cast<std::size_t>(gatehouse_psl_end - gatehouse_psl_begin));
}

}  // namespace gatehouse::auth::psl
