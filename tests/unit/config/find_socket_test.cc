// find_socket(): the socket of a config without its programs (minisupctl
// -c FILE). Whenever load_config() succeeds, find_socket() gives the same
// socket (checked on many configs); broken programs and includes do not
// stop it; errors in what decides the socket are reported at file:line:col,
// as load_config() reports them. Also keep_tables_under(), the cut it reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "supervisor/config/config_file.h"
#include "supervisor/config/toml_sections.h"
#include "tests/unit/config/config_test_util.h"

namespace minisup::config::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class FindSocket : public ConfigTest {
 protected:
  /// Writes `text` as minisup.toml and runs find_socket() on it.
  SocketLookup find(const std::string& text, const Environment& env = {}) {
    write("minisup.toml", text);
    return find_socket(dir_ / "minisup.toml", env);
  }

  std::vector<std::string> errors_of(const SocketLookup& found) const {
    std::vector<std::string> out;
    for (const auto& e : found.errors) out.push_back(strip(e.to_string()));
    return out;
  }

  /// Loads `text` both ways: the full load must succeed and find_socket()
  /// must give its socket, on the fast path.
  void expect_same_socket(const std::string& text, const Environment& env = {}) {
    SCOPED_TRACE(text);
    const LoadResult loaded = load(text, env);
    ASSERT_TRUE(loaded.errors.empty()) << ::testing::PrintToString(errors(loaded));
    const SocketLookup found = find_socket(dir_ / "minisup.toml", env);
    EXPECT_THAT(errors_of(found), IsEmpty());
    EXPECT_FALSE(found.loaded_whole_config);
    EXPECT_EQ(found.socket, loaded.config->supervisor.socket);
  }

  /// Both ways fail with the same errors; find_socket() did not need the
  /// whole config to say so.
  void expect_same_errors(const std::string& text, const Environment& env = {}) {
    SCOPED_TRACE(text);
    const LoadResult loaded = load(text, env);
    ASSERT_FALSE(loaded.errors.empty());
    const SocketLookup found = find_socket(dir_ / "minisup.toml", env);
    EXPECT_EQ(errors_of(found), errors(loaded));
    EXPECT_FALSE(found.loaded_whole_config);
  }
};

constexpr const char* kProgram = "[program.web]\ncommand = \"/bin/true\"\n";

TEST_F(FindSocket, GivesTheFullLoadsSocketOnManyConfigs) {
  const std::string prog = kProgram;
  const Environment env{{"RUN", "/run/x"}, {"HOME", "/home/u"}};
  for (const std::string& text : std::vector<std::string>{
           prog,                                                      // default
           "[supervisor]\n" + prog,                                   // default, empty table
           "[supervisor]\nsocket = \"ms.sock\"\n" + prog,             // relative
           "[supervisor]\nsocket = \"run/../a/./ms.sock\"\n" + prog,  // normalized
           "[supervisor]\nsocket = \"/tmp/abs.sock\"\n" + prog,       // absolute
           "[supervisor]\nsocket = '${RUN}/lit.sock'\n" + prog,       // from the environment
           "[supervisor]\nsocket = \"$${RUN}.sock\"\n" + prog,        // $$ is a literal $
           "[supervisor]\nenvironment = { D = \"${RUN}/d\" }\nsocket = \"${D}/s.sock\"\n" + prog,
           "[supervisor]\nsocket = \"${D}/s.sock\"\nenvironment = { D = \"rel\" }\n" + prog,
           prog + "[supervisor]\nsocket = \"after-programs.sock\"\n",  // [supervisor] last
           "supervisor.socket = \"dotted.sock\"\n" + prog,             // dotted key at the root
           "supervisor = { socket = \"inline.sock\" }\n" + prog,       // inline table
           "[\"supervisor\"]\nsocket = \"quoted.sock\"\n" + prog,      // quoted header key
           "[ supervisor ] # comment\nsocket = \"spaced.sock\" # x\n" + prog,
           "[supervisor]\nsocket = \"s.sock\"\n[supervisor.environment]\nA = \"1\"\n" + prog,
           "[supervisor.environment]\nD = \"sub\"\n[supervisor]\nsocket = \"${D}.sock\"\n" + prog,
           "\xEF\xBB\xBF[supervisor]\nsocket = \"bom.sock\"\n" + prog,  // UTF-8 BOM
           "[supervisor]\r\nsocket = \"crlf.sock\"\r\n" + prog,
           // Headers inside strings and arrays of programs are not headers.
           "[program.a]\ncommand = \"\"\"\n[supervisor]\nsocket = \"no\"\n\"\"\"\n"
           "[supervisor]\nsocket = \"yes.sock\"\n",
           "[program.a]\ncommand = '''\n[supervisor]'''\n[supervisor]\nsocket = \"y2.sock\"\n",
           "[program.a]\ncommand = [\n  \"a\", # ]\n  \"[supervisor]\",\n]\n"
           "[supervisor]\nsocket = \"y3.sock\"\n",
           "[program.a]\ncommand = [\"a\\\"[supervisor]\"]\nenvironment = { X = \"}\" }\n"
           "[supervisor]\nsocket = \"y4.sock\"\n",
           "[program.a]\ncommand = [\"\"\"a\"\"\"\"]\n[program.b]\ncommand = \"b\"\n"
           "[supervisor]\nsocket = \"y5.sock\"\n",
           // A header naming another table whose name starts like it.
           "[supervisors_notes]\n" + prog,
           "[program.supervisor]\ncommand = \"x\"\n[supervisor]\nsocket = \"y6.sock\"\n",
       }) {
    // Each config gets a clean directory of its own (a [supervisors_notes]
    // is an unknown table: the full load fails; skip such in the check).
    const LoadResult loaded = load(text, env);
    if (!loaded.errors.empty()) {
      EXPECT_EQ(text, "[supervisors_notes]\n" + prog) << ::testing::PrintToString(errors(loaded));
      continue;
    }
    expect_same_socket(text, env);
  }
}

TEST_F(FindSocket, IncludesAreNotReadAndCannotChangeIt) {
  write("conf.d/a.toml", "[program.a]\ncommand = \"a\"\n");
  expect_same_socket("[supervisor]\nsocket = \"s.sock\"\ninclude = [\"conf.d/*.toml\"]\n");
  // An included [supervisor] is an error of the full load; find_socket()
  // does not read includes, so it gives the main file's socket.
  write("conf.d/b.toml", "[supervisor]\nsocket = \"/tmp/other.sock\"\n");
  const SocketLookup found =
      find("[supervisor]\nsocket = \"s.sock\"\ninclude = [\"conf.d/*.toml\"]\n");
  EXPECT_THAT(errors_of(found), IsEmpty());
  EXPECT_EQ(found.socket, dir_ / "s.sock");
  EXPECT_FALSE(load_file("minisup.toml").errors.empty());
}

TEST_F(FindSocket, RelativePathsResolveAgainstTheConfigFilesDirectory) {
  write("etc/minisup.toml", "[supervisor]\nsocket = \"run/ms.sock\"\n");
  const SocketLookup found = find_socket(dir_ / "etc/minisup.toml", {});
  EXPECT_THAT(errors_of(found), IsEmpty());
  EXPECT_EQ(found.socket, dir_ / "etc/run/ms.sock");
  EXPECT_EQ(found.socket, load_file("etc/minisup.toml").config->supervisor.socket);
}

TEST_F(FindSocket, BrokenProgramsDoNotStopIt) {
  for (const std::string& programs : {
           std::string("[program.web]\nstopwaitsecs = \"ten\"\n"),      // no command, bad value
           std::string("[program.web]\ncommand = \"a\"\nbogus = 1\n"),  // unknown key
           std::string("[program.web]\ncommand = \"a\"\ncommand = \"b\"\n"),  // TOML: duplicate
           std::string("[program.web]\ncommand = = \"a\"\n"),                 // TOML syntax error
           std::string("[program.web]\ncommand = \"${NOPE}\"\n"),
           std::string("[unknown_table]\nx = 1\n"),
       }) {
    SCOPED_TRACE(programs);
    const std::string text = "[supervisor]\nsocket = \"s.sock\"\nloglevel = \"loud\"\n" + programs;
    EXPECT_FALSE(load(text).errors.empty());
    const SocketLookup found = find_socket(dir_ / "minisup.toml", {});
    EXPECT_THAT(errors_of(found), IsEmpty());
    EXPECT_FALSE(found.loaded_whole_config);
    EXPECT_EQ(found.socket, dir_ / "s.sock");
  }
}

TEST_F(FindSocket, ErrorsInTheSocketPartAreReportedAtTheirPosition) {
  const std::string prog = kProgram;
  expect_same_errors("[supervisor]\nsocket = 1\n" + prog);
  expect_same_errors("[supervisor]\nsocket = \"\"\n" + prog);
  expect_same_errors(prog + "\n[supervisor]\nsocket = \"${NOPE}/s.sock\"\n");
  expect_same_errors("[supervisor]\nenvironment = { D = \"${NOPE}\" }\n" + prog);
  expect_same_errors("[supervisor]\nenvironment = 3\n" + prog);
  expect_same_errors("supervisor = 3\n" + prog);
  expect_same_errors("[supervisor]\nsocket = \"/run/" + std::string(100, 's') + ".sock\"\n" + prog);
  expect_same_errors("[supervisor]\nsocket = \"a\" \"b\"\n" + prog);          // a syntax error
  expect_same_errors("[supervisor]\nsocket = \"a\"\n[supervisor]\n" + prog);  // defined twice
  EXPECT_THAT(errors_of(find("[supervisor]\nsocket = 1\n" + prog)),
              ElementsAre("minisup.toml:2:10: socket must be a string, got 1"));
  // After a broken program: the position is the one in the whole file.
  EXPECT_THAT(errors_of(find("[program.a]\ncommand = = 1\n[supervisor]\nsocket = 2\n")),
              ElementsAre("minisup.toml:4:10: socket must be a string, got 2"));
  // [supervisor] in pieces between programs, indented: each error where it
  // is in the file (toml++'s own, and the loader's).
  const std::string other = "[program.api]\ncommand = \"/bin/true\"\n";
  const std::string pieces = "# top\n" + prog + "\n  [supervisor]\n  socket = 2\n" + other +
                             "[supervisor.environment]\nA = 1\n";
  expect_same_errors(pieces);
  EXPECT_THAT(errors_of(find(pieces)),
              ElementsAre("minisup.toml:6:12: socket must be a string, got 2",
                          ::testing::HasSubstr("minisup.toml:10:")));
  expect_same_errors("# top\n" + prog + other + "[supervisor]\nsocket = \"a\" \"b\"\n");
  expect_same_errors(prog + "[supervisor]\nsocket = \"s\"\n" + other + "[supervisor.x]\ny = = 1\n");
}

TEST_F(FindSocket, AFileItCannotCutIsLoadedWhole) {
  // An unterminated multi-line string: the cut is not sure where
  // [supervisor] is, so the whole config is loaded, with its errors.
  const SocketLookup found =
      find("[supervisor]\nsocket = \"s.sock\"\n[program.a]\ncommand = \"\"\"\n");
  EXPECT_TRUE(found.loaded_whole_config);
  EXPECT_EQ(errors_of(found), errors(load_file("minisup.toml")));
  EXPECT_FALSE(found.errors.empty());
}

TEST_F(FindSocket, AMissingFileIsReportedAsTheLoaderReportsIt) {
  const SocketLookup found = find_socket(dir_ / "nope.toml", {});
  EXPECT_EQ(errors_of(found), errors(load_file("nope.toml")));
  EXPECT_FALSE(found.errors.empty());
}

TEST(KeepTablesUnder, KeepsTheRootAndTheNamedTablesWithWhereTheirLinesWere) {
  using detail::keep_tables_under;
  using detail::LineStarts;
  auto kept = keep_tables_under(
      "a = 1\n[program.x]\ncommand = \"c\"\n\n  [supervisor]\nsocket = \"s\"\n[[program.y]]\nz = "
      "[\n1,\n]\n"
      "[supervisor.environment]\nA = \"1\"",
      "supervisor");
  ASSERT_TRUE(kept);
  // An indented header keeps its blanks (its columns).
  EXPECT_EQ(kept->text,
            "a = 1\n  [supervisor]\nsocket = \"s\"\n[supervisor.environment]\nA = \"1\"");
  EXPECT_EQ(kept->starts, (LineStarts{{1, 1}, {2, 5}, {4, 11}}));
  kept = keep_tables_under("[x]\ns = \"\"\"\n\n\"\"\"\n", "supervisor");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->text, "");
  EXPECT_EQ(kept->starts, (LineStarts{{1, 1}}));
  kept = keep_tables_under("", "supervisor");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->text, "");
}

TEST(KeepTablesUnder, OriginalLineMapsACutLineBack) {
  using detail::original_line;
  const detail::LineStarts starts{{1, 1}, {2, 5}, {4, 11}};
  EXPECT_EQ(original_line(starts, 0), 0);  // the file as a whole
  EXPECT_EQ(original_line(starts, 1), 1);
  EXPECT_EQ(original_line(starts, 2), 5);
  EXPECT_EQ(original_line(starts, 3), 6);
  EXPECT_EQ(original_line(starts, 4), 11);
  EXPECT_EQ(original_line(starts, 9), 16);
  EXPECT_EQ(original_line({}, 7), 7);  // no cut
}

TEST(KeepTablesUnder, ADroppedRegionCountsEveryNewlineWhateverItsLength) {
  using detail::keep_tables_under;
  // Regions of every length around the 8-byte steps the newlines are
  // counted in, with newlines at every offset, and other bytes (0x8a, 0x0b)
  // that differ from '\n' in one bit.
  for (std::size_t length = 0; length < 40; ++length) {
    for (std::size_t phase = 0; phase < 4; ++phase) {
      std::string body;
      for (std::size_t i = 0; i < length; ++i) {
        const std::size_t k = (i + phase) % 5;
        body += k == 0   ? "\n"
                : k == 1 ? "x = 1\n"
                : k == 2 ? "# \x8a\x0b\n"
                : k == 3 ? ""
                         : "y = 'z'\n";
      }
      const std::string text = "r = 1\n" + std::string(phase, ' ') + "[program.x]\n" + body +
                               "[supervisor]\nsocket = \"s\"\n";
      const auto kept = keep_tables_under(text, "supervisor");
      ASSERT_TRUE(kept) << text;
      const auto newlines = static_cast<int>(std::count(body.begin(), body.end(), '\n'));
      EXPECT_EQ(kept->text, "r = 1\n[supervisor]\nsocket = \"s\"\n");
      EXPECT_EQ(kept->starts, (detail::LineStarts{{1, 1}, {2, 3 + newlines}}))
          << length << " " << phase;
    }
  }
}

TEST(KeepTablesUnder, IsNotSureOfTextThatIsNotToml) {
  using detail::keep_tables_under;
  for (const char* text : {
           "[x]\ns = \"open\n",                // one-line string open at the end of its line
           "[x]\ns = \"\"\"open\n",            // multi-line string open at the end
           "[x]\ns = '''open\n",               //
           "[x]\ns = [1,\n",                   // array open at the end
           "[x]\ns = 1]\n",                    // nothing to close
           "[x] y = 1\n",                      // text after a header
           "[\"sup\\u0065rvisor\"]\ns = 1\n",  // a quoted key with escapes
           "[x.]\n",                           // an empty key part
           "[x\n",                             // an unclosed header
       }) {
    EXPECT_EQ(keep_tables_under(text, "supervisor"), std::nullopt) << text;
  }
}

}  // namespace
}  // namespace minisup::config::testing

// ---- MappedFile: the mapping find_socket() reads ----

namespace minisup::config::testing {
namespace {

class MappedFileTest : public ConfigTest {};

TEST_F(MappedFileTest, HoldsTheFileAndRefusesWhatLoadConfigWouldReport) {
  write("a.toml", "[supervisor]\nsocket = \"/run/x.sock\"\n");
  {
    auto mapped = detail::MappedFile::open(dir_ / "a.toml");
    ASSERT_TRUE(mapped);
    EXPECT_EQ(mapped->text(), "[supervisor]\nsocket = \"/run/x.sock\"\n");
    EXPECT_FALSE(mapped->changed());
    EXPECT_FALSE(detail::MappedFile::open(dir_ / "a.toml")) << "one at a time";
  }
  write("empty.toml", "");
  auto empty = detail::MappedFile::open(dir_ / "empty.toml");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->text(), "");
  empty.reset();
  EXPECT_FALSE(detail::MappedFile::open(dir_ / "missing.toml"));
  EXPECT_FALSE(detail::MappedFile::open(dir_)) << "a directory";
}

TEST_F(MappedFileTest, AFileTruncatedWhileMappedReadsAsZerosAndSaysSo) {
  const std::string text(3 * 4096 + 100, 'x');
  write("big.toml", text);
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGBUS, nullptr, &before), 0);
  {
    auto mapped = detail::MappedFile::open(dir_ / "big.toml");
    ASSERT_TRUE(mapped);
    EXPECT_EQ(mapped->text().substr(0, 10), "xxxxxxxxxx");
    // Another writer truncates the file in place: past its new end, the
    // pages would raise SIGBUS.
    ASSERT_EQ(::truncate((dir_ / "big.toml").c_str(), 0), 0);
    std::size_t x = 0;
    for (char c : mapped->text()) x += c == 'x';
    EXPECT_LT(x, text.size());
    EXPECT_TRUE(mapped->changed());
  }
  // The disposition of SIGBUS is as it was.
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGBUS, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  EXPECT_EQ(after.sa_flags & SA_SIGINFO, before.sa_flags & SA_SIGINFO);
}

}  // namespace
}  // namespace minisup::config::testing
