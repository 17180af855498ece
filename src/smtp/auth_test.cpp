// Unit tests for AUTH in ServerSession (RFC 4954): what the transcripts cannot show — that no
// send event or error text ever carries a credential, the authenticated_user() state across
// RSET/EHLO/STARTTLS, mechanism normalisation, the 12288-octet default line limit, one nonce per
// CRAM-MD5 challenge, pausing, error counting and arbitrary input splits.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gatehouse/smtp/server_session.hpp"

using namespace gatehouse::smtp;

namespace {

// A password, its PLAIN and LOGIN encodings, and a CRAM digest that must never be sent back.
constexpr const char* kPassword = "S3cr3t-Pa55w0rd!";
constexpr const char* kPlainB64 = "AHRpbQBTM2NyM3QtUGE1NXcwcmQh";        // "\0tim\0S3cr3t-Pa55w0rd!"
constexpr const char* kPlainAuthzB64 = "dGltAHRpbQBTM2NyM3QtUGE1NXcwcmQh";  // "tim\0tim\0..."
constexpr const char* kPasswordB64 = "UzNjcjN0LVBhNTV3MHJkIQ==";
constexpr const char* kDigest = "b913a602c7eda7a495b4e6e7334d3890";
constexpr const char* kCramB64 = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw";  // "tim <kDigest>"

ServerOptions options(std::vector<std::string> mechs = {"PLAIN", "LOGIN", "CRAM-MD5"}) {
  ServerOptions o;
  o.hostname = "gate.test";
  o.auth_mechanisms = std::move(mechs);
  o.cram_nonce = [] { return std::string("42.1700000000"); };
  o.limits.max_errors = 100;  // the scripts below make many errors on purpose
  return o;
}

// Records everything, answers asks with the given auth reply (and 250 for MAIL/RCPT/commit).
struct Driver {
  explicit Driver(ServerOptions o = options(), Reply auth_answer = Reply{235, {2, 7, 0}, "Authentication successful"})
      : s(std::move(o)), answer(std::move(auth_answer)) {
    s.start();
    pump();
  }
  void feed(std::string_view b) {
    s.feed(b);
    pump();
  }
  void pump() {
    while (auto e = s.next_event()) {
      switch (e->kind) {
        case EventKind::send: wire += e->text; break;
        case EventKind::ask_auth:
          auths.push_back(e->auth);
          other_text += e->text;
          s.answer(answer);
          break;
        case EventKind::ask_mail: other_text += e->text; s.answer(Reply{250, {2, 1, 0}, "Ok"}); break;
        case EventKind::ask_rcpt: other_text += e->text; s.answer(Reply{250, {2, 1, 5}, "Ok"}); break;
        case EventKind::ask_commit: s.answer(Reply{250, {2, 0, 0}, "Ok: queued"}); break;
        default: other_text += e->text; break;
      }
    }
  }
  ServerSession s;
  Reply answer;
  std::string wire, other_text;
  std::vector<AuthRequest> auths;
};

void expect_no_secret(const std::string& text, const char* what) {
  for (const char* secret : {kPassword, kPlainB64, kPlainAuthzB64, kPasswordB64, kDigest, kCramB64, "UzNjcjN0"})
    EXPECT_EQ(text.find(secret), std::string::npos) << what << " contains " << secret << ":\n" << text;
}

// Every AUTH path in one script: success and failure per mechanism, malformed messages, cancel,
// bad base64, pipelining, over-long lines, AUTH in the wrong state.
const char* kEveryPath =
    "AUTH PLAIN AHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "EHLO client.example\r\n"
    "AUTH PLAIN AHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "AUTH PLAIN\r\nAHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "AUTH PLAIN dGltAHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "AUTH PLAIN YWRtaW4AdGltAFMzY3IzdC1QYTU1dzByZCE=\r\n"   // authzid admin: refused by the session
    "AUTH PLAIN AHRpbQBTM2NyM3QtUGE1NXcwcmQh=\r\n"          // bad base64
    "AUTH LOGIN\r\ndGlt\r\nUzNjcjN0LVBhNTV3MHJkIQ==\r\n"
    "AUTH LOGIN dGlt\r\nUzNjcjN0LVBhNTV3MHJkIQ==\r\n"
    "AUTH LOGIN\r\ndGlt\r\n*\r\n"
    "AUTH LOGIN\r\n\r\nUzNjcjN0LVBhNTV3MHJkIQ==\r\n"          // empty user name: 535 after the password
    "AUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    "AUTH CRAM-MD5 dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    "AUTH PLAIN\r\nUzNjcjN0LVBhNTV3MHJkIQ== AHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "AUTH XOAUTH2 AHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "AUTH PLAIN AHRpbQBTM2NyM3QtUGE1NXcwcmQh extra\r\n"
    "MAIL FROM:<a@example.org>\r\n"
    "AUTH PLAIN AHRpbQBTM2NyM3QtUGE1NXcwcmQh\r\n"
    "RSET\r\n"
    "UzNjcjN0LVBhNTV3MHJkIQ==\r\n"
    "QUIT\r\n";

}  // namespace

TEST(Auth, NoSendEventContainsCredentials) {
  for (int answer : {235, 535, 454}) {
    Driver d(options(), Reply{answer, {answer / 100, 7, answer == 235 ? 0 : (answer == 535 ? 8 : 0)}, "fixed text"});
    d.feed(kEveryPath);
    EXPECT_TRUE(d.s.closed());
    EXPECT_FALSE(d.auths.empty());
    expect_no_secret(d.wire, "the wire");
    expect_no_secret(d.other_text, "an event text");
    // The credentials did reach the driver.
    bool saw_password = false, saw_digest = false;
    for (const auto& a : d.auths) {
      saw_password = saw_password || a.password == kPassword;
      saw_digest = saw_digest || a.digest == kDigest;
    }
    EXPECT_TRUE(saw_password);
    EXPECT_TRUE(saw_digest || answer == 235);  // after a 235 every later AUTH is 503
  }
}

TEST(Auth, NoSendEventContainsCredentialsWhateverTheSplit) {
  const std::string script = kEveryPath;
  for (std::size_t step : {1u, 3u, 7u, 64u}) {
    Driver d(options(), Reply{535, {5, 7, 8}, "Authentication credentials invalid"});
    for (std::size_t i = 0; i < script.size(); i += step) d.feed(std::string_view(script).substr(i, step));
    expect_no_secret(d.wire, "the wire");
    Driver whole(options(), Reply{535, {5, 7, 8}, "Authentication credentials invalid"});
    whole.feed(script);
    EXPECT_EQ(d.wire, whole.wire) << "step " << step;
  }
}

TEST(Auth, AuthenticatedUserOnlyAfterA2xxAnswerAndUntilStartTls) {
  ServerOptions o = options({"PLAIN"});
  o.offer_starttls = true;
  ServerSession s(o);
  s.start();
  s.feed("EHLO c.example\r\nAUTH PLAIN " + std::string(kPlainB64) + "\r\n");
  std::optional<Event> ask;
  while (auto e = s.next_event())
    if (e->kind == EventKind::ask_auth) ask = std::move(e);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->text, "PLAIN");
  EXPECT_EQ(ask->auth.mechanism, "PLAIN");
  EXPECT_EQ(ask->auth.username, "tim");
  EXPECT_EQ(ask->auth.authzid, "");
  EXPECT_EQ(ask->auth.password, kPassword);
  EXPECT_TRUE(s.awaiting_answer());
  EXPECT_FALSE(s.wants_input());
  EXPECT_EQ(s.authenticated_user(), "");
  s.answer(Reply{535, {5, 7, 8}, "Authentication credentials invalid"});
  EXPECT_EQ(s.authenticated_user(), "");
  EXPECT_FALSE(s.awaiting_answer());
  s.feed("AUTH PLAIN " + std::string(kPlainAuthzB64) + "\r\n");
  while (auto e = s.next_event()) {
    if (e->kind != EventKind::ask_auth) continue;
    EXPECT_EQ(e->auth.authzid, "tim");
  }
  s.answer(Reply{235, {2, 7, 0}, "Authentication successful"});
  EXPECT_EQ(s.authenticated_user(), "tim");
  s.feed("RSET\r\nEHLO c.example\r\nNOOP\r\n");
  while (s.next_event()) {
  }
  EXPECT_EQ(s.authenticated_user(), "tim");
  s.feed("STARTTLS\r\n");
  while (s.next_event()) {
  }
  s.tls_started();
  EXPECT_EQ(s.authenticated_user(), "");
}

TEST(Auth, LoginAndCramEventFields) {
  Driver d(options(), Reply{535, {5, 7, 8}, "no"});
  d.feed("EHLO c.example\r\nAUTH LOGIN\r\ndGlt\r\n");
  EXPECT_TRUE(d.s.wants_input());
  EXPECT_FALSE(d.s.awaiting_answer());
  d.feed(std::string(kPasswordB64) + "\r\nAUTH CRAM-MD5\r\n");
  EXPECT_NE(d.wire.find("334 PDQyLjE3MDAwMDAwMDBAZ2F0ZS50ZXN0Pg==\r\n"), std::string::npos) << d.wire;  // <42.1700000000@gate.test>
  d.feed("dGltIEI5MTNBNjAyQzdFREE3QTQ5NUI0RTZFNzMzNEQzODkw\r\n");  // upper-case digest
  ASSERT_EQ(d.auths.size(), 2u);
  EXPECT_EQ(d.auths[0].mechanism, "LOGIN");
  EXPECT_EQ(d.auths[0].username, "tim");
  EXPECT_EQ(d.auths[0].password, kPassword);
  EXPECT_EQ(d.auths[0].challenge, "");
  EXPECT_EQ(d.auths[1].mechanism, "CRAM-MD5");
  EXPECT_EQ(d.auths[1].username, "tim");
  EXPECT_EQ(d.auths[1].password, "");
  EXPECT_EQ(d.auths[1].challenge, "<42.1700000000@gate.test>");
  EXPECT_EQ(d.auths[1].digest, kDigest);
}

TEST(Auth, MechanismsAreNormalised) {
  ServerOptions o = options({"login", "FOO", "Plain", "cram-md5", "LOGIN", ""});
  o.cram_nonce = nullptr;
  ServerSession s(o);
  EXPECT_EQ(s.auth_mechanisms(), (std::vector<std::string>{"LOGIN", "PLAIN"}));
  ServerSession with_nonce(options({"cram-md5", "plain"}));
  EXPECT_EQ(with_nonce.auth_mechanisms(), (std::vector<std::string>{"CRAM-MD5", "PLAIN"}));
  with_nonce.set_auth_mechanisms({});
  EXPECT_TRUE(with_nonce.auth_mechanisms().empty());
  with_nonce.start();
  with_nonce.feed("EHLO c.example\r\nAUTH PLAIN =\r\n");
  std::string wire;
  while (auto e = with_nonce.next_event())
    if (e->kind == EventKind::send) wire += e->text;
  EXPECT_EQ(wire.find("AUTH"), std::string::npos) << wire;
  EXPECT_NE(wire.find("503 5.5.1 Error: authentication not enabled\r\n"), std::string::npos) << wire;
}

TEST(Auth, DefaultLineLimitIs12288ForAuthLinesOnly) {
  Driver d(options({"PLAIN"}));
  d.feed("EHLO c.example\r\n");
  d.wire.clear();
  // "AUTH PLAIN " (11) + base64 + CRLF (2) = 12288 exactly: accepted (a malformed message, 535).
  const std::string ok_line = "AUTH PLAIN " + std::string(12275 - 12275 % 4, 'Q') + std::string(12275 % 4, ' ') + "\r\n";
  ASSERT_EQ(ok_line.size(), 12288u);
  d.feed(ok_line);
  EXPECT_EQ(d.wire, "535 5.7.8 Authentication credentials invalid\r\n");
  d.wire.clear();
  d.feed("AUTH PLAIN " + std::string(12276, 'Q') + "\r\n");  // 12289
  EXPECT_EQ(d.wire, "500 5.5.6 Authentication Exchange line is too long\r\n");
  d.wire.clear();
  d.feed("NOOP " + std::string(2100, 'x') + "\r\n");  // other commands keep max_command_line
  EXPECT_EQ(d.wire, "500 5.5.2 Error: line too long\r\n");
  d.wire.clear();
  d.feed("AUTH PLAIN\r\n" + std::string(12284, 'Q') + "\r\n");  // a 12286-octet response
  EXPECT_EQ(d.wire, "334 \r\n535 5.7.8 Authentication credentials invalid\r\n");
}

TEST(Auth, OneNoncePerChallenge) {
  int calls = 0;
  ServerOptions o = options({"CRAM-MD5"});
  o.cram_nonce = [&calls] { return "n" + std::to_string(++calls); };
  Driver d(o, Reply{535, {5, 7, 8}, "no"});
  d.feed("EHLO c.example\r\nAUTH CRAM-MD5\r\n");
  d.feed(std::string(kCramB64) + "\r\nAUTH CRAM-MD5\r\n" + kCramB64 + "\r\n");
  EXPECT_EQ(calls, 2);
  ASSERT_EQ(d.auths.size(), 2u);
  EXPECT_EQ(d.auths[0].challenge, "<n1@gate.test>");
  EXPECT_EQ(d.auths[1].challenge, "<n2@gate.test>");
}

TEST(Auth, RefusalsCountAsErrors) {
  ServerOptions o = options({"PLAIN"});
  o.limits.max_errors = 2;
  Driver d(o, Reply{535, {5, 7, 8}, "Authentication credentials invalid"});
  d.feed("EHLO c.example\r\n");
  for (int i = 0; i < 3; ++i) d.feed("AUTH PLAIN " + std::string(kPlainB64) + "\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_NE(d.wire.find("421 4.7.0 gate.test Error: too many errors\r\n"), std::string::npos) << d.wire;
  EXPECT_EQ(d.auths.size(), 3u);
}

TEST(Auth, A421AnswerCloses) {
  Driver d(options({"PLAIN"}), Reply{421, {4, 7, 0}, "gate.test Error: too many failed logins, try again later"});
  d.feed("EHLO c.example\r\nAUTH PLAIN " + std::string(kPlainB64) + "\r\nNOOP\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.s.authenticated_user(), "");
  EXPECT_EQ(d.wire.find("250 2.0.0 Ok"), std::string::npos) << d.wire;  // the pipelined NOOP is dropped
}

TEST(Auth, ShutdownAndTimeoutDuringExchange) {
  for (bool shutdown : {true, false}) {
    Driver d(options({"LOGIN"}));
    d.feed("EHLO c.example\r\nAUTH LOGIN\r\ndGlt\r\n");
    d.wire.clear();
    if (shutdown) d.s.shutdown();
    else d.s.timeout();
    d.pump();
    EXPECT_TRUE(d.s.closed());
    EXPECT_EQ(d.wire, shutdown ? "421 4.3.2 gate.test Service shutting down\r\n"
                               : "421 4.4.2 gate.test Error: timeout exceeded\r\n");
    d.feed(std::string(kPasswordB64) + "\r\n");
    EXPECT_TRUE(d.auths.empty());
  }
}

TEST(Auth, MoveKeepsExchangeState) {
  ServerSession a(options({"LOGIN"}));
  a.start();
  a.feed("EHLO c.example\r\nAUTH LOGIN\r\ndGlt\r\n");
  while (a.next_event()) {
  }
  ServerSession b(std::move(a));
  b.feed(std::string(kPasswordB64) + "\r\n");
  std::optional<Event> ask;
  while (auto e = b.next_event())
    if (e->kind == EventKind::ask_auth) ask = std::move(e);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->auth.password, kPassword);
  b.answer(Reply{235, {2, 7, 0}, "ok"});
  EXPECT_EQ(b.authenticated_user(), "tim");
}
