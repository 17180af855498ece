// Unit tests for the spool's pure layer: CRC32C vectors (hardware and table paths agree) and
// the record framing and payload codecs (round trips, and rejection of anything damaged).
// Must not touch the filesystem.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "crc32c.hpp"
#include "record.hpp"

using namespace gatehouse::queue;
using namespace gatehouse::queue::detail;

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c_portable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, PathsAgreeAndChain) {
  std::mt19937 rng(7);
  std::string data(5000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 100u, 4096u, 5000u}) {
    for (std::size_t off : {0u, 1u, 3u}) {
      if (off + len > data.size()) continue;
      EXPECT_EQ(crc32c(data.data() + off, len), crc32c_portable(data.data() + off, len)) << len << "@" << off;
    }
  }
  std::string_view v = data;
  EXPECT_EQ(crc32c(v.substr(1234), crc32c(v.substr(0, 1234))), crc32c(v));
}

namespace {
Envelope sample() {
  Envelope e;
  e.id = QueueId{0x1234567890abcdefULL};
  e.mail_from = "alice@example.org";
  e.ret = "HDRS";
  e.envid = "env-1";
  e.smtputf8 = true;
  e.eightbit = false;
  e.prepend = "Received: from x\r\n";
  e.arrival = 1'700'000'000;
  e.client_ip = "192.0.2.9";
  e.helo = "client.example";
  e.body_size = 4242;
  RecipientState r;
  r.address = "bob@example.net";
  r.domain = "example.net";
  r.notify = 5;
  r.orcpt = "rfc822;bob@example.net";
  r.status = RcptStatus::failed;
  r.attempts = 3;
  r.next_attempt = -5;
  r.last_reply = "550 5.1.1 no such user";
  r.delay_warned = true;
  e.rcpts.push_back(r);
  r.address = std::string("c\0d@x", 5);
  r.delay_warned = false;
  r.status = RcptStatus::pending;
  e.rcpts.push_back(r);
  return e;
}
}  // namespace

TEST(Record, EnvelopeRoundTrip) {
  Envelope e = sample();
  std::string p = encode_envelope(e);
  Envelope d;
  ASSERT_TRUE(decode_envelope(p, e.id, d));
  EXPECT_EQ(d.id, e.id);
  EXPECT_EQ(d.mail_from, e.mail_from);
  EXPECT_EQ(d.ret, e.ret);
  EXPECT_EQ(d.envid, e.envid);
  EXPECT_TRUE(d.smtputf8);
  EXPECT_FALSE(d.eightbit);
  EXPECT_EQ(d.prepend, e.prepend);
  EXPECT_EQ(d.arrival, e.arrival);
  EXPECT_EQ(d.client_ip, e.client_ip);
  EXPECT_EQ(d.helo, e.helo);
  EXPECT_EQ(d.body_size, e.body_size);
  ASSERT_EQ(d.rcpts.size(), 2u);
  EXPECT_EQ(d.rcpts[0].orcpt, e.rcpts[0].orcpt);
  EXPECT_EQ(d.rcpts[0].status, RcptStatus::failed);
  EXPECT_EQ(d.rcpts[0].attempts, 3u);
  EXPECT_EQ(d.rcpts[0].next_attempt, -5);
  EXPECT_EQ(d.rcpts[0].notify, 5u);
  EXPECT_EQ(d.rcpts[1].address, e.rcpts[1].address);
  EXPECT_TRUE(d.rcpts[0].delay_warned);
  EXPECT_FALSE(d.rcpts[1].delay_warned);
  // Every truncation and trailing junk is rejected.
  for (std::size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(decode_envelope(p.substr(0, n), e.id, d)) << n;
  EXPECT_FALSE(decode_envelope(p + "x", e.id, d));
}

TEST(Record, EnvelopeRejectsHugeCounts) {
  std::string p = encode_envelope(Envelope{});
  // Patch the recipient count (last 4 bytes) to a huge value: must not allocate or accept.
  p[p.size() - 1] = '\x7f';
  Envelope d;
  EXPECT_FALSE(decode_envelope(p, QueueId{1}, d));
}

TEST(Record, RcptStateRoundTrip) {
  RcptStateRecord s{7, RcptStatus::expired, 9, 1'700'000'123, "451 4.4.1 timeout", true};
  auto p = encode_rcpt_state(s);
  RcptStateRecord d;
  ASSERT_TRUE(decode_rcpt_state(p, d));
  EXPECT_EQ(d.index, 7u);
  EXPECT_EQ(d.status, RcptStatus::expired);
  EXPECT_EQ(d.attempts, 9u);
  EXPECT_EQ(d.next_attempt, 1'700'000'123);
  EXPECT_EQ(d.last_reply, s.last_reply);
  EXPECT_TRUE(d.delay_warned);
  p[5] = 9;  // status out of range
  EXPECT_FALSE(decode_rcpt_state(p, d));
}

TEST(Record, FramingDetectsEveryDamage) {
  std::string buf;
  append_record(buf, RecType::chunk, QueueId{42}, "hello body");
  append_record(buf, RecType::commit, QueueId{42}, "");
  RecordView v;
  ASSERT_EQ(parse_record(buf, v), ParseStatus::ok);
  EXPECT_EQ(v.type, RecType::chunk);
  EXPECT_EQ(v.id, QueueId{42});
  EXPECT_EQ(v.payload, "hello body");
  EXPECT_EQ(v.size, kRecordOverhead + 10);
  std::string_view rest = std::string_view(buf).substr(v.size);
  ASSERT_EQ(parse_record(rest, v), ParseStatus::ok);
  EXPECT_EQ(v.type, RecType::commit);
  EXPECT_EQ(v.size, rest.size());

  std::string one;
  append_record(one, RecType::envelope, QueueId{9}, "payload");
  for (std::size_t i = 0; i < one.size(); ++i) {
    std::string bad = one;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_EQ(parse_record(bad, v), ParseStatus::invalid) << "flipped byte " << i;
  }
  for (std::size_t n = 0; n < one.size(); ++n)
    EXPECT_EQ(parse_record(std::string_view(one).substr(0, n), v), ParseStatus::invalid) << n;
  EXPECT_EQ(parse_record(std::string(64, '\0'), v), ParseStatus::invalid);
}

TEST(Record, StatusNames) {
  EXPECT_EQ(to_string(RcptStatus::pending), "pending");
  EXPECT_EQ(to_string(RcptStatus::delivered), "delivered");
  EXPECT_EQ(to_string(RcptStatus::failed), "failed");
  EXPECT_EQ(to_string(RcptStatus::expired), "expired");
}
