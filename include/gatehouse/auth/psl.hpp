// Public Suffix List (https://publicsuffix.org/list/, "Formal algorithm"): parses Mozilla's
// effective_tld_names.dat and answers "public suffix" and "registrable domain" questions. DMARC
// in RFC 7489 mode (§3.2) uses the registrable domain as the organizational domain. RFC 9989
// finds it with a DNS tree walk instead (architecture.md §6), so DMARC reaches this list through
// dmarc::OrgDomainStrategy.
//
// Names are compared in one form, the A-label form: ASCII letters are lower-cased and each
// non-ASCII label (UTF-8) is Punycode-encoded (RFC 3492) with the "xn--" prefix. List rules and
// inputs both go through to_ascii(), so "食狮.中国" and "xn--85x722f.xn--fiqs8s" get the same
// answer. Answers keep the input's own form, lower-cased. Only ASCII is lower-cased: there is no
// IDNA2008 / UTS #46 mapping (no Unicode case folding, no NFC). The list itself is lower case,
// and IDNA2008 forbids upper-case U-labels.
//
// The list is pure: text in, answers out. Holder lets threads share one list while the
// application swaps in a new one. load_file(), check_reload() and ensure_installed() are the
// only functions here that touch files, so call them from startup code or a worker thread,
// never from an io thread.
// Must not: throw on anything a list or a domain contains, or read past the caps below.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gatehouse/core/error.hpp"

namespace gatehouse::auth::psl {

// Which part of the list the prevailing rule came from. `implicit`: no rule matched, and the
// algorithm's default rule "*" (the last label is the public suffix) was used.
enum class Section : std::uint8_t { icann, private_domains, implicit };
std::string_view to_string(Section s);  // "icann", "private", "implicit"

struct Match {
  std::string public_suffix;                      // in the input's form, lower-cased
  std::optional<std::string> registrable_domain;  // public suffix plus one label; nullopt if the
                                                  // input is itself a public suffix
  Section section = Section::implicit;            // section of the prevailing rule
  std::string rule;                               // prevailing rule in A-label form ("*.ck",
                                                  // "!www.ck", "com"); "*" for the implicit rule
};

struct LookupOptions {
  bool include_private = true;  // false: ignore rules of the PRIVATE DOMAINS section
};

class List {
 public:
  static constexpr std::size_t kMaxListSize = 16 * 1024 * 1024;  // bytes of list text
  static constexpr std::size_t kMaxLineLength = 4096;
  static constexpr std::size_t kMaxRules = 1'000'000;
  static constexpr std::size_t kMaxRuleLength = 253;     // A-label form, without "*." / "!"
  static constexpr std::size_t kMaxDomainLength = 1024;  // input bytes (U-labels are longer)
  static constexpr std::size_t kMaxLabels = 127;

  // An empty list: only the implicit "*" rule, so the registrable domain is the last two labels.
  List() = default;

  // Mozilla's format: UTF-8 lines; lines starting with "//" are comments; a rule is read up to the
  // first whitespace; "*.rest" is a wildcard, "!rule" an exception. The section markers
  // "// ===BEGIN ICANN DOMAINS===", "// ===END ICANN DOMAINS===" and the PRIVATE pair set each
  // rule's section. They must pair up, so a truncated file fails to parse. Rules outside any
  // section count as ICANN. Errors read "line N: ...". They cover: invalid UTF-8, characters other
  // than letters, digits, '-' and '_', empty labels, '*' anywhere but as the whole leftmost
  // label, an exception with a wildcard or with a single label, a line or rule over the cap,
  // unpaired markers, and a list with no rule at all. A rule listed twice keeps its first section.
  static Expected<List> parse(std::string_view text);

  // The formal algorithm. `domain` may be in UTF-8 or A-label form, in any ASCII case, with one
  // trailing dot (ignored). nullopt for a domain that cannot be looked up: empty, a leading dot or
  // an empty label, invalid UTF-8, a Punycode overflow, or more than kMaxDomainLength bytes /
  // kMaxLabels labels.
  std::optional<Match> lookup(std::string_view domain, LookupOptions options = {}) const;
  // lookup(domain)->public_suffix, or "" for a domain that cannot be looked up.
  std::string public_suffix(std::string_view domain) const;
  // lookup(domain)->registrable_domain (nullopt also for a domain that cannot be looked up).
  std::optional<std::string> registrable_domain(std::string_view domain) const;

  std::size_t rule_count() const { return icann_rules_ + private_rules_; }
  std::size_t icann_rule_count() const { return icann_rules_; }
  std::size_t private_rule_count() const { return private_rules_; }
  std::size_t wildcard_count() const { return wildcard_.size(); }
  std::size_t exception_count() const { return exception_.size(); }

 private:
  // Keys are the rule in A-label form without its "*." or "!" prefix.
  std::unordered_map<std::string, Section> exact_;
  std::unordered_map<std::string, Section> wildcard_;
  std::unordered_map<std::string, Section> exception_;
  std::size_t icann_rules_ = 0;
  std::size_t private_rules_ = 0;
};

// A domain in A-label form (see the header comment): ASCII lower-cased, non-ASCII labels
// Punycode-encoded with "xn--", one trailing dot dropped. nullopt under the same conditions as
// List::lookup(). It does not check label lengths (63) or hostname characters.
std::optional<std::string> to_ascii(std::string_view domain);

// Shares the current list between threads, and lets a reload swap in a new one. Readers keep the
// shared_ptr they got for as long as they need one consistent list (one message). Built on
// std::atomic<std::shared_ptr> (not lock-free in GCC 12: a short internal lock around the pointer
// copy only, never around parsing).
class Holder {
 public:
  Holder();                      // an empty List until set()
  explicit Holder(List list);
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;

  std::shared_ptr<const List> get() const;
  void set(List list);
  void set(std::shared_ptr<const List> list);  // a null pointer is ignored
  std::uint64_t generation() const;            // 0 at construction, +1 per set()

 private:
  std::atomic<std::shared_ptr<const List>> list_;
  std::atomic<std::uint64_t> generation_{0};
};

// The list's file name in the data directory, and the semaphore that asks for a reload (the
// seed product's names). check_reload() also accepts the semaphore name in lower case.
inline constexpr std::string_view kListFileName = "effective_tld_names.dat";
inline constexpr std::string_view kReloadSemaphore = "PUBLICSUFFIX.SEM";

// The list shipped with the build (installer/effective_tld_names.dat), compiled into the binary
// (bundled.cpp), so an installed gatehouse needs no file besides itself.
std::string_view bundled_list();

// Reads (at most List::kMaxListSize bytes) and parses one list file. Errors name the file.
Expected<List> load_file(const std::filesystem::path& file);

// The list to use for a data directory: <data_dir>/effective_tld_names.dat, or the bundled list
// when that file is missing or does not parse (`fallback` then says why; empty otherwise).
struct Loaded {
  List list;
  std::string fallback;
};
Loaded load_installed(const std::filesystem::path& data_dir);

// For the application to call periodically (e.g. once a minute). nullopt: no semaphore in
// `data_dir`. Otherwise the semaphore is deleted first (so one dropped during the reload asks for
// another), then <data_dir>/effective_tld_names.dat is loaded and swapped into `holder`. The
// result is an error if the file is missing or does not parse (the current list stays), or if the
// semaphore could not be deleted (the list may still have been swapped: see the message).
std::optional<Status> check_reload(const std::filesystem::path& data_dir, Holder& holder);

// At startup: copies `bundled` to <data_dir>/effective_tld_names.dat if that file does not exist
// (durably: temp file, fsync, rename). The bundled file must parse first. Returns true if it
// copied, false if a list was already installed. `data_dir` must exist.
Expected<bool> ensure_installed(const std::filesystem::path& data_dir, const std::filesystem::path& bundled);
// The same with the list's text (bundled_list()) instead of a file.
Expected<bool> ensure_installed(const std::filesystem::path& data_dir, std::string_view bundled_text);

}  // namespace gatehouse::auth::psl
