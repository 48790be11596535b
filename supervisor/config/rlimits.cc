// What minisupd can grant of a resource limit: see rlimits.h.
#include "supervisor/config/rlimits.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

namespace minisup::config {
namespace {

/// /proc/sys/fs/nr_open, or kDefaultNrOpen when it cannot be read.
rlim_t read_nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  unsigned long long value = 0;
  if (in >> value && value > 0) return static_cast<rlim_t>(value);
  return kDefaultNrOpen;
}

}  // namespace

RlimitCeiling rlimit_ceiling(int resource) {
  RlimitCeiling ceiling;
  ceiling.is_root = ::geteuid() == 0;
  struct rlimit own = {};
  if (::getrlimit(static_cast<__rlimit_resource>(resource), &own) == 0) ceiling.hard = own.rlim_max;
  if (resource == RLIMIT_NOFILE) ceiling.nr_open = read_nr_open();
  return ceiling;
}

std::optional<std::string> rlimit_problem(std::string_view key, int resource, rlim_t value,
                                          const RlimitCeiling& ceiling) {
  // Only root may raise a hard limit; lowering it, or keeping it, anyone may.
  if (!ceiling.is_root && value > ceiling.hard) {
    return fmt::format("{} = {} is above the hard limit {} that minisupd can grant", key,
                       rlimit_text(value), rlimit_text(ceiling.hard));
  }
  // The kernel refuses an RLIMIT_NOFILE above fs.nr_open to everyone.
  if (resource == RLIMIT_NOFILE && value > ceiling.nr_open) {
    if (value == RLIM_INFINITY) {
      return fmt::format(
          "{} cannot be \"unlimited\": the kernel caps the descriptor limit at {} "
          "(/proc/sys/fs/nr_open)",
          key, ceiling.nr_open);
    }
    return fmt::format("{} = {} is above the kernel's cap {} (/proc/sys/fs/nr_open)", key, value,
                       ceiling.nr_open);
  }
  return std::nullopt;
}

std::string rlimit_text(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("\"unlimited\"") : std::to_string(value);
}

}  // namespace minisup::config
