// Splitting a header section into fields (RFC 5322 §2.2, §2.2.3, §3.6.8, §4.5.3), without
// copying; see header_fields.hpp.
// Pure. Must not: look past `cap` bytes of header section, or throw.
#include "header_fields.hpp"

namespace gatehouse::auth::dmarc::detail {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_ftext(char c) { return c >= 33 && c <= 126 && c != ':'; }

// The field name of a first line, or "" if the line does not start a field.
std::string_view field_name(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_ftext(line[i])) ++i;
  if (i == 0) return {};
  std::size_t j = i;
  while (j < line.size() && is_wsp(line[j])) ++j;  // obs-optional (§4.5.3)
  if (j == line.size() || line[j] != ':') return {};
  return line.substr(0, i);
}

}  // namespace

HeaderSection scan_header_section(std::string_view block, std::size_t cap) {
  HeaderSection out;
  struct Span {
    std::size_t begin, end;
  };
  std::vector<Span> spans;
  std::size_t pos = 0;
  while (pos < block.size()) {
    const auto nl = block.find('\n', pos);
    const std::size_t line_end = nl == std::string_view::npos ? block.size() : nl;
    const std::size_t next = nl == std::string_view::npos ? block.size() : nl + 1;
    std::string_view content = block.substr(pos, line_end - pos);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (content.empty()) {
      out.rest = block.substr(pos);
      break;
    }
    if (next > cap) {
      out.over_cap = true;
      break;
    }
    if (is_wsp(content.front()) && !spans.empty()) spans.back().end = next;
    else spans.push_back(Span{pos, next});
    pos = next;
  }
  out.fields.reserve(spans.size());
  for (const auto& s : spans) {
    Field f;
    f.raw = block.substr(s.begin, s.end - s.begin);
    if (!is_wsp(f.raw.front())) f.name = field_name(f.raw);
    if (!f.name.empty()) f.value = f.raw.substr(f.raw.find(':') + 1);
    out.fields.push_back(f);
  }
  return out;
}

std::optional<std::string> without_fields(std::string_view block, std::size_t cap,
                                          const std::function<bool(const Field&)>& drop) {
  auto section = scan_header_section(block, cap);
  if (section.over_cap) return std::nullopt;
  std::string out;
  out.reserve(block.size());
  for (const auto& f : section.fields)
    if (!drop(f)) out.append(f.raw);
  out.append(section.rest);
  return out;
}

std::string unfold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

}  // namespace gatehouse::auth::dmarc::detail
