// Spool record framing and payload codecs. Pure and allocation-light; decoders bound every read
// by the buffer (a length field never makes us read or allocate past what is there).
// Must not: do IO, log, throw on malformed input, or accept a record whose CRC does not match.
#include "record.hpp"

#include "crc32c.hpp"

namespace gatehouse::queue::detail {
namespace {

void put_u8(std::string& o, std::uint8_t v) { o.push_back(static_cast<char>(v)); }
void put_u32(std::string& o, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  o.append(b, 4);
}
void put_u64(std::string& o, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  o.append(b, 8);
}
void put_i64(std::string& o, std::int64_t v) { put_u64(o, static_cast<std::uint64_t>(v)); }
void put_str(std::string& o, std::string_view s) {
  put_u32(o, static_cast<std::uint32_t>(s.size()));
  o.append(s);
}

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u8(std::uint8_t& v) {
    if (b_.size() < 1) return false;
    v = static_cast<unsigned char>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (b_.size() < 4) return false;
    v = load_u32(b_.data());
    b_.remove_prefix(4);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (b_.size() < 8) return false;
    v = load_u64(b_.data());
    b_.remove_prefix(8);
    return true;
  }
  bool i64(std::int64_t& v) {
    std::uint64_t u;
    if (!u64(u)) return false;
    v = static_cast<std::int64_t>(u);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n;
    if (!u32(n) || b_.size() < n) return false;
    s.assign(b_.data(), n);
    b_.remove_prefix(n);
    return true;
  }
  bool status(RcptStatus& s) {
    std::uint8_t v;
    if (!u8(v) || v > static_cast<std::uint8_t>(RcptStatus::expired)) return false;
    s = static_cast<RcptStatus>(v);
    return true;
  }
  std::size_t left() const { return b_.size(); }

 private:
  std::string_view b_;
};

constexpr std::uint8_t kEnvelopeVersion = 1;
constexpr std::uint8_t kRcptStateVersion = 1;
constexpr std::uint8_t kFlagSmtputf8 = 1;
constexpr std::uint8_t kFlagEightbit = 2;
// Smallest encoded recipient (four empty strings and fixed fields): bounds the count we trust.
constexpr std::size_t kMinRcptBytes = 4 * 4 + 4 + 1 + 4 + 8 + 1;

}  // namespace

void append_record(std::string& out, RecType type, QueueId id, std::string_view payload) {
  std::size_t start = out.size();
  put_u32(out, kMagic);
  put_u32(out, static_cast<std::uint32_t>(type));
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u64(out, id.value);
  out.append(payload);
  std::uint32_t crc = crc32c(out.data() + start + 4, kHeaderSize - 4 + payload.size());
  put_u32(out, crc);
}

ParseStatus parse_record(std::string_view buf, RecordView& out) {
  if (buf.size() < kRecordOverhead) return ParseStatus::invalid;
  if (load_u32(buf.data()) != kMagic) return ParseStatus::invalid;
  std::uint32_t type = load_u32(buf.data() + 4);
  if (type < static_cast<std::uint32_t>(RecType::chunk) || type > static_cast<std::uint32_t>(RecType::done))
    return ParseStatus::invalid;
  std::uint32_t len = load_u32(buf.data() + 8);
  if (len > kMaxPayload || buf.size() - kRecordOverhead < len) return ParseStatus::invalid;
  std::uint32_t crc = crc32c(buf.data() + 4, kHeaderSize - 4 + len);
  if (crc != load_u32(buf.data() + kHeaderSize + len)) return ParseStatus::invalid;
  out.type = static_cast<RecType>(type);
  out.id = QueueId{load_u64(buf.data() + 12)};
  out.payload = buf.substr(kHeaderSize, len);
  out.size = kRecordOverhead + len;
  return ParseStatus::ok;
}

std::string encode_envelope(const Envelope& env) {
  std::string o;
  std::size_t est = 64 + env.mail_from.size() + env.ret.size() + env.envid.size() + env.prepend.size() +
                    env.client_ip.size() + env.helo.size();
  for (const auto& r : env.rcpts)
    est += kMinRcptBytes + r.address.size() + r.domain.size() + r.orcpt.size() + r.last_reply.size();
  o.reserve(est);
  put_u8(o, kEnvelopeVersion);
  put_str(o, env.mail_from);
  put_str(o, env.ret);
  put_str(o, env.envid);
  put_u8(o, static_cast<std::uint8_t>((env.smtputf8 ? kFlagSmtputf8 : 0) | (env.eightbit ? kFlagEightbit : 0)));
  put_str(o, env.prepend);
  put_i64(o, env.arrival);
  put_str(o, env.client_ip);
  put_str(o, env.helo);
  put_u64(o, env.body_size);
  put_u32(o, static_cast<std::uint32_t>(env.rcpts.size()));
  for (const auto& r : env.rcpts) {
    put_str(o, r.address);
    put_str(o, r.domain);
    put_u32(o, r.notify);
    put_str(o, r.orcpt);
    put_u8(o, static_cast<std::uint8_t>(r.status));
    put_u32(o, r.attempts);
    put_i64(o, r.next_attempt);
    put_str(o, r.last_reply);
    put_u8(o, r.delay_warned ? 1 : 0);
  }
  return o;
}

bool decode_envelope(std::string_view payload, QueueId id, Envelope& out) {
  Reader r(payload);
  Envelope e;
  e.id = id;
  std::uint8_t version = 0, flags = 0;
  std::uint32_t n = 0;
  if (!r.u8(version) || version != kEnvelopeVersion) return false;
  if (!r.str(e.mail_from) || !r.str(e.ret) || !r.str(e.envid) || !r.u8(flags) || !r.str(e.prepend) ||
      !r.i64(e.arrival) || !r.str(e.client_ip) || !r.str(e.helo) || !r.u64(e.body_size) || !r.u32(n))
    return false;
  e.smtputf8 = (flags & kFlagSmtputf8) != 0;
  e.eightbit = (flags & kFlagEightbit) != 0;
  if (n > r.left() / kMinRcptBytes) return false;
  e.rcpts.resize(n);
  for (auto& rc : e.rcpts) {
    if (!r.str(rc.address) || !r.str(rc.domain) || !r.u32(rc.notify) || !r.str(rc.orcpt) || !r.status(rc.status) ||
        !r.u32(rc.attempts) || !r.i64(rc.next_attempt) || !r.str(rc.last_reply))
      return false;
    std::uint8_t warned = 0;
    if (!r.u8(warned)) return false;
    rc.delay_warned = warned != 0;
  }
  if (r.left() != 0) return false;
  out = std::move(e);
  return true;
}

std::string encode_rcpt_state(const RcptStateRecord& s) {
  std::string o;
  o.reserve(1 + 4 + 1 + 4 + 8 + 4 + s.last_reply.size());
  put_u8(o, kRcptStateVersion);
  put_u32(o, s.index);
  put_u8(o, static_cast<std::uint8_t>(s.status));
  put_u32(o, s.attempts);
  put_i64(o, s.next_attempt);
  put_str(o, s.last_reply);
  put_u8(o, s.delay_warned ? 1 : 0);
  return o;
}

bool decode_rcpt_state(std::string_view payload, RcptStateRecord& out) {
  Reader r(payload);
  RcptStateRecord s;
  std::uint8_t version = 0;
  if (!r.u8(version) || version != kRcptStateVersion) return false;
  std::uint8_t warned = 0;
  if (!r.u32(s.index) || !r.status(s.status) || !r.u32(s.attempts) || !r.i64(s.next_attempt) ||
      !r.str(s.last_reply) || !r.u8(warned) || r.left() != 0)
    return false;
  s.delay_warned = warned != 0;
  out = std::move(s);
  return true;
}

}  // namespace gatehouse::queue::detail
