// The pure text parsers of the config module: sizes, signals, modes,
// "did you mean", shell word splitting, ${VAR} expansion, the TOML guard.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <map>

#include "supervisor/config/expand_vars.h"
#include "supervisor/config/shell_words.h"
#include "supervisor/config/toml_guard.h"
#include "supervisor/config/value_parsers.h"

namespace minisup::config {
namespace {

using ::testing::ElementsAre;

TEST(ParseSize, UnitsAreCaseInsensitiveAnd1024Based) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("10B"), 10u);
  EXPECT_EQ(parse_size("512KB"), 512u * 1024);
  EXPECT_EQ(parse_size("512kb"), 512u * 1024);
  EXPECT_EQ(parse_size("50MB"), 50u * 1024 * 1024);
  EXPECT_EQ(parse_size("50 mB"), 50u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GB"), 1024u * 1024 * 1024);
}

TEST(ParseSize, RejectsOtherForms) {
  EXPECT_EQ(parse_size("50XB"), std::nullopt);
  EXPECT_EQ(parse_size("1.5GB"), std::nullopt);
  EXPECT_EQ(parse_size("-1"), std::nullopt);
  EXPECT_EQ(parse_size(""), std::nullopt);
  EXPECT_EQ(parse_size("MB"), std::nullopt);
  EXPECT_EQ(parse_size("50M"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999999999"), std::nullopt);  // overflows 64 bits
  EXPECT_EQ(parse_size("17179869184GB"), std::nullopt);         // 2^34 GB overflows
}

TEST(ParseOctalMode, AcceptsOneToFourOctalDigits) {
  EXPECT_EQ(parse_octal_mode("022"), 022u);
  EXPECT_EQ(parse_octal_mode("0022"), 022u);
  EXPECT_EQ(parse_octal_mode("0700"), 0700u);
  EXPECT_EQ(parse_octal_mode("0o755"), 0755u);
  EXPECT_EQ(parse_octal_mode("7"), 07u);
  EXPECT_EQ(parse_octal_mode("0777"), 0777u);
  EXPECT_EQ(parse_octal_mode("1777"), std::nullopt);  // > 0777
  EXPECT_EQ(parse_octal_mode("089"), std::nullopt);
  EXPECT_EQ(parse_octal_mode("abc"), std::nullopt);
  EXPECT_EQ(parse_octal_mode(""), std::nullopt);
  EXPECT_EQ(parse_octal_mode("00000"), std::nullopt);
}

TEST(ClosestMatch, SuggestsTyposOnly) {
  constexpr std::array<std::string_view, 4> kKeys{"stopwaitsecs", "startsecs", "command", "user"};
  EXPECT_EQ(closest_match("stopwaitsec", kKeys), "stopwaitsecs");
  EXPECT_EQ(closest_match("StopWaitSecs", kKeys), "stopwaitsecs");
  EXPECT_EQ(closest_match("comand", kKeys), "command");
  EXPECT_EQ(closest_match("cmomand", kKeys), "command");  // transposition
  EXPECT_EQ(closest_match("usr", kKeys), "user");
  EXPECT_EQ(closest_match("xyz", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("process_name", kKeys), std::nullopt);
}

TEST(SplitShellWords, BlanksSeparateWords) {
  EXPECT_THAT(split_shell_words("node server.js --port 3000").words,
              ElementsAre("node", "server.js", "--port", "3000"));
  EXPECT_THAT(split_shell_words("  a\t\tb \n c  ").words, ElementsAre("a", "b", "c"));
}

TEST(SplitShellWords, QuotesAndBackslashes) {
  EXPECT_THAT(split_shell_words(R"(/bin/sh -c 'echo "hi there"; exit 3')").words,
              ElementsAre("/bin/sh", "-c", R"(echo "hi there"; exit 3)"));
  EXPECT_THAT(split_shell_words(R"(echo "a \"b\" \\ \$ \n")").words,
              ElementsAre("echo", R"(a "b" \ $ \n)"));
  EXPECT_THAT(split_shell_words(R"(a\ b c\'d \\)").words, ElementsAre("a b", "c'd", "\\"));
  EXPECT_THAT(split_shell_words(R"(a'b c'd "" '')").words, ElementsAre("ab cd", "", ""));
  EXPECT_THAT(split_shell_words("a\\\nb").words, ElementsAre("ab"));  // line continuation
  EXPECT_THAT(split_shell_words(R"('single \ stays')").words, ElementsAre(R"(single \ stays)"));
}

TEST(SplitShellWords, ShellMetacharactersAreLiteral) {
  EXPECT_THAT(
      split_shell_words("prog > out.txt | grep *.c ~ ; & $HOME ${X}").words,
      ElementsAre("prog", ">", "out.txt", "|", "grep", "*.c", "~", ";", "&", "$HOME", "${X}"));
}

TEST(SplitShellWords, Errors) {
  EXPECT_EQ(split_shell_words("echo 'oops").error, "has an unterminated single quote");
  EXPECT_EQ(split_shell_words("echo \"oops").error, "has an unterminated double quote");
  EXPECT_EQ(split_shell_words("echo \"oops\\\"").error, "has an unterminated double quote");
  EXPECT_EQ(split_shell_words("echo oops\\").error, "ends with a lone backslash");
  EXPECT_TRUE(split_shell_words("   ").words.empty());
  EXPECT_TRUE(split_shell_words("   ").error.empty());
}

TEST(ExpandVariables, BracedDollarDollarAndBareDollar) {
  const std::map<std::string, std::string> base{{"HOME", "/home/me"}, {"PORT", "80"}};
  const std::map<std::string, std::string> overlay{{"PORT", "3000"}};
  const VariableLookup lookup = layered_lookup(overlay, base);
  EXPECT_EQ(expand_variables("${HOME}/x:${PORT}", lookup).text, "/home/me/x:3000");
  EXPECT_EQ(expand_variables("cost $$5 and $$${PORT}", lookup).text, "cost $5 and $3000");
  EXPECT_EQ(expand_variables("$HOME $1 $ end$", lookup).text, "$HOME $1 $ end$");
  EXPECT_EQ(expand_variables("$${HOME}", lookup).text, "${HOME}");
  EXPECT_EQ(expand_variables("", lookup).text, "");
}

TEST(ExpandVariables, Errors) {
  const std::map<std::string, std::string> none;
  const VariableLookup lookup = layered_lookup(none, none);
  Expansion unset = expand_variables("a ${NOPE} b", lookup);
  EXPECT_EQ(unset.error, "uses ${NOPE}, which is not set");
  EXPECT_EQ(unset.unset_variable, "NOPE");
  EXPECT_EQ(expand_variables("${NOPE", lookup).error, "has an unterminated ${");
  EXPECT_THAT(expand_variables("${1X}", lookup).error,
              ::testing::StartsWith("has an invalid variable name in ${1X}"));
  EXPECT_THAT(expand_variables("${}", lookup).error,
              ::testing::StartsWith("has an invalid variable name in ${}"));
}

TEST(TomlGuard, AcceptsOrdinaryConfigs) {
  EXPECT_EQ(check_toml_limits("[program.web]\ncommand = \"a.b.c.d.e\"\nstartsecs = 1.5\n"
                              "program.web.environment.X = 'x.y'\n# a.b.c.d.e.f.g.h\n"
                              "x = \"\"\"\n...\n...\"\"\"\ny = [[1, 2], [3.5, 4.5]]\n"),
            std::nullopt);
}

TEST(TomlGuard, RefusesHugeDottedKey) {
  std::string text = "x = 1\n  a";
  for (int i = 0; i < 100000; ++i) text += ".a";
  text += " = 1\n";
  const auto problem = check_toml_limits(text);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->line, 2);
  EXPECT_EQ(problem->column, 3);
  EXPECT_EQ(problem->message, "dotted key has more than 32 parts; refused before parsing");
}

TEST(TomlGuard, CountsQuotedPartsAndIgnoresDotsInStrings) {
  std::string quoted;
  for (int i = 0; i < 40; ++i) quoted += "\"q\".";
  quoted += "z = 1\n";
  EXPECT_TRUE(check_toml_limits(quoted).has_value());
  std::string in_string = "x = \"";
  for (int i = 0; i < 1000; ++i) in_string += "a.";
  in_string += "\"\ny = '''...\n....'''\n";
  EXPECT_EQ(check_toml_limits(in_string), std::nullopt);
}

TEST(TomlGuard, RefusesDeepNesting) {
  const std::string arrays = "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  auto problem = check_toml_limits(arrays);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->line, 1);
  EXPECT_EQ(problem->column, 5);
  EXPECT_EQ(problem->message, "arrays or tables nested more than 32 deep; refused before parsing");
  std::string tables = "x = ";
  for (int i = 0; i < 50; ++i) tables += "{a=";
  EXPECT_TRUE(check_toml_limits(tables).has_value());
}

}  // namespace
}  // namespace minisup::config
