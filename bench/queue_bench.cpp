// Spool commit throughput: N committers each queue a 4 KiB body plus ENVELOPE+COMMIT and wait
// for the durable callback (fdatasync on, real disk under /tmp). Shows what group commit buys:
// with 16 committers many commits share one fdatasync. Not asserted anywhere (architecture §4.5).
// Must not: run in CI as a test, or leave its temp spool behind.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "gatehouse/queue/queue.hpp"

namespace {

using namespace gatehouse;

struct Spool {
  std::filesystem::path dir;
  std::unique_ptr<queue::Queue> q;
  Spool() {
    char tmpl[] = "/tmp/gatehouse-queue-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    queue::Options o;
    o.dir = dir;
    auto r = queue::Queue::open(o);
    if (!r) std::abort();
    q = std::move(*r);
  }
  ~Spool() {
    q.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Spool& spool() {
  static Spool s;
  return s;
}

void BM_Commit(benchmark::State& state) {
  auto& q = *spool().q;
  const std::string body(4096, 'x');
  auto before = q.stats();
  std::atomic<bool> done{false};
  for (auto _ : state) {
    auto id = q.new_id();
    q.append_body(id, body);
    queue::Envelope env;
    env.id = id;
    env.mail_from = "bench@example.org";
    env.rcpts.resize(1);
    env.rcpts[0].address = "rcpt@example.net";
    env.rcpts[0].domain = "example.net";
    done.store(false);
    bool ok = true;
    q.commit(std::move(env), [&](Status st) {
      ok = static_cast<bool>(st);
      done.store(true);
      done.notify_one();
    });
    done.wait(false);
    if (!ok) state.SkipWithError("commit failed");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    auto after = q.stats();
    auto syncs = after.syncs - before.syncs;
    if (syncs) state.counters["commits_per_sync"] = double(after.commits - before.commits) / double(syncs);
  }
}

BENCHMARK(BM_Commit)->Threads(1)->Threads(16)->UseRealTime();

}  // namespace
