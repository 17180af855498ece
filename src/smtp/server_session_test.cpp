// Unit tests for ServerSession: what the transcripts cannot show (reply batching, state
// accessors, wants_input, transaction contents, arbitrary input splits, large messages).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gatehouse/smtp/server_session.hpp"

using namespace gatehouse::smtp;

namespace {

ServerOptions options() {
  ServerOptions o;
  o.hostname = "gate.test";
  return o;
}

std::vector<Event> drain(ServerSession& s) {
  std::vector<Event> out;
  while (auto e = s.next_event()) out.push_back(std::move(*e));
  return out;
}

// Drives a session like a driver would: answers every ask with 250, records the wire, the
// body of every committed message and the event kinds.
struct Driver {
  explicit Driver(ServerOptions o = options()) : s(std::move(o)) {
    s.start();
    pump();
  }
  void feed(std::string_view b) {
    s.feed(b);
    pump();
  }
  void pump() {
    while (auto e = s.next_event()) {
      kinds.push_back(e->kind);
      switch (e->kind) {
        case EventKind::send: wire += e->text; ++sends; break;
        case EventKind::body:
          max_body_event = std::max(max_body_event, e->text.size());
          body += e->text;
          break;
        case EventKind::abort_body: body.clear(); ++aborts; break;
        case EventKind::ask_commit:
          messages.push_back(std::move(body));
          body.clear();
          s.answer(Reply{250, {2, 0, 0}, "Ok: queued as X"});
          break;
        case EventKind::ask_mail: s.answer(Reply{250, {2, 1, 0}, "Ok"}); break;
        case EventKind::ask_rcpt: s.answer(Reply{250, {2, 1, 5}, "Ok"}); break;
        default: break;
      }
    }
  }
  ServerSession s;
  std::string wire, body;
  std::vector<std::string> messages;
  std::vector<EventKind> kinds;
  std::size_t sends = 0, aborts = 0, max_body_event = 0;
};

const char* kGreeting = "220 gate.test ESMTP Gatehouse\r\n";

}  // namespace

TEST(ServerSession, GreetingAndInitialState) {
  ServerSession s(options());
  EXPECT_FALSE(s.next_event());
  s.start();
  auto e = s.next_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, EventKind::send);
  EXPECT_EQ(e->text, kGreeting);
  EXPECT_FALSE(s.next_event());
  s.start();  // idempotent
  EXPECT_FALSE(s.next_event());
  EXPECT_TRUE(s.wants_input());
  EXPECT_FALSE(s.awaiting_answer());
  EXPECT_FALSE(s.closed());
  EXPECT_FALSE(s.in_data());
  EXPECT_EQ(s.helo_name(), "");
  EXPECT_FALSE(s.esmtp());
}

TEST(ServerSession, PipelinedRepliesAreBatchedIntoOneSend) {
  ServerSession s(options());
  s.feed("NOOP\r\nRSET\r\nVRFY x\r\nHELO a.example\r\nNOOP\r\n");
  auto ev = drain(s);
  // HELO emits a helo event, so the replies before it are flushed first to keep order.
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, EventKind::send);
  EXPECT_EQ(ev[0].text,
            "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n252 2.5.2 Cannot VRFY user, but will accept message "
            "and attempt delivery\r\n250 gate.test\r\n");
  EXPECT_EQ(ev[1].kind, EventKind::helo);
  EXPECT_EQ(ev[1].text, "a.example");
  EXPECT_FALSE(ev[1].esmtp);
  EXPECT_EQ(ev[2].kind, EventKind::send);
  EXPECT_EQ(ev[2].text, "250 2.0.0 Ok\r\n");
  EXPECT_EQ(s.helo_name(), "a.example");
}

TEST(ServerSession, AskPausesAndBuffersUntilAnswered) {
  ServerSession s(options());
  s.feed("EHLO c.example\r\n");
  drain(s);
  EXPECT_TRUE(s.esmtp());
  s.feed("MAIL FROM:<A@Example.org> SIZE=10 SMTPUTF8 RET=FULL ENVID=x+2By\r\nRCPT TO:<B@Ex");
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::ask_mail);
  EXPECT_EQ(ev[0].text, "A@Example.org");
  EXPECT_TRUE(s.awaiting_answer());
  EXPECT_FALSE(s.wants_input());
  // visible while the driver decides
  EXPECT_EQ(s.transaction().mail_from, "A@Example.org");
  EXPECT_EQ(s.transaction().params.size, 10u);
  EXPECT_TRUE(s.transaction().params.smtputf8);
  EXPECT_EQ(s.transaction().params.ret, "FULL");
  EXPECT_EQ(s.transaction().params.envid, "x+y");
  s.feed("AMPLE.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@example.com\r\n");
  EXPECT_TRUE(drain(s).empty());  // still paused

  s.answer(Reply{250, {2, 1, 0}, "Ok"});
  ev = drain(s);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, EventKind::send);
  EXPECT_EQ(ev[0].text, "250 2.1.0 Ok\r\n");
  EXPECT_EQ(ev[1].kind, EventKind::ask_rcpt);
  EXPECT_EQ(ev[1].rcpt.address, "B@ExAMPLE.com");
  EXPECT_EQ(ev[1].rcpt.domain, "example.com");
  EXPECT_EQ(ev[1].rcpt.notify, unsigned{kNotifyFailure | kNotifyDelay});
  EXPECT_EQ(ev[1].rcpt.orcpt, "rfc822;b@example.com");
  EXPECT_TRUE(s.transaction().rcpts.empty());  // added only when accepted

  s.answer(Reply{250, {2, 1, 5}, "Ok"});
  ASSERT_EQ(s.transaction().rcpts.size(), 1u);
  EXPECT_EQ(s.transaction().rcpts[0].domain, "example.com");
  EXPECT_TRUE(s.wants_input());
  EXPECT_FALSE(s.awaiting_answer());
}

TEST(ServerSession, RefusedMailClearsTransactionAndRefusedRcptIsNotAdded) {
  ServerSession s(options());
  s.feed("HELO c\r\nMAIL FROM:<a@b.example>\r\n");
  drain(s);
  s.answer(Reply{550, {5, 7, 1}, "no"});
  EXPECT_EQ(s.transaction().mail_from, "");
  s.feed("MAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster>\r\n");
  drain(s);
  s.answer(Reply{250, {2, 1, 0}, "Ok"});
  auto ev = drain(s);
  ASSERT_EQ(ev.back().kind, EventKind::ask_rcpt);
  EXPECT_EQ(ev.back().rcpt.address, "postmaster");
  EXPECT_EQ(ev.back().rcpt.domain, "");
  s.answer(Reply{450, {4, 2, 0}, "later"});
  EXPECT_TRUE(s.transaction().rcpts.empty());
  EXPECT_EQ(s.transaction().mail_from, "a@b.example");
}

TEST(ServerSession, AnswerWithoutAskIsIgnoredAndBadCodesBecome451) {
  ServerSession s(options());
  s.answer(Reply{250, {2, 0, 0}, "stray"});
  EXPECT_TRUE(drain(s).empty());
  s.feed("HELO c\r\nMAIL FROM:<>\r\n");
  drain(s);
  s.answer(Reply{354, {}, "nonsense for MAIL"});
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "451 4.3.0 Error: internal error\r\n");
  EXPECT_FALSE(s.awaiting_answer());
}

TEST(ServerSession, AnswerTextCannotInjectReplies) {
  ServerSession s(options());
  s.feed("HELO c\r\nMAIL FROM:<>\r\n");
  drain(s);
  s.answer(Reply{550, {5, 7, 1}, "bad\r\n250 2.0.0 Ok"});
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "550 5.7.1 bad  250 2.0.0 Ok\r\n");
}

TEST(ServerSession, WantsInputFalseWhilePausedOrAboveBufferCap) {
  auto o = options();
  o.limits.max_buffered_input = 64;
  ServerSession s(o);
  s.feed("HELO c\r\nMAIL FROM:<>\r\n");
  drain(s);
  EXPECT_FALSE(s.wants_input());  // paused
  s.feed(std::string(100, 'x') + "\r\n");  // still accepted while paused
  EXPECT_FALSE(s.wants_input());
  s.answer(Reply{250, {2, 1, 0}, "Ok"});
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].text, "250 2.1.0 Ok\r\n500 5.5.2 Error: command not recognized\r\n");
  EXPECT_TRUE(s.wants_input());
  s.feed("NOOP " + std::string(100, 'y'));  // a partial line above the cap
  EXPECT_FALSE(s.wants_input());
  s.feed("\r\n");
  EXPECT_TRUE(s.wants_input());
}

TEST(ServerSession, StartTlsDiscardsBufferedInputAndResets) {
  auto o = options();
  o.offer_starttls = true;
  ServerSession s(o);
  s.feed("EHLO c\r\n");
  drain(s);
  s.feed("NOOP\r\nSTARTTLS\r\nEHLO evil\r\nMAIL FROM:<x@y.example>\r\n");
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].text, "250 2.0.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(ev[1].kind, EventKind::start_tls);
  EXPECT_EQ(ev[1].text, "discarded=36");
  EXPECT_FALSE(s.wants_input());
  s.feed("NOOP\r\n");
  EXPECT_TRUE(drain(s).empty());
  s.tls_started();
  EXPECT_TRUE(drain(s).empty());
  EXPECT_TRUE(s.wants_input());
  EXPECT_EQ(s.helo_name(), "");
  EXPECT_FALSE(s.esmtp());
  s.feed("EHLO c\r\n");
  ev = drain(s);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].text.find("STARTTLS"), std::string::npos);
}

TEST(ServerSession, InDataAndClosedFlags) {
  Driver d;
  d.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
  EXPECT_TRUE(d.s.in_data());
  d.feed("x\r\n.\r\n");
  EXPECT_FALSE(d.s.in_data());
  d.feed("BDAT 3\r\nab");
  EXPECT_TRUE(d.s.in_data());  // no MAIL: the chunk is still read (and dropped), so data timeout
  d.feed("c");
  EXPECT_FALSE(d.s.in_data());
  d.feed("QUIT\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_FALSE(d.s.wants_input());
  d.feed("NOOP\r\n");
  d.s.timeout();
  d.s.shutdown();
  EXPECT_EQ(d.kinds.back(), EventKind::close);
}

TEST(ServerSession, MoveKeepsState) {
  ServerSession a(options());
  a.feed("HELO c\r\n");
  ServerSession b(std::move(a));
  EXPECT_EQ(b.helo_name(), "c");
  ServerSession c(options());
  c = std::move(b);
  EXPECT_EQ(c.helo_name(), "c");
  EXPECT_TRUE(c.next_event());
}

TEST(ServerSession, ErrorLimitBoundary) {
  auto o = options();
  o.limits.max_errors = 2;
  ServerSession s(o);
  s.feed("X\r\nY\r\n");
  EXPECT_FALSE(s.closed());
  drain(s);
  s.feed("Z\r\nNOOP\r\n");
  EXPECT_TRUE(s.closed());
  auto ev = drain(s);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].text,
            "500 5.5.2 Error: command not recognized\r\n421 4.7.0 gate.test Error: too many "
            "errors\r\n");
  EXPECT_EQ(ev[1].kind, EventKind::close);
}

namespace {

// A message with long lines, dot-stuffed lines and lines that look like end markers.
std::string make_body(std::size_t lines) {
  std::string b;
  for (std::size_t i = 0; i < lines; ++i) {
    switch (i % 5) {
      case 0: b += ".starts with a dot " + std::to_string(i); break;
      case 1: b += std::string(200 + i % 97, 'a' + static_cast<char>(i % 26)); break;
      case 2: b += "."; break;
      case 3: b += ""; break;
      default: b += "..two dots"; break;
    }
    b += "\r\n";
  }
  return b;
}

std::string stuff(const std::string& body) {
  std::string out;
  bool bol = true;
  for (char c : body) {
    if (bol && c == '.') out += '.';
    out += c;
    bol = c == '\n';
  }
  return out;
}

}  // namespace

TEST(ServerSession, ArbitrarySplitsGiveTheSameResult) {
  const std::string body = make_body(300);
  std::string session = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
                        "DATA\r\n" + stuff(body) + ".\r\n" +
                        "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
                        "BDAT 10\r\n0123456789BDAT 6 LAST\r\nab\r\n\r\nNOOP\r\nQUIT\r\n";
  Driver whole;
  whole.feed(session);
  ASSERT_EQ(whole.messages.size(), 2u);
  EXPECT_EQ(whole.messages[0], body);
  EXPECT_EQ(whole.messages[1], "0123456789ab\r\n\r\n");
  EXPECT_TRUE(whole.s.closed());

  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    Driver d;
    std::size_t pos = 0;
    while (pos < session.size()) {
      std::size_t n = round == 0 ? 1 : 1 + rng() % 97;
      n = std::min(n, session.size() - pos);
      d.feed(std::string_view(session).substr(pos, n));
      pos += n;
    }
    ASSERT_EQ(d.messages, whole.messages) << "round " << round;
    ASSERT_EQ(d.wire, whole.wire) << "round " << round;
    ASSERT_TRUE(d.s.closed());
  }
}

TEST(ServerSession, BodyEventsRespectBodyChunk) {
  auto o = options();
  o.limits.body_chunk = 1000;
  Driver d(o);
  const std::string body = make_body(2000);
  d.feed("EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
  d.feed(stuff(body) + ".\r\n");
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0], body);
  EXPECT_EQ(d.max_body_event, 1000u);
}

TEST(ServerSession, RandomGarbageNeverCrashesAndStaysBounded) {
  std::mt19937 rng(7);
  const char alphabet[] = "\r\n.<>:@ MAILFROMRCPTTODATABDATLASTEHLOxyz0123456789=,;\"\\\x80\xff";
  for (int round = 0; round < 300; ++round) {
    auto o = options();
    o.limits.max_command_line = 64;
    o.limits.max_errors = 1000;
    o.limits.max_message_size = 500;
    o.offer_starttls = round % 2 == 0;
    Driver d(o);
    for (int i = 0; i < 50 && !d.s.closed(); ++i) {
      std::string chunk;
      const std::size_t n = rng() % 40;
      for (std::size_t k = 0; k < n; ++k) chunk += alphabet[rng() % (sizeof alphabet - 1)];
      if (rng() % 4 == 0) chunk += "\r\n";
      d.feed(chunk);
      if (!d.s.closed() && !d.s.wants_input() && !d.s.awaiting_answer()) d.s.tls_started();
    }
  }
}

// Not a benchmark (Debug build, shared machine): a sanity check that many small pipelined
// messages go through one session correctly; prints the rate for the curious.
TEST(ServerSession, ManySmallMessages) {
  Driver d;
  d.feed("EHLO c.example\r\n");
  const std::string msg =
      "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "From: a@b.example\r\nTo: c@d.example\r\nSubject: test\r\n\r\n" +
      std::string(2000, 'x') + "\r\n.\r\n";
  constexpr int kMessages = 20000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kMessages; ++i) d.feed(msg);
  const auto dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(d.messages.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(d.aborts, 0u);
  std::printf("  %d messages in %.3f s (%.0f msg/s, unoptimized build)\n", kMessages, dt,
              kMessages / dt);
}
