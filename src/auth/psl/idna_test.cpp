// Unit tests for the UTF-8 decoder, the Punycode encoder (RFC 3492 §7.1 samples) and
// psl::to_ascii(), the A-label form that Public Suffix List matching uses.
// Must not: touch files or the network.
#include <gtest/gtest.h>

#include "gatehouse/auth/psl.hpp"
#include "idna.hpp"

namespace gatehouse::auth::psl {
namespace {

std::optional<std::string> encode(std::u32string_view s) { return detail::punycode_encode(s); }

TEST(PslPunycode, Rfc3492Samples) {
  // (A) Arabic (Egyptian), (B) Chinese (simplified), (L) mixed with ASCII, (S) ASCII only.
  EXPECT_EQ(encode(U"\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064A\u061F"),
            "egbpdaj6bu4bxfgehfvwxn");
  EXPECT_EQ(encode(U"\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587"), "ihqwcrb4cv8a8dqg056pqjye");
  EXPECT_EQ(encode(U"3\u5E74B\u7D44\u91D1\u516B\u5148\u751F"), "3B-ww4c5e180e575a65lsy2b");
  EXPECT_EQ(encode(U"-> $1.00 <-"), "-> $1.00 <--");
  EXPECT_EQ(encode(U"b\u00FCcher"), "bcher-kva");
  EXPECT_EQ(encode(U"\U0001F600"), "e28h");
}

TEST(PslUtf8, RejectsMalformed) {
  std::u32string out;
  EXPECT_TRUE(detail::utf8_decode("a\xC3\xBC\xE4\xB8\xAD\xF0\x9F\x98\x80", out));
  EXPECT_EQ(out, U"a\u00FC\u4E2D\U0001F600");
  EXPECT_FALSE(detail::utf8_decode("\x80", out));              // lone continuation byte
  EXPECT_FALSE(detail::utf8_decode("\xC3", out));              // truncated
  EXPECT_FALSE(detail::utf8_decode("\xC0\xAF", out));          // overlong '/'
  EXPECT_FALSE(detail::utf8_decode("\xE0\x80\xAF", out));      // overlong, 3 bytes
  EXPECT_FALSE(detail::utf8_decode("\xED\xA0\x80", out));      // surrogate U+D800
  EXPECT_FALSE(detail::utf8_decode("\xF4\x90\x80\x80", out));  // above U+10FFFF
  EXPECT_FALSE(detail::utf8_decode("\xC3\x28", out));          // bad continuation
}

TEST(PslToAscii, Forms) {
  EXPECT_EQ(to_ascii("WwW.Example.COM"), "www.example.com");
  EXPECT_EQ(to_ascii("example.com."), "example.com");  // one trailing dot dropped
  EXPECT_EQ(to_ascii("食狮.中国"), "xn--85x722f.xn--fiqs8s");
  EXPECT_EQ(to_ascii("www.食狮.公司.cn"), "www.xn--85x722f.xn--55qx5d.cn");
  EXPECT_EQ(to_ascii("Bücher.DE"), "xn--bcher-kva.de");  // ASCII lower-cased before encoding
  // Only ASCII is lower-cased (no Unicode case folding, see psl.hpp): "Ü" stays upper case.
  EXPECT_EQ(to_ascii("bÜcher.de"), "xn--bcher-2pa.de");
  EXPECT_EQ(to_ascii("xn--85x722f.XN--FIQS8S"), "xn--85x722f.xn--fiqs8s");
  EXPECT_EQ(to_ascii("_dmarc.example.com"), "_dmarc.example.com");
}

TEST(PslToAscii, Invalid) {
  EXPECT_FALSE(to_ascii(""));
  EXPECT_FALSE(to_ascii("."));
  EXPECT_FALSE(to_ascii(".example.com"));
  EXPECT_FALSE(to_ascii("example..com"));
  EXPECT_FALSE(to_ascii("example.com.."));
  EXPECT_FALSE(to_ascii("ex\xFF" "ample.com"));
  EXPECT_FALSE(to_ascii(std::string(List::kMaxDomainLength + 1, 'a')));
  std::string many;
  for (std::size_t i = 0; i <= List::kMaxLabels; ++i) many += "a.";
  many += "com";
  EXPECT_FALSE(to_ascii(many));
}

}  // namespace
}  // namespace gatehouse::auth::psl
