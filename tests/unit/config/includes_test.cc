// `include`: globs relative to the including file, sorted matches, the
// no-match warning, what an included file may hold, duplicate programs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Includes = ConfigTest;

std::vector<std::string> names(const Config& config) {
  std::vector<std::string> out;
  for (const auto& p : config.programs) out.push_back(p.name);
  return out;
}

TEST_F(Includes, GlobsAreRelativeToTheIncludingFile) {
  write("etc/conf.d/b.toml", "[program.b]\ncommand = \"b\"\ndirectory = \"work\"\n");
  write("etc/conf.d/a.toml", "[program.a]\ncommand = \"a\"\n[program.a2]\ncommand = \"a2\"\n");
  write("etc/conf.d/ignored.txt", "not toml");
  write("etc/minisup.toml",
        "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n[program.main]\ncommand = \"m\"\n");
  const LoadResult result = load_file("etc/minisup.toml");
  ASSERT_TRUE(result.errors.empty()) << ::testing::PrintToString(errors(result));
  EXPECT_THAT(names(*result.config), ElementsAre("a", "a2", "b", "main"));
  EXPECT_THAT(result.config->supervisor.include, ElementsAre("conf.d/*.toml"));
  // Relative paths in an included file resolve against its own directory;
  // AUTO logs go to childlogdir next to the main file.
  const ProgramConfig* b = result.config->find_program("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->processes.at(0).directory, dir_ / "etc/conf.d/work");
  EXPECT_EQ(b->processes.at(0).stdout_logfile.path, dir_ / "etc/logs/b-stdout.log");
  EXPECT_EQ(b->where, (SourceLocation{dir_ / "etc/conf.d/b.toml", 1, 1}));
}

TEST_F(Includes, ErrorsNameTheIncludedFile) {
  write("conf.d/web.toml",
        "# web\n[program.web]\ncommand = \"node server.js\"\nstopwaitsecs = \"ten\"\n");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"),
            "conf.d/web.toml:4:16: stopwaitsecs must be a non-negative number, got \"ten\"");
}

TEST_F(Includes, ASingleStringAndSeveralPatternsWork) {
  write("a/x.toml", "[program.x]\ncommand = \"x\"\n");
  write("b/y.toml", "[program.y]\ncommand = \"y\"\n");
  EXPECT_THAT(names(load_ok("[supervisor]\ninclude = \"a/*.toml\"\n")), ElementsAre("x"));
  EXPECT_THAT(names(load_ok("[supervisor]\ninclude = [\"b/*.toml\", \"a/x.toml\", \"a/*\"]\n")),
              ElementsAre("x", "y"));
  EXPECT_THAT(
      names(load_ok("[supervisor]\ninclude = [\"" + (dir_ / "b/*.toml").string() + "\"]\n")),
      ElementsAre("y"));
}

TEST_F(Includes, TheMainFileMatchedByItsOwnGlobIsSkipped) {
  write("other.toml", "[program.other]\ncommand = \"o\"\n");
  EXPECT_THAT(
      names(load_ok("[supervisor]\ninclude = [\"*.toml\"]\n[program.main]\ncommand = \"m\"\n")),
      ElementsAre("main", "other"));
}

TEST_F(Includes, AGlobMatchingNothingIsAWarning) {
  const LoadResult result =
      load("[supervisor]\ninclude = [\"nothing/*.toml\"]\n[program.web]\ncommand = \"x\"\n");
  EXPECT_THAT(errors(result), IsEmpty());
  EXPECT_THAT(warnings(result),
              ElementsAre("minisup.toml:2:12: include pattern \"nothing/*.toml\" matches no file"));
  ASSERT_TRUE(result.config.has_value());
  EXPECT_EQ(result.config->warnings, result.warnings);
}

TEST_F(Includes, DirectoryWithGlobCharactersIsMatchedLiterally) {
  write("we[ir]d*/conf.d/a.toml", "[program.a]\ncommand = \"a\"\n");
  write("we[ir]d*/minisup.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
  const LoadResult result = load_file("we[ir]d*/minisup.toml");
  ASSERT_TRUE(result.config.has_value()) << ::testing::PrintToString(errors(result));
  EXPECT_THAT(names(*result.config), ElementsAre("a"));
}

TEST_F(Includes, SupervisorTableInAnIncludedFileIsAnError) {
  write("conf.d/a.toml", "[supervisor]\nloglevel = \"debug\"\n[program.a]\ncommand = \"a\"\n");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"),
            "conf.d/a.toml:1:2: [supervisor] is only allowed in the main config file minisup.toml; "
            "an included "
            "file holds [program.NAME], [group.NAME] and [socket.NAME] tables only");
}

TEST_F(Includes, AnythingButProgramsInAnIncludedFileIsAnError) {
  write("conf.d/a.toml", "x = 1\n[logging]\ny = 2\n[program.a]\ncommand = \"a\"\n");
  const LoadResult result = load("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
  EXPECT_THAT(
      errors(result),
      ElementsAre(
          "conf.d/a.toml:1:1: unknown key `x` at the top level; an included file holds "
          "[program.NAME], [group.NAME] and [socket.NAME] tables only",
          "conf.d/a.toml:2:2: unknown table [logging]; an included file holds [program.NAME], "
          "[group.NAME] and [socket.NAME] tables only"));
}

TEST_F(Includes, DuplicateProgramsNameBothFiles) {
  write("conf.d/web.toml", "# the web\n[program.web]\ncommand = \"y\"\n");
  EXPECT_EQ(
      only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n\n[program.web]\ncommand = \"x\"\n"),
      "conf.d/web.toml:2:1: program \"web\" is defined twice: at minisup.toml:4:1 and at "
      "conf.d/web.toml:2:1");
  write("conf.d/zz.toml", "[program.web]\ncommand = \"z\"\n");
  write("minisup.toml", "[supervisor]\ninclude = [\"conf.d/*.toml\"]\n");
  EXPECT_THAT(
      errors(load_file("minisup.toml")),
      ElementsAre(
          "conf.d/zz.toml:1:1: program \"web\" is defined twice: at conf.d/web.toml:2:1 and at "
          "conf.d/zz.toml:1:1"));
}

TEST_F(Includes, ErrorsOfEveryFileAreCollected) {
  write("conf.d/a.toml", "[program.a\ncommand = \"a\"\n");  // parse error
  write("conf.d/b.toml", "[program.b]\ncommand = \"b\"\nnumprocs = -1\n");
  write("conf.d/c.toml", "[program.c]\ncommand = \"c\"\n");
  const LoadResult result = load("[supervisor]\ninclude = [\"conf.d/*.toml\"]\nloglevel = 1\n");
  const std::vector<std::string> got = errors(result);
  ASSERT_EQ(got.size(), 3u) << ::testing::PrintToString(got);
  EXPECT_THAT(got[0], ::testing::StartsWith("minisup.toml:3:12: loglevel must be one of"));
  EXPECT_THAT(got[1], ::testing::StartsWith("conf.d/a.toml:1:"));
  EXPECT_EQ(got[2], "conf.d/b.toml:3:12: numprocs must be between 1 and 10000, got -1");
}

TEST_F(Includes, HostileIncludedFileIsRefused) {
  std::string text = "program";
  for (int i = 0; i < 100000; ++i) text += ".a";
  write("conf.d/evil.toml", text + " = 1\n");
  EXPECT_EQ(only_error("[supervisor]\ninclude = [\"conf.d/*.toml\"]\n"),
            "conf.d/evil.toml:1:1: dotted key has more than 32 parts; refused before parsing");
}

}  // namespace
}  // namespace minisup::config::testing
