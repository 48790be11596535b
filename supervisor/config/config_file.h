// Reading a config file, and the paths written in one.
//
// Only regular files are read: the open never blocks (O_NONBLOCK makes
// opening a FIFO return at once, where a blocking open would wait for a
// writer, and a reload with it, forever) and fstat on the open descriptor
// (no stat-then-open race) refuses anything else. Files over
// kMaxConfigBytes (toml_guard.h) are refused unread.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace minisup::config::detail {

/// Reads the whole regular file `path`, refusing more than kMaxConfigBytes.
/// Returns the text; on failure returns "" with the message in `error`
/// (`cannot open: No such file or directory`, `not a regular file (a
/// FIFO)`, `file is larger than ...`) and, when the path is a FIFO, a
/// directory, a device..., `not_regular` set.
std::string read_file_capped(const std::filesystem::path& path, std::string& error,
                             bool& not_regular);

/// A regular file mapped read-only: its text straight from the page cache,
/// for a caller that only scans it. (Reading the 1.1 MB config of 10,000
/// programs into fresh memory was most of `minisupctl -c FILE`'s own time:
/// a fresh page costs ~10 us on a VM.) A mapping has one hazard: a file
/// truncated while mapped raises SIGBUS on the pages past its new end.
/// While a MappedFile lives, SIGBUS on its pages maps a page of zeros there
/// and sets changed(): the caller then ignores what it read and reads the
/// file the ordinary way. One at a time, in a single-threaded program
/// (minisupctl): the SIGBUS handler is set while it lives.
class MappedFile {
 public:
  /// nullptr when `path` cannot be opened, is not a regular file, is larger
  /// than kMaxConfigBytes or cannot be mapped (read_file_capped() says
  /// why), or another MappedFile lives.
  static std::unique_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view text() const { return {begin_, size_}; }
  /// The file shrank while mapped: text() did not hold what it holds.
  bool changed() const { return changed_ != 0; }

 private:
  MappedFile(char* begin, std::size_t size);
  static void on_sigbus(int signal, siginfo_t* info, void* context);

  static MappedFile* active_;
  char* begin_;
  std::size_t size_;
  std::uintptr_t page_;
  volatile sig_atomic_t changed_ = 0;
  struct sigaction previous_ {};
};

/// `dir/text` for a relative `text`, normalized; `text` itself when absolute.
std::filesystem::path resolve_path(const std::filesystem::path& dir, const std::string& text);

}  // namespace minisup::config::detail
