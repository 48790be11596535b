// Internal to minisupctl convert (convert.cc, convert_text.cc,
// convert_program.cc): the text helpers, the merged sections and the
// Converter that walks them.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "supervisor/ctl/convert.h"
#include "supervisor/ctl/supervisord_ini.h"

namespace minisup::ctl::convert_detail {

namespace fs = std::filesystem;
using ini::Piece;
using Pieces = std::vector<Piece>;

// ---- text (convert_text.cc) ----

std::string lower(std::string_view s);
std::string trim(std::string_view s);
/// A comment's text on one line: newlines of a multi-line value shown as
/// `\n`.
std::string one_line(std::string_view s);
/// Python's int(): blanks around, an optional sign, digits (and `_`
/// between digits).
std::optional<long long> python_int(std::string_view text);
std::optional<bool> python_boolean(std::string_view text);
/// `value` formatted by Python's `%FLAGSd` (width, `0` padding, `-`).
std::string format_int(long long value, std::string_view flags);
/// True when `flags` asks for a width (`02` of `%(process_num)02d`).
bool has_width(std::string_view flags);
bool is_variable_name(std::string_view name);
bool is_minisup_name_char(char c);
/// A TOML key: bare when it can be, else quoted.
std::string toml_key(std::string_view key);
std::string toml_array(const std::vector<std::string>& words);

/// `process_num` and unknown `ENV_X` are the pieces left for minisupd to
/// expand: `${MINISUP_PROCESS_NUM}` and `${X}`.
std::string runtime_variable(const Piece& piece);
/// The pieces as minisup text: literal text with `$` doubled where minisup
/// would read it as `${` or `$$`, runtime pieces as `${VAR}`. Sets
/// `padded` when a `%(process_num)02d` loses its padding.
std::string render(const Pieces& pieces, bool* padded = nullptr);
bool has_runtime(const Pieces& pieces);
std::string literal_text(const Pieces& pieces);
/// The pieces written as text with each runtime piece as a marker
/// `\x01N\x02` (N its index in `runtime`), so that a splitter that treats
/// markers as letters splits as supervisord splits the expanded value.
std::string with_markers(const Pieces& pieces, Pieces& runtime);
/// The inverse of with_markers() for one word.
Pieces from_markers(std::string_view word, const Pieces& runtime);
/// Words that only mean something to a shell, as whole words.
bool is_shell_word(std::string_view word);

// ---- files and sections ----

struct File {
  std::string shown;  ///< as given, or as the include glob found it
  std::string dir;    ///< absolute: %(here)s
  ini::Document doc;
  bool is_main = false;
};

/// One option after merging: its value and where that value was written.
struct Option {
  std::string key;
  std::string value;
  int line = 0;
  const File* file = nullptr;
};

/// A section after merging every file's sections of that name.
struct Section {
  std::string name;
  int line = 0;
  const File* file = nullptr;  ///< where it was first written
  std::vector<Option> options;

  const Option* find(std::string_view key) const {
    for (const Option& o : options) {
      if (o.key == key) return &o;
    }
    return nullptr;
  }
};

/// What `%(...)` may name in one option.
struct Scope {
  std::optional<std::string> program_name;
  std::optional<std::string> group_name;
  std::optional<long long> numprocs;
  bool process_num = false;  ///< `%(process_num)` is known (per process)
  /// ENV_X whose value the conversion knows (the [supervisord] and the
  /// program's `environment`), as pieces.
  const std::map<std::string, Pieces>* known_env = nullptr;
};

// ---- the converter (convert.cc; programs in convert_program.cc) ----

class Converter {
 public:
  Converter(ConvertSource& source, const ConvertOptions& options)
      : source_(source), options_(options) {}

  ConvertResult run(const std::string& main_file);

 private:
  // ---- reading ----
  const File* read(const std::string& shown, const std::string& absolute, bool is_main);
  void follow_includes(const File& main);
  void merge(const File& file);

  // ---- diagnostics ----
  /// Records an error once (a value read twice reports once).
  void error(const File* file, int line, std::string message) {
    std::string text = fmt::format("{}:{}: {}", file ? file->shown : "?", line, std::move(message));
    if (std::find(errors_.begin(), errors_.end(), text) == errors_.end()) {
      errors_.push_back(std::move(text));
    }
  }
  void error(const Option& o, const Section& s, std::string_view message) {
    error(o.file, o.line, fmt::format("[{}] {}: {}", s.name, o.key, message));
  }
  /// `# not converted: KEY = VALUE (why)`.
  void not_converted(std::vector<std::string>& lines, const Option& o, std::string_view why) {
    lines.push_back(fmt::format("# not converted: {} = {} ({})", o.key, one_line(o.value), why));
    ++result_.not_converted;
  }
  void note(std::vector<std::string>& lines, std::string_view text) {
    lines.push_back(fmt::format("# note: {}", text));
    ++result_.notes;
  }

  // ---- values ----
  /// The option's value with `%(...)` resolved in `scope`: names the
  /// conversion knows become text, process_num and unknown ENV_X stay
  /// runtime pieces. nullopt after reporting an error (as supervisord
  /// would refuse the value).
  std::optional<Pieces> resolve(const Option& o, const Section& s, const Scope& scope);
  std::optional<Pieces> resolve_text(std::string_view text, const Option& o, const Section& s,
                                     const Scope& scope);
  /// The value as plain text for an option minisup does not expand:
  /// nullopt after a `# not converted:` line when it needs minisupd's
  /// environment, or after an error.
  std::optional<std::string> plain(const Option& o, const Section& s, const Scope& scope,
                                   std::vector<std::string>& lines);
  /// `environment = KEY="v",...` as (name, pieces); nullopt after an error.
  std::optional<std::vector<std::pair<std::string, Pieces>>> environment(const Option& o,
                                                                         const Section& s,
                                                                         const Scope& scope);
  std::string environment_table(const std::vector<std::pair<std::string, Pieces>>& env,
                                bool* padded);

  // ---- sections ----
  void convert_supervisor();
  void convert_http(const Section& s);
  void convert_program(const Section& s);
  void convert_group(const Section& s);
  void convert_other(const Section& s, std::string_view why);
  /// Adds a table's lines to the output, with a `# from FILE` line when
  /// the section comes from another file than the one before.
  void emit(const Section* s, const std::string& header, const std::vector<std::string>& lines);

  ConvertSource& source_;
  const ConvertOptions& options_;
  ConvertResult result_;
  std::vector<std::string> errors_;
  std::deque<File> files_;
  std::vector<Section> sections_;
  std::set<std::string> read_paths_;
  /// [supervisord] environment as pieces (ENV_X of those names is known).
  std::map<std::string, Pieces> global_env_;
  /// supervisord program name -> minisup name.
  std::map<std::string, std::string> program_names_;
  /// supervisord program name -> the [group:x] it is in (the first).
  std::map<std::string, std::string> group_of_;
  std::string out_;
  const File* last_file_ = nullptr;
  /// Notes of environment() for the section being converted.
  std::vector<std::string> odd_separators_;
};

}  // namespace minisup::ctl::convert_detail
