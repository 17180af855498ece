// The spool: segment log, group commit, recovery, reclaim, and the in-memory index and due
// scheduler (architecture.md §5; record format in include/gatehouse/queue/queue.hpp).
//
// Threads. One writer thread owns the segment files' write side. Producers (any thread) push
// requests into `pending` under `qmu`; the writer swaps the vector out, serializes every record
// of the pass into one buffer, writes it with one pwrite (two around a rotation), and if the pass
// holds a commit it calls fdatasync once. It then inserts the committed messages into the index
// and only then runs their callbacks (so a delivery thread woken by on_ready finds them). Group
// commit needs no timer: requests that arrive while one fdatasync runs share the next one.
// The index (`mu`) is one mutex, never held during IO or callbacks.
//
// Choices, with why:
// - Segments are preallocated with posix_fallocate at creation: space is reserved up front (a
//   full disk fails at segment creation, i.e. a 451 at commit, never half-way through a record)
//   and extents stay contiguous. On ext4, writing into fallocated (unwritten) extents still makes
//   fdatasync journal the extent conversion, so the sync cost is about that of appending; we do
//   not zero-fill (that would double the write volume). Consequence for recovery: a segment ends
//   at its first invalid record (zeros, torn record, bad CRC); we never scan past it, because a
//   resync by searching for the magic could accept a forged record hidden inside a body chunk.
// - A new segment is created (open O_EXCL, fallocate, fsync file, fsync seg/) before anything is
//   written to it; the next one is created ahead of need ("spare") once the current one is half
//   full. On rotation the old segment is fdatasync'ed before the new one is written, so a COMMIT
//   in the new segment also covers CHUNKs left in the old one.
// - fdatasync or write failure: every commit in that segment in this pass fails, the segment is
//   closed for writing and never synced again (a failed fsync cannot be retried), a DONE for each
//   failed commit goes to the fresh segment, and messages whose chunks sit in a failed segment
//   fail at commit.
// - Reclaim pins each live or in-flight message to the oldest segment holding its records (its
//   first chunk, or its envelope). Segments are deleted strictly oldest-first, so that pin is
//   enough, and only after the DONE records that freed them are synced.
//   TODO(copy-forward): long-deferred messages pin old segments forever; copy them forward into
//   the head segment and commit them there, so the old segment can go (architecture.md §5).
// - Hot cache: the body of a freshly committed message is kept in memory (at most 64 MiB in all,
//   bodies over 1 MiB never) so the first delivery attempt does not read the disk. It is dropped
//   at the first update() (end of the first attempt), at DONE or remove. Admission is refused
//   when the cache is full rather than evicting: mail is delivered roughly in arrival order.
// - Commit sets Envelope::body_size to the bytes actually spooled; recovery checks it against
//   the chunks found and drops (with an error line) a message whose body is incomplete.
// - retry() changes next_attempt in memory only; after a restart the stored schedule applies.
// - <dir>/lock is flock()ed for the spool's lifetime: a second process cannot open the spool.
// - The request queue is bounded (64 MiB of queued bytes): past that, producers other than the
//   writer thread wait until the writer takes the batch (architecture.md §5).
// - Segment names are 16-digit zero-padded decimals; other files in seg/ are ignored.
//
// Must not: include Asio, hold `mu` or `qmu` during IO or a callback, sync a failed segment, or
// report a commit before its records and its segment's creation are durable.
#include "gatehouse/queue/queue.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "gatehouse/core/fs.hpp"
#include "gatehouse/core/log.hpp"
#include "fault.hpp"
#include "record.hpp"

namespace gatehouse::queue {

std::string_view to_string(RcptStatus s) {
  switch (s) {
    case RcptStatus::pending: return "pending";
    case RcptStatus::delivered: return "delivered";
    case RcptStatus::failed: return "failed";
    case RcptStatus::expired: return "expired";
  }
  return "unknown";
}

namespace {

using namespace detail;
namespace fsys = std::filesystem;

constexpr std::size_t kHotCacheBytes = 64u << 20;   // committed bodies kept in memory, in all
constexpr std::size_t kHotMaxMessage = 1u << 20;    // larger bodies are never cached
constexpr std::size_t kMaxPendingBytes = 64u << 20; // producers (not the writer) wait above this

struct SegFile {
  int fd = -1;
  std::uint64_t no = 0;
  fsys::path path;
  SegFile() = default;
  SegFile(const SegFile&) = delete;
  SegFile& operator=(const SegFile&) = delete;
  ~SegFile() {
    if (fd >= 0) ::close(fd);
  }
};
using SegPtr = std::shared_ptr<SegFile>;

struct ChunkLoc {
  std::uint64_t seg = 0;
  std::uint64_t offset = 0;  // of the record (header) in the segment
  std::uint32_t len = 0;     // payload bytes
};

std::string seg_name(std::uint64_t n) { return fmt::format("{:016}.log", n); }

std::optional<std::uint64_t> parse_seg_name(const std::string& name) {
  if (name.size() != 20 || name.compare(16, 4, ".log") != 0) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return v;
}

bool has_pending(const Envelope& e) {
  return std::any_of(e.rcpts.begin(), e.rcpts.end(),
                     [](const RecipientState& r) { return r.status == RcptStatus::pending; });
}

std::int64_t due_of(const Envelope& e) {
  std::int64_t due = INT64_MAX;
  for (const auto& r : e.rcpts)
    if (r.status == RcptStatus::pending) due = std::min(due, r.next_attempt);
  return due;
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

Status read_at(int fd, std::uint64_t off, char* dst, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, dst + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(fmt::format("read failed: {}", core::fs::errno_text(errno)));
    }
    if (n == 0) return make_error("read failed: unexpected end of file");
    got += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

namespace detail {
namespace {
std::atomic<int> g_injected_sync_failures{0};
}
void inject_sync_failures(int n) { g_injected_sync_failures.store(n); }
bool consume_injected_sync_failure() {
  int n = g_injected_sync_failures.load(std::memory_order_relaxed);
  while (n > 0)
    if (g_injected_sync_failures.compare_exchange_weak(n, n - 1)) return true;
  return false;
}
}  // namespace detail

struct Queue::Impl {
  // ---------------------------------------------------------------- shared, read-only
  Options opts;
  fsys::path seg_dir;
  std::shared_ptr<spdlog::logger> log;
  int lock_fd = -1;

  // ---------------------------------------------------------------- producers -> writer (qmu)
  struct Req {
    enum class Kind : std::uint8_t { chunk, commit, abort, rcpt_state, done };
    Kind kind = Kind::chunk;
    QueueId id;
    std::string data;  // CHUNK bytes, or an encoded RCPT_STATE payload
    Envelope env;      // commit
    std::function<void(Status)> cb;
    std::uint64_t pin_seg = 0;  // done: the segment the message pinned
  };
  std::mutex qmu;
  std::condition_variable qcv;       // the writer waits for work
  std::condition_variable space_cv;  // producers wait for room (bounded queue)
  std::vector<Req> pending;
  std::size_t pending_bytes = 0;
  bool stopping = false;
  bool writer_exited = false;
  std::thread writer;
  std::thread::id writer_id;

  // ---------------------------------------------------------------- index (mu)
  struct Entry {
    Envelope env;
    std::vector<ChunkLoc> chunks;
    std::uint64_t pin_seg = 0;
    std::int64_t due = 0;  // key in due_set while in_due
    bool in_due = false;
    bool active = false;
    std::shared_ptr<const std::string> hot;
  };
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, Entry> index;
  std::set<std::pair<std::int64_t, std::uint64_t>> due_set;  // inactive, with a pending rcpt
  std::map<std::uint64_t, SegPtr> files;                     // readable segments
  std::size_t hot_bytes = 0;
  std::uint64_t active_count = 0;
  std::shared_ptr<const std::function<void()>> on_ready;

  std::atomic<std::uint64_t> n_commits{0}, n_syncs{0}, n_segments{0};

  // ---------------------------------------------------------------- writer thread only
  struct Inflight {
    std::vector<ChunkLoc> chunks;
    std::uint64_t size = 0;
    std::uint64_t pin_seg = 0;
    bool pinned = false;
    bool broken = false;  // a chunk could not be written
    std::string hot;
    bool hot_ok = true;
  };
  struct Ticket {
    QueueId id;
    Envelope env;
    std::function<void(Status)> cb;
    std::vector<ChunkLoc> chunks;
    std::shared_ptr<std::string> hot;
    std::uint64_t seg = 0;      // segment holding ENVELOPE + COMMIT
    std::uint64_t pin_seg = 0;
    bool written = false;       // ENVELOPE + COMMIT are in a segment
    bool resolved = false;
    Status result;
  };
  std::unordered_map<std::uint64_t, Inflight> inflight;
  std::size_t inflight_hot_bytes = 0;
  std::map<std::uint64_t, std::uint64_t> pins;  // segment -> messages pinned to it
  std::map<std::uint64_t, SegPtr> disk;         // every segment file on disk, incl. cur/spare
  std::set<std::uint64_t> failed;               // write or sync failed: never written/synced again
  SegPtr cur, spare;
  std::uint64_t cur_off = 0;  // bytes written to cur
  bool cur_dirty = false;     // written since its last successful sync
  std::uint64_t next_no = 1;
  std::string buf;            // this pass's records for cur, starting at cur_off
  std::vector<Ticket> tickets;
  bool spare_warned = false;

  // ================================================================ segments (writer / open)

  Expected<SegPtr> create_segment(std::uint64_t no) {
    auto s = std::make_shared<SegFile>();
    s->no = no;
    s->path = seg_dir / seg_name(no);
    s->fd = ::open(s->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s->fd < 0)
      return make_error(fmt::format("{}: cannot create segment: {}", s->path.string(), core::fs::errno_text(errno)));
    auto cleanup = [&](std::string msg) -> Expected<SegPtr> {
      ::unlink(s->path.c_str());
      return make_error(std::move(msg));
    };
    int rc = ::posix_fallocate(s->fd, 0, static_cast<off_t>(opts.segment_size));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL)
      return cleanup(fmt::format("{}: cannot preallocate {} bytes: {}", s->path.string(), opts.segment_size,
                                 core::fs::errno_text(rc)));
    if (opts.sync) {
      if (::fsync(s->fd) != 0)
        return cleanup(fmt::format("{}: fsync failed: {}", s->path.string(), core::fs::errno_text(errno)));
      if (auto st = core::fs::sync_dir(seg_dir); !st) return cleanup(st.error().message);
    }
    disk[no] = s;
    {
      std::lock_guard lk(mu);
      files[no] = s;
    }
    n_segments.fetch_add(1, std::memory_order_relaxed);
    log->debug("segment-created seg={}", no);
    return s;
  }

  bool is_failed(std::uint64_t no) const { return failed.count(no) != 0; }

  void mark_failed(std::uint64_t no, const std::string& why) {
    if (!failed.insert(no).second) return;
    log->error("segment-failed seg={} reason=\"{}\" (closed for writing, never synced again)", no, why);
  }

  // Resolves every written, unresolved ticket in segment `no`.
  void resolve_seg(std::uint64_t no, const Status& st) {
    for (auto& t : tickets)
      if (t.written && !t.resolved && t.seg == no) {
        t.resolved = true;
        t.result = st;
      }
  }

  Status failed_status(std::uint64_t no) const {
    return make_error(fmt::format("spool segment {} failed to write or sync", no));
  }

  // Writes this pass's buffer to the current segment.
  void flush() {
    if (buf.empty() || !cur) {
      buf.clear();
      return;
    }
    if (!is_failed(cur->no)) {
      if (auto st = core::fs::pwrite_all(cur->fd, buf, cur_off); !st)
        mark_failed(cur->no, cur->path.string() + ": " + st.error().message);
      else
        cur_dirty = true;
    }
    cur_off += buf.size();
    buf.clear();
  }

  // fdatasync of the current segment; on failure the segment is failed.
  bool sync_cur() {
    if (!cur || is_failed(cur->no)) return false;
    if (opts.sync) {
      auto st = detail::consume_injected_sync_failure() ? Status{make_error("fdatasync failed: injected by test")}
                                                        : core::fs::datasync(cur->fd, cur->path);
      n_syncs.fetch_add(1, std::memory_order_relaxed);
      if (!st) {
        mark_failed(cur->no, st.error().message);
        return false;
      }
    }
    cur_dirty = false;
    return true;
  }

  // Closes the current segment (synced first) and makes a fresh one current.
  bool rotate() {
    flush();
    if (cur) {
      bool ok = !is_failed(cur->no) && (!cur_dirty || sync_cur());
      resolve_seg(cur->no, ok ? Status{} : failed_status(cur->no));
      cur.reset();
    }
    if (spare) {
      cur = std::move(spare);
      spare.reset();
    } else {
      auto s = create_segment(next_no++);
      if (!s) {
        log->error("segment-create-failed reason=\"{}\"", s.error().message);
        return false;
      }
      cur = *s;
    }
    cur_off = 0;
    cur_dirty = false;
    return true;
  }

  // Makes room for a record of `n` bytes in the current segment, rotating when it would pass
  // segment_size (a record larger than a segment gets an empty segment of its own).
  bool reserve(std::size_t n) {
    if (cur && !is_failed(cur->no)) {
      std::uint64_t end = cur_off + buf.size();
      if (end == 0 || end + n <= opts.segment_size) return true;
    }
    return rotate();
  }

  std::uint64_t buf_pos() const { return cur_off + buf.size(); }

  void pin(std::uint64_t seg) { ++pins[seg]; }
  void unpin(std::uint64_t seg) {
    auto it = pins.find(seg);
    if (it == pins.end()) return;
    if (--it->second == 0) pins.erase(it);
  }

  // ================================================================ the writer pass

  void on_chunk(Req& r) {
    auto& inf = inflight[r.id.value];
    if (inf.broken) return;
    std::string_view rest = r.data;
    while (!rest.empty()) {
      std::string_view piece = rest.substr(0, kMaxChunkPayload);
      rest.remove_prefix(piece.size());
      if (!reserve(kRecordOverhead + piece.size())) {
        inf.broken = true;
        return;
      }
      ChunkLoc loc{cur->no, buf_pos(), static_cast<std::uint32_t>(piece.size())};
      append_record(buf, RecType::chunk, r.id, piece);
      if (!inf.pinned) {
        inf.pinned = true;
        inf.pin_seg = cur->no;
        pin(cur->no);
      }
      inf.chunks.push_back(loc);
      inf.size += piece.size();
    }
    if (inf.hot_ok) {
      if (inf.size > kHotMaxMessage || inflight_hot_bytes + r.data.size() > kHotCacheBytes) {
        inflight_hot_bytes -= inf.hot.size();
        std::string().swap(inf.hot);
        inf.hot_ok = false;
      } else {
        inflight_hot_bytes += r.data.size();
        if (inf.hot.empty()) inf.hot = std::move(r.data);
        else inf.hot.append(r.data);
      }
    }
  }

  void drop_inflight(std::unordered_map<std::uint64_t, Inflight>::iterator it) {
    inflight_hot_bytes -= it->second.hot.size();
    if (it->second.pinned) unpin(it->second.pin_seg);
    inflight.erase(it);
  }

  void on_commit(Req& r) {
    Ticket t;
    t.id = r.id;
    t.env = std::move(r.env);
    t.cb = std::move(r.cb);
    Inflight inf;
    if (auto it = inflight.find(r.id.value); it != inflight.end()) {
      inf = std::move(it->second);
      inflight_hot_bytes -= inf.hot.size();
      inflight.erase(it);
    }
    auto fail = [&](std::string msg) {
      if (inf.pinned) unpin(inf.pin_seg);
      log->error("{}: commit-failed reason=\"{}\"", r.id.hex(), msg);
      t.resolved = true;
      t.result = make_error(std::move(msg));
      tickets.push_back(std::move(t));
    };
    if (inf.broken) return fail("body chunks could not be written to the spool");
    for (const auto& c : inf.chunks)
      if (is_failed(c.seg)) return fail(fmt::format("body chunks were in failed spool segment {}", c.seg));
    if (t.env.body_size != 0 && t.env.body_size != inf.size)
      log->warn("{}: body-size-mismatch envelope={} spooled={} (using spooled)", r.id.hex(), t.env.body_size, inf.size);
    t.env.body_size = inf.size;
    std::string payload = encode_envelope(t.env);
    if (payload.size() > kMaxPayload) return fail("envelope too large");
    if (!reserve(2 * kRecordOverhead + payload.size())) return fail("no spool segment available");
    append_record(buf, RecType::envelope, r.id, payload);
    append_record(buf, RecType::commit, r.id, {});
    t.seg = cur->no;
    t.written = true;
    if (inf.pinned) {
      t.pin_seg = inf.pin_seg;
    } else {
      t.pin_seg = cur->no;
      pin(cur->no);
    }
    t.chunks = std::move(inf.chunks);
    if (inf.hot_ok && inf.size == inf.hot.size()) t.hot = std::make_shared<std::string>(std::move(inf.hot));
    tickets.push_back(std::move(t));
  }

  void on_state(Req& r, RecType type) {
    if (!reserve(kRecordOverhead + r.data.size())) {
      log->warn("{}: state-record-dropped type={} reason=\"no spool segment available\"", r.id.hex(),
                static_cast<unsigned>(type));
    } else {
      append_record(buf, type, r.id, r.data);
    }
    if (type == RecType::done) unpin(r.pin_seg);
  }

  void process(std::vector<Req>& batch) {
    tickets.clear();
    for (auto& r : batch) {
      switch (r.kind) {
        case Req::Kind::chunk: on_chunk(r); break;
        case Req::Kind::commit: on_commit(r); break;
        case Req::Kind::abort:
          if (auto it = inflight.find(r.id.value); it != inflight.end()) drop_inflight(it);
          break;
        case Req::Kind::rcpt_state: on_state(r, RecType::rcpt_state); break;
        case Req::Kind::done: on_state(r, RecType::done); break;
      }
    }
    flush();

    // One fdatasync for every commit of the pass left in the current segment.
    bool need_sync = std::any_of(tickets.begin(), tickets.end(), [&](const Ticket& t) {
      return t.written && !t.resolved && cur && t.seg == cur->no;
    });
    if (need_sync) {
      std::uint64_t no = cur->no;
      bool ok = sync_cur();
      resolve_seg(no, ok ? Status{} : failed_status(no));
    }
    // Anything still unresolved sits in a segment that failed before it could be synced.
    for (auto& t : tickets)
      if (!t.resolved) {
        t.resolved = true;
        t.result = failed_status(t.seg);
      }

    // Failed commits: release their pins; their ENVELOPE+COMMIT may still reach the disk from
    // the page cache, so a DONE in a healthy segment cancels them for recovery.
    bool any_failed_written = false;
    for (auto& t : tickets)
      if (!t.result) {
        if (t.written) {
          unpin(t.pin_seg);
          any_failed_written = true;
        }
      }
    if (cur && is_failed(cur->no)) rotate();
    if (any_failed_written && cur && !is_failed(cur->no)) {
      for (auto& t : tickets)
        if (!t.result && t.written && reserve(kRecordOverhead)) append_record(buf, RecType::done, t.id, {});
      flush();
    }

    // Publish to the index, then run the callbacks.
    std::shared_ptr<const std::function<void()>> ready;
    bool any_ok = false;
    if (!tickets.empty()) {
      std::lock_guard lk(mu);
      for (auto& t : tickets) {
        if (!t.result) continue;
        any_ok = true;
        if (log->should_log(spdlog::level::debug))
          log->debug("{}: committed size={} nrcpt={} seg={}", t.id.hex(), t.env.body_size, t.env.rcpts.size(), t.seg);
        Entry e;
        e.env = std::move(t.env);
        e.chunks = std::move(t.chunks);
        e.pin_seg = t.pin_seg;
        if (t.hot && hot_bytes + t.hot->size() <= kHotCacheBytes) {
          hot_bytes += t.hot->size();
          e.hot = std::move(t.hot);
        }
        if (has_pending(e.env)) {
          e.due = due_of(e.env);
          e.in_due = true;
          due_set.emplace(e.due, t.id.value);
        }
        auto [it, inserted] = index.try_emplace(t.id.value, std::move(e));
        if (!inserted) log->warn("{}: duplicate-commit (kept the first)", t.id.hex());
      }
      ready = on_ready;
    }
    for (auto& t : tickets) {
      if (t.result) n_commits.fetch_add(1, std::memory_order_relaxed);
      if (!t.cb) continue;
      try {
        t.cb(t.result);
      } catch (const std::exception& ex) {
        log->error("{}: commit-callback-threw what=\"{}\"", t.id.hex(), ex.what());
      }
    }
    tickets.clear();
    if (any_ok && ready && *ready) call_ready(*ready);

    reclaim(false);
    maybe_prepare_spare();
  }

  void call_ready(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& ex) {
      log->error("on-ready-threw what=\"{}\"", ex.what());
    }
  }

  void maybe_prepare_spare() {
    if (spare || !cur || cur_off < opts.segment_size / 2) return;
    auto s = create_segment(next_no++);
    if (!s) {
      if (!spare_warned) log->warn("segment-prepare-failed reason=\"{}\"", s.error().message);
      spare_warned = true;
      return;
    }
    spare_warned = false;
    spare = *s;
  }

  // Deletes the oldest segments that no live or in-flight message pins, oldest first, after the
  // DONE records that freed them are durable. `sync_all` (at open): sync every kept segment.
  void reclaim(bool sync_all) {
    std::vector<SegPtr> victims;
    for (auto& [no, s] : disk) {
      if (s == cur || s == spare || pins.count(no)) break;
      victims.push_back(s);
    }
    if (victims.empty()) return;
    if (opts.sync) {
      if (sync_all) {
        for (auto& [no, s] : disk) {
          if (no <= victims.back()->no || s == cur || s == spare) continue;
          if (::fdatasync(s->fd) != 0) {
            log->warn("reclaim-deferred seg={} reason=\"fdatasync: {}\"", no, core::fs::errno_text(errno));
            return;
          }
          n_syncs.fetch_add(1, std::memory_order_relaxed);
        }
      } else if (cur_dirty && !sync_cur()) {
        return;  // the DONE records may not be durable; try again after the next rotation
      }
    }
    std::size_t removed = 0;
    for (auto& s : victims) {
      if (::unlink(s->path.c_str()) != 0 && errno != ENOENT) {
        log->warn("reclaim-failed seg={} reason=\"{}\"", s->no, core::fs::errno_text(errno));
        break;
      }
      disk.erase(s->no);
      failed.erase(s->no);
      {
        std::lock_guard lk(mu);
        files.erase(s->no);
      }
      n_segments.fetch_sub(1, std::memory_order_relaxed);
      ++removed;
    }
    if (removed && opts.sync) (void)core::fs::sync_dir(seg_dir);
    if (removed)
      log->info("reclaimed segments={} oldest={} newest={}", removed, victims.front()->no, victims[removed - 1]->no);
  }

  void writer_main() {
    std::vector<Req> batch;
    for (;;) {
      {
        std::unique_lock lk(qmu);
        qcv.wait(lk, [&] { return !pending.empty() || stopping; });
        if (pending.empty()) break;  // stopping and drained
        batch.swap(pending);
        pending_bytes = 0;
      }
      space_cv.notify_all();
      process(batch);
      batch.clear();
    }
    if (cur_dirty) sync_cur();
    {
      std::lock_guard lk(qmu);
      writer_exited = true;
    }
    space_cv.notify_all();
  }

  // ================================================================ producers

  void push(Req r) {
    std::unique_lock lk(qmu);
    bool on_writer = std::this_thread::get_id() == writer_id;
    if (writer_exited || (stopping && r.kind == Req::Kind::commit && !on_writer)) {
      lk.unlock();
      if (r.kind == Req::Kind::commit && r.cb) r.cb(make_error("queue is shutting down"));
      return;
    }
    if (!on_writer && pending_bytes >= kMaxPendingBytes)
      space_cv.wait(lk, [&] { return pending_bytes < kMaxPendingBytes || writer_exited; });
    pending_bytes += r.data.size() + 64;
    pending.push_back(std::move(r));
    bool wake = pending.size() == 1;
    lk.unlock();
    if (wake) qcv.notify_one();
  }

  void push_all(std::vector<Req>& rs) {
    if (rs.empty()) return;
    std::unique_lock lk(qmu);
    if (writer_exited) return;
    bool wake = pending.empty();
    for (auto& r : rs) {
      pending_bytes += r.data.size() + 64;
      pending.push_back(std::move(r));
    }
    lk.unlock();
    if (wake) qcv.notify_one();
  }

  // Removes the entry (mu held) and returns the DONE request to push.
  Req erase_locked(std::unordered_map<std::uint64_t, Entry>::iterator it) {
    Entry& e = it->second;
    if (e.in_due) due_set.erase({e.due, it->first});
    if (e.active) --active_count;
    if (e.hot) hot_bytes -= e.hot->size();
    Req d;
    d.kind = Req::Kind::done;
    d.id = QueueId{it->first};
    d.pin_seg = e.pin_seg;
    index.erase(it);
    return d;
  }

  // Re-files an inactive entry in the due index (mu held).
  void refile_locked(std::uint64_t id, Entry& e) {
    if (e.in_due) due_set.erase({e.due, id});
    e.in_due = false;
    if (e.active || !has_pending(e.env)) return;
    e.due = due_of(e.env);
    e.in_due = true;
    due_set.emplace(e.due, id);
  }

  // ================================================================ recovery

  Status recover() {
    struct Rec {
      std::optional<Envelope> env;
      bool committed = false;
      std::vector<ChunkLoc> chunks;
      std::uint64_t size = 0;
      std::uint64_t first_seg = 0;
      bool has_first = false;
    };
    std::unordered_map<std::uint64_t, Rec> msgs;
    std::vector<std::uint64_t> nos;
    std::error_code ec;
    for (fsys::directory_iterator it(seg_dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (auto no = parse_seg_name(it->path().filename().string())) nos.push_back(*no);
    }
    if (ec) return make_error(fmt::format("{}: cannot list: {}", seg_dir.string(), ec.message()));
    std::sort(nos.begin(), nos.end());

    std::size_t torn = 0, bad_payload = 0;
    std::string data;
    for (std::uint64_t no : nos) {
      auto s = std::make_shared<SegFile>();
      s->no = no;
      s->path = seg_dir / seg_name(no);
      s->fd = ::open(s->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (s->fd < 0)
        return make_error(fmt::format("{}: cannot open segment: {}", s->path.string(), core::fs::errno_text(errno)));
      struct stat st {};
      if (::fstat(s->fd, &st) != 0)
        return make_error(fmt::format("{}: cannot stat segment: {}", s->path.string(), core::fs::errno_text(errno)));
      data.resize(static_cast<std::size_t>(st.st_size));
      if (auto rs = read_at(s->fd, 0, data.data(), data.size()); !rs)
        return make_error(fmt::format("{}: {}", s->path.string(), rs.error().message));
      std::string_view view = data;
      std::size_t off = 0;
      RecordView rec;
      while (off < view.size() && parse_record(view.substr(off), rec) == ParseStatus::ok) {
        // Only CHUNK and ENVELOPE start a message; later records for an unknown id are ignored.
        auto mit = msgs.find(rec.id.value);
        if (mit == msgs.end()) {
          if (rec.type != RecType::chunk && rec.type != RecType::envelope) {
            off += rec.size;
            continue;
          }
          mit = msgs.emplace(rec.id.value, Rec{}).first;
        }
        auto& m = mit->second;
        auto first = [&] {
          if (!m.has_first) {
            m.has_first = true;
            m.first_seg = no;
          }
        };
        switch (rec.type) {
          case RecType::chunk:
            if (!m.committed) {
              first();
              m.chunks.push_back({no, off, static_cast<std::uint32_t>(rec.payload.size())});
              m.size += rec.payload.size();
            }
            break;
          case RecType::envelope: {
            Envelope e;
            if (m.env || !decode_envelope(rec.payload, rec.id, e)) {
              if (!m.env) {
                ++bad_payload;
                log->error("{}: recover-bad-envelope seg={} offset={}", rec.id.hex(), no, off);
              }
              break;
            }
            first();
            m.env = std::move(e);
            break;
          }
          case RecType::commit:
            if (m.env) m.committed = true;
            break;
          case RecType::rcpt_state: {
            RcptStateRecord rs;
            if (!m.committed) break;
            if (!decode_rcpt_state(rec.payload, rs) || rs.index >= m.env->rcpts.size()) {
              ++bad_payload;
              log->error("{}: recover-bad-rcpt-state seg={} offset={}", rec.id.hex(), no, off);
              break;
            }
            auto& rc = m.env->rcpts[rs.index];
            rc.status = rs.status;
            rc.attempts = rs.attempts;
            rc.next_attempt = rs.next_attempt;
            rc.last_reply = std::move(rs.last_reply);
            rc.delay_warned = rs.delay_warned;
            break;
          }
          case RecType::done: msgs.erase(rec.id.value); break;
        }
        off += rec.size;
      }
      if (off < view.size() && !all_zero(view.substr(off))) {
        ++torn;
        log->warn("recover-torn-tail seg={} offset={} ignored_bytes={}", no, off, view.size() - off);
      }
      disk[no] = s;
      files[no] = s;
      next_no = std::max(next_no, no + 1);
    }
    std::string().swap(data);

    std::size_t recovered = 0, garbage = 0, final_only = 0, corrupt = 0;
    for (auto& [id, m] : msgs) {
      if (!m.committed) {
        ++garbage;
        continue;
      }
      if (m.size != m.env->body_size) {
        ++corrupt;
        log->error("{}: recover-incomplete-body expected={} found={} (dropped)", QueueId{id}.hex(), m.env->body_size,
                   m.size);
        continue;
      }
      if (!has_pending(*m.env)) {
        ++final_only;
        continue;
      }
      Entry e;
      e.env = std::move(*m.env);
      e.chunks = std::move(m.chunks);
      e.pin_seg = m.first_seg;
      e.due = due_of(e.env);
      e.in_due = true;
      due_set.emplace(e.due, id);
      pin(m.first_seg);
      index.emplace(id, std::move(e));
      ++recovered;
    }
    n_segments = disk.size();
    log->info("recovered messages={} segments={} uncommitted={} final={} corrupt={} bad_records={} torn_segments={}",
              recovered, nos.size(), garbage, final_only, corrupt, bad_payload, torn);
    return {};
  }

  Status lock_spool() {
    auto p = opts.dir / "lock";
    lock_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) return make_error(fmt::format("{}: cannot open: {}", p.string(), core::fs::errno_text(errno)));
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
      return make_error(fmt::format("{}: spool is in use by another process", opts.dir.string()));
    return {};
  }

  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

// ================================================================ public API

Queue::Queue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Expected<std::unique_ptr<Queue>> Queue::open(const Options& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.segment_size < 4096) impl->opts.segment_size = 4096;
  impl->seg_dir = opts.dir / "seg";
  impl->log = core::log::get("queue");
  if (auto st = core::fs::ensure_dir(opts.dir); !st) return st.error();
  if (auto st = impl->lock_spool(); !st) return st.error();
  if (auto st = core::fs::ensure_dir(impl->seg_dir); !st) return st.error();
  if (opts.sync) {
    if (auto st = core::fs::sync_dir(opts.dir); !st) return st.error();
  }
  if (auto st = impl->recover(); !st) return st.error();
  // New writes always start a new segment: never append after a possibly torn tail.
  auto s = impl->create_segment(impl->next_no++);
  if (!s) return s.error();
  impl->cur = *s;
  impl->reclaim(true);
  Impl* p = impl.get();
  {
    std::lock_guard lk(p->qmu);
    p->writer = std::thread([p] { p->writer_main(); });
    p->writer_id = p->writer.get_id();
  }
  return std::unique_ptr<Queue>(new Queue(std::move(impl)));
}

Queue::~Queue() {
  {
    std::lock_guard lk(impl_->qmu);
    impl_->stopping = true;
  }
  impl_->qcv.notify_all();
  if (impl_->writer.joinable()) impl_->writer.join();
}

QueueId Queue::new_id() { return core::global_ids().next(); }

void Queue::append_body(QueueId id, std::string bytes) {
  if (bytes.empty()) return;
  Impl::Req r;
  r.kind = Impl::Req::Kind::chunk;
  r.id = id;
  r.data = std::move(bytes);
  impl_->push(std::move(r));
}

void Queue::commit(Envelope env, std::function<void(Status)> done) {
  if (env.id.value == 0) {
    if (done) done(make_error("commit: envelope has no queue id"));
    return;
  }
  Impl::Req r;
  r.kind = Impl::Req::Kind::commit;
  r.id = env.id;
  r.env = std::move(env);
  r.cb = std::move(done);
  impl_->push(std::move(r));
}

void Queue::abort(QueueId id) {
  Impl::Req r;
  r.kind = Impl::Req::Kind::abort;
  r.id = id;
  impl_->push(std::move(r));
}

std::vector<Envelope> Queue::take_due(std::int64_t now, std::size_t max) {
  std::vector<Envelope> out;
  std::lock_guard lk(impl_->mu);
  auto& ds = impl_->due_set;
  for (auto it = ds.begin(); it != ds.end() && it->first <= now && out.size() < max;) {
    auto e = impl_->index.find(it->second);
    it = ds.erase(it);
    if (e == impl_->index.end()) continue;
    e->second.in_due = false;
    e->second.active = true;
    ++impl_->active_count;
    out.push_back(e->second.env);
  }
  return out;
}

std::optional<std::int64_t> Queue::next_due() const {
  std::lock_guard lk(impl_->mu);
  if (impl_->due_set.empty()) return std::nullopt;
  return impl_->due_set.begin()->first;
}

Expected<std::string> Queue::read_body(QueueId id) const {
  std::vector<ChunkLoc> chunks;
  std::vector<SegPtr> segs;
  std::uint64_t size = 0;
  std::shared_ptr<const std::string> hot;  // keeps the cached bytes alive while we copy them unlocked
  {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->index.find(id.value);
    if (it == impl_->index.end()) return make_error(fmt::format("{}: no such message in the queue", id.hex()));
    hot = it->second.hot;
    if (!hot) chunks = it->second.chunks;
    size = it->second.env.body_size;
    segs.reserve(chunks.size());
    for (const auto& c : chunks) {
      auto f = impl_->files.find(c.seg);
      if (f == impl_->files.end())
        return make_error(fmt::format("{}: spool segment {} is missing", id.hex(), c.seg));
      segs.push_back(f->second);
    }
  }
  if (hot) return std::string(*hot);
  std::string out, rec;
  out.reserve(size);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    rec.resize(kRecordOverhead + c.len);
    if (auto st = read_at(segs[i]->fd, c.offset, rec.data(), rec.size()); !st)
      return make_error(fmt::format("{}: {}: {}", id.hex(), segs[i]->path.string(), st.error().message));
    RecordView v;
    if (parse_record(rec, v) != ParseStatus::ok || v.type != RecType::chunk || v.id != id || v.payload.size() != c.len)
      return make_error(fmt::format("{}: {}: corrupt body record at offset {}", id.hex(), segs[i]->path.string(), c.offset));
    out.append(v.payload);
  }
  return out;
}

void Queue::update(QueueId id, const std::vector<RecipientUpdate>& updates) {
  std::vector<Impl::Req> reqs;
  {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->index.find(id.value);
    if (it == impl_->index.end()) {
      impl_->log->debug("{}: update-ignored reason=\"not in queue\"", id.hex());
      return;
    }
    auto& e = it->second;
    for (const auto& u : updates) {
      if (u.index >= e.env.rcpts.size()) {
        impl_->log->warn("{}: update-bad-index index={} nrcpt={}", id.hex(), u.index, e.env.rcpts.size());
        continue;
      }
      auto& r = e.env.rcpts[u.index];
      r.status = u.status;
      if (u.status == RcptStatus::pending) r.next_attempt = u.next_attempt;
      r.last_reply = u.reply;
      if (u.count_attempt) ++r.attempts;
      if (u.delay_warned) r.delay_warned = true;
      RcptStateRecord s;
      s.index = static_cast<std::uint32_t>(u.index);
      s.status = r.status;
      s.attempts = r.attempts;
      s.next_attempt = r.next_attempt;
      s.last_reply = r.last_reply;
      s.delay_warned = r.delay_warned;
      Impl::Req q;
      q.kind = Impl::Req::Kind::rcpt_state;
      q.id = id;
      q.data = encode_rcpt_state(s);
      reqs.push_back(std::move(q));
    }
    if (e.hot) {
      impl_->hot_bytes -= e.hot->size();
      e.hot.reset();
    }
    if (e.active) {
      e.active = false;
      --impl_->active_count;
    }
    if (has_pending(e.env)) impl_->refile_locked(id.value, e);
    else reqs.push_back(impl_->erase_locked(it));
  }
  impl_->push_all(reqs);
}

void Queue::set_on_ready(std::function<void()> fn) {
  auto p = std::make_shared<const std::function<void()>>(std::move(fn));
  std::lock_guard lk(impl_->mu);
  impl_->on_ready = std::move(p);
}

std::vector<Envelope> Queue::list() const {
  std::vector<Envelope> out;
  {
    std::lock_guard lk(impl_->mu);
    out.reserve(impl_->index.size());
    for (const auto& [id, e] : impl_->index) out.push_back(e.env);
  }
  std::sort(out.begin(), out.end(), [](const Envelope& a, const Envelope& b) { return a.id < b.id; });
  return out;
}

std::optional<Envelope> Queue::get(QueueId id) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->index.find(id.value);
  if (it == impl_->index.end()) return std::nullopt;
  return it->second.env;
}

Status Queue::retry(std::optional<QueueId> id, std::int64_t now) {
  std::shared_ptr<const std::function<void()>> ready;
  {
    std::lock_guard lk(impl_->mu);
    auto one = [&](std::uint64_t key, Impl::Entry& e) {
      for (auto& r : e.env.rcpts)
        if (r.status == RcptStatus::pending && r.next_attempt > now) r.next_attempt = now;
      impl_->refile_locked(key, e);
    };
    if (id) {
      auto it = impl_->index.find(id->value);
      if (it == impl_->index.end()) return make_error(fmt::format("{}: no such message in the queue", id->hex()));
      one(it->first, it->second);
    } else {
      for (auto& [key, e] : impl_->index) one(key, e);
    }
    ready = impl_->on_ready;
  }
  if (ready && *ready) impl_->call_ready(*ready);
  return {};
}

Status Queue::remove(QueueId id) {
  Impl::Req d;
  {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->index.find(id.value);
    if (it == impl_->index.end()) return make_error(fmt::format("{}: no such message in the queue", id.hex()));
    d = impl_->erase_locked(it);
  }
  impl_->log->info("{}: removed", id.hex());
  impl_->push(std::move(d));
  return {};
}

Stats Queue::stats() const {
  Stats s;
  {
    std::lock_guard lk(impl_->mu);
    s.messages = impl_->index.size();
    s.active = impl_->active_count;
  }
  s.commits = impl_->n_commits.load(std::memory_order_relaxed);
  s.syncs = impl_->n_syncs.load(std::memory_order_relaxed);
  s.segments = impl_->n_segments.load(std::memory_order_relaxed);
  return s;
}

}  // namespace gatehouse::queue
