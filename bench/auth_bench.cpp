// Message authentication throughput (issue 6): DKIM verifications per second for rsa-2048 and
// ed25519 signatures on 4 KiB and 100 KiB messages (relaxed/relaxed, signed once in setup), and
// SPF check_host() evaluations per second with every DNS answer in memory (a dns::StaticZone,
// and a warm dns::CachingResolver in front of it). Also the pieces a verification is made of
// (message split + body hash, the per-signature core, the OpenSSL key decode and public-key
// operation alone, through the internal functions of src/auth/dkim/internal.hpp) so that a
// slow figure says where its time goes. bench/dkim-verify runs this next to dkimpy and
// `openssl speed` and prints the ratios (docs/benchmarks.md).
// The message recipe (make_message) is repeated byte for byte in bench/dkimpy_verify.py.
// Must not: touch the network, run in CI as a test, or assert on speed (architecture §4.5).
#include <benchmark/benchmark.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gatehouse/auth/dkim.hpp"
#include "gatehouse/auth/spf.hpp"
#include "gatehouse/core/clock.hpp"
#include "gatehouse/dns/cache.hpp"
#include "gatehouse/dns/static_zone.hpp"
#include "internal.hpp"  // src/auth/dkim: the per-signature crypto calls, for the key_* cases

namespace {

using namespace gatehouse;
using namespace gatehouse::auth;
namespace detail = gatehouse::auth::dkim::detail;
using boost::asio::awaitable;

constexpr std::int64_t kSignedAt = 1'700'000'000;
constexpr std::size_t kClearLogEvery = 4096;  // StaticZone logs every query; keep that bounded

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "auth_bench setup: %s\n", what.c_str());
  std::abort();
}

// ---- DKIM fixture

// A plain-text message of at least `target` bytes (headers included, before the signature):
// a Received trace, the usual originator fields, and body lines with runs of spaces and some
// trailing whitespace for relaxed canonicalization to fold.
std::string make_message(std::size_t target) {
  std::string m =
      "Received: from mail.example.org (mail.example.org [192.0.2.25])\r\n"
      "\tby mx.example.net with ESMTPS id 4SVb2k1r9Zz3m\r\n"
      "\tfor <bob@example.net>; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
      "From: Alice Example <alice@example.org>\r\n"
      "To: Bob Example <bob@example.net>\r\n"
      "Cc: team@example.net\r\n"
      "Subject: Quarterly report: figures and next steps\r\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
      "Message-ID: <20231114221320.4f2a9c@mail.example.org>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 7bit\r\n"
      "\r\n";
  for (unsigned i = 0; m.size() < target; ++i) {
    char number[16];
    std::snprintf(number, sizeof number, "%05u", i);
    m += "Line ";
    m += number;
    m += ": the quick brown fox  jumps over the lazy dog;  nothing to see here.";
    if (i % 7 == 6) m += " \t ";
    m += "\r\n";
  }
  return m;
}

const std::vector<std::string> kSignedHeaders = {"from",         "to",           "cc",
                                                 "subject",      "date",         "message-id",
                                                 "mime-version", "content-type", "content-transfer-encoding"};

struct SignedCase {
  std::string text;  // DKIM-Signature field + message
  dns::Answer key_answer;
};

struct KeyFixture {
  dkim::GeneratedKey key;
  dkim::Signer signer;
  dns::StaticZone zone;  // bench._domainkey.example.org TXT
};

dkim::VerifyOptions verify_options() {
  dkim::VerifyOptions o;
  o.now = kSignedAt + 60;
  return o;
}

KeyFixture make_key(dkim::KeyType type) {
  auto key = dkim::generate_key(type, 2048);
  if (!key) die("generate_key: " + key.error().message);
  auto signer = dkim::Signer::load(key->private_pem);
  if (!signer) die("Signer::load: " + signer.error().message);
  KeyFixture f{*key, *signer, {}};
  f.zone.add_txt("bench._domainkey.example.org", dkim::split_txt_strings(f.key.record));
  return f;
}

SignedCase sign_case(const KeyFixture& k, std::size_t size) {
  std::string text = make_message(size);
  auto message = dkim::split_message(text);
  if (!message) die("split_message: " + message.error().message);
  dkim::SignRequest req;
  req.message = &*message;
  req.domain = "example.org";
  req.selector = "bench";
  req.header_canon = dkim::Canon::relaxed;
  req.body_canon = dkim::Canon::relaxed;
  req.headers = kSignedHeaders;
  req.now = kSignedAt;
  auto field = k.signer.sign(req);
  if (!field) die("sign: " + field.error().message);
  SignedCase c;
  c.text = *field + text;
  c.key_answer.ttl = dns::StaticZone::kDefaultTtl;
  c.key_answer.txt.push_back(k.key.record);
  return c;
}

struct DkimFixture {
  KeyFixture rsa = make_key(dkim::KeyType::rsa);
  KeyFixture ed = make_key(dkim::KeyType::ed25519);
  KeyFixture& key(dkim::KeyType t) { return t == dkim::KeyType::rsa ? rsa : ed; }
};

DkimFixture& dkim_fixture() {  // not const: the zones log their queries
  static DkimFixture f;
  return f;
}

// Signed messages are cached per (key, size) so that every benchmark of a case verifies the
// same bytes.
const SignedCase& signed_case(dkim::KeyType t, std::size_t size) {
  static std::map<std::pair<dkim::KeyType, std::size_t>, SignedCase> cache;
  auto it = cache.find({t, size});
  if (it == cache.end()) it = cache.emplace(std::pair{t, size}, sign_case(dkim_fixture().key(t), size)).first;
  return it->second;
}

bool passed(const std::vector<dkim::SignatureResult>& r) {
  return r.size() == 1 && r[0].result == dkim::Result::pass;
}

// ---- coroutine driver: the whole benchmark loop runs inside one coroutine on one io_context,
// the way a session co_awaits verify()/check_host() (no co_spawn per iteration).

void run_on_io_context(benchmark::State& state, awaitable<void> loop) {
  boost::asio::io_context ioc;
  auto done = [&state](std::exception_ptr e) {
    if (e) state.SkipWithError("the benchmark coroutine threw");
  };
  boost::asio::co_spawn(ioc, std::move(loop), done);
  ioc.run();
}

// ---- DKIM: the full verification a message gets

awaitable<void> dkim_verify_loop(benchmark::State& state, dns::StaticZone& zone, const std::string& text) {
  const dkim::VerifyOptions options = verify_options();
  std::size_t n = 0;
  for (auto _ : state) {
    auto message = dkim::split_message(text);
    if (!message) {
      state.SkipWithError("split_message failed");
      break;
    }
    std::vector<dkim::SignatureResult> results = co_await dkim::verify(zone, *message, options);
    if (!passed(results)) {
      state.SkipWithError("the signature did not verify");
      break;
    }
    if (++n % kClearLogEvery == 0) zone.reset_query_count();
  }
}

// split_message + body hash + key record (StaticZone) + header hash + signature check.
void bm_dkim_verify(benchmark::State& state, dkim::KeyType type, std::size_t size) {
  const SignedCase& c = signed_case(type, size);
  run_on_io_context(state, dkim_verify_loop(state, dkim_fixture().key(type).zone, c.text));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.text.size()));
}

// The message side only: split_message + relaxed body hash (no key, no signature check).
void bm_dkim_body(benchmark::State& state, std::size_t size) {
  const SignedCase& c = signed_case(dkim::KeyType::ed25519, size);
  const dkim::VerifyOptions options = verify_options();
  for (auto _ : state) {
    auto message = dkim::split_message(c.text);
    dkim::BodyHashes hashes(message->headers, options);
    hashes.update(message->body);
    hashes.finish();
    benchmark::DoNotOptimize(hashes.find(dkim::Canon::relaxed, std::nullopt));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.text.size()));
}

// The per-signature core with the body already hashed: signature and key-record parsing, key
// decode, header selection and canonicalization, header hash, public-key operation.
void bm_dkim_signature(benchmark::State& state, dkim::KeyType type) {
  const SignedCase& c = signed_case(type, 4096);
  const dkim::VerifyOptions options = verify_options();
  auto message = dkim::split_message(c.text);
  dkim::BodyHashes hashes(message->headers, options);
  hashes.update(message->body);
  hashes.finish();
  for (auto _ : state) {
    dkim::SignatureResult r = dkim::verify_signature(message->headers, 0, hashes, c.key_answer, options);
    if (r.result != dkim::Result::pass) {
      state.SkipWithError("the signature did not verify");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- the OpenSSL part alone: the internal functions verify_signature() calls for each
// signature (src/auth/dkim/internal.hpp), so these time the production code, not a copy.

struct KeyOpFixture {
  std::string der;        // p= decoded
  detail::PublicKey pub;  // decoded once
  std::string data = std::string(32, '\x5a');
  std::string signature;  // over `data`
};

KeyOpFixture make_key_op(dkim::KeyType type) {
  const KeyFixture& k = dkim_fixture().key(type);
  KeyOpFixture f;
  auto record = dkim::parse_key_record(k.key.record);
  if (!record.ok()) die("parse_key_record: " + record.detail);
  f.der = record.key.public_key;
  f.pub = detail::load_public_key(type, f.der);
  auto priv = detail::load_private_key(k.key.private_pem);
  if (!f.pub.pkey || !priv) die("OpenSSL key set-up failed");
  auto sig = detail::sign_data(priv->get(), type, f.data);
  if (!sig) die("OpenSSL sign failed");
  f.signature = *sig;
  return f;
}

const KeyOpFixture& key_op_fixture(dkim::KeyType type) {
  static const KeyOpFixture rsa = make_key_op(dkim::KeyType::rsa);
  static const KeyOpFixture ed = make_key_op(dkim::KeyType::ed25519);
  return type == dkim::KeyType::rsa ? rsa : ed;
}

// The public-key operation with the key already decoded (detail::verify_data over 32 bytes:
// a fresh EVP_MD_CTX, SHA-256, RSASSA-PKCS1-v1_5 or Ed25519): comparable with `openssl speed`.
void bm_key_op(benchmark::State& state, dkim::KeyType type) {
  const KeyOpFixture& f = key_op_fixture(type);
  for (auto _ : state) {
    if (detail::verify_data(f.pub.pkey.get(), type, f.data, f.signature) != detail::VerifyOutcome::valid) {
      state.SkipWithError("verify_data failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// Decoding p= into an EVP_PKEY (detail::load_public_key), done once per signature.
void bm_key_decode(benchmark::State& state, dkim::KeyType type) {
  const KeyOpFixture& f = key_op_fixture(type);
  for (auto _ : state) {
    detail::PublicKey k = detail::load_public_key(type, f.der);
    if (!k.pkey) {
      state.SkipWithError("key decode failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- SPF

// example.org publishes a typical record with two includes. The client is matched only by the
// last term before -all (mx), so every term is evaluated: 3 TXT, 1 A, 1 MX and 2 A queries.
dns::StaticZone& spf_zone() {
  static dns::StaticZone z = [] {
    dns::StaticZone zone;
    zone.add_txt("example.org", "v=spf1 include:_spf.example.net include:_spf.mailhost.example "
                                "ip4:198.51.100.0/24 a mx -all");
    zone.add_txt("example.org", "google-site-verification=2f1c0d6b8a");
    zone.add_txt("_spf.example.net", "v=spf1 ip4:203.0.113.0/25 ip4:203.0.113.192/26 ip6:2001:db8:1::/48 ~all");
    zone.add_txt("_spf.mailhost.example", "v=spf1 ip4:192.0.2.0/26 ip6:2001:db8:2::/48 -all");
    zone.add_a("example.org", "192.0.2.80");
    zone.add_mx("example.org", 10, "mx1.example.org");
    zone.add_mx("example.org", 20, "mx2.example.org");
    zone.add_a("mx1.example.org", "192.0.2.101");
    zone.add_a("mx2.example.org", "192.0.2.102");
    return zone;
  }();
  return z;
}

SpfRequest spf_request(std::string_view client) {
  auto ip = core::IpAddress::parse(client);
  if (!ip) die("bad client address");
  return spf_mail_from(*ip, "alice@example.org", "mx2.example.org", "mx.gatehouse.test", kSignedAt);
}

awaitable<void> spf_loop(benchmark::State& state, dns::Resolver& dns, SpfRequest request, SpfResult want) {
  dns::StaticZone& zone = spf_zone();
  std::size_t n = 0;
  for (auto _ : state) {
    SpfOutcome out = co_await check_host(dns, request);
    if (out.result != want) {
      state.SkipWithError("unexpected SPF result");
      break;
    }
    if (++n % kClearLogEvery == 0) zone.reset_query_count();
  }
}

void bm_spf(benchmark::State& state, bool cached, std::string_view client, SpfResult want) {
  const SpfRequest request = spf_request(client);
  if (!cached) {
    run_on_io_context(state, spf_loop(state, spf_zone(), request, want));
  } else {
    dns::CachingResolver cache(spf_zone(), core::system_clock());
    {  // warm it: one evaluation fills every entry the record needs
      boost::asio::io_context ioc;
      boost::asio::co_spawn(ioc, check_host(cache, request), [](std::exception_ptr, SpfOutcome) {});
      ioc.run();
    }
    run_on_io_context(state, spf_loop(state, cache, request, want));
    const dns::CacheStats s = cache.stats();
    state.counters["cache_hit_ratio"] = static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- registration

struct KeyCase {
  const char* name;
  dkim::KeyType type;
};
constexpr KeyCase kKeys[] = {{"rsa-2048", dkim::KeyType::rsa}, {"ed25519", dkim::KeyType::ed25519}};
struct SizeCase {
  const char* name;
  std::size_t bytes;
};
constexpr SizeCase kSizes[] = {{"4KiB", 4 * 1024}, {"100KiB", 100 * 1024}};

[[maybe_unused]] const bool registered = [] {
  for (const auto& k : kKeys) {
    for (const auto& s : kSizes)
      benchmark::RegisterBenchmark((std::string("dkim_verify/") + k.name + "/" + s.name).c_str(), bm_dkim_verify,
                                   k.type, s.bytes)
          ->Unit(benchmark::kMicrosecond);
  }
  for (const auto& s : kSizes)
    benchmark::RegisterBenchmark((std::string("dkim_body/") + s.name).c_str(), bm_dkim_body, s.bytes)
        ->Unit(benchmark::kMicrosecond);
  for (const auto& k : kKeys) {
    benchmark::RegisterBenchmark((std::string("dkim_signature/") + k.name).c_str(), bm_dkim_signature, k.type)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("key_op/") + k.name).c_str(), bm_key_op, k.type)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("key_decode/") + k.name).c_str(), bm_key_decode, k.type)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("spf/static_zone/pass_mx", bm_spf, false, "192.0.2.102", SpfResult::pass)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("spf/cached/pass_mx", bm_spf, true, "192.0.2.102", SpfResult::pass)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("spf/cached/fail", bm_spf, true, "192.0.2.200", SpfResult::fail)
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
