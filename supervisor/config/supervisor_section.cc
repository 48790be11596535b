// [supervisor] (Loader::read_supervisor, loader.h): defaults (the socket
// and childlogdir next to the main file), `environment` first (the other
// values may use its variables), paths resolved against the file's
// directory with `${VAR}` expanded, socket_uids and socket_group looked up,
// and the socket path's length checked against what a Unix socket allows.
// What decides the socket (the default, `environment`, `socket`, the length
// check) is one function, read_socket_settings(), which find_socket()
// (find_socket.cc) runs alone: both paths give the same socket by
// construction.
#include <fmt/format.h>

#include <array>
#include <string_view>
#include <utility>

#include "supervisor/config/loader.h"
#include "supervisor/config/user_lookup.h"
#include "supervisor/config/value_text.h"

namespace minisup::config::detail {
namespace {

constexpr std::array<std::string_view, 12> kSupervisorKeys{
    "socket",  "socket_mode", "logfile",     "loglevel",     "childlogdir",      "pidfile",
    "include", "environment", "socket_uids", "socket_group", "shutdown_timeout", "process_tree",
};
/// Longest Unix socket path: sun_path holds 108 bytes with the NUL.
constexpr std::size_t kMaxSocketPath = 107;

}  // namespace

const toml::table* Loader::read_socket_settings(const toml::table& root, const SourceFile& file) {
  SupervisorConfig& sup = supervisor_;
  sup.socket = file.directory / "minisup.sock";
  Pos socket_where{&file, 1, 1};

  const toml::node* node = root.get("supervisor");
  const toml::table* table = node ? node->as_table() : nullptr;
  if (node != nullptr && table == nullptr) {
    error(location(file, node->source()),
          fmt::format("supervisor must be a table ([supervisor]), got {}", describe(*node)));
  }
  if (table != nullptr) socket_where = location(file, table->source());

  // The environment first: the other values may use its variables.
  if (table != nullptr) {
    if (const toml::node* env_node = table->get("environment")) {
      const VariableLookup from_env = [this](std::string_view name) -> const std::string* {
        auto it = env_.find(std::string(name));
        return it == env_.end() ? nullptr : &it->second;
      };
      for (auto& [name, value] :
           as_environment({"environment", *env_node, location(file, env_node->source())}, file)) {
        if (auto expanded = expand(value, "environment." + truncate(name), from_env)) {
          sup.environment[name] = std::move(*expanded);
        }
      }
    }
  }
  variables_ = env_;
  for (const auto& [name, value] : sup.environment) variables_[name] = value;

  if (table != nullptr) {
    if (const toml::node* socket_node = table->get("socket")) {
      const Field f{"socket", *socket_node, location(file, socket_node->source())};
      if (auto path = as_path(f, file, variable_lookup())) {
        sup.socket = *path;
        socket_where = f.where;
      }
    }
  }

  const std::string socket = sup.socket.string();
  if (socket.size() > kMaxSocketPath) {
    error(
        socket_where,
        fmt::format("socket path is {} bytes long, more than the {} a Unix socket allows: {}; set "
                    "[supervisor] socket to a shorter path",
                    socket.size(), kMaxSocketPath, truncate(socket, 200)));
  }
  return table;
}

VariableLookup Loader::variable_lookup() const {
  return [this](std::string_view name) -> const std::string* {
    auto it = variables_.find(std::string(name));
    return it == variables_.end() ? nullptr : &it->second;
  };
}

void Loader::read_supervisor(const toml::table& root, const SourceFile& file) {
  SupervisorConfig& sup = supervisor_;
  sup.childlogdir = file.directory / "logs";
  const toml::table* table = read_socket_settings(root, file);
  if (table == nullptr) return;
  const VariableLookup lookup = variable_lookup();
  for (auto&& [key, value] : *table) {
    const std::string name(key.str());
    const Field f{name, value, location(file, value.source())};
    if (name == "environment" || name == "socket") {
      continue;  // read_socket_settings()
    } else if (name == "socket_mode") {
      if (auto mode = as_mode(f, "0700")) sup.socket_mode = *mode;
    } else if (name == "logfile") {
      if (auto text = as_string(f)) {
        if (*text == "-") {
          sup.logfile = "-";
        } else if (auto path = as_path(f, file, lookup)) {
          sup.logfile = path->string();
        }
      }
    } else if (name == "loglevel") {
      read_loglevel(f);
    } else if (name == "childlogdir") {
      if (auto path = as_path(f, file, lookup)) sup.childlogdir = *path;
    } else if (name == "pidfile") {
      if (auto text = as_string(f, /*allow_empty=*/true); text && !text->empty()) {
        sup.pidfile = as_path(f, file, lookup);
      }
    } else if (name == "include") {
      read_include_list(f, file);
    } else if (name == "socket_uids") {
      read_socket_uids(f, file);
    } else if (name == "socket_group") {
      read_socket_group(f);
    } else if (name == "shutdown_timeout") {
      if (auto d = as_seconds(f)) {
        if (*d > Duration::zero()) {
          sup.shutdown_timeout = *d;
        } else {
          error(f.where,
                fmt::format("shutdown_timeout must be greater than 0, got {}", describe(f.node)));
        }
      }
    } else if (name == "process_tree") {
      read_process_tree(f);
    } else {
      unknown_key(key, file, "[supervisor]", kSupervisorKeys);
    }
  }
}

// `socket_uids` / `socket_group`: names are resolved here, once, so that
// the control socket compares numbers only (an NSS lookup per connection
// could block the loop). A number is taken as it is; a name must exist.

void Loader::read_socket_uids(const Field& f, const SourceFile& file) {
  const auto* array = f.node.as_array();
  if (array == nullptr) {
    error(f.where, fmt::format("socket_uids must be an array of user names or uids, got {}",
                               describe(f.node)));
    return;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const Field e{fmt::format("socket_uids[{}]", i), element, location(file, element.source())};
    if (element.is_integer()) {
      if (auto n = as_int(e, 0, kMaxId)) supervisor_.socket_uids.push_back(static_cast<uid_t>(*n));
      continue;
    }
    const auto* name = element.as_string();
    if (name == nullptr || name->get().empty()) {
      error(e.where,
            fmt::format("{} must be a user name or a uid, got {}", e.key, describe(element)));
      continue;
    }
    std::string problem;
    if (auto uid = lookup_uid(name->get(), problem)) {
      supervisor_.socket_uids.push_back(*uid);
    } else {
      error(e.where, fmt::format("{}: user {} {}", e.key, quote(name->get()), problem));
    }
  }
}

void Loader::read_socket_group(const Field& f) {
  if (f.node.is_integer()) {
    if (auto n = as_int(f, 0, kMaxId)) {
      supervisor_.socket_group = static_cast<gid_t>(*n);
      supervisor_.socket_group_members = group_members(*supervisor_.socket_group, nullptr);
    }
    return;
  }
  const auto* name = f.node.as_string();
  if (name == nullptr || name->get().empty()) {
    error(f.where,
          fmt::format("socket_group must be a group name or a gid, got {}", describe(f.node)));
    return;
  }
  std::string problem;
  std::vector<std::string> member_names;
  if (auto gid = lookup_gid(name->get(), member_names, problem)) {
    supervisor_.socket_group = *gid;
    supervisor_.socket_group_members = group_members(*gid, &member_names);
  } else {
    error(f.where, fmt::format("socket_group: group {} {}", quote(name->get()), problem));
  }
}

void Loader::read_loglevel(const Field& f) {
  static constexpr std::array<std::pair<std::string_view, LogLevel>, 6> kLevels{{
      {"trace", LogLevel::Trace},
      {"debug", LogLevel::Debug},
      {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},
      {"warning", LogLevel::Warn},
      {"error", LogLevel::Error},
  }};
  if (const auto* string = f.node.as_string()) {
    for (const auto& [name, level] : kLevels) {
      if (iequals(string->get(), name)) {
        supervisor_.loglevel = level;
        return;
      }
    }
  }
  error(f.where,
        fmt::format(
            "loglevel must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", got {}",
            describe(f.node)));
}

void Loader::read_process_tree(const Field& f) {
  static constexpr std::array<std::pair<std::string_view, ProcessTree>, 3> kModes{{
      {"auto", ProcessTree::Auto},
      {"cgroup", ProcessTree::Cgroup},
      {"group", ProcessTree::Group},
  }};
  if (const auto* string = f.node.as_string()) {
    for (const auto& [name, mode] : kModes) {
      if (string->get() == name) {
        supervisor_.process_tree = mode;
        return;
      }
    }
  }
  error(f.where, fmt::format("process_tree must be one of \"auto\", \"cgroup\", \"group\", got {}",
                             describe(f.node)));
}

void Loader::read_include_list(const Field& f, const SourceFile& file) {
  auto add = [&](const toml::node& element, const std::string& key) {
    if (auto pattern = as_string({key, element, location(file, element.source())})) {
      supervisor_.include.push_back(*pattern);
      include_where_.push_back(location(file, element.source()));
    }
  };
  if (f.node.is_string()) {
    add(f.node, "include");
  } else if (const auto* array = f.node.as_array()) {
    for (std::size_t i = 0; i < array->size(); ++i)
      add(*array->get(i), fmt::format("include[{}]", i));
  } else {
    error(f.where,
          fmt::format("include must be an array of glob patterns like [\"conf.d/*.toml\"], got {}",
                      describe(f.node)));
  }
}

}  // namespace minisup::config::detail
