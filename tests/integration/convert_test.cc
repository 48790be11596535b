// `minisupctl convert` on the realistic supervisord configs of
// tests/convert/ (Laravel workers, gunicorn + celery, numprocs, groups,
// includes, environments, event listeners, the web server, a container,
// shell-style commands, Rails, Debian's default file...): each converts,
// and what it gives passes `minisupd --check`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

/// Every tests/convert/*.conf (the files of conf.d/ are included by them).
std::vector<std::string> corpus() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(fs::path(MINISUP_SOURCE_DIR) / "tests/convert")) {
    if (entry.path().extension() == ".conf") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ConvertCorpus : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvertCorpus, ConvertsAndPassesMinisupdCheck) {
  const fs::path input = fs::path(MINISUP_SOURCE_DIR) / "tests/convert" / GetParam();
  Daemon scratch;  // only for its temporary directory
  const fs::path output = scratch.dir() / "minisup.toml";
  const CommandResult converted =
      run_command({MINISUPCTL_PATH, "convert", input.string(), "-o", output.string()});
  ASSERT_EQ(converted.code, 0) << converted.err;
  EXPECT_THAT(converted.err, HasSubstr("minisupctl: convert: "));
  const std::string toml = read_file(output);
  ASSERT_FALSE(toml.empty());
  const CommandResult checked =
      run_command({MINISUPD_PATH, "-c", output.string(), "--check"}, {}, 60s);
  EXPECT_EQ(checked.code, 0) << "minisupd --check:\n"
                             << checked.out << checked.err << "\nof:\n"
                             << toml;
  // Written to stdout without -o: the same text.
  const CommandResult to_stdout = run_command({MINISUPCTL_PATH, "convert", input.string()});
  EXPECT_EQ(to_stdout.code, 0);
  EXPECT_EQ(to_stdout.out, toml);
}

INSTANTIATE_TEST_SUITE_P(TestsConvert, ConvertCorpus, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ConvertCorpusSize, AtLeastADozenConfigs) { EXPECT_GE(corpus().size(), 12u); }

TEST(ConvertCommand, WhatCouldNotBeCarriedIsMarkedInTheOutput) {
  const fs::path input = fs::path(MINISUP_SOURCE_DIR) / "tests/convert/eventlistener.conf";
  const CommandResult r = run_command({MINISUPCTL_PATH, "convert", input.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("# not converted: [eventlistener:crashmail] (minisup has no event "
                               "listeners"));
  EXPECT_THAT(r.out, HasSubstr("# not converted: stdout_events_enabled = true"));
  EXPECT_THAT(r.err, HasSubstr("1 program, 0 groups; review 5 \"# not converted:\""));
}

TEST(ConvertCommand, UnparsableInputIsExit2WithFileAndLine) {
  Daemon scratch;
  const fs::path input = scratch.dir() / "supervisord.conf";
  write_file(input, "[program:web]\ncommand=/bin/true\nthis line is not an option\n");
  const CommandResult r = run_command({MINISUPCTL_PATH, "convert", input.string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "minisupctl: convert: " + input.string() +
                       ":3: expected `key = value`, got this line is not an option\n");
  const CommandResult missing =
      run_command({MINISUPCTL_PATH, "convert", (scratch.dir() / "nope.conf").string()});
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nope.conf: No such file or directory"));
  const CommandResult usage = run_command({MINISUPCTL_PATH, "convert"});
  EXPECT_EQ(usage.code, 2);
}

TEST(ConvertCommand, TheConvertedConfigRuns) {
  Daemon d;
  const fs::path input = d.dir() / "supervisord.conf";
  write_file(input, "[program:sleeper]\ncommand=" + helper("test_child") +
                        " --after 60\nstartsecs=0\nprocess_name=%(program_name)s_%(process_num)s\n"
                        "numprocs=2\n\n[group:pool]\nprograms=sleeper\n");
  const CommandResult r =
      run_command({MINISUPCTL_PATH, "convert", input.string(), "-o", d.config_path().string()});
  ASSERT_EQ(r.code, 0) << r.err;
  d.start();
  EXPECT_EQ(d.ctl({"wait", "pool:*", "--timeout", "10"}).code, 0) << d.log();
  const CommandResult stopped = d.ctl({"stop", "pool:*"});
  EXPECT_THAT(stopped.out, HasSubstr("sleeper:0: stopped"));
  EXPECT_THAT(stopped.out, HasSubstr("sleeper:1: stopped"));
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
