#include "supervisor/config/config_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "supervisor/config/toml_guard.h"

namespace minisup::config::detail {

namespace fs = std::filesystem;

namespace {

/// What a file is, for "not a regular file (a FIFO)".
std::string_view file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

}  // namespace

// The open never blocks: O_NONBLOCK makes opening a FIFO return at once
// (a blocking open would wait for a writer, and a reload with it, forever),
// and fstat on the open descriptor (no stat-then-open race) refuses it.
// For a regular file O_NONBLOCK changes nothing.
std::string read_file_capped(const fs::path& path, std::string& error, bool& not_regular) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    error = "cannot open: " + std::system_category().message(errno);
    return {};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = "cannot stat: " + std::system_category().message(errno);
    ::close(fd);
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    error = fmt::format("not a regular file ({})", file_kind(st.st_mode));
    not_regular = true;
    ::close(fd);
    return {};
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes) {
    error = fmt::format("file is larger than {} bytes (4 MiB), refused", kMaxConfigBytes);
    ::close(fd);
    return {};
  }
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));  // (a file that grows meanwhile still reads)
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot read: " + std::system_category().message(errno);
      break;
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxConfigBytes) {
      error = fmt::format("file is larger than {} bytes (4 MiB), refused", kMaxConfigBytes);
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!error.empty()) text.clear();
  return text;
}

MappedFile* MappedFile::active_ = nullptr;

std::unique_ptr<MappedFile> MappedFile::open(const fs::path& path) {
  if (active_ != nullptr) return nullptr;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return nullptr;
  struct stat st {};
  const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  static_cast<std::uint64_t>(st.st_size) <= kMaxConfigBytes;
  const auto size = static_cast<std::size_t>(ok ? st.st_size : 0);
  void* at = nullptr;
  if (size > 0) at = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (!ok || at == MAP_FAILED) return nullptr;
  return std::unique_ptr<MappedFile>(new MappedFile(static_cast<char*>(at), size));
}

MappedFile::MappedFile(char* begin, std::size_t size)
    : begin_(begin), size_(size), page_(static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE))) {
  active_ = this;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous_);
}

MappedFile::~MappedFile() {
  ::sigaction(SIGBUS, &previous_, nullptr);
  active_ = nullptr;
  if (size_ > 0) ::munmap(begin_, size_);
}

void MappedFile::on_sigbus(int, siginfo_t* info, void*) {
  MappedFile* self = active_;
  const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const auto begin = reinterpret_cast<std::uintptr_t>(self->begin_);
  if (at >= begin && at < begin + self->size_) {
    // Zeros where the file ended; the access is made again and reads them.
    void* page = reinterpret_cast<void*>(at & ~(self->page_ - 1));
    ::mmap(page, self->page_, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    self->changed_ = 1;
    return;
  }
  // Not ours: as it would have been (the access is made again and dies).
  ::sigaction(SIGBUS, &self->previous_, nullptr);
}

fs::path resolve_path(const fs::path& dir, const std::string& text) {
  fs::path path(text);
  if (path.is_relative()) path = dir / path;
  return path.lexically_normal();
}

}  // namespace minisup::config::detail
