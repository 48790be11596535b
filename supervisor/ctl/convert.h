// `minisupctl convert FILE [-o OUT]`: supervisord's INI config -> minisup.toml.
//
// The model: read the main file and the files its [include] names (globs
// relative to the main file, as supervisord 4.2 reads them; an [include] in
// an included file is not followed, as supervisord does not), then write
// one TOML file, section by section in the order read:
//   [supervisord] + [unix_http_server]  -> [supervisor]
//   [inet_http_server]                  -> [http] (DESIGN.md "HTTP")
//   [program:x]                         -> [program.x]
//   [group:x]                           -> [group.x]
//   anything else (eventlistener, fcgi-program, rpcinterface, ...)
//                                       -> `# not converted:` comments
// Values are read with supervisord's own rules (supervisord_ini.h):
// `%(here)s`, `%(program_name)s`, `%(group_name)s`, `%(numprocs)d` and
// `%(host_node_name)s` become their values; `%(ENV_X)s` becomes `${X}`
// (or the value, when X is set by the program's or [supervisord]'s
// `environment`, which supervisord expands but minisup's `${X}` does not
// see); `%(process_num)d` becomes `${MINISUP_PROCESS_NUM}`. A `$` that
// minisup would expand is doubled. `command` is split as supervisord
// splits it and written as an array, so every word stays what it was; one
// that looks written for a shell gets a `# note:` with the `/bin/sh -c`
// form. Each option minisup cannot carry becomes `# not converted: KEY =
// VALUE (reason)` where it was. What supervisord itself would refuse (a
// bad boolean, an unknown expansion, a group naming no program, a program
// without a command) is an error at FILE:LINE, and nothing is written.
//
// convert_supervisord() is pure but for what a ConvertSource reads, so
// that tests give it files from memory.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace minisup::ctl {

/// Where the converter reads files from.
class ConvertSource {
 public:
  virtual ~ConvertSource() = default;
  /// The text of the file at `path` (absolute), or nullopt with `error`
  /// set ("No such file or directory").
  virtual std::optional<std::string> read(const std::string& path, std::string& error) = 0;
  /// The files the absolute glob `pattern` matches, sorted.
  virtual std::vector<std::string> glob(const std::string& pattern) = 0;
};

/// The real file system (regular files of at most 4 MiB; glob(3)).
class FileSystemSource : public ConvertSource {
 public:
  std::optional<std::string> read(const std::string& path, std::string& error) override;
  std::vector<std::string> glob(const std::string& pattern) override;
};

/// What the conversion may not look up by itself.
struct ConvertOptions {
  /// The value of `%(host_node_name)s` (supervisord: platform.node()).
  std::string hostname;
  /// The environment `%(ENV_X)s` in [include] files is expanded from
  /// (the include has to be followed now; everywhere else ENV_X becomes
  /// `${X}`, expanded by minisupd).
  std::map<std::string, std::string> environment;
};

/// The outcome of a conversion.
struct ConvertResult {
  /// The TOML text; empty when there are errors.
  std::string toml;
  /// `FILE:LINE: message` (FILE as given, or as the include glob found it).
  std::vector<std::string> errors;
  int programs = 0;
  int groups = 0;
  /// How many `# not converted:` and `# note:` comments the text has.
  int not_converted = 0;
  int notes = 0;
};

/// Converts the supervisord config `main_file` (and its includes).
/// `main_file` is shown in errors as given; relative paths are resolved
/// against the current directory.
ConvertResult convert_supervisord(const std::string& main_file, ConvertSource& source,
                                  const ConvertOptions& options);

/// `text` as a TOML basic string ("..." with escapes).
std::string toml_string(std::string_view text);

}  // namespace minisup::ctl
