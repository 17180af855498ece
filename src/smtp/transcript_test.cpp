// Golden transcript driver for ServerSession (architecture.md §4, testing layer 1): every
// tests/data/smtp/server/*.txt file is replayed and its S:/E: lines compared with what the session
// produced. Format: tests/data/smtp/server/README.md. Set GATEHOUSE_UPDATE_GOLDEN=1 to rewrite the
// files from the actual output after an intended change (then review the diff).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gatehouse/core/strings.hpp"
#include "gatehouse/smtp/reply.hpp"
#include "gatehouse/smtp/server_session.hpp"

namespace fs = std::filesystem;
using namespace gatehouse::smtp;
using gatehouse::core::parse_u64;

namespace {

fs::path data_dir() { return fs::path(GATEHOUSE_TEST_DATA) / "smtp" / "server"; }

std::vector<std::string> transcript_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_dir(), ec))
    if (e.is_regular_file() && e.path().extension() == ".txt") out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

std::string escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  if (!out.empty() && out.back() == ' ') {  // keep trailing spaces visible (editors strip them)
    out.pop_back();
    out += "\\x20";
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// C: payload -> bytes. "\r" or "\n" escapes make the bytes literal; otherwise CRLF is appended.
// A trailing "\c" sends the bytes without any line end.
bool client_bytes(std::string_view s, std::string& out, std::string& err) {
  bool literal = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i >= s.size()) return err = "dangling backslash", false;
    switch (s[i]) {
      case 'r': out.push_back('\r'); literal = true; break;
      case 'n': out.push_back('\n'); literal = true; break;
      case 't': out.push_back('\t'); break;
      case '\\': out.push_back('\\'); break;
      case 'c':
        if (i + 1 != s.size()) return err = "\\c must end the line", false;
        literal = true;
        break;
      case 'x': {
        if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return err = "bad \\x", false;
        out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
        i += 2;
        break;
      }
      default:
        return err = std::string("unknown escape \\") + s[i], false;
    }
  }
  if (!literal) out += "\r\n";
  return true;
}

std::string notify_text(unsigned n) {
  if (n == kNotifyNever) return "never";
  std::string s;
  auto add = [&](unsigned bit, const char* name) {
    if (!(n & bit)) return;
    if (!s.empty()) s += ',';
    s += name;
  };
  add(kNotifySuccess, "success");
  add(kNotifyFailure, "failure");
  add(kNotifyDelay, "delay");
  return s;
}

// Drains the session's events into transcript lines.
void collect(ServerSession& s, std::vector<std::string>& out) {
  while (auto ev = s.next_event()) {
    switch (ev->kind) {
      case EventKind::send: {
        std::string_view t = ev->text;
        while (!t.empty()) {
          auto end = t.find("\r\n");
          if (end == std::string_view::npos) {
            out.push_back("S: " + escape(t) + "   <-- no CRLF");
            break;
          }
          out.push_back("S: " + escape(t.substr(0, end)));
          t.remove_prefix(end + 2);
        }
        break;
      }
      case EventKind::helo:
        out.push_back("E: helo " + escape(ev->text) + (ev->esmtp ? " (esmtp)" : ""));
        break;
      case EventKind::ask_mail: {
        const auto& tx = s.transaction();
        std::string l = "E: ask_mail " + (ev->text.empty() ? std::string("<>") : escape(ev->text));
        const auto& p = tx.params;
        if (p.size) l += " size=" + std::to_string(*p.size);
        if (p.body == BodyType::seven_bit) l += " body=7bit";
        if (p.body == BodyType::eight_bit_mime) l += " body=8bitmime";
        if (p.body == BodyType::binary_mime) l += " body=binarymime";
        if (p.smtputf8) l += " smtputf8";
        if (!p.ret.empty()) l += " ret=" + p.ret;
        if (!p.envid.empty()) l += " envid=" + escape(p.envid);
        if (!p.auth.empty()) l += " auth=" + escape(p.auth);
        out.push_back(std::move(l));
        break;
      }
      case EventKind::ask_rcpt: {
        std::string l = "E: ask_rcpt " + escape(ev->text);
        if (ev->rcpt.notify != kNotifyNone) l += " notify=" + notify_text(ev->rcpt.notify);
        if (!ev->rcpt.orcpt.empty()) l += " orcpt=" + escape(ev->rcpt.orcpt);
        out.push_back(std::move(l));
        break;
      }
      case EventKind::body: out.push_back("E: body " + escape(ev->text)); break;
      case EventKind::ask_commit: out.push_back("E: ask_commit"); break;
      case EventKind::abort_body: out.push_back("E: abort_body"); break;
      case EventKind::start_tls: out.push_back("E: start_tls " + escape(ev->text)); break;
      case EventKind::close: out.push_back("E: close"); break;
      case EventKind::ask_auth: {
        const auto& a = ev->auth;
        std::string l = "E: ask_auth " + escape(ev->text) + " user=" + escape(a.username);
        if (!a.authzid.empty()) l += " authzid=" + escape(a.authzid);
        if (!a.password.empty()) l += " password=" + escape(a.password);
        if (!a.challenge.empty()) l += " challenge=" + escape(a.challenge);
        if (!a.digest.empty()) l += " digest=" + escape(a.digest);
        out.push_back(std::move(l));
        break;
      }
    }
  }
}

bool set_option(ServerOptions& o, std::string_view kv) {
  const auto eq = kv.find('=');
  const std::string_view k = kv.substr(0, eq);
  const std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
  if (k == "hostname") return o.hostname = std::string(v), true;
  if (k == "offer_starttls") return o.offer_starttls = (v.empty() || v == "1" || v == "true"), true;
  if (k == "auth_mechanisms") return o.auth_mechanisms = gatehouse::core::split(v, ','), true;
  if (k == "cram_nonce") {
    o.cram_nonce = [nonce = std::string(v)] { return nonce; };
    return true;
  }
  const auto n = parse_u64(v);
  if (!n) return false;
  if (k == "max_command_line") return o.limits.max_command_line = *n, true;
  if (k == "max_message_size") return o.limits.max_message_size = *n, true;
  if (k == "max_recipients") return o.limits.max_recipients = *n, true;
  if (k == "max_errors") return o.limits.max_errors = static_cast<unsigned>(*n), true;
  if (k == "body_chunk") return o.limits.body_chunk = *n, true;
  if (k == "max_buffered_input") return o.limits.max_buffered_input = *n, true;
  if (k == "max_auth_line") return o.limits.max_auth_line = *n, true;
  return false;
}

class Transcript : public ::testing::TestWithParam<std::string> {};

TEST_P(Transcript, Replays) {
  const fs::path path = data_dir() / GetParam();
  std::ifstream f(path, std::ios::binary);
  ASSERT_TRUE(f) << path;
  std::vector<std::string> file;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    file.push_back(std::move(line));
  }

  ServerOptions opts;
  opts.hostname = "gate.test";
  std::size_t first_action = file.size();
  for (std::size_t i = 0; i < file.size(); ++i) {
    const std::string& l = file[i];
    if (l.rfind("O: ", 0) == 0) {
      ASSERT_TRUE(set_option(opts, l.substr(3))) << path << ":" << i + 1 << ": bad option " << l;
    } else if (l.rfind("C:", 0) == 0 || l.rfind("A:", 0) == 0 || l.rfind("X:", 0) == 0) {
      first_action = std::min(first_action, i);
    }
  }

  ServerSession s(opts);
  s.start();
  std::vector<std::string> greeting, expected, actual, rewritten;
  collect(s, greeting);
  actual = greeting;

  auto payload = [](const std::string& l) { return l.size() > 3 ? l.substr(3) : std::string(); };
  for (std::size_t i = 0; i < file.size(); ++i) {
    const std::string& l = file[i];
    if (i == first_action) rewritten.insert(rewritten.end(), greeting.begin(), greeting.end());
    if (l.empty() || l[0] == '#' || l.rfind("O: ", 0) == 0) {
      rewritten.push_back(l);
      continue;
    }
    ASSERT_TRUE(l.size() >= 2 && l[1] == ':' && (l.size() == 2 || l[2] == ' '))
        << path << ":" << i + 1 << ": bad line: " << l;
    const char tag = l[0];
    const std::string arg = payload(l);
    if (tag == 'S' || tag == 'E') {
      expected.push_back(std::string(1, tag) + ": " + arg);
      continue;
    }
    const std::string action = std::string(1, tag) + ": " + arg;
    expected.push_back(action);
    actual.push_back(action);
    rewritten.push_back(l);
    std::vector<std::string> got;
    if (tag == 'C') {
      std::string bytes, err;
      ASSERT_TRUE(client_bytes(arg, bytes, err)) << path << ":" << i + 1 << ": " << err;
      s.feed(bytes);
    } else if (tag == 'A') {
      if (!s.awaiting_answer()) {
        got.push_back("!! A: given but no ask_* event is pending");
      } else {
        ReplyParser rp;
        auto r = rp.feed_line(arg);
        ASSERT_TRUE(r && r->code != 0) << path << ":" << i + 1 << ": bad answer " << arg;
        s.answer(*r);
      }
    } else if (tag == 'X') {
      if (arg == "timeout") s.timeout();
      else if (arg == "shutdown") s.shutdown();
      else if (arg == "tls_started") s.tls_started();
      else if (arg == "auth_mechanisms" || arg.rfind("auth_mechanisms ", 0) == 0)
        s.set_auth_mechanisms(gatehouse::core::split(arg.size() > 16 ? arg.substr(16) : std::string(), ','));
      else FAIL() << path << ":" << i + 1 << ": unknown X: action " << arg;
    } else {
      FAIL() << path << ":" << i + 1 << ": unknown tag in: " << l;
    }
    collect(s, got);
    actual.insert(actual.end(), got.begin(), got.end());
    rewritten.insert(rewritten.end(), got.begin(), got.end());
  }
  if (first_action == file.size()) rewritten.insert(rewritten.end(), greeting.begin(), greeting.end());

  if (std::getenv("GATEHOUSE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream o(path, std::ios::binary | std::ios::trunc);
    for (const auto& l : rewritten) o << l << '\n';
    return;
  }
  if (expected == actual) return;
  std::size_t k = 0;
  while (k < expected.size() && k < actual.size() && expected[k] == actual[k]) ++k;
  std::ostringstream msg;
  msg << path.filename().string() << ": first difference at transcript entry " << k + 1 << "\n"
      << "  expected: " << (k < expected.size() ? expected[k] : "<end>") << "\n"
      << "  actual:   " << (k < actual.size() ? actual[k] : "<end>") << "\n"
      << "full actual transcript:\n";
  for (const auto& l : actual) msg << "    " << l << "\n";
  ADD_FAILURE() << msg.str();
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = fs::path(info.param).stem().string();
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Smtp, Transcript, ::testing::ValuesIn(transcript_files()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Transcript);

TEST(TranscriptFolder, HasFiles) { EXPECT_GE(transcript_files().size(), 10u); }

}  // namespace
