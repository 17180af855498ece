// Logging setup: spdlog, one named logger per module ("gatehouse.inbound", ...), console and a
// rotating file in the data directory, async with a blocking overflow policy so mail log lines
// are never dropped. Line convention: "<queue-or-session-id>: <event> key=value ...".
// Never log message bodies, passwords or AUTH payloads.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spdlog { class logger; }

namespace gatehouse::core::log {

struct Options {
  std::optional<std::filesystem::path> file;  // rotating file; none = console only
  bool console = true;
  std::string level = "info";
  std::size_t max_file_size = 10 * 1024 * 1024;
  std::size_t max_files = 5;
};

// Safe to call once at startup; later calls replace the sinks.
void init(const Options& opts);
// Returns the module's logger, creating it on first use with the current sinks.
std::shared_ptr<spdlog::logger> get(std::string_view module);
// A logger of its own file only ("gatehouse.<module>", e.g. the DMARC log): rotating, async,
// blocking when full, "time message" lines. It keeps its sinks and level when init() or
// set_level() change the others. Calling it again for the same module returns the same logger.
std::shared_ptr<spdlog::logger> file_logger(std::string_view module, const std::filesystem::path& file,
                                            std::size_t max_file_size = 10 * 1024 * 1024, std::size_t max_files = 5);
// Changes the level of every logger ("trace","debug","info","warn","error","critical","off").
bool set_level(std::string_view level);
bool is_valid_level(std::string_view level);
void flush();
void shutdown();

}  // namespace gatehouse::core::log
