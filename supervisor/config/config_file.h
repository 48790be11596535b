// Reading a config file, and the paths written in one.
//
// Only regular files are read: the open never blocks (O_NONBLOCK makes
// opening a FIFO return at once, where a blocking open would wait for a
// writer, and a reload with it, forever) and fstat on the open descriptor
// (no stat-then-open race) refuses anything else. Files over
// kMaxConfigBytes (toml_guard.h) are refused unread.
#pragma once

#include <filesystem>
#include <string>

namespace minisup::config::detail {

/// Reads the whole regular file `path`, refusing more than kMaxConfigBytes.
/// Returns the text; on failure returns "" with the message in `error`
/// (`cannot open: No such file or directory`, `not a regular file (a
/// FIFO)`, `file is larger than ...`) and, when the path is a FIFO, a
/// directory, a device..., `not_regular` set.
std::string read_file_capped(const std::filesystem::path& path, std::string& error,
                             bool& not_regular);

/// `dir/text` for a relative `text`, normalized; `text` itself when absolute.
std::filesystem::path resolve_path(const std::filesystem::path& dir, const std::string& text);

}  // namespace minisup::config::detail
