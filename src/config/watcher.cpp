// Publisher (the current Settings snapshot, swapped in one step) and Watcher (a thread that
// notices commits from other connections through PRAGMA data_version and republishes).
// Must not: block subscribers' threads beyond the callback, sleep in long steps (stop must be
// prompt), or share its Store with any other thread.
//
// Known window: PRAGMA data_version is per connection, so the Watcher's baseline is taken when
// its own connection opens. A commit by another process between the caller's first
// load_settings() and that moment is not seen until the next commit or reload_now() (SIGHUP).
#include <exception>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gatehouse/config/store.hpp"
#include "gatehouse/core/log.hpp"

namespace gatehouse::config {

Publisher::Publisher(SettingsPtr initial) : current_(std::move(initial)) {}

SettingsPtr Publisher::current() const { return current_.load(std::memory_order_acquire); }

// The lock is held through the callbacks so subscribers see snapshots in publish order even when
// two threads publish (the Watcher and a service write). Hence a subscriber must not call
// publish() or subscribe() from its callback; it should post the work to its own strand.
void Publisher::publish(SettingsPtr next) {
  if (!next) return;
  std::lock_guard lk(mu_);
  current_.store(next, std::memory_order_release);
  for (const auto& fn : subs_) {
    try {
      fn(next);
    } catch (const std::exception& e) {
      core::log::get("config")->error("subscriber_failed generation={} error=\"{}\"", next->generation, e.what());
    }
  }
}

void Publisher::subscribe(std::function<void(const SettingsPtr&)> fn) {
  std::lock_guard lk(mu_);
  subs_.push_back(std::move(fn));
}

Watcher::Watcher(std::filesystem::path db_path, Publisher& pub, std::chrono::milliseconds interval)
    : db_path_(std::move(db_path)), pub_(pub), interval_(interval) {
  if (interval_ <= std::chrono::milliseconds::zero()) interval_ = std::chrono::milliseconds(250);
  thread_ = std::thread([this] { run(); });
}

Watcher::~Watcher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watcher::reload_now() {
  {
    std::lock_guard lk(mu_);
    reload_ = true;
  }
  cv_.notify_all();
}

void Watcher::run() {
  auto log = core::log::get("config");
  std::unique_ptr<Store> store;
  std::int64_t seen = 0;
  bool forced = false;        // a reload_now() not yet served (kept while the db cannot be opened)
  bool open_failed = false;   // log a failing open once, not every interval
  std::unique_lock lk(mu_);
  while (!stop_) {
    forced = forced || reload_;
    reload_ = false;
    lk.unlock();

    if (!store) {
      auto s = Store::open(db_path_);
      if (s) {
        store = std::move(*s);
        auto v = store->data_version();
        seen = v ? *v : 0;
        if (open_failed) log->info("settings_watch_resumed db={}", db_path_.string());
        open_failed = false;
      } else if (!open_failed) {
        log->error("settings_watch_failed error=\"{}\" (retrying)", s.error().message);
        open_failed = true;
      }
    }
    if (store) {
      auto v = store->data_version();
      if (!v) {
        log->error("settings_watch_failed error=\"{}\" (reopening)", v.error().message);
        store.reset();
      } else if (forced || *v != seen) {
        // Taken before the build: a commit during load_settings() triggers another round.
        seen = *v;
        forced = false;
        auto cur = pub_.current();
        const std::uint64_t gen = cur ? cur->generation + 1 : 1;
        auto next = store->load_settings(gen);
        if (next) {
          pub_.publish(*next);
          log->info("settings_published generation={}", gen);
        } else {
          log->error("settings_reload_failed error=\"{}\" (keeping generation {})", next.error().message,
                     cur ? cur->generation : 0);
        }
      }
    }

    lk.lock();
    cv_.wait_for(lk, interval_, [this] { return stop_ || reload_; });
  }
}

}  // namespace gatehouse::config
