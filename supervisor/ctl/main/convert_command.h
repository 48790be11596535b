// `minisupctl convert FILE [-o OUT]` (ctl/convert.h does the converting):
// the command's input, output and exit code.
#pragma once

#include <string>

namespace minisup::ctl {

/// Converts the supervisord config `input` and writes the TOML to
/// `output` ("" = stdout); errors and a one-line summary go to stderr.
/// Returns 0, 2 when the input cannot be read or converted (errors at
/// FILE:LINE), 1 when the output cannot be written.
int run_convert_command(const std::string& input, const std::string& output);

}  // namespace minisup::ctl
