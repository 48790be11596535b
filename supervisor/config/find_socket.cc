// config::find_socket() (load_config.h): the socket of a config without
// its programs, for minisupctl -c FILE. The main file, mapped (MappedFile,
// config_file.h), is cut down to its root table and [supervisor]
// (toml_sections.h) and read by the Loader's
// own read_socket_settings(), the code load_config() runs for the same
// keys; a file the cut is not sure of is loaded whole.
#include <fmt/format.h>

#include <algorithm>
#include <system_error>
#include <tuple>
#include <utility>

#include "supervisor/config/config_file.h"
#include "supervisor/config/load_config.h"
#include "supervisor/config/loader.h"
#include "supervisor/config/supervisord_hint.h"
#include "supervisor/config/toml_guard.h"
#include "supervisor/config/toml_sections.h"

namespace minisup::config {
namespace detail {

std::optional<SocketLookup> Loader::find_socket(const fs::path& file) {
  std::error_code ec;
  const fs::path absolute_file = fs::absolute(file, ec).lexically_normal();
  if (ec) return std::nullopt;  // load_config() reports it
  main_file_ = absolute_file;
  add_file(file, absolute_file);
  SourceFile& main = files_.back();

  std::optional<KeptLines> kept;
  {
    const std::unique_ptr<MappedFile> mapped = MappedFile::open(main.shown);
    if (!mapped) return std::nullopt;  // load_config() reports it, the same way
    // supervisord's INI: its root part may well parse (comments), but the
    // file is no minisup config; load_config() says where and adds the hint.
    if (looks_like_supervisord_config(mapped->text())) return std::nullopt;
    kept = keep_tables_under(mapped->text(), "supervisor");
    if (mapped->changed()) return std::nullopt;  // truncated meanwhile: read it whole
  }
  if (!kept) return std::nullopt;
  // Errors in the cut are reported where their lines are in the file.
  main.line_starts = std::move(kept->starts);

  SocketLookup result;
  std::optional<toml::table> root;
  if (auto problem = check_toml_limits(kept->text)) {
    error({&main, original_line(main.line_starts, problem->line), problem->column},
          problem->message);
  } else {
    try {
      root = toml::parse(std::string_view(kept->text), std::string_view(main.shown.native()));
    } catch (const toml::parse_error& e) {
      error(location(main, e.source()), std::string(e.description()));
    }
  }
  if (root) read_socket_settings(*root, main);
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.where.line, a.second.where.column) <
           std::tie(b.second.where.line, b.second.where.column);
  });
  for (auto& [index, e] : errors_) result.errors.push_back(std::move(e));
  if (result.errors.empty()) result.socket = supervisor_.socket;
  return result;
}

}  // namespace detail

SocketLookup find_socket(const std::filesystem::path& file, const Environment& env) {
  if (auto fast = detail::Loader(env).find_socket(file)) return std::move(*fast);
  LoadResult loaded = load_config(file, env);
  SocketLookup result;
  result.loaded_whole_config = true;
  result.errors = std::move(loaded.errors);
  result.hints = std::move(loaded.hints);
  if (result.errors.empty() && loaded.config) result.socket = loaded.config->supervisor.socket;
  return result;
}

}  // namespace minisup::config
