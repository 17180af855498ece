// The local control channel: a Unix-domain socket `control.sock` in the data directory (mode
// 0600, so only the gateway's user and root may use it) carrying one JSON request per
// connection to the service registry: {"method":"queue.list","params":{...}} -> {"ok":true,
// "result":...} or {"ok":false,"error":"..."}. The CLI uses it for operations that need the
// running process (the queue); configuration goes through the database instead.
#pragma once
#include <boost/json/value.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "gatehouse/core/error.hpp"
#include "gatehouse/service/registry.hpp"

namespace boost::asio { class io_context; }

namespace gatehouse::app {

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& ioc, std::filesystem::path socket_path, const service::Registry& reg);
  ~ControlServer();
  Status start();
  void stop();
  // Waits for a registry call still running on the worker thread. Call after the io threads
  // have stopped and before anything the registry's operations use (queue, delivery) is destroyed.
  void join();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

enum class CallFailure { none, not_running, error };

// Client side (blocking, for the CLI). `not_running` when nothing listens on the socket.
struct CallResult {
  CallFailure failure = CallFailure::none;
  std::string error;
  boost::json::value result;
};
CallResult control_call(const std::filesystem::path& socket_path, const std::string& method,
                        const service::Params& params);

}  // namespace gatehouse::app
