// The shipped configs (examples/, conf/) must stay valid: a user's first
// contact with minisup is running one of them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;

class ShippedConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedConfig, PassesCheck) {
  fs::path file = fs::path(MINISUP_SOURCE_DIR) / GetParam();
  CommandResult r = run_command({MINISUPD_PATH, "--check", "-c", file.string()});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("worst-case shutdown:"));
}

INSTANTIATE_TEST_SUITE_P(Examples, ShippedConfig,
                         ::testing::Values("examples/minisup.toml", "examples/graceful/worker.toml",
                                           "examples/graceful/stubborn.toml",
                                           "examples/graceful/http.toml",
                                           "examples/harness-shell/minisup.toml",
                                           "examples/harness-pytest/minisup.toml",
                                           "examples/container/minisup.toml", "conf/minisup.toml"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// A config added under examples/ and forgotten in the list above is still
// checked.
TEST(ShippedConfigs, EveryTomlUnderExamplesPassesCheck) {
  int checked = 0;
  for (const auto& entry :
       fs::recursive_directory_iterator(fs::path(MINISUP_SOURCE_DIR) / "examples")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".toml") continue;
    CommandResult r = run_command({MINISUPD_PATH, "--check", "-c", entry.path().string()});
    EXPECT_EQ(r.code, 0) << entry.path() << "\n" << r.out << r.err;
    ++checked;
  }
  EXPECT_GE(checked, 7);
}

}  // namespace
}  // namespace minisup::testing
