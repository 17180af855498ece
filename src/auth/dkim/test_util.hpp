// Test helpers for the DKIM tests: file reading under GATEHOUSE_TEST_DATA, LF->CRLF message
// loading, a bounded coroutine runner, and a loader for the RFC 1035-style zone files that come
// with the vectors (tests/data/auth/dkim/*/dns.zone: "IN" class, parentheses across lines, ';'
// comments) into a dns::StaticZone. StaticZone's own format (docs/dns-zone-format.md) differs
// (no class, no parentheses, '#' comments), and the data stays byte-identical to its source, so
// the conversion lives here. dkimpy's zone marks records whose rdata is a file with a comment
// "; rdata = FILE": the loader reads that file (first line) as the TXT string.
// Must not: touch the network or the clock.
#pragma once
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <algorithm>
#include <cctype>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/dns/static_zone.hpp"

namespace gatehouse::auth::dkim::test {

inline std::filesystem::path data_dir() { return std::filesystem::path(GATEHOUSE_TEST_DATA) / "auth" / "dkim"; }

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << p;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string read_data(const std::string& rel) { return read_file(data_dir() / rel); }

// A test file (LF line ends) as a message.
inline Message load_message(const std::string& rel) {
  auto m = split_message(lf_to_crlf(read_data(rel)));
  EXPECT_TRUE(m.has_value()) << rel << ": " << (m ? "" : m.error().message);
  return m ? *m : Message{};
}

inline Message parse_message(std::string_view lf_text) {
  auto m = split_message(lf_to_crlf(lf_text));
  EXPECT_TRUE(m.has_value());
  return m ? *m : Message{};
}

// The whole message back as text (headers as given, empty line, body).
inline std::string join_message(const Message& m) {
  std::string s;
  for (const auto& h : m.headers) s += h.raw;
  s += "\r\n";
  s += m.body;
  return s;
}

// Prepends a header field (e.g. a new DKIM-Signature) to a message.
inline Message prepend(const Message& m, const std::string& field) {
  auto r = split_message(field + join_message(m));
  EXPECT_TRUE(r.has_value());
  return r ? *r : Message{};
}

// Spawns `aw` on `ioc`, runs it to completion or until `limit` passes.
template <class T>
std::optional<T> run_bounded(boost::asio::io_context& ioc, boost::asio::awaitable<T> aw,
                             std::chrono::milliseconds limit = std::chrono::seconds{10}) {
  struct State {
    std::optional<T> value;
    std::exception_ptr error;
  };
  auto st = std::make_shared<State>();
  auto on_done = [st, &ioc](std::exception_ptr e, T v) {
    if (e) st->error = e;
    else st->value = std::move(v);
    ioc.stop();
  };
  boost::asio::co_spawn(ioc, std::move(aw), on_done);
  ioc.restart();
  ioc.run_for(limit);
  ioc.restart();
  if (st->error) std::rethrow_exception(st->error);
  return std::move(st->value);
}

inline std::vector<SignatureResult> run_verify(dns::Resolver& dns, const Message& m, VerifyOptions o = {}) {
  boost::asio::io_context ioc;
  auto r = run_bounded(ioc, verify(dns, m, o));
  EXPECT_TRUE(r.has_value()) << "verify() did not complete";
  return r.value_or(std::vector<SignatureResult>{});
}

// ---- RFC 1035-style zone files (TXT records only)

namespace zone_detail {

struct Token {
  std::string text;
  bool quoted = false;
};

// Splits one logical record into tokens; parentheses are dropped.
inline std::vector<Token> tokens(const std::string& s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '(' || c == ')' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    Token t;
    if (c == '"') {
      t.quoted = true;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) {
          if (i + 3 < s.size() && isdigit(static_cast<unsigned char>(s[i + 1]))) {
            t.text.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3))));
            i += 4;
            continue;
          }
          t.text.push_back(s[i + 1]);
          i += 2;
          continue;
        }
        t.text.push_back(s[i++]);
      }
      ++i;  // closing quote
    } else {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '(' && s[i] != ')' && s[i] != '"')
        t.text.push_back(s[i++]);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace zone_detail

inline void load_rfc_zone_into(dns::StaticZone& zone, const std::filesystem::path& file) {
  std::istringstream in(read_file(file));
  std::string line, record, comment;
  int depth = 0;
  auto flush = [&] {
    auto toks = zone_detail::tokens(record);
    std::string note = comment;
    record.clear();
    comment.clear();
    if (toks.empty()) return;
    std::size_t k = 1;
    if (k < toks.size() && !toks[k].quoted && std::all_of(toks[k].text.begin(), toks[k].text.end(), ::isdigit)) ++k;
    if (k < toks.size() && (toks[k].text == "IN" || toks[k].text == "in")) ++k;
    if (k >= toks.size() || toks[k].text != "TXT") return;  // only TXT matters here
    std::vector<std::string> strings;
    for (std::size_t j = k + 1; j < toks.size(); ++j) strings.push_back(toks[j].text);
    if (strings.empty()) {  // dkimpy's "; rdata = FILE"
      auto pos = note.find("rdata = ");
      ASSERT_NE(pos, std::string::npos) << "TXT without data: " << toks[0].text;
      std::string name = note.substr(pos + 8);
      name = name.substr(0, name.find_first_of(" \t"));
      std::string text = read_file(file.parent_path() / name);
      strings.push_back(text.substr(0, text.find('\n')));
    }
    zone.add_txt(toks[0].text, strings);
  };
  while (std::getline(in, line)) {
    bool quoted = false;
    std::string code;
    for (std::size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (c == '"' && (i == 0 || line[i - 1] != '\\')) quoted = !quoted;
      if (c == ';' && !quoted) {
        comment += line.substr(i);
        break;
      }
      if (!quoted && c == '(') ++depth;
      if (!quoted && c == ')') --depth;
      code.push_back(c);
    }
    record += code + " ";
    if (depth == 0) flush();
  }
  flush();
}

inline dns::StaticZone load_rfc_zone(const std::string& rel) {
  dns::StaticZone z;
  load_rfc_zone_into(z, data_dir() / rel);
  return z;
}

}  // namespace gatehouse::auth::dkim::test
