// ServiceHost seam: how the process is hosted and told to stop. Foreground/systemd uses POSIX
// signals (SIGTERM/SIGINT stop, SIGHUP reloads settings). A Windows SCM host (`gatehouse service
// install|uninstall|run`) plugs in here behind _WIN32: its stop control calls the same stop
// function as SIGTERM.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio { class io_context; }

namespace gatehouse::app {

class StopSignal {
 public:
  virtual ~StopSignal() = default;
  // Arranges for `stop` (SIGTERM, SIGINT, service stop) and `reload` (SIGHUP) to run on `ioc`.
  virtual void bind(boost::asio::io_context& ioc, std::function<void()> stop, std::function<void()> reload) = 0;
  // Releases what bind() set up; call before the io_context is destroyed.
  virtual void unbind() = 0;
};

using MainFn = std::function<int(StopSignal&)>;

class ForegroundHost {
 public:
  int run(const MainFn& main);
};

// `gatehouse service install|uninstall|run`: Windows only; elsewhere a clear error.
int service_command(const std::vector<std::string>& args, const MainFn& main);

}  // namespace gatehouse::app
