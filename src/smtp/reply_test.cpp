// Unit tests: Reply formatting (RFC 5321 §4.2, RFC 2034 §3) and the client-side ReplyParser.
#include <gtest/gtest.h>

#include "gatehouse/smtp/reply.hpp"

using namespace gatehouse::smtp;

TEST(EnhancedCode, ToStringAndEmpty) {
  EXPECT_EQ((EnhancedCode{2, 1, 5}).to_string(), "2.1.5");
  EXPECT_EQ((EnhancedCode{5, 7, 26}).to_string(), "5.7.26");
  EXPECT_TRUE(EnhancedCode{}.empty());
  EXPECT_FALSE((EnhancedCode{4, 0, 0}).empty());
}

TEST(Reply, SingleLineWithEnhancedCode) {
  Reply r{250, {2, 0, 0}, "Ok: queued as X"};
  EXPECT_EQ(r.to_wire(), "250 2.0.0 Ok: queued as X\r\n");
  EXPECT_TRUE(r.positive());
  EXPECT_FALSE(r.transient());
  EXPECT_FALSE(r.permanent());
}

TEST(Reply, MultiLinePutsEnhancedCodeOnEveryLine) {
  Reply r{550, {5, 7, 1}, "first"};
  r.lines.push_back("second");
  r.lines.push_back("last");
  EXPECT_EQ(r.to_wire(), "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last\r\n");
  EXPECT_EQ(r.text(), "first; second; last");
  EXPECT_TRUE(r.permanent());
}

TEST(Reply, WithoutEnhancedCodeOrText) {
  Reply r;
  r.code = 354;
  r.lines = {"End data"};
  EXPECT_EQ(r.to_wire(), "354 End data\r\n");
  Reply empty;
  empty.code = 250;
  EXPECT_EQ(empty.to_wire(), "250\r\n");
  Reply code_only{451, {4, 3, 0}, ""};
  EXPECT_EQ(code_only.to_wire(), "451 4.3.0\r\n");
  EXPECT_TRUE(code_only.transient());
}

TEST(Reply, TextCannotInjectLines) {
  Reply r{554, {5, 7, 1}, "<a@b>\r\n250 2.0.0 Ok\r\n"};
  const std::string w = r.to_wire();
  EXPECT_EQ(w, "554 5.7.1 <a@b>  250 2.0.0 Ok  \r\n");
  EXPECT_EQ(w.find('\n'), w.size() - 1);
}

TEST(ReplyParser, SingleLine) {
  ReplyParser p;
  auto r = p.feed_line("250 2.1.0 Ok");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->enhanced, (EnhancedCode{2, 1, 0}));
  ASSERT_EQ(r->lines.size(), 1u);
  EXPECT_EQ(r->lines[0], "Ok");
}

TEST(ReplyParser, MultiLineEhlo) {
  ReplyParser p;
  EXPECT_FALSE(p.feed_line("250-mx.example.com Hello"));
  EXPECT_FALSE(p.feed_line("250-8BITMIME"));
  EXPECT_FALSE(p.feed_line("250-SIZE 1000"));
  auto r = p.feed_line("250 CHUNKING\r");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_TRUE(r->enhanced.empty());  // "8BITMIME" is not an enhanced code
  EXPECT_EQ(r->lines, (std::vector<std::string>{"mx.example.com Hello", "8BITMIME", "SIZE 1000",
                                                "CHUNKING"}));
  // the parser is ready for the next reply
  auto next = p.feed_line("221 2.0.0 Bye");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->code, 221);
}

TEST(ReplyParser, MultiLineEnhancedStrippedFromEveryLine) {
  ReplyParser p;
  EXPECT_FALSE(p.feed_line("550-5.7.1 first"));
  auto r = p.feed_line("550 5.7.1 second");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->enhanced, (EnhancedCode{5, 7, 1}));
  EXPECT_EQ(r->lines, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(r->to_wire(), "550-5.7.1 first\r\n550 5.7.1 second\r\n");
}

TEST(ReplyParser, CodeAloneAndEnhancedAlone) {
  ReplyParser p;
  auto r = p.feed_line("250");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->lines, (std::vector<std::string>{""}));
  r = p.feed_line("451 4.3.0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->enhanced, (EnhancedCode{4, 3, 0}));
  EXPECT_EQ(r->lines, (std::vector<std::string>{""}));
}

TEST(ReplyParser, EnhancedClassMustMatchCode) {
  ReplyParser p;
  auto r = p.feed_line("250 5.0.0 odd");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->enhanced.empty());
  EXPECT_EQ(r->lines[0], "5.0.0 odd");
  r = p.feed_line("250 2.0 not a code");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->enhanced.empty());
  r = p.feed_line("250 2.0.0000 too many digits");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->enhanced.empty());
}

TEST(ReplyParser, MalformedLinesYieldCodeZero) {
  for (const char* bad : {"", "25", "abc ok", "250x", "650 nope", "2500 x", "199 x"}) {
    ReplyParser p;
    auto r = p.feed_line(bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->code, 0) << bad;
  }
  // a code change in the middle of a multi-line reply is malformed, then parsing recovers
  ReplyParser p;
  EXPECT_FALSE(p.feed_line("250-one"));
  auto r = p.feed_line("550 two");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 0);
  r = p.feed_line("250 ok");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 250);
}

TEST(ReplyParser, KeepsAtMost128Lines) {
  ReplyParser p;
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(p.feed_line("250-x"));
  auto r = p.feed_line("250 end");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines.size(), 128u);
}

TEST(EnhancedCodeParse, AcceptsOnlyRfc3463Codes) {
  EXPECT_EQ(gatehouse::smtp::EnhancedCode::parse("5.1.10"), (gatehouse::smtp::EnhancedCode{5, 1, 10}));
  EXPECT_EQ(gatehouse::smtp::EnhancedCode::parse("4.7.4"), (gatehouse::smtp::EnhancedCode{4, 7, 4}));
  EXPECT_FALSE(gatehouse::smtp::EnhancedCode::parse("3.1.1"));
  EXPECT_FALSE(gatehouse::smtp::EnhancedCode::parse("5.1"));
  EXPECT_FALSE(gatehouse::smtp::EnhancedCode::parse("5..1"));
  EXPECT_FALSE(gatehouse::smtp::EnhancedCode::parse("5.1.1."));
  EXPECT_FALSE(gatehouse::smtp::EnhancedCode::parse("Ok"));
}
