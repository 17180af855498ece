// The durable mail queue (architecture.md §5): an append-only segment log with group commit,
// crash recovery, per-recipient state and the scheduler's due index.
//
// Promise: commit()'s callback reports success only after the message's body chunks, its
// envelope and its COMMIT record are written and fdatasync'ed (and the segment file's creation
// is durable: file and directory fsynced). Only then may inbound answer 250. Many commits share
// one fdatasync (group commit): one writer thread appends everything queued with one write and
// syncs once per pass.
//
// Records: [u32 magic][u32 type][u32 payload_len][u64 queue id][payload][u32 crc32c of
// type..payload]. Types: CHUNK, ENVELOPE, COMMIT, RCPT_STATE, DONE. A message exists after
// recovery only if its ENVELOPE and COMMIT are present with good CRCs; the last RCPT_STATE per
// recipient wins; DONE drops it. RCPT_STATE and DONE are appended without waiting for a sync
// (a crash may repeat a delivery, never lose a message).
//
// No Asio here: completion callbacks run on the writer thread; drivers post them to their strand.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gatehouse/core/error.hpp"
#include "gatehouse/core/ids.hpp"

namespace gatehouse::queue {

using core::QueueId;

enum class RcptStatus : std::uint8_t { pending = 0, delivered = 1, failed = 2, expired = 3 };
std::string_view to_string(RcptStatus s);

struct RecipientState {
  std::string address;
  std::string domain;            // lower-case
  unsigned notify = 0;           // smtp::NotifyFlags
  std::string orcpt;
  RcptStatus status = RcptStatus::pending;
  std::uint32_t attempts = 0;
  std::int64_t next_attempt = 0;  // unix seconds
  std::string last_reply;         // last reply or reason, for logs, `queue show` and DSNs
  bool delay_warned = false;      // a "delayed" DSN was sent for this recipient (only one ever is)
};

struct Envelope {
  QueueId id;
  std::string mail_from;          // "" = null sender
  std::vector<RecipientState> rcpts;
  std::string ret, envid;         // DSN RET / ENVID
  bool smtputf8 = false;
  bool eightbit = false;
  std::string prepend;            // headers to send before the stored body (Received: ...), CRLF-terminated
  std::int64_t arrival = 0;       // unix seconds
  std::string client_ip, helo;
  std::uint64_t body_size = 0;    // bytes of stored body
};

struct RecipientUpdate {
  std::size_t index = 0;          // into Envelope::rcpts
  RcptStatus status = RcptStatus::pending;
  std::int64_t next_attempt = 0;  // for pending: when to try again
  std::string reply;
  bool count_attempt = true;
  bool delay_warned = false;      // set the recipient's delay_warned flag (never cleared)
};

struct Options {
  std::filesystem::path dir;                     // spool directory (created)
  std::uint64_t segment_size = 64ull << 20;      // rotate after this many bytes
  bool sync = true;                              // false only in tests that do not test durability
};

struct Stats {
  std::uint64_t messages = 0;     // in the queue (not DONE)
  std::uint64_t active = 0;       // taken by take_due and not yet released
  std::uint64_t commits = 0;      // since start
  std::uint64_t syncs = 0;        // fdatasync calls since start
  std::uint64_t segments = 0;     // segment files on disk
};

class Queue {
 public:
  // Opens the spool, recovers every committed message, starts the writer thread.
  static Expected<std::unique_ptr<Queue>> open(const Options& opts);
  ~Queue();  // drains pending writes, syncs, stops the writer thread
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // --- accepting a message (inbound) ---
  QueueId new_id();
  // Queues body bytes for the message (no wait, no sync).
  void append_body(QueueId id, std::string bytes);
  // Queues ENVELOPE + COMMIT; `done` runs on the writer thread after the batch's fdatasync
  // (or with an error: then the message does not exist and inbound answers 451 4.3.0).
  // On success the message enters the index as due now and on_ready is called.
  void commit(Envelope env, std::function<void(Status)> done);
  // The message will not be committed: its chunks are garbage.
  void abort(QueueId id);

  // --- delivery ---
  // Returns up to `max` messages whose earliest pending recipient is due at `now`, marking them
  // active so they are not returned again until update() releases them.
  std::vector<Envelope> take_due(std::int64_t now, std::size_t max);
  // Earliest due time among inactive messages, if any.
  std::optional<std::int64_t> next_due() const;
  // Reads the stored body (all chunks in order).
  Expected<std::string> read_body(QueueId id) const;
  // Applies per-recipient results (appends RCPT_STATE records, no sync), appends DONE when
  // every recipient is final, and releases the message from the active set.
  void update(QueueId id, const std::vector<RecipientUpdate>& updates);
  // Called (from any thread) whenever a message becomes due sooner: after a commit, retry().
  void set_on_ready(std::function<void()> fn);

  // --- management (CLI, later console/API) ---
  std::vector<Envelope> list() const;
  std::optional<Envelope> get(QueueId id) const;
  Status retry(std::optional<QueueId> id, std::int64_t now);  // make pending recipients due now
  Status remove(QueueId id);                                  // DONE without delivery
  Stats stats() const;

 private:
  struct Impl;
  explicit Queue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::queue
