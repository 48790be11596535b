#include "supervisor/logging/tail.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "supervisor/sys/sys_error.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::logging {

namespace {

constexpr std::size_t kBlock = 64 * 1024;

TailResult failure(const char* what, const std::filesystem::path& path, int err,
                   const char* text = nullptr) {
  TailResult result;
  result.error = err;
  result.message = std::string(what) + ' ' + path.native() + ": " +
                   (text != nullptr ? std::string(text) : sys::error_text(err));
  return result;
}

/// Reads exactly [offset, offset + size) unless the file shrank; returns
/// the bytes read, or -1 with errno.
ssize_t read_at(int fd, char* out, std::size_t size, off_t offset) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

TailResult read_last_lines(const std::filesystem::path& path, std::size_t n,
                           std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return failure("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failure("stat", path, errno);
  if (!S_ISREG(st.st_mode)) return failure("read", path, EINVAL, "not a regular file");

  TailResult result;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (n == 0 || size == 0) return result;

  // Walk backwards block by block, counting newlines. The line boundary we
  // want is just after the (n+1)-th newline from the end when the file ends
  // with one (that last newline ends the last line, it does not start a
  // new one), the n-th otherwise.
  std::uint64_t start = 0;  // first byte of the answer
  std::uint64_t end = size;
  std::size_t newlines_needed = n;
  bool first_block = true;
  std::string block(kBlock, '\0');
  bool found = false;
  while (end > 0 && !found) {
    std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end));
    std::uint64_t offset = end - length;
    ssize_t got = read_at(fd.get(), block.data(), length, static_cast<off_t>(offset));
    if (got < 0) return failure("read", path, errno);
    if (static_cast<std::size_t>(got) < length) {
      length = static_cast<std::size_t>(got);  // the file shrank: scan what is there
    }
    std::size_t i = length;
    if (first_block && length > 0 && offset + length == size && block[length - 1] == '\n') {
      --i;  // the trailing newline ends the last line
    }
    first_block = false;
    while (i > 0) {
      --i;
      if (block[i] == '\n' && --newlines_needed == 0) {
        start = offset + i + 1;
        found = true;
        break;
      }
    }
    end = offset;
    if (size - end > max_bytes) break;  // already more than we may return
  }
  if (size - start > max_bytes) {
    start = size - max_bytes;
    result.truncated = true;
  }
  result.text.resize(static_cast<std::size_t>(size - start));
  ssize_t got =
      read_at(fd.get(), result.text.data(), result.text.size(), static_cast<off_t>(start));
  if (got < 0) return failure("read", path, errno);
  result.text.resize(static_cast<std::size_t>(got));
  return result;
}

std::string_view last_lines(std::string_view text, std::size_t n) noexcept {
  if (n == 0) return {};
  std::size_t i = text.size();
  if (i > 0 && text[i - 1] == '\n') --i;  // the trailing newline ends the last line
  while (i > 0) {
    --i;
    if (text[i] == '\n' && --n == 0) return text.substr(i + 1);
  }
  return text;
}

TailFollower::TailFollower(const OutputSink& sink, ChunkCallback on_chunk, CloseCallback on_close)
    : followers_(sink.followers()),
      id_(sink.followers()->add(std::move(on_chunk), std::move(on_close))) {}

TailFollower::~TailFollower() {
  if (auto followers = followers_.lock()) followers->remove(id_);
}

bool TailFollower::is_active() const noexcept {
  auto followers = followers_.lock();
  return followers && followers->contains(id_);
}

}  // namespace minisup::logging
