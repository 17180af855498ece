// `gatehouse list add|remove|show LIST [ENTRY]` (list_cli.hpp): parses the words after "list",
// calls tlspolicy::ListStore, and prints. Results go to stdout, errors to stderr as one line
// "gatehouse: error: ..." (exit 1), usage errors like app's main() (exit 2).
// Must not write the database except through ListStore, or prompt.
#include "gatehouse/tlspolicy/list_cli.hpp"

#include <cstdio>
#include <fmt/format.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/cli.hpp"
#include "gatehouse/core/strings.hpp"
#include "gatehouse/tlspolicy/list_store.hpp"

namespace gatehouse::tlspolicy {
namespace {

using core::cli::fail;
using core::cli::note;
using core::cli::one_line;
using core::cli::usage_error;

constexpr const char* kLists = "starttls-whitelist, starttls-required or tls-domains";

void out(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

int run_list_command(config::Store& store, const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? std::string() : args[0];
  if (verb != "add" && verb != "remove" && verb != "show")
    return usage_error(fmt::format("list: expected 'add LIST ENTRY', 'remove LIST ENTRY' or 'show LIST' (LIST: {})",
                                   kLists));
  if (args.size() < 2) return usage_error(fmt::format("list {}: expected a list name: {}", verb, kLists));
  auto list = parse_list_name(args[1]);
  if (!list) return usage_error(fmt::format("list {}: unknown list '{}'; expected {}", verb, args[1], kLists));
  ListStore lists(store);
  if (verb == "show") {
    if (args.size() != 2) return usage_error("list show: takes a list name and no entry");
    auto entries = lists.show(*list);
    if (!entries) return fail(entries.error().message);
    std::string text;
    for (const auto& e : *entries) text += (e.empty() ? std::string("\"\"") : e) + "\n";
    out(text);
    std::fflush(stdout);
    return 0;
  }
  if (args.size() != 3)
    return usage_error(fmt::format("list {}: expected one entry after the list name (quote an entry with spaces; "
                                   "\"\" is the empty entry)",
                                   verb));
  if (verb == "add") {
    auto e = lists.add(*list, args[2]);
    if (!e) return fail(e.error().message);
    if (e->text != core::trim(args[2])) note(fmt::format("stored as '{}'", e->text));
    if (e->kind == Entry::Kind::everyone)
      note("the empty tls-domains entry applies TLS enforcement to every recipient");
    return 0;
  }
  auto st = lists.remove(*list, args[2]);
  if (!st) return fail(st.error().message);
  return 0;
}

}  // namespace gatehouse::tlspolicy
