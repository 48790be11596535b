// Pipes and descriptor flags for the event loop and child output.
//
// Model: the read end of every pipe minisupd drains is non-blocking (the loop
// must never block, doc/pitfalls.md §12); the write end, handed to a child as its
// stdout or stderr, stays blocking because that is what programs expect.
// Both ends are close-on-exec, so a pipe reaches a child only by dup2.
#pragma once

#include <cstddef>

#include "supervisor/sys/unique_fd.h"

namespace minisup::sys {

struct Pipe {
  UniqueFd read;   ///< O_CLOEXEC | O_NONBLOCK
  UniqueFd write;  ///< O_CLOEXEC, blocking
};

/// Creates a pipe as described above. Throws SysError on failure (EMFILE...).
Pipe make_pipe();

/// Sets O_NONBLOCK on `fd`. Throws SysError on failure.
void set_nonblocking(int fd);

/// Asks the kernel to resize the pipe buffer of `fd` to at least `bytes`
/// (F_SETPIPE_SZ). Best effort: an unprivileged process may be capped by
/// /proc/sys/fs/pipe-max-size. Returns the resulting capacity in bytes, or
/// -1 when the size could not be read either.
long set_pipe_size(int fd, std::size_t bytes) noexcept;

}  // namespace minisup::sys
