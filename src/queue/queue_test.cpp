// Tests for the spool and scheduler: commit/reopen round trips, what recovery keeps and drops
// (uncommitted chunks, torn tails, final recipients, DONE), rotation and reclaim, group commit,
// the due index, and a fork()+SIGKILL crash test. Every spool lives in a fresh /tmp directory
// that is removed afterwards; every wait is bounded.
// Must not: depend on wall-clock timing for correctness (only for bounded waits).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gatehouse/core/fs.hpp"
#include "gatehouse/queue/queue.hpp"
#include "fault.hpp"
#include "record.hpp"

using namespace gatehouse;
using namespace gatehouse::queue;
namespace fsys = std::filesystem;
using namespace std::chrono_literals;

namespace {

RecipientState rcpt(std::string addr, std::int64_t next = 0) {
  RecipientState r;
  r.domain = addr.substr(addr.find('@') + 1);
  r.address = std::move(addr);
  r.next_attempt = next;
  return r;
}

Envelope make_env(QueueId id, std::vector<RecipientState> rcpts = {rcpt("bob@example.net")}) {
  Envelope e;
  e.id = id;
  e.mail_from = "alice@example.org";
  e.rcpts = std::move(rcpts);
  e.ret = "FULL";
  e.envid = "ENV" + id.hex();
  e.smtputf8 = true;
  e.eightbit = true;
  e.prepend = "Received: from client.example ([192.0.2.9])\r\n\tby gate.test; " + id.hex() + "\r\n";
  e.arrival = 1'700'000'000;
  e.client_ip = "192.0.2.9";
  e.helo = "client.example";
  return e;
}

std::string body_for(QueueId id, std::size_t n = 700) {
  std::string b;
  b.reserve(n);
  std::uint64_t x = id.value | 1;
  while (b.size() < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b.push_back(static_cast<char>(x & 0xFF));  // binary, including NUL and CR/LF
  }
  return b;
}

void expect_same(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.mail_from, b.mail_from);
  EXPECT_EQ(a.ret, b.ret);
  EXPECT_EQ(a.envid, b.envid);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.eightbit, b.eightbit);
  EXPECT_EQ(a.prepend, b.prepend);
  EXPECT_EQ(a.arrival, b.arrival);
  EXPECT_EQ(a.client_ip, b.client_ip);
  EXPECT_EQ(a.helo, b.helo);
  EXPECT_EQ(a.body_size, b.body_size);
  ASSERT_EQ(a.rcpts.size(), b.rcpts.size());
  for (std::size_t i = 0; i < a.rcpts.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a.rcpts[i].address, b.rcpts[i].address);
    EXPECT_EQ(a.rcpts[i].domain, b.rcpts[i].domain);
    EXPECT_EQ(a.rcpts[i].notify, b.rcpts[i].notify);
    EXPECT_EQ(a.rcpts[i].orcpt, b.rcpts[i].orcpt);
    EXPECT_EQ(a.rcpts[i].status, b.rcpts[i].status);
    EXPECT_EQ(a.rcpts[i].attempts, b.rcpts[i].attempts);
    EXPECT_EQ(a.rcpts[i].next_attempt, b.rcpts[i].next_attempt);
    EXPECT_EQ(a.rcpts[i].last_reply, b.rcpts[i].last_reply);
  }
}

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gatehouse-queue-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fsys::remove_all(dir_, ec);
  }

  Options opts(std::uint64_t seg = 1u << 20) const {
    Options o;
    o.dir = dir_;
    o.segment_size = seg;
    return o;
  }

  std::unique_ptr<Queue> open(const Options& o) {
    auto q = Queue::open(o);
    EXPECT_TRUE(q) << (q ? "" : q.error().message);
    return q ? std::move(*q) : nullptr;
  }

  // Commits and waits for the callback (bounded).
  static Status commit_wait(Queue& q, Envelope e) {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    q.commit(std::move(e), [p](Status st) { p->set_value(st); });
    if (f.wait_for(10s) != std::future_status::ready) return make_error("commit timed out");
    return f.get();
  }

  // Commits a message with the given body, in `parts` chunks.
  static QueueId put(Queue& q, const std::string& body, std::vector<RecipientState> rcpts = {rcpt("bob@example.net")},
                     std::size_t parts = 1) {
    auto id = q.new_id();
    std::size_t step = (body.size() + parts - 1) / std::max<std::size_t>(parts, 1);
    for (std::size_t off = 0; off < body.size(); off += std::max<std::size_t>(step, 1))
      q.append_body(id, body.substr(off, step));
    auto st = commit_wait(q, make_env(id, std::move(rcpts)));
    EXPECT_TRUE(st) << (st ? "" : st.error().message);
    return id;
  }

  std::vector<fsys::path> segments() const {
    std::vector<fsys::path> out;
    for (auto& e : fsys::directory_iterator(dir_ / "seg"))
      if (e.path().extension() == ".log") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  // The segment holding data and the offset just past its last non-zero byte.
  std::pair<fsys::path, std::uint64_t> data_end() const {
    std::pair<fsys::path, std::uint64_t> best;
    for (auto& p : segments()) {
      auto data = core::fs::read_file(p).value();
      auto n = data.find_last_not_of('\0');
      if (n != std::string::npos) best = {p, n + 1};
    }
    return best;
  }

  fsys::path dir_;
};

}  // namespace

TEST_F(QueueTest, CommitThenReopenRecoversEnvelopeRcptsAndBody) {
  QueueId id;
  Envelope sent;
  std::string body = body_for(QueueId{77}, 200'000);
  {
    auto q = open(opts());
    ASSERT_TRUE(q);
    id = q->new_id();
    for (std::size_t off = 0; off < body.size(); off += 65536) q->append_body(id, body.substr(off, 65536));
    sent = make_env(id, {rcpt("bob@example.net"), rcpt("carol@example.com", 5)});
    sent.rcpts[1].notify = 3;
    sent.rcpts[1].orcpt = "rfc822;carol@example.com";
    ASSERT_TRUE(commit_wait(*q, sent));
    sent.body_size = body.size();  // set by commit from the spooled bytes
    auto got = q->get(id);
    ASSERT_TRUE(got);
    expect_same(*got, sent);
    auto b = q->read_body(id);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, body);
    EXPECT_EQ(q->stats().messages, 1u);
    EXPECT_EQ(q->stats().commits, 1u);
    EXPECT_GE(q->stats().syncs, 1u);
  }
  auto q = open(opts());
  ASSERT_TRUE(q);
  auto got = q->get(id);
  ASSERT_TRUE(got);
  expect_same(*got, sent);
  auto b = q->read_body(id);
  ASSERT_TRUE(b);
  EXPECT_TRUE(*b == body) << "recovered body differs";
  EXPECT_EQ(q->next_due(), 0);
  EXPECT_EQ(q->list().size(), 1u);
}

TEST_F(QueueTest, EmptyAndLargeBodies) {
  QueueId empty, large;
  std::string big = body_for(QueueId{5}, (5u << 20) / 2);  // one append, split into 1 MiB records
  {
    auto q = open(opts(4u << 20));
    empty = put(*q, "");
    large = put(*q, big);
    EXPECT_EQ(q->read_body(empty).value(), "");
    EXPECT_TRUE(q->read_body(large).value() == big);
  }
  auto q = open(opts(4u << 20));
  EXPECT_EQ(q->read_body(empty).value(), "");
  EXPECT_TRUE(q->read_body(large).value() == big);
  EXPECT_EQ(q->get(large)->body_size, big.size());
}

TEST_F(QueueTest, UncommittedChunksAreNotRecovered) {
  QueueId kept, lost, aborted;
  {
    auto q = open(opts());
    lost = q->new_id();
    q->append_body(lost, "chunk without commit");
    aborted = q->new_id();
    q->append_body(aborted, "aborted chunk");
    q->abort(aborted);
    kept = put(*q, "committed body");
  }
  auto q = open(opts());
  EXPECT_TRUE(q->get(kept));
  EXPECT_FALSE(q->get(lost));
  EXPECT_FALSE(q->get(aborted));
  EXPECT_EQ(q->stats().messages, 1u);
  EXPECT_FALSE(q->read_body(lost));
}

TEST_F(QueueTest, TornTailLosesOnlyTheTail) {
  QueueId a, b;
  {
    auto q = open(opts());
    a = put(*q, "first message");
    b = put(*q, "second message");
  }
  // Cut the segment in the middle of b's last record (its COMMIT).
  auto [path, end] = data_end();
  ASSERT_FALSE(path.empty());
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(end - 10)), 0);
  {
    auto q = open(opts());
    EXPECT_TRUE(q->get(a));
    EXPECT_FALSE(q->get(b));
    EXPECT_EQ(q->read_body(a).value(), "first message");
    // New writes go to a new segment, never after the torn tail.
    auto c = put(*q, "third message");
    EXPECT_TRUE(q->get(c));
  }
  auto q = open(opts());
  EXPECT_TRUE(q->get(a));
  EXPECT_FALSE(q->get(b));
  EXPECT_EQ(q->stats().messages, 2u);
}

TEST_F(QueueTest, GarbageTailIsIgnored) {
  QueueId a, lost;
  {
    auto q = open(opts());
    a = put(*q, "committed");
    lost = q->new_id();
    q->append_body(lost, "uncommitted");
  }
  auto [path, end] = data_end();
  {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::string junk = body_for(QueueId{99}, 333);
    ASSERT_TRUE(core::fs::pwrite_all(fd, junk, end));
    ::close(fd);
  }
  auto q = open(opts());
  EXPECT_TRUE(q->get(a));
  EXPECT_FALSE(q->get(lost));
  EXPECT_EQ(q->read_body(a).value(), "committed");
}

TEST_F(QueueTest, RcptStateSurvivesReopenLastWins) {
  QueueId id;
  {
    auto q = open(opts());
    id = put(*q, "body", {rcpt("a@x.test"), rcpt("b@y.test"), rcpt("c@z.test")});
    ASSERT_EQ(q->take_due(10, 10).size(), 1u);
    q->update(id, {{0, RcptStatus::pending, 100, "451 4.7.0 first", true},
                   {1, RcptStatus::delivered, 0, "250 ok", true}});
    ASSERT_EQ(q->take_due(100, 10).size(), 1u);
    q->update(id, {{0, RcptStatus::pending, 500, "451 4.7.0 second", true}});
    auto g = q->get(id);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->rcpts[0].attempts, 2u);
  }
  auto q = open(opts());
  auto g = q->get(id);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->rcpts[0].status, RcptStatus::pending);
  EXPECT_EQ(g->rcpts[0].next_attempt, 500);
  EXPECT_EQ(g->rcpts[0].attempts, 2u);
  EXPECT_EQ(g->rcpts[0].last_reply, "451 4.7.0 second");
  EXPECT_EQ(g->rcpts[1].status, RcptStatus::delivered);
  EXPECT_EQ(g->rcpts[1].last_reply, "250 ok");
  EXPECT_EQ(g->rcpts[2].status, RcptStatus::pending);
  EXPECT_EQ(g->rcpts[2].attempts, 0u);
  EXPECT_EQ(q->next_due(), 0);  // rcpt 2 was never tried
  EXPECT_EQ(q->read_body(id).value(), "body");
}

TEST_F(QueueTest, DoneRemovesAndAllFinalIsGone) {
  QueueId removed, finished, live;
  {
    auto q = open(opts());
    removed = put(*q, "r");
    finished = put(*q, "f", {rcpt("a@x.test"), rcpt("b@x.test")});
    live = put(*q, "l");
    EXPECT_TRUE(q->remove(removed));
    EXPECT_FALSE(q->get(removed));
    EXPECT_FALSE(q->remove(removed));
    EXPECT_EQ(q->take_due(0, 10).size(), 2u);
    q->update(finished, {{0, RcptStatus::delivered, 0, "250", true}});
    EXPECT_TRUE(q->get(finished));
    q->update(finished, {{1, RcptStatus::failed, 0, "550", true}});
    EXPECT_FALSE(q->get(finished));
    EXPECT_FALSE(q->read_body(finished));
    EXPECT_EQ(q->stats().messages, 1u);
  }
  auto q = open(opts());
  EXPECT_FALSE(q->get(removed));
  EXPECT_FALSE(q->get(finished));
  EXPECT_TRUE(q->get(live));
  EXPECT_EQ(q->stats().messages, 1u);
}

TEST_F(QueueTest, MessageWithEveryRcptFinalButNoDoneIsDropped) {
  // Hand-written segment: a crash after the last RCPT_STATE, before DONE; and one still pending.
  using namespace detail;
  ASSERT_TRUE(core::fs::ensure_dir(dir_ / "seg"));
  std::string seg;
  QueueId fin{1000}, pend{1001};
  for (QueueId id : {fin, pend}) {
    append_record(seg, RecType::chunk, id, "xyz");
    auto env = make_env(id, {rcpt("a@x.test"), rcpt("b@x.test")});
    env.body_size = 3;
    env.rcpts[0].status = RcptStatus::delivered;
    append_record(seg, RecType::envelope, id, encode_envelope(env));
    append_record(seg, RecType::commit, id, "");
  }
  append_record(seg, RecType::rcpt_state, fin, encode_rcpt_state({1, RcptStatus::expired, 4, 0, "expired"}));
  seg.append(4096, '\0');  // preallocated tail
  ASSERT_TRUE(core::fs::write_file_durable(dir_ / "seg" / "0000000000000001.log", seg));
  auto q = open(opts());
  EXPECT_FALSE(q->get(fin));
  ASSERT_TRUE(q->get(pend));
  EXPECT_EQ(q->get(pend)->rcpts[0].status, RcptStatus::delivered);
  EXPECT_EQ(q->read_body(pend).value(), "xyz");
  EXPECT_EQ(q->stats().messages, 1u);
}

TEST_F(QueueTest, BodyShorterThanEnvelopeSaysIsDropped) {
  using namespace detail;
  ASSERT_TRUE(core::fs::ensure_dir(dir_ / "seg"));
  std::string seg;
  QueueId id{2000};
  append_record(seg, RecType::chunk, id, "abc");
  auto env = make_env(id);
  env.body_size = 10;  // a chunk is missing
  append_record(seg, RecType::envelope, id, encode_envelope(env));
  append_record(seg, RecType::commit, id, "");
  ASSERT_TRUE(core::fs::write_file_durable(dir_ / "seg" / "0000000000000001.log", seg));
  auto q = open(opts());
  EXPECT_FALSE(q->get(id));
}

TEST_F(QueueTest, RotationAndRecoveryAcrossSegments) {
  std::map<std::uint64_t, std::string> bodies;
  std::vector<QueueId> ids;
  {
    auto q = open(opts(4096));
    for (int i = 0; i < 40; ++i) {
      auto id = q->new_id();
      std::string b = body_for(id, 300 + 97 * static_cast<std::size_t>(i));
      // Interleave chunks of two messages so bodies straddle segments.
      auto id2 = q->new_id();
      std::string b2 = body_for(id2, 1500);
      q->append_body(id, b.substr(0, b.size() / 2));
      q->append_body(id2, b2);
      q->append_body(id, b.substr(b.size() / 2));
      ASSERT_TRUE(commit_wait(*q, make_env(id)));
      ASSERT_TRUE(commit_wait(*q, make_env(id2)));
      bodies[id.value] = b;
      bodies[id2.value] = b2;
      ids.push_back(id);
      ids.push_back(id2);
    }
    auto huge = q->new_id();  // larger than a segment: gets a segment of its own
    bodies[huge.value] = body_for(huge, 10000);
    q->append_body(huge, bodies[huge.value]);
    ASSERT_TRUE(commit_wait(*q, make_env(huge)));
    ids.push_back(huge);
    EXPECT_GT(q->stats().segments, 10u);
    EXPECT_EQ(q->stats().segments, segments().size());
  }
  auto q = open(opts(4096));
  EXPECT_EQ(q->stats().messages, ids.size());
  for (auto id : ids) {
    auto b = q->read_body(id);
    ASSERT_TRUE(b) << id.hex();
    EXPECT_TRUE(*b == bodies[id.value]) << id.hex();
    EXPECT_EQ(q->get(id)->body_size, bodies[id.value].size());
  }
}

TEST_F(QueueTest, ReclaimDeletesDoneSegmentsOldestFirst) {
  auto q = open(opts(4096));
  std::vector<QueueId> ids;
  for (int i = 0; i < 24; ++i) ids.push_back(put(*q, body_for(QueueId{static_cast<std::uint64_t>(i + 1)}, 1500)));
  auto before = segments();
  ASSERT_GE(before.size(), 8u);
  ASSERT_EQ(q->take_due(0, 100).size(), ids.size());

  // Everything but the first message is done: nothing may go, the first segment pins the rest.
  for (std::size_t i = 1; i < ids.size(); ++i) q->update(ids[i], {{0, RcptStatus::delivered, 0, "250", true}});
  put(*q, "flush");  // a later pass has processed the DONE records
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(segments().front(), before.front());
  EXPECT_GE(segments().size(), before.size());

  // The first one done too: every segment before the current (and spare) goes, oldest first.
  q->update(ids[0], {{0, RcptStatus::delivered, 0, "250", true}});
  EXPECT_TRUE(wait_until([&] { return segments().size() <= 3; })) << segments().size();
  auto after = segments();
  EXPECT_GT(after.front(), before[before.size() - 3]);  // only "flush"'s segment (and newer) remain
  EXPECT_EQ(q->stats().segments, after.size());
  EXPECT_EQ(q->stats().messages, 1u);
  q.reset();
  q = open(opts(4096));
  EXPECT_EQ(q->stats().messages, 1u);
}

TEST_F(QueueTest, GroupCommitSharesSyncs) {
  auto q = open(opts());
  std::mutex m;
  std::condition_variable cv;
  int done = 0, ok = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 25; ++i) {
        auto id = q->new_id();
        q->append_body(id, body_for(id, 4096));
        q->commit(make_env(id), [&](Status st) {
          std::lock_guard lk(m);
          ++done;
          if (st) ++ok;
          cv.notify_all();
        });
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  {
    std::unique_lock lk(m);
    ASSERT_TRUE(cv.wait_for(lk, 20s, [&] { return done == 200; })) << done;
  }
  EXPECT_EQ(ok, 200);
  auto s = q->stats();
  EXPECT_EQ(s.commits, 200u);
  EXPECT_EQ(s.messages, 200u);
  EXPECT_GE(s.syncs, 1u);
  EXPECT_LT(s.syncs, s.commits);
  std::printf("group commit: %llu commits, %llu fdatasyncs\n", static_cast<unsigned long long>(s.commits),
              static_cast<unsigned long long>(s.syncs));
}

TEST_F(QueueTest, SchedulerTakeDueNextDueRetryRemove) {
  auto q = open(opts());
  std::atomic<int> ready{0};
  q->set_on_ready([&] { ++ready; });
  auto m1 = put(*q, "1", {rcpt("a@x.test", 0)});
  auto m2 = put(*q, "2", {rcpt("a@x.test", 100), rcpt("b@x.test", 300)});
  auto m3 = put(*q, "3", {rcpt("a@x.test", 50)});
  EXPECT_TRUE(wait_until([&] { return ready.load() >= 3; }));  // on_ready runs after the callbacks
  EXPECT_EQ(q->next_due(), 0);

  auto t = q->take_due(10, 10);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].id, m1);
  EXPECT_TRUE(q->take_due(10, 10).empty());  // m1 is active now
  EXPECT_EQ(q->next_due(), 50);
  EXPECT_EQ(q->stats().active, 1u);

  t = q->take_due(100, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].id, m3);
  t = q->take_due(1000, 10);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].id, m2);
  EXPECT_FALSE(q->next_due());
  EXPECT_EQ(q->stats().active, 3u);

  // Deferred: released and due again at the new time.
  q->update(m1, {{0, RcptStatus::pending, 700, "451 later", true}});
  EXPECT_EQ(q->next_due(), 700);
  EXPECT_EQ(q->stats().active, 2u);
  // Only rcpt 0 of m2 was tried: due = min over pending = 300.
  q->update(m2, {{0, RcptStatus::pending, 900, "451", true}});
  EXPECT_EQ(q->next_due(), 300);

  // retry one: due now, on_ready called.
  int before = ready.load();
  ASSERT_TRUE(q->retry(m1, 20));
  EXPECT_EQ(q->next_due(), 20);
  EXPECT_GT(ready.load(), before);
  t = q->take_due(20, 10);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].id, m1);
  EXPECT_EQ(t[0].rcpts[0].attempts, 1u);
  EXPECT_EQ(t[0].rcpts[0].last_reply, "451 later");
  // retry all: m2 (inactive) due at 25; m1 and m3 are active and stay out of the index.
  ASSERT_TRUE(q->retry(std::nullopt, 25));
  EXPECT_EQ(q->next_due(), 25);
  EXPECT_FALSE(q->retry(QueueId{12345}, 25));

  // remove an active message: gone; the delivery's late update is ignored.
  ASSERT_TRUE(q->remove(m3));
  EXPECT_FALSE(q->get(m3));
  q->update(m3, {{0, RcptStatus::delivered, 0, "250", true}});
  EXPECT_EQ(q->stats().active, 1u);
  EXPECT_EQ(q->stats().messages, 2u);
  EXPECT_FALSE(q->remove(QueueId{12345}));
  auto all = q->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, m1);
  EXPECT_EQ(all[1].id, m2);
}

TEST_F(QueueTest, ReadBodyFromDiskAfterFirstAttempt) {
  auto q = open(opts());
  std::string b = body_for(QueueId{3}, 9000);
  auto id = put(*q, b, {rcpt("a@x.test")}, 3);
  EXPECT_TRUE(q->read_body(id).value() == b);  // hot
  ASSERT_EQ(q->take_due(0, 1).size(), 1u);
  q->update(id, {{0, RcptStatus::pending, 5, "451", true}});  // drops the hot copy
  EXPECT_TRUE(q->read_body(id).value() == b);                 // from the segment, CRC-checked
}

TEST_F(QueueTest, CommitCallbackRunsAfterMessageIsVisible) {
  auto q = open(opts());
  std::atomic<bool> readied{false};
  q->set_on_ready([&] { readied = true; });
  auto id = q->new_id();
  q->append_body(id, "hello");
  auto p = std::make_shared<std::promise<bool>>();
  auto f = p->get_future();
  Queue* raw = q.get();
  q->commit(make_env(id), [raw, id, p](Status st) {
    bool visible = st && raw->get(id).has_value();
    auto due = raw->take_due(0, 10);
    visible = visible && due.size() == 1 && due[0].id == id && raw->read_body(id).value() == "hello";
    p->set_value(visible);
  });
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_TRUE(wait_until([&] { return readied.load(); }));
}

TEST_F(QueueTest, FailedSyncFailsTheBatchAndMovesToAFreshSegment) {
  QueueId a, b, c, d;
  {
    auto q = open(opts());
    a = put(*q, "before the failure");
    auto first_segments = segments().size();
    b = q->new_id();
    q->append_body(b, "chunk in the segment that will fail");
    c = q->new_id();
    q->append_body(c, "c body");
    detail::inject_sync_failures(1);
    auto st = commit_wait(*q, make_env(c));
    EXPECT_FALSE(st);
    EXPECT_FALSE(q->get(c));
    // b's chunk sits in the failed segment: its commit must fail too, even with a healthy sync.
    EXPECT_FALSE(commit_wait(*q, make_env(b)));
    d = put(*q, "after the failure");
    EXPECT_TRUE(q->get(d));
    EXPECT_GT(segments().size(), first_segments);
    EXPECT_EQ(q->stats().messages, 2u);
  }
  detail::inject_sync_failures(0);
  auto q = open(opts());
  EXPECT_TRUE(q->get(a));
  EXPECT_FALSE(q->get(b));
  EXPECT_FALSE(q->get(c));  // its records may be on disk; the DONE in the fresh segment cancels them
  EXPECT_EQ(q->read_body(d).value(), "after the failure");
  EXPECT_EQ(q->stats().messages, 2u);
}

TEST_F(QueueTest, SecondOpenOfSameSpoolFails) {
  auto q = open(opts());
  auto q2 = Queue::open(opts());
  EXPECT_FALSE(q2);
}

TEST_F(QueueTest, NoSyncModeWorks) {
  auto o = opts();
  o.sync = false;
  QueueId id;
  {
    auto q = open(o);
    id = put(*q, "nosync");
    EXPECT_EQ(q->stats().syncs, 0u);
  }
  auto q = open(o);
  EXPECT_EQ(q->read_body(id).value(), "nosync");
}

TEST_F(QueueTest, KillDuringCommitsLosesNothingAcknowledged) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Options o = opts(256u << 10);  // small segments: the kill also lands around rotations
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto qr = Queue::open(o);
    if (!qr) ::_exit(2);
    auto& q = **qr;
    std::atomic<int> inflight{0};
    int wfd = fds[1];
    for (int i = 0; i < 200000; ++i) {
      auto id = q.new_id();
      q.append_body(id, body_for(id, 2000));
      while (inflight.load() > 32) std::this_thread::yield();
      ++inflight;
      q.commit(make_env(id), [wfd, id, &inflight](Status st) {
        if (st) {
          std::string line = id.hex() + "\n";
          if (::write(wfd, line.data(), line.size()) < 0) ::_exit(3);
        }
        --inflight;
      });
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  std::size_t lines = 0;
  bool killed = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) {
      if (!killed) ::kill(pid, SIGKILL);
      ADD_FAILURE() << "crash test timed out";
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 500) <= 0) continue;
    char b[4096];
    ssize_t n = ::read(fds[0], b, sizeof b);
    if (n <= 0) break;  // EOF: the child is gone
    got.append(b, static_cast<std::size_t>(n));
    lines = static_cast<std::size_t>(std::count(got.begin(), got.end(), '\n'));
    if (!killed && lines >= 300) {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  std::vector<QueueId> acked;
  std::size_t pos = 0;
  while (true) {
    auto nl = got.find('\n', pos);
    if (nl == std::string::npos) break;
    auto id = core::Id64::parse(std::string_view(got).substr(pos, nl - pos));
    ASSERT_TRUE(id);
    acked.push_back(*id);
    pos = nl + 1;
  }
  ASSERT_GE(acked.size(), 300u);
  auto q = open(o);
  ASSERT_TRUE(q);
  EXPECT_GE(q->stats().messages, acked.size());
  for (auto id : acked) {
    auto b = q->read_body(id);
    ASSERT_TRUE(b) << id.hex() << " was acknowledged but not recovered";
    EXPECT_TRUE(*b == body_for(id, 2000)) << id.hex();
  }
  std::printf("crash test: %zu acknowledged, %llu recovered\n", acked.size(),
              static_cast<unsigned long long>(q->stats().messages));
}
