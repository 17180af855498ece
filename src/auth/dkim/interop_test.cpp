// Interop with other DKIM implementations, run as processes (the lead's `gatehouse dkim-sign` /
// `check-message` commands do not exist yet, so this is a gtest rather than
// tests/integration/test_dkim_interop.py):
//  * dkimpy (Debian python3-dkim 1.1.x) verifies what our signer produced (RSA-2048 and Ed25519,
//    several c=, l=), and our verifier checks what dkimpy signed (both algorithms);
//  * opendkim-genkey's key and zone record work with our signer and verifier (and dkimpy);
//  * opendkim-testmsg signs with rsa-sha1 (not configurable there): our verifier must refuse it
//    (RFC 8301), and our canonicalization must still agree with OpenDKIM's, shown by checking its
//    bh= and b= with SHA-1 in the test itself.
// Each test skips (GTEST_SKIP, with the reason) when its tool is not installed
// (scripts/install-deps --test installs python3-dkim, python3-nacl, opendkim-tools).
// Must not: touch the network (dkimpy gets the record through dnsfunc) or read the clock
// (signatures made by the tools carry the real time, so t= checking is switched off).
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/core/strings.hpp"
#include "internal.hpp"
#include "test_util.hpp"

namespace gatehouse::auth::dkim {
namespace {

namespace fs = std::filesystem;

struct Proc {
  int status = -1;
  std::string out;
};

// Runs a shell command; stdout captured, stderr passed through.
Proc run(const std::string& cmd) {
  Proc r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool have_dkimpy() {
  static const bool ok = run("/usr/bin/python3 -c 'import dkim, nacl' >/dev/null 2>&1").status == 0;
  return ok;
}

bool have_opendkim() {
  static const bool ok = fs::exists("/usr/sbin/opendkim-genkey") && fs::exists("/usr/sbin/opendkim-testmsg");
  return ok;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gatehouse-dkim-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  fs::path file(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

const char* kVerifyPy =
    "import sys, dkim\n"
    "msg = open(sys.argv[1], 'rb').read()\n"
    "rec = open(sys.argv[2], 'rb').read().strip()\n"
    "ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec)\n"
    "print('pass' if ok else 'fail')\n";

const char* kSignPy =
    "import sys, dkim\n"
    "msg = open(sys.argv[1], 'rb').read()\n"
    "key = open(sys.argv[2], 'rb').read().strip()\n"
    "c = sys.argv[4].encode().split(b'/')\n"
    "sig = dkim.sign(msg, b'sel', b'example.com', key, canonicalize=(c[0], c[1]),\n"
    "                signature_algorithm=sys.argv[3].encode())\n"
    "sys.stdout.buffer.write(sig)\n";

const char* kText =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.net\n"
    "Subject: Interop  test with   spaces\n"
    " and a fold\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Message-ID: <interop@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain\n"
    "\n"
    "Hello Bob,\n"
    "  indented   text \t\n"
    "\n"
    "bye\n"
    "\n\n";

VerifyOptions any_time() {
  VerifyOptions o;
  o.now = 0;
  o.future_skew = -1;  // signatures from the tools carry the real time
  return o;
}

std::string raw_ed25519_seed(const std::string& pem) {
  detail::Pkey key(detail::load_private_key(pem).value());
  std::string seed(32, '\0');
  std::size_t n = 32;
  EXPECT_EQ(EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(seed.data()), &n), 1);
  return detail::base64_encode(seed);
}

class DkimInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new GeneratedKey(generate_key(KeyType::rsa).value());
    ed_ = new GeneratedKey(generate_key(KeyType::ed25519).value());
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ed_;
    rsa_ = ed_ = nullptr;
  }
  void SetUp() override { msg_ = test::parse_message(kText); }

  std::string dkimpy_verify(const std::string& message, const std::string& record) {
    auto script = dir_.file("verify.py", kVerifyPy);
    auto m = dir_.file("msg.eml", message);
    auto rec = dir_.file("record.txt", record);
    Proc r = run("/usr/bin/python3 " + quote(script) + " " + quote(m) + " " + quote(rec));
    EXPECT_EQ(r.status, 0);
    std::string out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  static GeneratedKey* rsa_;
  static GeneratedKey* ed_;
  Message msg_;
  TempDir dir_;
};

GeneratedKey* DkimInterop::rsa_ = nullptr;
GeneratedKey* DkimInterop::ed_ = nullptr;

TEST_F(DkimInterop, DkimpyVerifiesOurSignatures) {
  if (!have_dkimpy()) GTEST_SKIP() << "python3-dkim (dkimpy) is not installed";
  struct Case {
    const GeneratedKey* key;
    Canon hc, bc;
    bool length;
  };
  for (const Case& c : {Case{rsa_, Canon::relaxed, Canon::relaxed, false}, Case{rsa_, Canon::simple, Canon::simple, false},
                        Case{rsa_, Canon::relaxed, Canon::simple, true}, Case{ed_, Canon::relaxed, Canon::relaxed, false},
                        Case{ed_, Canon::simple, Canon::simple, false}, Case{ed_, Canon::simple, Canon::relaxed, true}}) {
    SignRequest r;
    r.private_key = c.key->private_pem;
    r.message = &msg_;
    r.domain = "example.com";
    r.selector = "sel";
    r.now = 1700000000;
    r.header_canon = c.hc;
    r.body_canon = c.bc;
    r.body_length = c.length;
    std::string field = sign(r);
    ASSERT_FALSE(field.empty());
    std::string what = fmt::format("{} c={}/{} l={}", to_string(c.key->type), to_string(c.hc), to_string(c.bc), c.length);
    EXPECT_EQ(dkimpy_verify(test::join_message(test::prepend(msg_, field)), c.key->record), "pass") << what;
    // And dkimpy notices a change.
    Message changed = test::prepend(msg_, field);
    changed.body = "Hello Eve,\r\n";
    EXPECT_EQ(dkimpy_verify(test::join_message(changed), c.key->record), "fail") << what;
  }
}

TEST_F(DkimInterop, WeVerifyDkimpySignatures) {
  if (!have_dkimpy()) GTEST_SKIP() << "python3-dkim (dkimpy) is not installed";
  auto script = dir_.file("sign.py", kSignPy);
  auto m = dir_.file("msg.eml", test::join_message(msg_));
  struct Case {
    const GeneratedKey* key;
    const char* alg;
    const char* canon;
  };
  for (const Case& c : {Case{rsa_, "rsa-sha256", "relaxed/relaxed"}, Case{rsa_, "rsa-sha256", "simple/simple"},
                        Case{ed_, "ed25519-sha256", "relaxed/relaxed"}, Case{ed_, "ed25519-sha256", "simple/simple"}}) {
    auto key = dir_.file("key", c.key->type == KeyType::ed25519 ? raw_ed25519_seed(c.key->private_pem) : c.key->private_pem);
    Proc r = run("/usr/bin/python3 " + quote(script) + " " + quote(m) + " " + quote(key) + " " + c.alg + " " + c.canon);
    ASSERT_EQ(r.status, 0) << c.alg;
    ASSERT_THAT(r.out, ::testing::StartsWith("DKIM-Signature: "));
    dns::StaticZone zone;
    zone.add_txt("sel._domainkey.example.com", split_txt_strings(c.key->record));
    auto res = test::run_verify(zone, test::prepend(msg_, r.out), any_time());
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(res[0].result, Result::pass) << c.alg << " " << c.canon << ": " << res[0].detail << "\n" << r.out;
    EXPECT_EQ(res[0].algorithm, c.alg);
  }
}

TEST_F(DkimInterop, OpendkimGenkeyKeyAndRecord) {
  if (!have_opendkim()) GTEST_SKIP() << "opendkim-tools is not installed";
  Proc g = run("/usr/sbin/opendkim-genkey -b 2048 --append-domain -d example.com -s odk -D " + quote(dir_.path()));
  ASSERT_EQ(g.status, 0);
  std::string pem = test::read_file(dir_.path() / "odk.private");
  dns::StaticZone zone;
  test::load_rfc_zone_into(zone, dir_.path() / "odk.txt");  // ( "v=DKIM1; h=sha256; k=rsa; " "p=..." "..." )
  auto record = zone.resolve("odk._domainkey.example.com", dns::RrType::TXT);
  ASSERT_EQ(record.txt.size(), 1u);
  EXPECT_THAT(record.txt[0], ::testing::StartsWith("v=DKIM1; h=sha256; k=rsa; p=MIIB"));

  SignRequest r;
  r.private_key = pem;
  r.message = &msg_;
  r.domain = "example.com";
  r.selector = "odk";
  r.now = 1700000000;
  std::string field = sign(r);
  ASSERT_FALSE(field.empty());
  auto res = test::run_verify(zone, test::prepend(msg_, field), any_time());
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result, Result::pass) << res[0].detail;
  EXPECT_EQ(res[0].key_bits, 2048u);
  if (have_dkimpy()) {
    EXPECT_EQ(dkimpy_verify(test::join_message(test::prepend(msg_, field)), record.txt[0]), "pass");
  }
}

TEST_F(DkimInterop, OpendkimTestmsgRsaSha1IsRefusedButCanonicalizationAgrees) {
  if (!have_opendkim()) GTEST_SKIP() << "opendkim-tools is not installed";
  Proc g = run("/usr/sbin/opendkim-genkey -b 2048 --append-domain -d example.com -s odk -D " + quote(dir_.path()));
  ASSERT_EQ(g.status, 0);
  auto in = dir_.file("in.eml", test::join_message(msg_));
  // -C: CRLF line ends. Without it, opendkim-testmsg 2.11.0~beta2 prints the last line of b=
  // with stale bytes appended ("...OA==ZvBJOA=="), a bug of the tool's output, not of libopendkim.
  Proc s = run("/usr/sbin/opendkim-testmsg -C -d example.com -s odk -k " + quote(dir_.path() / "odk.private") + " < " +
              quote(in));
  ASSERT_EQ(s.status, 0) << s.out;
  auto signed_msg = split_message(lf_to_crlf(s.out));
  ASSERT_TRUE(signed_msg.has_value());
  ASSERT_TRUE(core::iequals(signed_msg->headers.at(0).name, "DKIM-Signature"));
  dns::StaticZone zone;
  test::load_rfc_zone_into(zone, dir_.path() / "odk.txt");

  auto res = test::run_verify(zone, *signed_msg, any_time());
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].result, Result::permerror);
  EXPECT_EQ(res[0].reason, Reason::rsa_sha1);
  EXPECT_EQ(zone.query_count(), 0u);  // refused before any DNS query

  // Same canonicalization as OpenDKIM: its bh= is the SHA-1 of our canonical body, and its b=
  // verifies (with SHA-1, here in the test only) over our header hash input.
  const HeaderField& f = signed_msg->headers[0];
  const std::size_t off = f.raw.find(':') + 1;
  auto parsed = parse_signature(std::string_view(f.raw).substr(off));
  ASSERT_TRUE(parsed.ok()) << parsed.detail;
  const Signature& sig = parsed.signature;
  EXPECT_EQ(sig.header_canon, Canon::relaxed);
  EXPECT_EQ(sig.body_canon, Canon::simple);
  std::string body = canonicalize_body(sig.body_canon, signed_msg->body);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  ASSERT_EQ(EVP_Digest(body.data(), body.size(), md, &mdlen, EVP_sha1(), nullptr), 1);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(md), mdlen), sig.bh);

  auto tags = detail::parse_tag_list(std::string_view(f.raw).substr(off));
  std::string data = detail::header_hash_input(select_headers(signed_msg->headers, sig.signed_headers), sig.header_canon,
                                               f.raw, off, *tags.find("b"));
  auto key = parse_key_record(zone.resolve("odk._domainkey.example.com", dns::RrType::TXT).txt.at(0));
  ASSERT_TRUE(key.ok());
  auto pk = detail::load_public_key(KeyType::rsa, key.key.public_key);
  ASSERT_TRUE(pk.pkey);
  detail::MdCtx ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha1(), nullptr, pk.pkey.get()), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.b.data()), sig.b.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
}

}  // namespace
}  // namespace gatehouse::auth::dkim
