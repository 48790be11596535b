// `rlimit_nofile`, `rlimit_nproc`, `rlimit_core`, `rlimit_as`: the accepted
// forms, each kind of invalid value with its file:line:col message, what
// minisupd can grant (rlimit_problem() with given ceilings, for root and
// not; rlimit_ceiling() against this process), and their part in a
// program's definition.
#include "supervisor/config/rlimits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "supervisor/config/config_diff.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

using RlimitKeys = ConfigTest;

/// This process's hard limit of `resource`.
rlim_t own_hard(int resource) {
  struct rlimit limit = {};
  EXPECT_EQ(::getrlimit(static_cast<__rlimit_resource>(resource), &limit), 0);
  return limit.rlim_max;
}

/// `wanted`, or this process's hard limit of `resource` when that is lower
/// and this process is not root: a value the load must accept here.
rlim_t grantable(int resource, rlim_t wanted) {
  return ::geteuid() == 0 ? wanted : std::min(wanted, own_hard(resource));
}

// ---- accepted forms ----

TEST_F(RlimitKeys, DefaultIsMinisupdsOwn) {
  const ProgramConfig p = load_ok(web("")).programs.at(0);
  EXPECT_EQ(p.rlimit_nofile, std::nullopt);
  EXPECT_EQ(p.rlimit_nproc, std::nullopt);
  EXPECT_EQ(p.rlimit_core, std::nullopt);
  EXPECT_EQ(p.rlimit_as, std::nullopt);
}

TEST_F(RlimitKeys, IntegersAreTakenAsTheyAre) {
  const rlim_t nofile = grantable(RLIMIT_NOFILE, 256);
  const rlim_t nproc = grantable(RLIMIT_NPROC, 4096);
  const rlim_t as = grantable(RLIMIT_AS, 1073741824);
  const ProgramConfig p = load_ok(web("rlimit_nofile = " + std::to_string(nofile) +
                                      "\nrlimit_nproc = " + std::to_string(nproc) +
                                      "\nrlimit_core = 0\nrlimit_as = " + std::to_string(as)))
                              .programs.at(0);
  EXPECT_EQ(p.rlimit_nofile, nofile);
  EXPECT_EQ(p.rlimit_nproc, nproc);
  EXPECT_EQ(p.rlimit_core, rlim_t{0});
  EXPECT_EQ(p.rlimit_as, as);
}

TEST_F(RlimitKeys, ZeroIsAValueForEveryKey) {
  const ProgramConfig p =
      load_ok(web("rlimit_nofile = 0\nrlimit_nproc = 0\nrlimit_core = 0\nrlimit_as = 0"))
          .programs.at(0);
  EXPECT_EQ(p.rlimit_nofile, rlim_t{0});
  EXPECT_EQ(p.rlimit_nproc, rlim_t{0});
  EXPECT_EQ(p.rlimit_core, rlim_t{0});
  EXPECT_EQ(p.rlimit_as, rlim_t{0});
}

TEST_F(RlimitKeys, UnlimitedIsRlimInfinityInAnyCase) {
  if (::geteuid() != 0 && own_hard(RLIMIT_CORE) != RLIM_INFINITY)
    GTEST_SKIP() << "needs root or an unlimited hard RLIMIT_CORE";
  EXPECT_EQ(load_ok(web("rlimit_core = \"unlimited\"")).programs.at(0).rlimit_core, RLIM_INFINITY);
  EXPECT_EQ(load_ok(web("rlimit_core = \"Unlimited\"")).programs.at(0).rlimit_core, RLIM_INFINITY);
  EXPECT_EQ(load_ok(web("rlimit_core = \"UNLIMITED\"")).programs.at(0).rlimit_core, RLIM_INFINITY);
}

TEST_F(RlimitKeys, DottedKeysWorkAsAnywhere) {
  const Config c = load_ok("program.web.command = \"/bin/true\"\nprogram.web.rlimit_core = 0\n");
  EXPECT_EQ(c.programs.at(0).rlimit_core, rlim_t{0});
}

// ---- invalid values: line 3, the value's column ----

TEST_F(RlimitKeys, NegativeNumbersAreErrors) {
  EXPECT_EQ(only_error(web("rlimit_nofile = -1")),
            "minisup.toml:3:17: rlimit_nofile must be a non-negative integer or \"unlimited\", "
            "got -1");
  EXPECT_EQ(only_error(web("rlimit_nproc = -4096")),
            "minisup.toml:3:16: rlimit_nproc must be a non-negative integer or \"unlimited\", got "
            "-4096");
}

TEST_F(RlimitKeys, FloatsAreErrors) {
  EXPECT_EQ(only_error(web("rlimit_core = 1.5")),
            "minisup.toml:3:15: rlimit_core must be a non-negative integer or \"unlimited\", got "
            "1.5");
  EXPECT_EQ(only_error(web("rlimit_as = 1e9")),
            "minisup.toml:3:13: rlimit_as must be a non-negative integer or \"unlimited\", got "
            "1000000000.0");
}

TEST_F(RlimitKeys, OtherStringsAndTypesAreErrors) {
  EXPECT_EQ(only_error(web("rlimit_nofile = \"lots\"")),
            "minisup.toml:3:17: rlimit_nofile must be a non-negative integer or \"unlimited\", got "
            "\"lots\"");
  EXPECT_EQ(only_error(web("rlimit_nofile = \"256\"")),
            "minisup.toml:3:17: rlimit_nofile must be a non-negative integer or \"unlimited\", got "
            "\"256\"");
  EXPECT_EQ(only_error(web("rlimit_as = \"1GB\"")),
            "minisup.toml:3:13: rlimit_as must be a non-negative integer or \"unlimited\", got "
            "\"1GB\"");
  EXPECT_EQ(only_error(web("rlimit_core = \"infinity\"")),
            "minisup.toml:3:15: rlimit_core must be a non-negative integer or \"unlimited\", got "
            "\"infinity\"");
  EXPECT_EQ(only_error(web("rlimit_nproc = true")),
            "minisup.toml:3:16: rlimit_nproc must be a non-negative integer or \"unlimited\", got "
            "true");
  EXPECT_EQ(only_error(web("rlimit_core = [0]")),
            "minisup.toml:3:15: rlimit_core must be a non-negative integer or \"unlimited\", got "
            "an array");
}

TEST_F(RlimitKeys, EveryErrorIsReported) {
  const LoadResult result =
      load(web("rlimit_nofile = -1\nrlimit_nproc = 2.5\nrlimit_core = \"none\"\nrlimit_as = {}"));
  EXPECT_THAT(
      errors(result),
      ElementsAre(
          "minisup.toml:3:17: rlimit_nofile must be a non-negative integer or \"unlimited\", got "
          "-1",
          "minisup.toml:4:16: rlimit_nproc must be a non-negative integer or \"unlimited\", got "
          "2.5",
          "minisup.toml:5:15: rlimit_core must be a non-negative integer or \"unlimited\", got "
          "\"none\"",
          "minisup.toml:6:13: rlimit_as must be a non-negative integer or \"unlimited\", got a "
          "table"));
}

TEST_F(RlimitKeys, MisspeltKeyGetsASuggestion) {
  EXPECT_EQ(only_error(web("rlimit_nofiles = 256")),
            "minisup.toml:3:1: unknown key `rlimit_nofiles` in [program.web]; did you mean "
            "`rlimit_nofile`?");
}

// ---- what minisupd can grant ----

constexpr RlimitCeiling kUser{/*is_root=*/false, /*hard=*/1048576, /*nr_open=*/1048576};
constexpr RlimitCeiling kRoot{/*is_root=*/true, /*hard=*/1048576, /*nr_open=*/1048576};

TEST(RlimitProblem, NotRootGrantsUpToItsOwnHardLimit) {
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 1048576, kUser), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 0, kUser), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 2000000, kUser),
            "rlimit_nofile = 2000000 is above the hard limit 1048576 that minisupd can grant");
  const RlimitCeiling nproc{false, 4096, kDefaultNrOpen};
  EXPECT_EQ(rlimit_problem("rlimit_nproc", RLIMIT_NPROC, 4096, nproc), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_nproc", RLIMIT_NPROC, 4097, nproc),
            "rlimit_nproc = 4097 is above the hard limit 4096 that minisupd can grant");
  EXPECT_EQ(rlimit_problem("rlimit_core", RLIMIT_CORE, RLIM_INFINITY, RlimitCeiling{false, 0}),
            "rlimit_core = \"unlimited\" is above the hard limit 0 that minisupd can grant");
  EXPECT_EQ(rlimit_problem("rlimit_core", RLIMIT_CORE, 1, RlimitCeiling{false, 0}),
            "rlimit_core = 1 is above the hard limit 0 that minisupd can grant");
}

TEST(RlimitProblem, NotRootWithAnUnlimitedHardLimitGrantsAnything) {
  const RlimitCeiling unlimited{false, RLIM_INFINITY};
  EXPECT_EQ(rlimit_problem("rlimit_as", RLIMIT_AS, RLIM_INFINITY, unlimited), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_core", RLIMIT_CORE, 1ull << 62, unlimited), std::nullopt);
}

TEST(RlimitProblem, RootGrantsAnythingButDescriptorsAboveNrOpen) {
  const RlimitCeiling low_hard{true, 1024, 1048576};
  EXPECT_EQ(rlimit_problem("rlimit_nproc", RLIMIT_NPROC, RLIM_INFINITY, low_hard), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_core", RLIMIT_CORE, RLIM_INFINITY, low_hard), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_as", RLIMIT_AS, 1ull << 40, low_hard), std::nullopt);
  // Above its own hard limit, up to nr_open.
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 1048576, low_hard), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 2000000, kRoot),
            "rlimit_nofile = 2000000 is above the kernel's cap 1048576 (/proc/sys/fs/nr_open)");
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, RLIM_INFINITY, kRoot),
            "rlimit_nofile cannot be \"unlimited\": the kernel caps the descriptor limit at "
            "1048576 (/proc/sys/fs/nr_open)");
  // A raised fs.nr_open raises the cap.
  const RlimitCeiling raised{true, 1048576, 4194304};
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 2000000, raised), std::nullopt);
}

TEST(RlimitProblem, NrOpenCapsDescriptorsForEveryone) {
  // A hard limit above a since lowered fs.nr_open: the kernel refuses the
  // values between the two to a non-root minisupd as well.
  const RlimitCeiling lowered{false, 1048576, 65536};
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 65536, lowered), std::nullopt);
  EXPECT_EQ(rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, 65537, lowered),
            "rlimit_nofile = 65537 is above the kernel's cap 65536 (/proc/sys/fs/nr_open)");
  // Other resources know no nr_open.
  EXPECT_EQ(rlimit_problem("rlimit_nproc", RLIMIT_NPROC, 65537, lowered), std::nullopt);
}

TEST(RlimitCeilingOfThisProcess, ComesFromGeteuidGetrlimitAndNrOpen) {
  for (const RlimitKey& limit : kRlimitKeys) {
    const RlimitCeiling ceiling = rlimit_ceiling(limit.resource);
    EXPECT_EQ(ceiling.is_root, ::geteuid() == 0) << limit.key;
    EXPECT_EQ(ceiling.hard, own_hard(limit.resource)) << limit.key;
  }
  std::ifstream in("/proc/sys/fs/nr_open");
  unsigned long long nr_open = 0;
  if (!(in >> nr_open)) GTEST_SKIP() << "no /proc/sys/fs/nr_open";
  EXPECT_EQ(rlimit_ceiling(RLIMIT_NOFILE).nr_open, rlim_t{nr_open});
}

TEST(RlimitKeyTable, NamesEachKeyWithItsResourceAndMember) {
  ASSERT_EQ(kRlimitKeys.size(), 4u);
  EXPECT_EQ(kRlimitKeys[0].key, "rlimit_nofile");
  EXPECT_EQ(kRlimitKeys[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(kRlimitKeys[1].key, "rlimit_nproc");
  EXPECT_EQ(kRlimitKeys[1].resource, RLIMIT_NPROC);
  EXPECT_EQ(kRlimitKeys[2].key, "rlimit_core");
  EXPECT_EQ(kRlimitKeys[2].resource, RLIMIT_CORE);
  EXPECT_EQ(kRlimitKeys[3].key, "rlimit_as");
  EXPECT_EQ(kRlimitKeys[3].resource, RLIMIT_AS);
  ProgramConfig p;
  p.*kRlimitKeys[0].member = 1;
  p.*kRlimitKeys[1].member = 2;
  p.*kRlimitKeys[2].member = 3;
  p.*kRlimitKeys[3].member = 4;
  EXPECT_EQ(p.rlimit_nofile, rlim_t{1});
  EXPECT_EQ(p.rlimit_nproc, rlim_t{2});
  EXPECT_EQ(p.rlimit_core, rlim_t{3});
  EXPECT_EQ(p.rlimit_as, rlim_t{4});
}

TEST_F(RlimitKeys, AValueMinisupdCannotGrantIsAnErrorAtTheValue) {
  // Above any fs.nr_open (at most 2^31): refused to root and to anyone else.
  const rlim_t value = 1ull << 40;
  const auto expected =
      rlimit_problem("rlimit_nofile", RLIMIT_NOFILE, value, rlimit_ceiling(RLIMIT_NOFILE));
  ASSERT_TRUE(expected.has_value());
  const std::string error = only_error(web("rlimit_nofile = 1099511627776"));
  EXPECT_EQ(error, "minisup.toml:3:17: " + *expected);
  EXPECT_THAT(error, StartsWith("minisup.toml:3:17: rlimit_nofile = 1099511627776 is above the "));
  if (::geteuid() == 0) {
    EXPECT_THAT(error, ::testing::EndsWith("(/proc/sys/fs/nr_open)"));
    EXPECT_THAT(only_error(web("rlimit_nofile = \"unlimited\"")),
                StartsWith("minisup.toml:3:17: rlimit_nofile cannot be \"unlimited\": the kernel "
                           "caps the descriptor limit at "));
  } else {
    EXPECT_THAT(error, ::testing::EndsWith("that minisupd can grant"));
  }
}

// ---- part of the definition ----

TEST_F(RlimitKeys, AChangedLimitIsAChangedProgram) {
  const Config before = load_ok(web("rlimit_core = 0"));
  EXPECT_TRUE(
      before.programs.at(0).equals_definition(load_ok(web("rlimit_core = 0")).programs.at(0)));
  std::vector<std::string> edits = {
      "",
      "rlimit_core = 0\nrlimit_nofile = " + std::to_string(grantable(RLIMIT_NOFILE, 256)),
      "rlimit_core = 0\nrlimit_nproc = 0",
      "rlimit_core = 0\nrlimit_as = 0",
  };
  if (grantable(RLIMIT_CORE, 4096) == 4096) edits.push_back("rlimit_core = 4096");
  for (const std::string& edit : edits) {
    const Config after = load_ok(web(edit));
    EXPECT_FALSE(before.programs.at(0).equals_definition(after.programs.at(0))) << edit;
    EXPECT_THAT(diff_configs(before, after).changed, ElementsAre("web")) << edit;
  }
}

}  // namespace
}  // namespace minisup::config::testing
