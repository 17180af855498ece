// spdlog setup: async logger with blocking overflow, console + rotating file sinks.
#include "gatehouse/core/log.hpp"

#include <mutex>
#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <vector>

namespace gatehouse::core::log {
namespace {
std::mutex g_mu;
std::vector<spdlog::sink_ptr> g_sinks;
spdlog::level::level_enum g_level = spdlog::level::info;
bool g_inited = false;
std::vector<std::string> g_dedicated;  // names of file_logger()s: init()/set_level() leave them alone

bool dedicated_locked(const std::string& name) {
  for (const auto& n : g_dedicated)
    if (n == name) return true;
  return false;
}

void ensure_default_locked() {
  if (g_inited) return;
  g_sinks = {std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
  g_inited = true;
}
}  // namespace

bool is_valid_level(std::string_view level) {
  for (auto l : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (level == l) return true;
  return false;
}

void init(const Options& opts) {
  std::lock_guard lk(g_mu);
  g_sinks.clear();
  if (opts.console) g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (opts.file) {
    g_sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        opts.file->string(), opts.max_file_size, opts.max_files));
  }
  g_inited = true;
  g_level = spdlog::level::from_str(opts.level);
  if (!spdlog::thread_pool()) spdlog::init_thread_pool(32768, 1);
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) {
    if (dedicated_locked(l->name())) return;
    l->sinks() = g_sinks;
    l->set_level(g_level);
  });
}

std::shared_ptr<spdlog::logger> file_logger(std::string_view module, const std::filesystem::path& file,
                                            std::size_t max_file_size, std::size_t max_files) {
  std::string name = "gatehouse." + std::string(module);
  std::lock_guard lk(g_mu);
  if (auto l = spdlog::get(name)) return l;
  if (!spdlog::thread_pool()) spdlog::init_thread_pool(32768, 1);
  auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(file.string(), max_file_size, max_files);
  auto l = std::make_shared<spdlog::async_logger>(name, sink, spdlog::thread_pool(),
                                                  spdlog::async_overflow_policy::block);
  l->set_level(spdlog::level::info);
  l->set_pattern("%Y-%m-%dT%H:%M:%S%z %v");
  l->flush_on(spdlog::level::info);
  spdlog::register_logger(l);
  g_dedicated.push_back(name);
  return l;
}

std::shared_ptr<spdlog::logger> get(std::string_view module) {
  std::string name = "gatehouse." + std::string(module);
  if (auto l = spdlog::get(name)) return l;
  std::lock_guard lk(g_mu);
  if (auto l = spdlog::get(name)) return l;
  ensure_default_locked();
  std::shared_ptr<spdlog::logger> l;
  if (spdlog::thread_pool()) {
    l = std::make_shared<spdlog::async_logger>(name, g_sinks.begin(), g_sinks.end(), spdlog::thread_pool(),
                                               spdlog::async_overflow_policy::block);
  } else {
    l = std::make_shared<spdlog::logger>(name, g_sinks.begin(), g_sinks.end());
  }
  l->set_level(g_level);
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %n: %v");
  l->flush_on(spdlog::level::warn);
  spdlog::register_logger(l);
  return l;
}

bool set_level(std::string_view level) {
  if (!is_valid_level(level)) return false;
  std::lock_guard lk(g_mu);
  g_level = spdlog::level::from_str(std::string(level));
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) {
    if (!dedicated_locked(l->name())) l->set_level(g_level);
  });
  return true;
}

void flush() {
  spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->flush(); });
}

void shutdown() {
  flush();
  spdlog::shutdown();
}

}  // namespace gatehouse::core::log
