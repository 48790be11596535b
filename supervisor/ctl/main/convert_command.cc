#include "supervisor/ctl/main/convert_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "supervisor/config/load_config.h"
#include "supervisor/ctl/convert.h"

namespace minisup::ctl {

int run_convert_command(const std::string& input, const std::string& output) {
  ConvertOptions options;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) options.hostname = host;
  options.environment = config::process_environment();
  FileSystemSource source;
  const ConvertResult result = convert_supervisord(input, source, options);
  if (!result.errors.empty()) {
    for (const std::string& error : result.errors) {
      std::fputs(fmt::format("minisupctl: convert: {}\n", error).c_str(), stderr);
    }
    return 2;
  }
  if (output.empty()) {
    std::fwrite(result.toml.data(), 1, result.toml.size(), stdout);
    std::fflush(stdout);
  } else {
    // Written beside the target and renamed over it: never half a file.
    const std::string temporary = output + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << result.toml;
      out.close();
      if (!out) {
        std::fputs(
            fmt::format("minisupctl: convert: write {}: {}\n", temporary, std::strerror(errno))
                .c_str(),
            stderr);
        std::remove(temporary.c_str());
        return 1;
      }
    }
    std::error_code ec;
    std::filesystem::rename(temporary, output, ec);
    if (ec) {
      std::fputs(
          fmt::format("minisupctl: convert: rename {} to {}: {}\n", temporary, output, ec.message())
              .c_str(),
          stderr);
      std::remove(temporary.c_str());
      return 1;
    }
  }
  std::string summary =
      fmt::format("minisupctl: convert: {} program{}, {} group{}", result.programs,
                  result.programs == 1 ? "" : "s", result.groups, result.groups == 1 ? "" : "s");
  if (result.not_converted > 0 || result.notes > 0) {
    summary += fmt::format("; review {} \"# not converted:\" and {} \"# note:\" comment{}",
                           result.not_converted, result.notes, result.notes == 1 ? "" : "s");
  }
  std::fputs((summary + "\n").c_str(), stderr);
  return 0;
}

}  // namespace minisup::ctl
