#include "supervisor/sys/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "supervisor/sys/sys_error.h"
#include "supervisor/sys/unique_fd.h"

namespace minisup::sys {

namespace {

bool write_text(const std::filesystem::path& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  ssize_t n;
  while ((n = ::write(fd.get(), text.data(), text.size())) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(text.size());
}

/// mountinfo escapes blanks in paths as octal (\040).
std::string unescape_mount_path(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      auto [ptr, ec] = std::from_chars(field.data() + i + 1, field.data() + i + 4, value, 8);
      if (ec == std::errc() && ptr == field.data() + i + 4) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> split_blanks(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

std::optional<std::string> read_text(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

std::vector<pid_t> parse_pids(std::string_view text) {
  std::vector<pid_t> pids;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\n')) ++p;
    if (p == end) break;
    pid_t pid = 0;
    auto [next, ec] = std::from_chars(p, end, pid);
    if (ec != std::errc()) break;
    if (pid > 0) pids.push_back(pid);
    p = next;
  }
  return pids;
}

std::optional<std::pair<std::string, std::string>> parse_cgroup2_mount(std::string_view mountinfo) {
  std::optional<std::pair<std::string, std::string>> first, preferred, unified;
  while (!mountinfo.empty()) {
    const std::size_t eol = mountinfo.find('\n');
    std::string_view line = mountinfo.substr(0, eol);
    mountinfo.remove_prefix(eol == std::string_view::npos ? mountinfo.size() : eol + 1);
    // id parent major:minor root mountpoint options [optional...] - fstype source super
    const auto fields = split_blanks(line);
    std::size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 1 >= fields.size() || fields[dash + 1] != "cgroup2") continue;
    std::pair<std::string, std::string> found{unescape_mount_path(fields[4]),
                                              unescape_mount_path(fields[3])};
    if (!first) first = found;
    if (found.first == "/sys/fs/cgroup" && !preferred) preferred = found;
    if (found.first == "/sys/fs/cgroup/unified" && !unified) unified = found;
  }
  return preferred ? preferred : unified ? unified : first;
}

std::optional<std::string> parse_cgroup2_path(std::string_view text) {
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.starts_with("0::")) return std::string(line.substr(3));
  }
  return std::nullopt;
}

std::variant<CgroupHome, std::string> find_cgroup_home() {
  const auto mountinfo = read_text("/proc/self/mountinfo");
  if (!mountinfo) return std::string("cannot read /proc/self/mountinfo");
  const auto mount = parse_cgroup2_mount(*mountinfo);
  if (!mount) return std::string("no cgroup2 file system is mounted");
  const auto cgroups = read_text("/proc/self/cgroup");
  const auto own = cgroups ? parse_cgroup2_path(*cgroups) : std::nullopt;
  if (!own) return "no cgroup v2 line in /proc/self/cgroup (cgroup2 at " + mount->first + ")";
  // The mount shows the hierarchy from `root` on (a cgroup namespace or a
  // bind mount of a subtree); our path must lie below it.
  std::string_view path = *own;
  std::string_view root = mount->second;
  if (root != "/") {
    if (!path.starts_with(root) || (path.size() > root.size() && path[root.size()] != '/'))
      return "minisupd's cgroup " + *own + " is not below the cgroup2 mount at " + mount->first;
    path.remove_prefix(root.size());
  }
  while (path.starts_with('/')) path.remove_prefix(1);
  CgroupHome home;
  home.mount = mount->first;
  home.own = path.empty() ? home.mount : home.mount / std::string(path);
  return home;
}

std::string cgroup_base_name(const std::filesystem::path& socket) {
  // FNV-1a, 64 bits: stable across runs and builds (std::hash is not
  // promised to be).
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : socket.string()) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char hex[17];
  for (int i = 15; i >= 0; --i) {
    hex[i] = "0123456789abcdef"[hash & 0xf];
    hash >>= 4;
  }
  hex[16] = '\0';
  return std::string("minisup-") + hex;
}

std::optional<std::string> prepare_cgroup(const std::filesystem::path& dir) {
  bool created = true;
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return "mkdir " + dir.string() + ": " + error_text(errno);
    created = false;
  }
  std::optional<std::string> problem;
  for (const char* file : {"cgroup.procs", "cgroup.kill", "cgroup.events"}) {
    const auto path = dir / file;
    if (::access(path.c_str(), F_OK) != 0) {
      problem = std::string_view(file) == "cgroup.procs"
                    ? dir.string() + " is not a cgroup v2 directory"
                    : dir.string() + " has no " + file + " (kernel older than 5.14)";
      break;
    }
    if (std::string_view(file) != "cgroup.events" && ::access(path.c_str(), W_OK) != 0) {
      problem = path.string() + ": " + error_text(errno);
      break;
    }
  }
  // What we made but cannot use does not stay behind.
  if (problem && created) ::rmdir(dir.c_str());
  return problem;
}

bool cgroup_populated(const std::filesystem::path& dir) {
  const auto events = read_text(dir / "cgroup.events");
  if (!events) return false;
  const std::size_t at = events->find("populated ");
  return at != std::string::npos && at + 10 < events->size() && (*events)[at + 10] == '1';
}

std::vector<pid_t> cgroup_members(const std::filesystem::path& dir) {
  std::vector<pid_t> pids;
  if (const auto procs = read_text(dir / "cgroup.procs")) pids = parse_pids(*procs);
  for (const std::string& child : child_cgroups(dir)) {
    for (pid_t pid : cgroup_members(dir / child)) pids.push_back(pid);
  }
  return pids;
}

bool cgroup_kill(const std::filesystem::path& dir) { return write_text(dir / "cgroup.kill", "1"); }

std::vector<std::string> child_cgroups(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const struct dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == ".." || entry->d_type != DT_DIR) continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

bool remove_cgroup(const std::filesystem::path& dir) {
  for (const std::string& child : child_cgroups(dir)) remove_cgroup(dir / child);
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace minisup::sys
