// Loading the Public Suffix List from the data directory: the first-start install of the bundled
// copy (ensure_installed) and the reload asked for by a PUBLICSUFFIX.SEM semaphore file
// (check_reload), both as the seed product did them. These are the only file operations of
// auth/psl. They block, so call them at startup or from a worker thread, never on an io thread.
// Must not: throw (std::filesystem is used with error_code overloads only), read more than
// List::kMaxListSize bytes, or replace the current list with one that did not parse.
#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <system_error>
#include <utility>

#include "gatehouse/auth/psl.hpp"
#include "gatehouse/core/fs.hpp"
#include "gatehouse/core/strings.hpp"

namespace gatehouse::auth::psl {

namespace {

namespace stdfs = std::filesystem;

Expected<std::string> read_capped(const stdfs::path& file) {
  std::error_code ec;
  const auto size = stdfs::file_size(file, ec);
  if (ec) return make_error(fmt::format("{}: {}", file.string(), ec.message()));
  if (size > List::kMaxListSize)
    return make_error(fmt::format("{}: larger than {} bytes", file.string(), List::kMaxListSize));
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open: {}", file.string(), core::fs::errno_text(errno)));
  std::string data(static_cast<std::size_t>(size) + 1, '\0');  // one more, to see growth
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  const auto got = static_cast<std::size_t>(in.gcount());
  if (in.bad()) return make_error(fmt::format("{}: read error", file.string()));
  if (got > List::kMaxListSize)
    return make_error(fmt::format("{}: larger than {} bytes", file.string(), List::kMaxListSize));
  data.resize(got);
  return data;
}

bool exists_file(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(stdfs::symlink_status(p, ec));
}

}  // namespace

Expected<List> load_file(const stdfs::path& file) {
  auto text = read_capped(file);
  if (!text) return text.error();
  auto list = List::parse(*text);
  if (!list) return make_error(fmt::format("{}: {}", file.string(), list.error().message));
  return list;
}

std::optional<Status> check_reload(const stdfs::path& data_dir, Holder& holder) {
  const stdfs::path names[] = {data_dir / std::string(kReloadSemaphore),
                               data_dir / core::to_lower(kReloadSemaphore)};
  std::string remove_problem;
  bool found = false;
  for (const auto& sem : names) {
    if (!exists_file(sem)) continue;
    found = true;
    std::error_code ec;
    stdfs::remove(sem, ec);  // before loading: a semaphore dropped meanwhile asks again
    if (ec) remove_problem = fmt::format("{}: cannot delete: {}", sem.string(), ec.message());
  }
  if (!found) return std::nullopt;

  auto list = load_file(data_dir / std::string(kListFileName));
  if (!list) {
    std::string msg = fmt::format("public suffix list not reloaded, the current list stays: {}", list.error().message);
    if (!remove_problem.empty()) msg += "; " + remove_problem;
    return Status(make_error(std::move(msg)));
  }
  holder.set(std::move(*list));
  if (!remove_problem.empty())
    return Status(make_error("public suffix list reloaded, but the semaphore stays and will ask again: " + remove_problem));
  return Status();
}

Expected<bool> ensure_installed(const stdfs::path& data_dir, const stdfs::path& bundled) {
  auto text = read_capped(bundled);
  if (!text) return text.error();
  auto r = ensure_installed(data_dir, std::string_view(*text));
  if (!r && r.error().message.starts_with("bundled list: "))
    return make_error(fmt::format("{}: {}", bundled.string(), r.error().message.substr(14)));
  return r;
}

Expected<bool> ensure_installed(const stdfs::path& data_dir, std::string_view bundled_text) {
  const auto target = data_dir / std::string(kListFileName);
  if (exists_file(target)) return false;
  std::error_code ec;
  if (!stdfs::is_directory(data_dir, ec))
    return make_error(fmt::format("{}: not a directory", data_dir.string()));
  if (auto list = List::parse(bundled_text); !list)
    return make_error(fmt::format("bundled list: {}", list.error().message));
  if (auto st = core::fs::write_file_durable(target, std::string(bundled_text)); !st) return st.error();
  return true;
}

Loaded load_installed(const stdfs::path& data_dir) {
  Loaded out;
  const auto file = data_dir / std::string(kListFileName);
  if (!exists_file(file)) out.fallback = fmt::format("{} does not exist", file.string());
  else if (auto l = load_file(file)) out.list = std::move(*l);
  else out.fallback = l.error().message;
  if (!out.fallback.empty()) {
    auto bundled = List::parse(bundled_list());  // compiled in and tested: always parses
    if (bundled) out.list = std::move(*bundled);
  }
  return out;
}

}  // namespace gatehouse::auth::psl
