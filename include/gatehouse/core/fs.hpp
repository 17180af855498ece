// Durable-file primitives (POSIX; Windows maps datasync to FlushFileBuffers later).
// Every function reports failure as an Error naming the path and errno text; none throws.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "gatehouse/core/error.hpp"

namespace gatehouse::core::fs {

// Creates the directory (and parents) with mode 0700 if missing.
Status ensure_dir(const std::filesystem::path& dir);
// Writes all bytes at the current offset, retrying on EINTR/short writes.
Status write_all(int fd, std::string_view data);
// Writes all bytes at `offset`.
Status pwrite_all(int fd, std::string_view data, std::uint64_t offset);
// Reads exactly `len` bytes at `offset` into `out`.
Status pread_exact(int fd, std::uint64_t offset, std::size_t len, std::string& out);
Status datasync(int fd, const std::filesystem::path& for_error);
// fsync of a directory, so a create/rename/unlink inside it is durable.
Status sync_dir(const std::filesystem::path& dir);
// Writes a whole file durably: temp file, fsync, rename, fsync directory.
Status write_file_durable(const std::filesystem::path& path, std::string_view data);
Expected<std::string> read_file(const std::filesystem::path& path);
std::string errno_text(int err);

}  // namespace gatehouse::core::fs
