// Internal to auth/dmarc: splits a message's header section into fields (RFC 5322 §2.2, §2.2.3
// folding, §3.6.8 field names, §4.5.3 obsolete WSP before the colon) without copying. Lines end
// in CRLF or a bare LF. Used by from_domain(), remove_header_fields() and
// auth::remove_forged_fields().
// Must not: look past `cap` bytes of header section, or throw.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::auth::dmarc::detail {

struct Field {
  std::string_view raw;    // the whole field: first line and continuation lines, with line ends
  std::string_view name;   // "" when the first line is not a field (no ':', bad name, or a
                           // continuation line before any field)
  std::string_view value;  // after the ':' up to the end of raw (line ends included)
};

struct HeaderSection {
  std::vector<Field> fields;
  std::string_view rest;  // the empty line that ends the section and everything after it
  bool over_cap = false;  // the section is longer than the cap (fields are then incomplete)
};

HeaderSection scan_header_section(std::string_view block, std::size_t cap);

// The section without the fields `drop` says yes to, byte for byte otherwise (the empty line and
// what follows it are kept). nullopt if the section is longer than `cap`.
std::optional<std::string> without_fields(std::string_view block, std::size_t cap,
                                          const std::function<bool(const Field&)>& drop);

// A field value with its line breaks removed (RFC 5322 §2.2.3 unfolding; a stray CR or LF is
// dropped too).
std::string unfold(std::string_view value);

}  // namespace gatehouse::auth::dmarc::detail
