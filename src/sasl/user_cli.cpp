// `gatehouse user add|passwd|remove|list` (user_cli.hpp): parses the words after "user", reads
// the password file, calls sasl::UserStore and prints. Results go to stdout, errors to stderr as
// one line "gatehouse: error: ..." (exit 1), usage errors like app's main() (exit 2).
// Must not print or log a password, hash or secret, take a password from argv, or prompt.
#include "gatehouse/sasl/user_cli.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <openssl/crypto.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/cli.hpp"
#include "gatehouse/core/error.hpp"
#include "gatehouse/sasl/user_store.hpp"

namespace gatehouse::sasl {
namespace {

using core::cli::fail;
using core::cli::note;
using core::cli::one_line;
using core::cli::usage_error;

constexpr std::size_t kMaxPasswordFile = 4096;

// Holds the password and wipes it on every way out.
struct Password {
  std::string text;
  ~Password() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

// The password in FILE ("-" = standard input): the content without one trailing LF or CRLF.
Status read_password(const std::string& path, Password& pw) {
  std::string& data = pw.text;
  data.resize(kMaxPasswordFile + 1);
  auto read_from = [&](std::istream& in) {
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
  };
  if (path == "-") {
    read_from(std::cin);
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      data.clear();
      return make_error(fmt::format("--password-file '{}': cannot open: {}", path, std::strerror(errno)));
    }
    read_from(f);
    if (f.bad()) return make_error(fmt::format("--password-file '{}': cannot read: {}", path, std::strerror(errno)));
  }
  if (data.size() > kMaxPasswordFile)
    return make_error(fmt::format("--password-file '{}': larger than {} KiB, which no password file is", path,
                                  kMaxPasswordFile / 1024));
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  if (data.empty()) return make_error(fmt::format("--password-file '{}': the password is empty", path));
  return {};
}

std::string iso8601_utc(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "-";
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

// add|passwd NAME --password-file FILE
int cmd_set(UserStore& users, const std::vector<std::string>& a, bool cram_enabled) {
  const std::string& verb = a[0];
  if (a.size() < 2 || a[1].starts_with("--"))
    return usage_error(fmt::format("user {}: expected a user name: user {} NAME --password-file FILE", verb, verb));
  std::string file;
  bool have_file = false;
  for (std::size_t i = 2; i < a.size(); ++i) {
    if (a[i] != "--password-file")
      return usage_error(a[i].starts_with("--")
                             ? fmt::format("user {}: unknown option '{}'", verb, a[i])
                             : fmt::format("user {}: unexpected argument (passwords are read from "
                                           "--password-file FILE only)",
                                           verb));
    if (have_file) return usage_error(fmt::format("user {}: --password-file given twice", verb));
    if (i + 1 >= a.size()) return usage_error(fmt::format("user {}: --password-file needs a value", verb));
    file = a[++i];
    have_file = true;
  }
  if (!have_file) return usage_error(fmt::format("user {}: --password-file FILE is required", verb));
  Password pw;
  if (auto st = read_password(file, pw); !st) return fail(st.error().message);
  auto st = verb == "add" ? users.add(a[1], pw.text, cram_enabled) : users.passwd(a[1], pw.text, cram_enabled);
  if (!st) return fail(st.error().message);
  if (cram_enabled)
    note(fmt::format("a CRAM-MD5 secret is stored for user '{}' because auth.cram_md5 is on (see the SMTP AUTH "
                     "section of docs/encryption.md)",
                     a[1]));
  return 0;
}

}  // namespace

int run_user_command(config::Store& store, const std::vector<std::string>& args, bool cram_enabled) {
  UserStore users(store);
  const std::string verb = args.empty() ? std::string() : args[0];
  int rc;
  if (verb == "add" || verb == "passwd") {
    rc = cmd_set(users, args, cram_enabled);
  } else if (verb == "remove") {
    if (args.size() != 2 || args[1].starts_with("--")) return usage_error("user remove: expected one user name");
    auto st = users.remove(args[1]);
    rc = st ? 0 : fail(st.error().message);
  } else if (verb == "list") {
    if (args.size() != 1) return usage_error("user list: takes no arguments");
    auto all = users.list();
    if (!all) return fail(all.error().message);
    for (const auto& u : *all) {
      const std::string line =
          fmt::format("{}\t{}\t{}\n", u.name, iso8601_utc(u.created), u.cram_md5 ? "cram-md5" : "-");
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    rc = 0;
  } else {
    rc = usage_error(
        "user: expected 'add NAME --password-file FILE', 'passwd NAME --password-file FILE', 'remove NAME' or "
        "'list'");
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace gatehouse::sasl
