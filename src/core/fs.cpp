// POSIX durable-file primitives.
#include "gatehouse/core/fs.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace gatehouse::core::fs {

std::string errno_text(int err) { return std::strerror(err); }

Status ensure_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(fmt::format("{}: cannot create directory: {}", dir.string(), ec.message()));
  ::chmod(dir.c_str(), 0700);
  return {};
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(fmt::format("write failed: {}", errno_text(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status pwrite_all(int fd, std::string_view data, std::uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(fmt::format("write failed: {}", errno_text(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Status pread_exact(int fd, std::uint64_t offset, std::size_t len, std::string& out) {
  out.resize(len);
  std::size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, out.data() + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(fmt::format("read failed: {}", errno_text(errno)));
    }
    if (n == 0) return make_error("read failed: unexpected end of file");
    got += static_cast<std::size_t>(n);
  }
  return {};
}

Status datasync(int fd, const std::filesystem::path& for_error) {
  if (::fdatasync(fd) != 0)
    return make_error(fmt::format("{}: fdatasync failed: {}", for_error.string(), errno_text(errno)));
  return {};
}

Status sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("{}: cannot open directory: {}", dir.string(), errno_text(errno)));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return make_error(fmt::format("{}: directory fsync failed: {}", dir.string(), errno_text(err)));
  return {};
}

Status write_file_durable(const std::filesystem::path& path, std::string_view data) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(fmt::format("{}: cannot create: {}", tmp.string(), errno_text(errno)));
  auto st = write_all(fd, data);
  if (st) st = datasync(fd, tmp);
  ::close(fd);
  if (!st) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(fmt::format("{}: rename failed: {}", path.string(), errno_text(errno)));
  return sync_dir(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
}

Expected<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open: {}", path.string(), errno_text(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace gatehouse::core::fs
