// Spool record format (see include/gatehouse/queue/queue.hpp): framing, CRC32C and the payload
// codecs for ENVELOPE and RCPT_STATE. Pure: bytes in, values out; no IO, no clock, no logging.
// Decoders never read past the buffer and never throw; anything malformed is rejected.
//
// Record: [u32 magic][u32 type][u32 payload_len][u64 queue id][payload][u32 crc32c]
// All integers little-endian; the CRC covers type, payload_len, queue id and payload.
// Payload strings are [u32 length][bytes]. A leading u8 version lets the codecs evolve.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gatehouse/queue/queue.hpp"

namespace gatehouse::queue::detail {

enum class RecType : std::uint32_t { chunk = 1, envelope = 2, commit = 3, rcpt_state = 4, done = 5 };

inline constexpr std::uint32_t kMagic = 0x31514847u;  // "GHQ1" on disk
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::size_t kTrailerSize = 4;
inline constexpr std::size_t kRecordOverhead = kHeaderSize + kTrailerSize;
// Largest payload the writer produces and recovery accepts. Body bytes are split into CHUNK
// records of at most kMaxChunkPayload; an envelope above kMaxPayload is refused at commit.
inline constexpr std::size_t kMaxPayload = 16u << 20;
inline constexpr std::size_t kMaxChunkPayload = 1u << 20;

// Appends one framed record to `out`.
void append_record(std::string& out, RecType type, QueueId id, std::string_view payload);

struct RecordView {
  RecType type{};
  QueueId id{};
  std::string_view payload;
  std::size_t size = 0;  // whole record, header to CRC
};

enum class ParseStatus {
  ok,
  invalid,  // bad magic, type, length, CRC, or too few bytes: the valid log ends before this
};
// Parses the record at the start of `buf`.
ParseStatus parse_record(std::string_view buf, RecordView& out);

std::string encode_envelope(const Envelope& env);
// `id` comes from the record header. Returns false on any malformed input.
bool decode_envelope(std::string_view payload, QueueId id, Envelope& out);

struct RcptStateRecord {
  std::uint32_t index = 0;
  RcptStatus status = RcptStatus::pending;
  std::uint32_t attempts = 0;
  std::int64_t next_attempt = 0;
  std::string last_reply;
  bool delay_warned = false;
};
std::string encode_rcpt_state(const RcptStateRecord& r);
bool decode_rcpt_state(std::string_view payload, RcptStateRecord& out);

}  // namespace gatehouse::queue::detail
