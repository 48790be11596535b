// minisupctl convert: see convert.h for the model. This file reads the
// files (main + [include]), merges their sections as supervisord's parser
// does, and writes each section's TOML: [supervisor] (from [supervisord]
// and [unix_http_server]), the [http] of [inet_http_server], then every
// [program:x] / [group:x] / other section in the order read.
#include "supervisor/ctl/convert.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "supervisor/config/sha256.h"
#include "supervisor/config/signal_names.h"
#include "supervisor/ctl/supervisord_ini.h"

namespace minisup::ctl {
namespace {

namespace fs = std::filesystem;
using ini::Piece;
using Pieces = std::vector<Piece>;

/// Largest file read: a supervisord config is a few kilobytes.
constexpr std::size_t kMaxFileSize = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

/// A comment's text on one line: newlines of a multi-line value shown as
/// `\n`.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

/// Python's int(): blanks around, an optional sign, digits (and `_`
/// between digits).
std::optional<long long> python_int(std::string_view text) {
  std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  bool negative = false;
  std::size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return std::nullopt;
  long long value = 0;
  bool digit_before = false;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && digit_before && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    if (value > 100000000000000LL) return std::nullopt;  // far beyond any real value
    value = value * 10 + (s[i] - '0');
    digit_before = true;
  }
  return negative ? -value : value;
}

std::optional<bool> python_boolean(std::string_view text) {
  const std::string s = lower(text);
  if (s == "yes" || s == "true" || s == "on" || s == "1") return true;
  if (s == "no" || s == "false" || s == "off" || s == "0") return false;
  return std::nullopt;
}

/// `value` formatted by Python's `%FLAGSd` (width, `0` padding, `-`).
std::string format_int(long long value, std::string_view flags) {
  bool zero = false, left = false;
  std::size_t i = 0;
  for (; i < flags.size() && std::string_view("#0- +").find(flags[i]) != std::string_view::npos;
       ++i) {
    if (flags[i] == '0') zero = true;
    if (flags[i] == '-') left = true;
  }
  std::size_t width = 0;
  for (; i < flags.size() && std::isdigit(static_cast<unsigned char>(flags[i])); ++i) {
    width = width * 10 + static_cast<std::size_t>(flags[i] - '0');
  }
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string sign = value < 0 ? "-" : "";
  const std::size_t length = digits.size() + sign.size();
  if (width <= length) return sign + digits;
  if (left) return sign + digits + std::string(width - length, ' ');
  if (zero) return sign + std::string(width - length, '0') + digits;
  return std::string(width - length, ' ') + sign + digits;
}

/// True when `flags` asks for a width (`02` of `%(process_num)02d`).
bool has_width(std::string_view flags) {
  return std::any_of(flags.begin(), flags.end(), [](char c) { return c >= '1' && c <= '9'; });
}

bool is_variable_name(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool is_minisup_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

/// A TOML key: bare when it can be, else quoted.
std::string toml_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? std::string(key) : toml_string(key);
}

std::string toml_array(const std::vector<std::string>& words) {
  std::string out = "[";
  for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : ", ") + words[i];
  return out + "]";
}

// ---------------------------------------------------------------------------
// Files and sections
// ---------------------------------------------------------------------------

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

/// `process_num` and unknown `ENV_X` are the pieces left for minisupd to
/// expand: `${MINISUP_PROCESS_NUM}` and `${X}`.
std::string runtime_variable(const Piece& piece) {
  if (piece.text == "process_num") return "MINISUP_PROCESS_NUM";
  return piece.text.substr(4);  // ENV_X
}

/// The pieces as minisup text: literal text with `$` doubled where minisup
/// would read it as `${` or `$$`, runtime pieces as `${VAR}`. Sets
/// `padded` when a `%(process_num)02d` loses its padding.
std::string render(const Pieces& pieces, bool* padded = nullptr) {
  std::vector<std::pair<char, bool>> chars;  // (character, from literal text)
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) {
      for (char c : piece.text) chars.emplace_back(c, true);
      continue;
    }
    if (padded != nullptr && piece.text == "process_num" && has_width(piece.flags)) *padded = true;
    for (char c : "${" + runtime_variable(piece) + "}") chars.emplace_back(c, false);
  }
  std::string out;
  for (std::size_t i = 0; i < chars.size(); ++i) {
    out += chars[i].first;
    if (chars[i].first == '$' && chars[i].second && i + 1 < chars.size() &&
        (chars[i + 1].first == '{' || chars[i + 1].first == '$')) {
      out += '$';
    }
  }
  return out;
}

bool has_runtime(const Pieces& pieces) {
  return std::any_of(pieces.begin(), pieces.end(), [](const Piece& p) { return p.is_expansion; });
}

std::string literal_text(const Pieces& pieces) {
  std::string out;
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) out += piece.text;
  }
  return out;
}

/// The pieces written as text with each runtime piece as a marker
/// `\x01N\x02` (N its index in `runtime`), so that a splitter that treats
/// markers as letters splits as supervisord splits the expanded value.
std::string with_markers(const Pieces& pieces, Pieces& runtime) {
  std::string out;
  for (const Piece& piece : pieces) {
    if (!piece.is_expansion) {
      out += piece.text;
      continue;
    }
    out += fmt::format("\x01{}\x02", runtime.size());
    runtime.push_back(piece);
  }
  return out;
}

/// The inverse of with_markers() for one word.
Pieces from_markers(std::string_view word, const Pieces& runtime) {
  Pieces out;
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t start = word.find('\x01', i);
    const std::size_t end = start == std::string_view::npos ? start : word.find('\x02', start);
    if (start == std::string_view::npos || end == std::string_view::npos) {
      out.push_back(Piece{false, std::string(word.substr(i)), {}, 's'});
      break;
    }
    if (start > i) out.push_back(Piece{false, std::string(word.substr(i, start - i)), {}, 's'});
    const std::size_t index = std::stoul(std::string(word.substr(start + 1, end - start - 1)));
    out.push_back(runtime.at(index));
    i = end + 1;
  }
  return out;
}

/// Words that only mean something to a shell, as whole words.
bool is_shell_word(std::string_view word) {
  static const std::set<std::string_view> kOperators{"|",    "||", "&&",  ";",  "&",   ">",
                                                     ">>",   "<",  "<<",  "2>", "2>>", "2>&1",
                                                     "1>&2", "&>", ">&2", "|&", "(",   ")"};
  if (kOperators.count(word) != 0) return true;
  if (word.size() > 1 &&
      (word[0] == '>' || word.substr(0, 2) == "2>" || word.substr(0, 2) == "1>" ||
       word.substr(0, 2) == "&>" || word[0] == '<')) {
    return true;
  }
  // `a; b` (a quoted word with blanks, such as nginx's 'daemon off;', is
  // an argument that means it).
  if (word.size() > 1 && word.back() == ';' && word.find(' ') == std::string_view::npos) {
    return true;
  }
  if (word.find('`') != std::string_view::npos) return true;
  if (word.find("$(") != std::string_view::npos) return true;
  if (word.size() > 1 && word[0] == '$' &&
      (std::isalpha(static_cast<unsigned char>(word[1])) || word[1] == '{' || word[1] == '_')) {
    return true;
  }
  if (word.find("=$") != std::string_view::npos) return true;  // --opt=$VAR
  return word.substr(0, 2) == "~/";
}

// ---------------------------------------------------------------------------
// The converter
// ---------------------------------------------------------------------------

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

const File* Converter::read(const std::string& shown, const std::string& absolute, bool is_main) {
  std::string read_error;
  std::optional<std::string> text = source_.read(absolute, read_error);
  if (!text) {
    errors_.push_back(fmt::format("{}: {}", shown, read_error));
    return nullptr;
  }
  files_.push_back(File{shown, fs::path(absolute).parent_path().string(), {}, is_main});
  File& file = files_.back();
  if (auto problem = ini::parse_ini(*text, file.doc)) {
    error(&file, problem->line, problem->message);
    return nullptr;
  }
  return &file;
}

void Converter::merge(const File& file) {
  for (const ini::Section& in : file.doc.sections) {
    auto found = std::find_if(sections_.begin(), sections_.end(),
                              [&](const Section& s) { return s.name == in.name; });
    if (found == sections_.end()) {
      sections_.push_back(Section{in.name, in.line, &file, {}});
      found = std::prev(sections_.end());
    }
    for (const ini::Option& o : in.options) {
      auto existing = std::find_if(found->options.begin(), found->options.end(),
                                   [&](const Option& x) { return x.key == o.key; });
      if (existing == found->options.end()) {
        found->options.push_back(Option{o.key, o.value, o.line, &file});
      } else {
        *existing = Option{o.key, o.value, o.line, &file};  // the later file wins
      }
    }
  }
}

void Converter::follow_includes(const File& main) {
  const ini::Section* include = main.doc.find("include");
  if (include == nullptr) return;
  const ini::Option* files = include->find("files");
  if (files == nullptr) {
    error(&main, include->line, "[include] has no files = ... (supervisord refuses it too)");
    return;
  }
  // supervisord expands %(here)s and %(ENV_X)s here, from its own
  // environment: the include is followed now, with minisupctl's.
  std::string message;
  auto pieces = ini::parse_template(files->value, message);
  if (!pieces) {
    error(&main, files->line, "[include] files " + message);
    return;
  }
  std::string text;
  for (const Piece& piece : *pieces) {
    if (!piece.is_expansion) {
      text += piece.text;
    } else if (piece.text == "here") {
      text += main.dir;
    } else if (piece.text == "host_node_name") {
      text += options_.hostname;
    } else if (piece.text.rfind("ENV_", 0) == 0) {
      auto it = options_.environment.find(piece.text.substr(4));
      if (it == options_.environment.end()) {
        error(&main, files->line,
              fmt::format("[include] files uses %({})s, and {} is not set", piece.text,
                          piece.text.substr(4)));
        return;
      }
      text += it->second;
    } else {
      error(&main, files->line,
            fmt::format("[include] files uses %({})s, which supervisord cannot expand there",
                        piece.text));
      return;
    }
  }
  std::string pattern;
  std::istringstream words(text);
  while (words >> pattern) {
    const bool absolute = fs::path(pattern).is_absolute();
    const std::string full = absolute ? pattern : (fs::path(main.dir) / pattern).string();
    for (const std::string& path : source_.glob(full)) {
      const std::string normal = fs::path(path).lexically_normal().string();
      if (!read_paths_.insert(normal).second) continue;
      std::string shown = path;
      if (!absolute) {
        // Shown relative to the main file, as the user wrote the pattern.
        const fs::path main_parent = fs::path(main.shown).parent_path();
        shown = (main_parent / fs::path(path).lexically_relative(main.dir)).string();
      }
      if (const File* file = read(shown, normal, false)) merge(*file);
    }
  }
}

std::optional<Pieces> Converter::resolve_text(std::string_view text, const Option& o,
                                              const Section& s, const Scope& scope) {
  std::string message;
  auto pieces = ini::parse_template(text, message);
  if (!pieces) {
    error(o, s, message);
    return std::nullopt;
  }
  Pieces out;
  auto add_text = [&](const std::string& t) { out.push_back(Piece{false, t, {}, 's'}); };
  for (const Piece& piece : *pieces) {
    if (!piece.is_expansion) {
      if (piece.text.find_first_of("\x01\x02") != std::string::npos) {
        error(o, s, "contains control characters \\x01 or \\x02");
        return std::nullopt;
      }
      out.push_back(piece);
      continue;
    }
    const std::string& name = piece.text;
    if (name == "here") {
      add_text(o.file->dir);
    } else if (name == "program_name" && scope.program_name) {
      add_text(*scope.program_name);
    } else if (name == "group_name" && scope.group_name) {
      add_text(*scope.group_name);
    } else if (name == "host_node_name") {
      add_text(options_.hostname);
    } else if (name == "numprocs" && scope.numprocs) {
      add_text(format_int(*scope.numprocs, piece.flags));
    } else if (name == "process_num" && scope.process_num) {
      out.push_back(piece);
    } else if (name.rfind("ENV_", 0) == 0) {
      const std::string variable = name.substr(4);
      if (scope.known_env != nullptr) {
        if (auto it = scope.known_env->find(variable); it != scope.known_env->end()) {
          out.insert(out.end(), it->second.begin(), it->second.end());
          continue;
        }
      }
      if (auto it = global_env_.find(variable); it != global_env_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
      if (!is_variable_name(variable)) {
        error(o, s,
              fmt::format("%({})s: minisup's ${{VAR}} takes letters, digits and _ only", name));
        return std::nullopt;
      }
      out.push_back(piece);
    } else {
      error(o, s,
            fmt::format("%({}){} names nothing supervisord can expand here (supervisord refuses "
                        "it too)",
                        name, piece.conversion));
      return std::nullopt;
    }
  }
  return out;
}

std::optional<Pieces> Converter::resolve(const Option& o, const Section& s, const Scope& scope) {
  return resolve_text(o.value, o, s, scope);
}

std::optional<std::string> Converter::plain(const Option& o, const Section& s, const Scope& scope,
                                            std::vector<std::string>& lines) {
  auto pieces = resolve(o, s, scope);
  if (!pieces) return std::nullopt;
  if (has_runtime(*pieces)) {
    not_converted(lines, o,
                  "it needs a variable of minisupd's environment, and minisup expands ${VAR} only "
                  "in command, directory, environment and log paths");
    return std::nullopt;
  }
  return literal_text(*pieces);
}

std::optional<std::vector<std::pair<std::string, Pieces>>> Converter::environment(
    const Option& o, const Section& s, const Scope& scope) {
  auto pieces = resolve(o, s, scope);
  if (!pieces) return std::nullopt;
  Pieces runtime;
  const std::string marked = with_markers(*pieces, runtime);
  std::string message;
  std::vector<std::string> odd;
  auto pairs = ini::parse_key_value_pairs(marked, message, &odd);
  if (!pairs) {
    error(o, s, message);
    return std::nullopt;
  }
  for (const std::string& separator : odd) {
    odd_separators_.push_back(fmt::format(
        "environment: supervisord took {} between two pairs for a separator and dropped it (quote "
        "a value that holds blanks)",
        toml_string(literal_text(from_markers(separator, runtime)))));
  }
  std::vector<std::pair<std::string, Pieces>> out;
  for (auto& [key, value] : *pairs) {
    if (key.find('\x01') != std::string::npos || key.empty()) {
      error(o, s, "a variable's name must not come from an expansion");
      return std::nullopt;
    }
    out.emplace_back(key, from_markers(value, runtime));
  }
  return out;
}

std::string Converter::environment_table(const std::vector<std::pair<std::string, Pieces>>& env,
                                         bool* padded) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < env.size(); ++i) {
    out += fmt::format("{}{} = {}", i == 0 ? "" : ", ", toml_key(env[i].first),
                       toml_string(render(env[i].second, padded)));
  }
  return out + (env.empty() ? "}" : " }");
}

void Converter::emit(const Section* s, const std::string& header,
                     const std::vector<std::string>& lines) {
  if (s != nullptr && s->file != last_file_ && s->file != nullptr) {
    out_ += fmt::format("\n# ---- from {} ----\n", s->file->shown);
    last_file_ = s->file;
  }
  out_ += "\n";
  if (!header.empty()) out_ += header + "\n";
  for (const std::string& line : lines) out_ += line + "\n";
}

// ---- [supervisord] and [unix_http_server] -> [supervisor] ----

void Converter::convert_supervisor() {
  auto find = [&](std::string_view name) -> const Section* {
    for (const Section& s : sections_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  const Section* supervisord = find("supervisord");
  const Section* unix_server = find("unix_http_server");
  if (supervisord == nullptr && unix_server == nullptr) return;
  std::vector<std::string> lines;
  Scope scope;

  if (supervisord != nullptr) {
    const Section& s = *supervisord;
    // The environment first: ENV_X of its names is known to every other
    // value (supervisord adds them to its expansions).
    std::optional<std::vector<std::pair<std::string, Pieces>>> env;
    if (const Option* o = s.find("environment")) {
      env = environment(*o, s, scope);
      if (env) {
        for (const auto& [name, value] : *env) global_env_[name] = value;
      }
      for (const std::string& text : odd_separators_) note(lines, text);
      odd_separators_.clear();
    }
    for (const Option& o : s.options) {
      const std::string& key = o.key;
      if (key == "logfile" || key == "pidfile" || key == "childlogdir") {
        auto pieces = resolve(o, s, scope);
        if (!pieces) continue;
        std::string value = render(*pieces);
        if (key == "logfile" && (value == "/dev/stdout" || value == "/dev/stderr")) {
          if (value == "/dev/stdout")
            note(lines, "logfile = /dev/stdout: minisupd logs to its stderr (\"-\")");
          value = "-";
        } else if (key == "logfile" && lower(value) == "syslog") {
          not_converted(
              lines, o,
              "minisupd logs to a file or its stderr; journald or syslog can take stderr");
          continue;
        }
        if (value.rfind("~/", 0) == 0)
          value = "${HOME}" + value.substr(1);  // supervisord: expanduser
        if (!value.empty() && value[0] != '/' && value != "-" && value[0] != '$') {
          note(lines, fmt::format("{} is relative: minisup resolves it against this file's "
                                  "directory (supervisord: its working directory)",
                                  key));
        }
        lines.push_back(fmt::format("{} = {}", key, toml_string(value)));
      } else if (key == "loglevel") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        static const std::map<std::string, std::string> kLevels{
            {"critical", "error"}, {"error", "error"}, {"warn", "warn"},    {"info", "info"},
            {"debug", "debug"},    {"trace", "trace"}, {"blather", "trace"}};
        auto it = kLevels.find(lower(trim(*text)));
        if (it == kLevels.end()) {
          error(o, s, fmt::format("bad logging level name {} (supervisord refuses it too)", *text));
          continue;
        }
        lines.push_back(fmt::format("loglevel = {}", toml_string(it->second)));
      } else if (key == "environment") {
        if (env) lines.push_back("environment = " + environment_table(*env, nullptr));
      } else if (key == "nodaemon") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        auto value = python_boolean(*text);
        if (!value) {
          error(o, s, fmt::format("not a valid boolean value: {}", *text));
        } else if (!*value) {
          not_converted(lines, o,
                        "minisupd runs in the foreground; start it with --daemon to detach");
        }
      } else if (key == "umask") {
        not_converted(lines, o,
                      "supervisord applies it when it daemonizes; set umask per program, or UMask= "
                      "in minisupd's systemd unit");
      } else if (key == "user") {
        not_converted(lines, o,
                      "minisupd does not switch users itself; run it as that user (User= in its "
                      "systemd unit) or set user per program");
      } else if (key == "directory") {
        not_converted(lines, o,
                      "minisupd does not change its directory; set directory per program, or "
                      "WorkingDirectory= in its systemd unit");
      } else if (key == "logfile_maxbytes" || key == "logfile_backups") {
        not_converted(lines, o,
                      "minisupd does not rotate its own log; rotate it with logrotate, which sends "
                      "SIGUSR2 (conf/logrotate.minisup)");
      } else if (key == "minfds" || key == "minprocs") {
        not_converted(lines, o,
                      "set rlimit_nofile / rlimit_nproc per program, or LimitNOFILE= / LimitNPROC= "
                      "in minisupd's systemd unit");
      } else if (key == "nocleanup") {
        not_converted(lines, o, "minisup never deletes AUTO child logs at start");
      } else if (key == "silent") {
        not_converted(lines, o,
                      "minisupd's log goes where logfile says; logfile = \"-\" is stderr");
      } else if (key == "strip_ansi") {
        not_converted(lines, o, "minisup writes children's output unchanged");
      } else if (key == "identifier") {
        not_converted(lines, o, "minisup has no XML-RPC identifier");
      } else {
        not_converted(lines, o, "supervisord does not know this option either");
      }
    }
  }

  if (unix_server != nullptr) {
    const Section& s = *unix_server;
    lines.push_back("# from [unix_http_server]: minisupctl's control socket");
    for (const Option& o : s.options) {
      if (o.key == "file") {
        auto pieces = resolve(o, s, scope);
        if (!pieces) continue;
        lines.push_back(fmt::format("socket = {}", toml_string(render(*pieces))));
      } else if (o.key == "chmod") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        std::string digits = trim(*text);
        if (digits.rfind("0o", 0) == 0) digits = digits.substr(2);
        if (digits.empty() || digits.size() > 4 ||
            digits.find_first_not_of("01234567") != std::string::npos ||
            std::stoi(digits, nullptr, 8) > 0777) {
          error(o, s, fmt::format("invalid chmod value {}", *text));
          continue;
        }
        lines.push_back(fmt::format("socket_mode = \"{:04o}\"", std::stoi(digits, nullptr, 8)));
      } else if (o.key == "chown") {
        auto text = plain(o, s, scope, lines);
        if (!text) continue;
        const std::string value = trim(*text);
        const std::size_t colon = value.find(':');
        const std::string user = value.substr(0, colon);
        note(lines, "chown = " + value +
                        ": minisup lets these in by their uid (SO_PEERCRED) besides root and "
                        "minisupd's own user; the file stays minisupd's");
        if (!user.empty()) lines.push_back(fmt::format("socket_uids = [{}]", toml_string(user)));
        if (colon != std::string::npos && colon + 1 < value.size()) {
          lines.push_back(fmt::format("socket_group = {}", toml_string(value.substr(colon + 1))));
        }
      } else if (o.key == "username" || o.key == "password") {
        not_converted(lines, o,
                      "the control socket takes no password: its file mode and the peer's uid "
                      "guard it");
      } else {
        not_converted(lines, o, "supervisord does not know this option either");
      }
    }
  }
  emit(nullptr, "[supervisor]", lines);
}

// ---- [inet_http_server] -> [http] ----

void Converter::convert_http(const Section& s) {
  std::vector<std::string> lines;
  std::vector<std::string> table;  // the [http] table's lines
  Scope scope;
  std::string username;
  for (const Option& o : s.options) {
    if (o.key == "port") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      std::string value = trim(*text);
      std::string host = "0.0.0.0";
      std::string port = value;
      if (const std::size_t colon = value.rfind(':'); colon != std::string::npos) {
        host = lower(value.substr(0, colon));
        port = value.substr(colon + 1);
      }
      if (host.empty() || host == "*") host = "0.0.0.0";
      auto number = python_int(port);
      if (!number || *number < 1 || *number > 65535) {
        error(o, s, fmt::format("not a valid port number: {}", value));
        continue;
      }
      if (host == "localhost") host = "127.0.0.1";
      const bool loopback = host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]";
      if (!loopback && s.find("password") == nullptr) {
        // supervisord serves anyone who reaches the port, controls included;
        // minisup refuses a non-loopback listener without credentials.
        table.push_back(fmt::format(
            "# note: port = {} had no password: anyone reaching it could stop your programs. "
            "minisup refuses that, so this listens on loopback only; set token_file (or "
            "username and password_sha256) to listen on {} again",
            value, host));
        host = "127.0.0.1";
      }
      const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
      const std::string address =
          ipv6 ? fmt::format("[{}]:{}", host, *number) : fmt::format("{}:{}", host, *number);
      table.push_back(fmt::format("listen = {}", toml_string(address)));
    } else if (o.key == "username") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      username = *text;
      table.push_back(fmt::format("username = {}", toml_string(*text)));
    } else if (o.key == "password") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      if (text->rfind("{SHA}", 0) == 0) {
        not_converted(
            lines, o,
            "a SHA-1 digest cannot become minisup's password_sha256; write the password's "
            "SHA-256 (sha256sum) there");
        continue;
      }
      table.push_back(fmt::format("password_sha256 = {}  # SHA-256 of the password",
                                  toml_string(config::sha256_hex(*text))));
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  lines.insert(lines.end(), table.begin(), table.end());
  emit(&s, "[http]", lines);
}

// ---- [group:x] -> [group.x] ----

void Converter::convert_group(const Section& s) {
  const std::string group = trim(s.name.substr(s.name.find(':') + 1));
  std::vector<std::string> lines;
  std::vector<std::string> members;
  Scope scope;
  std::string name = group;
  for (char& c : name) {
    if (!is_minisup_name_char(c)) c = '_';
  }
  if (name != group) {
    note(lines, fmt::format("the group {} is called {} here: minisup names take letters, digits, "
                            "_, . and - only",
                            toml_string(group), toml_string(name)));
  }
  const Option* programs = s.find("programs");
  if (programs == nullptr) {
    error(s.file, s.line, fmt::format("[{}] has no programs (supervisord refuses it too)", s.name));
    return;
  }
  for (const Option& o : s.options) {
    if (o.key == "programs") {
      auto text = plain(o, s, scope, lines);
      if (!text) return;
      std::string item;
      std::istringstream list(*text);
      while (std::getline(list, item, ',')) {
        const std::string program = trim(item);
        const bool is_program =
            std::any_of(sections_.begin(), sections_.end(),
                        [&](const Section& x) { return x.name == "program:" + program; });
        const bool is_fcgi = std::any_of(sections_.begin(), sections_.end(), [&](const Section& x) {
          return x.name == "fcgi-program:" + program;
        });
        if (!is_program && !is_fcgi) {
          error(o, s,
                fmt::format("names unknown program {} (supervisord refuses it too)",
                            toml_string(program)));
          return;
        }
        if (!is_program) {
          note(lines,
               fmt::format("{} is an [fcgi-program], which is not converted: left out of the group",
                           program));
          continue;
        }
        const auto member_of = group_of_.find(program);
        const auto minisup_name = program_names_.find(program);
        if (member_of == group_of_.end() || minisup_name == program_names_.end()) continue;
        if (member_of->second != group) {
          note(lines,
               fmt::format("{} is also in [group:{}]: a minisup program belongs to one group, "
                           "so it is left out of this one (supervisord ran it once per group)",
                           program, member_of->second));
          continue;
        }
        members.push_back(toml_string(minisup_name->second));
      }
      if (!members.empty()) lines.push_back("programs = " + toml_array(members));
    } else if (o.key == "priority") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      auto number = python_int(*text);
      if (!number) {
        error(o, s, fmt::format("not an integer: {}", *text));
        continue;
      }
      lines.push_back(
          fmt::format("priority = {}  # for its programs that set no priority", *number));
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  if (members.empty()) {
    std::vector<std::string> commented{
        fmt::format("# not converted: [{}] (none of its programs is converted)", s.name)};
    ++result_.not_converted;
    commented.insert(commented.end(), lines.begin(), lines.end());
    emit(&s, "", commented);
    return;
  }
  if (program_names_.count(group) != 0 ||
      std::any_of(program_names_.begin(), program_names_.end(),
                  [&](const auto& p) { return p.second == name; })) {
    if (members.size() == 1 && members.front() == toml_string(name)) {
      std::vector<std::string> commented{fmt::format(
          "# not converted: [{}] (its only program has the group's name; minisup selects the "
          "program's processes as {}:* already)",
          s.name, name)};
      ++result_.not_converted;
      emit(&s, "", commented);
      return;
    }
    const std::string renamed = name + "-group";
    note(lines, fmt::format("the group is called {} here: a minisup group and a program may not "
                            "share a name",
                            renamed));
    name = renamed;
  }
  ++result_.groups;
  emit(&s, fmt::format("[group.{}]", toml_key(name)), lines);
}

// ---- [program:x] -> [program.x] ----

void Converter::convert_program(const Section& s) {
  const std::string program = trim(s.name.substr(s.name.find(':') + 1));
  const std::string name = program_names_.at(program);
  std::vector<std::string> lines;
  if (name != program) {
    note(lines, fmt::format("the program {} is called {} here: minisup names take letters, "
                            "digits, _, . and - only",
                            toml_string(program), toml_string(name)));
  }
  const auto group = group_of_.find(program);
  Scope scope;
  scope.program_name = program;
  scope.group_name = group == group_of_.end() ? program : group->second;

  auto integer = [&](const Option& o, long long min) -> std::optional<long long> {
    auto text = plain(o, s, scope, lines);
    if (!text) return std::nullopt;
    auto number = python_int(*text);
    if (!number) {
      error(o, s, fmt::format("not an integer: {} (supervisord refuses it too)", *text));
      return std::nullopt;
    }
    if (*number < min) {
      error(o, s, fmt::format("must be at least {}, got {}", min, *number));
      return std::nullopt;
    }
    return number;
  };
  auto boolean = [&](const Option& o) -> std::optional<bool> {
    auto text = plain(o, s, scope, lines);
    if (!text) return std::nullopt;
    auto value = python_boolean(trim(*text));
    if (!value)
      error(o, s, fmt::format("not a valid boolean value: {} (supervisord refuses it too)", *text));
    return value;
  };

  // What other options depend on: numprocs, redirect_stderr, process_name,
  // stopasgroup / killasgroup, the environment (ENV_X of its names).
  // Lines of this first pass are dropped; the loop below writes them.
  long long numprocs = 1;
  bool redirect_stderr = false;
  {
    std::vector<std::string> saved;
    std::swap(saved, lines);
    const int not_converted_before = result_.not_converted, notes_before = result_.notes;
    if (const Option* o = s.find("numprocs")) numprocs = integer(*o, 1).value_or(1);
    if (const Option* o = s.find("redirect_stderr")) redirect_stderr = boolean(*o).value_or(false);
    bool stopasgroup = false;
    if (const Option* o = s.find("stopasgroup")) stopasgroup = boolean(*o).value_or(false);
    if (const Option* o = s.find("killasgroup");
        o != nullptr && stopasgroup && boolean(*o) == std::optional<bool>(false)) {
      error(*o, s, "stopasgroup = true needs killasgroup = true (supervisord refuses it too)");
    }
    std::swap(saved, lines);
    result_.not_converted = not_converted_before;
    result_.notes = notes_before;
  }
  // stdout and stderr written to one file: supervisord keeps two writers
  // (and two rotations) on it; redirect_stderr = true gives the same file
  // with one.
  const Option* stdout_option = s.find("stdout_logfile");
  const Option* stderr_option = s.find("stderr_logfile");
  const bool merge_stderr =
      !redirect_stderr && s.find("redirect_stderr") == nullptr && stdout_option != nullptr &&
      stderr_option != nullptr && trim(stdout_option->value) == trim(stderr_option->value) &&
      lower(trim(stdout_option->value)) != "auto" && lower(trim(stdout_option->value)) != "none";
  scope.numprocs = numprocs;
  scope.process_num = true;
  std::map<std::string, Pieces> program_env;
  std::optional<std::vector<std::pair<std::string, Pieces>>> env;
  if (const Option* o = s.find("environment")) {
    Scope env_scope = scope;  // ENV_X here: supervisord's environment only
    env = environment(*o, s, env_scope);
    if (env) {
      for (const auto& [key, value] : *env) program_env[key] = value;
    }
    for (const std::string& text : odd_separators_) note(lines, text);
    odd_separators_.clear();
  }
  scope.known_env = &program_env;
  const Option* process_name = s.find("process_name");
  if (numprocs > 1 && (process_name == nullptr ||
                       process_name->value.find("%(process_num)") == std::string::npos)) {
    error(s.file, process_name ? process_name->line : s.line,
          fmt::format("[{}] %(process_num) must be present within process_name when numprocs > 1 "
                      "(supervisord refuses it too)",
                      s.name));
  }
  if (s.find("command") == nullptr) {
    error(s.file, s.line, fmt::format("[{}] has no command (supervisord refuses it too)", s.name));
    return;
  }

  bool padded = false;
  auto logfile = [&](const Option& o, bool is_stderr) {
    auto pieces = resolve(o, s, scope);
    if (!pieces) return;
    const std::string text =
        has_runtime(*pieces) ? std::string() : lower(trim(literal_text(*pieces)));
    if (text == "auto") {
      lines.push_back(fmt::format("{} = \"AUTO\"", o.key));
      return;
    }
    if (text == "none" || text == "off") {
      lines.push_back(fmt::format("{} = \"NONE\"", o.key));
      return;
    }
    if (text == "syslog") {
      not_converted(
          lines, o,
          "minisup writes to files or its own stdout (console), which journald or syslog can take");
      return;
    }
    if (is_stderr && merge_stderr) {
      note(lines, fmt::format("stderr_logfile = {} is stdout's file too: redirect_stderr = true "
                              "writes both streams there, through one writer",
                              one_line(o.value)));
      lines.push_back("redirect_stderr = true");
      return;
    }
    if (is_stderr && redirect_stderr) {
      not_converted(
          lines, o,
          "redirect_stderr = true sends stderr to the stdout log; supervisord ignores this too");
      return;
    }
    if (text == "/dev/stdout" || text == "/dev/stderr") {
      note(lines, fmt::format("{} = {}: \"console\" writes each line to minisupd's stdout, "
                              "prefixed with the process name",
                              o.key, text));
      lines.push_back(fmt::format("{} = \"console\"", o.key));
      return;
    }
    const bool per_process = std::any_of(pieces->begin(), pieces->end(), [](const Piece& p) {
      return p.is_expansion && p.text == "process_num";
    });
    if (numprocs > 1 && !per_process) {
      // Each process gets a file of its own: minisup refuses one file for
      // several processes (their rotations would fight).
      const std::string path = literal_text(*pieces);
      const fs::path p(path);
      const std::string stem = p.extension().empty()
                                   ? path
                                   : path.substr(0, path.size() - p.extension().string().size());
      Pieces split;
      split.push_back(Piece{false, stem + "-", {}, 's'});
      split.push_back(Piece{true, "process_num", {}, 'd'});
      split.push_back(Piece{false, p.extension().string(), {}, 's'});
      if (!has_runtime(*pieces)) {
        *pieces = split;
      } else {
        pieces->push_back(Piece{false, "-", {}, 's'});
        pieces->push_back(Piece{true, "process_num", {}, 'd'});
      }
      note(lines, fmt::format("supervisord's {} processes all wrote to {}; here each has its own "
                              "file",
                              numprocs, one_line(o.value)));
    }
    const std::string rendered = render(*pieces, &padded);
    if (!rendered.empty() && rendered[0] != '/' && rendered[0] != '$') {
      note(lines, fmt::format("{} is relative: minisup resolves it against this file's directory "
                              "(supervisord: its working directory)",
                              o.key));
    }
    lines.push_back(fmt::format("{} = {}", o.key, toml_string(rendered)));
  };

  for (const Option& o : s.options) {
    const std::string& key = o.key;
    if (key == "command") {
      auto pieces = resolve(o, s, scope);
      if (!pieces) continue;
      Pieces runtime;
      const std::string marked = with_markers(*pieces, runtime);
      std::string message;
      auto words = ini::shlex_split(marked, message);
      if (!words) {
        error(o, s, fmt::format("cannot be split as supervisord splits it: {}", message));
        continue;
      }
      if (words->empty()) {
        error(o, s, "is empty");
        continue;
      }
      std::vector<std::string> argv;
      std::vector<std::string> shell_words;
      bool env_in_command = false;
      for (const std::string& word : *words) {
        const Pieces word_pieces = from_markers(word, runtime);
        argv.push_back(toml_string(render(word_pieces, &padded)));
        for (const Piece& p : word_pieces) {
          if (p.is_expansion && p.text != "process_num") env_in_command = true;
        }
        const std::string literal = literal_text(word_pieces);
        if (is_shell_word(literal)) shell_words.push_back(literal);
      }
      const std::string first = lower(literal_text(from_markers(words->front(), runtime)));
      const bool is_shell = (first == "sh" || first == "bash" || first.ends_with("/sh") ||
                             first.ends_with("/bash")) &&
                            words->size() > 1 && (*words)[1] == "-c";
      static const std::set<std::string> kBuiltins{"cd",   "export", "source", ".",
                                                   "exec", "ulimit", "set"};
      if (!is_shell && kBuiltins.count(first) != 0) shell_words.insert(shell_words.begin(), first);
      if (!shell_words.empty() && !is_shell) {
        std::string listed;
        for (std::size_t i = 0; i < shell_words.size() && i < 3; ++i) {
          listed += (i == 0 ? "" : ", ") + toml_string(shell_words[i]);
        }
        note(lines, fmt::format("supervisord runs a command without a shell, so {} reached the "
                                "program as plain arguments, and still do here. If it relied on a "
                                "shell, write (stopasgroup = true lets the stop signal reach the "
                                "program, not only the shell):",
                                listed));
        lines.push_back(
            fmt::format("# command = [\"/bin/sh\", \"-c\", {}]", toml_string(render(*pieces))));
      }
      if (env_in_command) {
        note(lines,
             "supervisord split what a %(ENV_X)s gave at its blanks into words; minisup's "
             "${X} stays one word (the same unless the value holds blanks)");
      }
      lines.push_back("command = " + toml_array(argv));
    } else if (key == "process_name") {
      if (o.value != "%(program_name)s") {
        not_converted(lines, o,
                      fmt::format("minisup names the processes {}",
                                  numprocs > 1 ? name + ":N (N from numprocs_start)" : name));
      }
    } else if (key == "numprocs" || key == "numprocs_start" || key == "priority" ||
               key == "startsecs" || key == "startretries" || key == "stopwaitsecs") {
      const long long min = key == "numprocs" ? 1 : key == "priority" ? -2147483647 : 0;
      if (auto number = integer(o, min)) lines.push_back(fmt::format("{} = {}", key, *number));
    } else if (key == "autostart" || key == "stopasgroup" || key == "killasgroup" ||
               key == "redirect_stderr") {
      if (auto value = boolean(o)) lines.push_back(fmt::format("{} = {}", key, *value));
    } else if (key == "autorestart") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string value = lower(trim(*text));
      if (value == "unexpected") {
        lines.push_back("autorestart = \"unexpected\"");
      } else if (auto b = python_boolean(value)) {
        lines.push_back(fmt::format("autorestart = {}", *b));
      } else {
        error(o, s,
              fmt::format("invalid 'autorestart' value {} (supervisord refuses it too)", *text));
      }
    } else if (key == "exitcodes") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      std::vector<std::string> codes;
      std::string item;
      std::istringstream list(*text);
      bool ok = true;
      while (!trim(*text).empty() && std::getline(list, item, ',')) {
        auto code = python_int(item);
        if (!code || *code < 0 || *code > 255) {
          error(o, s, fmt::format("not a valid list of exit codes: {}", *text));
          ok = false;
          break;
        }
        codes.push_back(std::to_string(*code));
      }
      if (ok) lines.push_back("exitcodes = " + toml_array(codes));
    } else if (key == "stopsignal") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      auto signo = config::parse_signal(trim(*text));
      if (!signo) {
        error(o, s, fmt::format("value {} is not a valid signal name", *text));
        continue;
      }
      std::string signal = config::signal_name(*signo);
      if (signal.rfind("SIG", 0) == 0) signal = signal.substr(3);
      lines.push_back(fmt::format("stopsignal = {}", toml_string(signal)));
    } else if (key == "user") {
      if (auto text = plain(o, s, scope, lines)) {
        lines.push_back(fmt::format("user = {}", toml_string(trim(*text))));
      }
    } else if (key == "umask") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string digits = trim(*text);
      if (digits.empty() || digits.find_first_not_of("01234567") != std::string::npos ||
          digits.size() > 4 || std::stoi(digits, nullptr, 8) > 0777) {
        error(o, s, fmt::format("{} can not be converted to an octal type", *text));
        continue;
      }
      lines.push_back(fmt::format("umask = \"{:03o}\"", std::stoi(digits, nullptr, 8)));
    } else if (key == "directory") {
      auto pieces = resolve(o, s, scope);
      if (!pieces) continue;
      const std::string rendered = render(*pieces, &padded);
      if (!rendered.empty() && rendered[0] != '/' && rendered[0] != '$') {
        note(lines,
             "directory is relative: minisup resolves it against this file's directory "
             "(supervisord: its working directory)");
      }
      lines.push_back(fmt::format("directory = {}", toml_string(rendered)));
    } else if (key == "environment") {
      if (env) lines.push_back("environment = " + environment_table(*env, &padded));
    } else if (key == "stdout_logfile" || key == "stderr_logfile") {
      logfile(o, key == "stderr_logfile");
    } else if (key == "stdout_logfile_maxbytes" || key == "stderr_logfile_maxbytes") {
      auto text = plain(o, s, scope, lines);
      if (!text) continue;
      const std::string value = lower(trim(*text));
      std::string unit;
      if (value.size() > 2 &&
          (value.ends_with("kb") || value.ends_with("mb") || value.ends_with("gb"))) {
        unit = value.substr(value.size() - 2);
      }
      auto number = python_int(value.substr(0, value.size() - unit.size()));
      if (!number || *number < 0) {
        error(o, s, fmt::format("not a valid size: {}", *text));
        continue;
      }
      if (unit.empty()) {
        lines.push_back(fmt::format("{} = {}", key, *number));
      } else {
        std::string upper = unit;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        lines.push_back(fmt::format("{} = \"{}{}\"", key, *number, upper));
      }
    } else if (key == "stdout_logfile_backups" || key == "stderr_logfile_backups") {
      if (auto number = integer(o, 0)) lines.push_back(fmt::format("{} = {}", key, *number));
    } else if (key == "stdout_capture_maxbytes" || key == "stderr_capture_maxbytes") {
      auto text = plain(o, s, scope, lines);
      if (text && trim(*text) != "0") {
        not_converted(lines, o, "capture mode feeds event listeners, which minisup does not have");
      }
    } else if (key == "stdout_events_enabled" || key == "stderr_events_enabled") {
      if (boolean(o).value_or(false)) {
        not_converted(lines, o,
                      "minisup has no event listeners; `minisupctl events` streams state changes");
      }
    } else if (key == "stdout_syslog" || key == "stderr_syslog") {
      if (boolean(o).value_or(false)) {
        not_converted(lines, o,
                      "minisup writes to files or its own stdout (console), which journald or "
                      "syslog can take");
      }
    } else if (key == "serverurl") {
      if (lower(trim(o.value)) != "auto") {
        not_converted(lines, o, "minisup has no XML-RPC server for programs to call back into");
      }
    } else {
      not_converted(lines, o, "supervisord does not know this option either");
    }
  }
  if (padded) {
    note(lines,
         "%(process_num)02d-style padding is not kept: ${MINISUP_PROCESS_NUM} is 0, 1, ... "
         "(not 00, 01, ...)");
  }
  ++result_.programs;
  emit(&s, fmt::format("[program.{}]", toml_key(name)), lines);
}

void Converter::convert_other(const Section& s, std::string_view why) {
  std::vector<std::string> lines{fmt::format("# not converted: [{}] ({})", s.name, why)};
  ++result_.not_converted;
  for (const Option& o : s.options) {
    lines.push_back(fmt::format("#   {} = {}", o.key, one_line(o.value)));
  }
  emit(&s, "", lines);
}

ConvertResult Converter::run(const std::string& main_file) {
  std::error_code ec;
  const std::string absolute = fs::absolute(main_file, ec).lexically_normal().string();
  read_paths_.insert(absolute);
  const File* main = read(main_file, absolute, true);
  if (main == nullptr) {
    result_.errors = std::move(errors_);
    return result_;
  }
  last_file_ = main;  // `# ---- from FILE ----` only for included files
  merge(*main);
  follow_includes(*main);

  // Names first: a program's minisup name, and its group.
  for (const Section& s : sections_) {
    const std::size_t colon = s.name.find(':');
    if (colon == std::string::npos) continue;
    const std::string kind = s.name.substr(0, colon);
    const std::string name = trim(s.name.substr(colon + 1));
    if (kind != "program" && kind != "group") continue;
    if (name.empty() || name.find_first_of(" :/") != std::string::npos) {
      error(s.file, s.line,
            fmt::format("[{}]: invalid name {} (supervisord refuses it too)", s.name,
                        toml_string(name)));
      continue;
    }
    if (kind == "program") {
      std::string minisup = name;
      for (char& c : minisup) {
        if (!is_minisup_name_char(c)) c = '_';
      }
      program_names_[name] = minisup.substr(0, 128);
    }
  }
  for (const Section& s : sections_) {
    if (s.name.rfind("group:", 0) != 0) continue;
    const Option* programs = s.find("programs");
    if (programs == nullptr) continue;
    std::string item;
    std::istringstream list(programs->value);
    while (std::getline(list, item, ',')) {
      const std::string program = trim(item);
      if (program_names_.count(program) != 0) group_of_.emplace(program, trim(s.name.substr(6)));
    }
  }

  convert_supervisor();
  for (const Section& s : sections_) {
    const std::string& n = s.name;
    if (n == "supervisord" || n == "unix_http_server") continue;
    if (n == "include") {
      if (s.file != nullptr && !s.file->is_main) {
        convert_other(s, "an included file's [include] is not followed, by supervisord either");
      }
      continue;
    }
    if (n == "inet_http_server") {
      convert_http(s);
    } else if (n.rfind("program:", 0) == 0) {
      if (program_names_.count(trim(n.substr(8))) != 0) convert_program(s);
    } else if (n.rfind("group:", 0) == 0) {
      convert_group(s);
    } else if (n == "supervisorctl") {
      convert_other(s,
                    "minisupctl finds minisupd's socket in this file (-c), or takes -s SOCKET "
                    "or MINISUP_SOCKET");
    } else if (n.rfind("eventlistener:", 0) == 0) {
      convert_other(s,
                    "minisup has no event listeners; `minisupctl events` streams every state "
                    "change, with the exit code or signal");
    } else if (n.rfind("fcgi-program:", 0) == 0) {
      convert_other(s,
                    "minisup has no FastCGI programs; a [program] with a held socket "
                    "([socket.*]) takes its place");
    } else if (n.rfind("rpcinterface:", 0) == 0) {
      convert_other(s,
                    "minisup has no XML-RPC interface; minisupctl's JSON control protocol "
                    "(minisup-protocol(7)) takes its place");
    } else if (n.rfind("ctlplugin:", 0) == 0) {
      convert_other(s, "minisupctl has no plugins");
    } else {
      convert_other(s, "not a section supervisord reads");
    }
  }

  if (!errors_.empty()) {
    result_.errors = std::move(errors_);
    return result_;
  }
  result_.toml = fmt::format(
      "# minisup config converted from {} by `minisupctl convert`.\n"
      "# Review each \"# not converted:\" and \"# note:\" line, then check it with\n"
      "# `minisupd -c FILE --check`.\n",
      main_file);
  result_.toml += out_;
  return result_;
}

}  // namespace

std::optional<std::string> FileSystemSource::read(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = "not a regular file";
    return std::nullopt;
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxFileSize) {
    ::close(fd);
    error = "larger than 4 MiB: not a supervisord config";
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileSize) {
      ::close(fd);
      error = "larger than 4 MiB: not a supervisord config";
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

std::vector<std::string> FileSystemSource::glob(const std::string& pattern) {
  glob_t matches{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) out.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  std::sort(out.begin(), out.end());
  return out;
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04X}", u);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

ConvertResult convert_supervisord(const std::string& main_file, ConvertSource& source,
                                  const ConvertOptions& options) {
  return Converter(source, options).run(main_file);
}

}  // namespace minisup::ctl
