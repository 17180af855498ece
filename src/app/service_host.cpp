// Foreground host on POSIX signals; Windows SCM host stub behind _WIN32.
#include "service_host.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>

namespace gatehouse::app {

namespace {
class PosixSignals final : public StopSignal {
 public:
  void bind(boost::asio::io_context& ioc, std::function<void()> stop, std::function<void()> reload) override {
    stop_ = std::move(stop);
    reload_ = std::move(reload);
    set_ = std::make_unique<boost::asio::signal_set>(ioc, SIGINT, SIGTERM);
#ifdef SIGHUP
    set_->add(SIGHUP);
#endif
    wait();
  }
  void unbind() override { set_.reset(); }

 private:
  void wait() {
    set_->async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
#ifdef SIGHUP
      if (sig == SIGHUP) {
        if (reload_) reload_();
        wait();
        return;
      }
#endif
      if (stop_) stop_();
      wait();
    });
  }
  std::unique_ptr<boost::asio::signal_set> set_;
  std::function<void()> stop_, reload_;
};
}  // namespace

int ForegroundHost::run(const MainFn& main) {
#ifdef SIGPIPE
  std::signal(SIGPIPE, SIG_IGN);
#endif
  PosixSignals sig;
  return main(sig);
}

int service_command(const std::vector<std::string>& args, const MainFn& main) {
#ifdef _WIN32
  // TODO(windows): register with the SCM (StartServiceCtrlDispatcher), map SERVICE_CONTROL_STOP
  // to StopSignal's stop function, and implement install/uninstall with CreateService.
  (void)args;
  (void)main;
  std::fputs("gatehouse: error: the Windows service host is not built yet\n", stderr);
  return 1;
#else
  (void)args;
  (void)main;
  std::fputs("gatehouse: error: 'service' manages the Windows service; on Linux run 'gatehouse run' under systemd "
             "(see installer/gatehouse.service)\n",
             stderr);
  return 1;
#endif
}

}  // namespace gatehouse::app
