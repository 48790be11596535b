// [group.NAME] and numprocs_start with the real minisupd and minisupctl:
// `GROUP:*` (and `GROUP:PROGRAM`) in every command that takes names, and
// a one-process program's own name wherever a process name goes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace minisup::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string grouped_config() {
  return sleeper("queue", "numprocs = 2\nnumprocs_start = 1\n") + "[program.mail]\n" +
         child_cmd("--print mail-says-hello --after 60") + "startsecs = 0\nstopwaitsecs = 2\n" +
         sleeper("web") + "[group.workers]\nprograms = [\"queue\", \"mail\"]\n";
}

TEST(GroupSelection, EveryCommandTakesGroupStar) {
  Daemon d(grouped_config());
  d.start();
  ASSERT_EQ(d.ctl({"wait", "workers:*", "--timeout", "10"}).code, 0) << d.log();

  const CommandResult status = d.ctl({"status", "workers:*"});
  EXPECT_EQ(status.code, 0);
  EXPECT_THAT(status.out, HasSubstr("queue:1"));
  EXPECT_THAT(status.out, HasSubstr("queue:2"));
  EXPECT_THAT(status.out, HasSubstr("mail"));
  EXPECT_THAT(status.out, Not(HasSubstr("web")));

  const CommandResult signalled = d.ctl({"signal", "CONT", "workers:*"});
  EXPECT_EQ(signalled.code, 0) << signalled.err;
  EXPECT_THAT(signalled.out, HasSubstr("queue:1"));
  EXPECT_THAT(signalled.out, Not(HasSubstr("web")));

  const CommandResult stopped = d.ctl({"stop", "workers:*"});
  EXPECT_EQ(stopped.code, 0);
  EXPECT_THAT(stopped.out, HasSubstr("queue:1: stopped"));
  EXPECT_THAT(stopped.out, HasSubstr("queue:2: stopped"));
  EXPECT_THAT(stopped.out, HasSubstr("mail: stopped"));
  EXPECT_EQ(d.state("web"), "RUNNING");

  const CommandResult started = d.ctl({"start", "workers:*"});
  EXPECT_EQ(started.code, 0);
  EXPECT_THAT(started.out, HasSubstr("queue:1: started"));
  EXPECT_THAT(started.out, HasSubstr("mail: started"));

  const CommandResult restarted = d.ctl({"restart", "workers:*"});
  EXPECT_EQ(restarted.code, 0);
  EXPECT_THAT(restarted.out, HasSubstr("queue:2: "));
  EXPECT_THAT(restarted.out, Not(HasSubstr("web")));

  // GROUP:PROGRAM and GROUP:PROCESS, as supervisorctl names a grouped process.
  const CommandResult member = d.ctl({"status", "workers:queue:2"});
  EXPECT_THAT(member.out, HasSubstr("queue:2"));
  EXPECT_THAT(member.out, Not(HasSubstr("queue:1")));
  EXPECT_EQ(d.ctl({"wait", "workers:mail", "--timeout", "10"}).code, 0);

  // One process named through its group: pid and tail.
  const CommandResult pid = d.ctl({"pid", "workers:mail"});
  EXPECT_EQ(pid.code, 0);
  EXPECT_EQ(pid.out, std::to_string(d.process("mail")["pid"].get<int>()) + "\n");
  EXPECT_TRUE(eventually([&] {
    return d.ctl({"tail", "workers:mail"}).out.find("mail-says-hello") != std::string::npos;
  }));
  // A group of several processes is not one process.
  const CommandResult several = d.ctl({"pid", "workers:*"});
  EXPECT_NE(several.code, 0);
  EXPECT_THAT(several.err, HasSubstr("names several processes"));

  const CommandResult unknown = d.ctl({"stop", "nobody:*"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_EQ(d.stop(), 0);
}

TEST(GroupSelection, AOneProcessProgramsNameWorksWherever) {
  Daemon d("[program.worker]\n" + child_cmd("--print worker-line --after 60") +
           "startsecs = 0\nstopwaitsecs = 2\n");
  d.start();
  ASSERT_EQ(d.ctl({"wait", "worker", "--timeout", "10"}).code, 0) << d.log();
  const int expected = d.process("worker")["pid"].get<int>();
  for (const std::string name : {"worker", "worker:*"}) {
    const CommandResult pid = d.ctl({"pid", name});
    EXPECT_EQ(pid.code, 0) << name << ": " << pid.err;
    EXPECT_EQ(pid.out, std::to_string(expected) + "\n") << name;
    EXPECT_TRUE(eventually([&] {
      return d.ctl({"tail", name}).out.find("worker-line") != std::string::npos;
    })) << name;
    EXPECT_EQ(d.ctl({"status", name}).code, 0) << name;
    EXPECT_EQ(d.ctl({"signal", "CONT", name}).code, 0) << name;
  }
  EXPECT_EQ(d.stop(), 0);
}

TEST(NumprocsStart, NamesAndEnvironmentFollowIt) {
  Daemon d("[program.n]\n" + child_cmd("--print-env MINISUP_PROCESS_NUM --after 60") +
           "startsecs = 0\nnumprocs = 2\nnumprocs_start = 7\n");
  d.start();
  ASSERT_EQ(d.ctl({"wait", "n:*", "--timeout", "10"}).code, 0) << d.log();
  EXPECT_EQ(d.state("n:7"), "RUNNING");
  EXPECT_EQ(d.state("n:8"), "RUNNING");
  EXPECT_TRUE(eventually([&] {
    return d.ctl({"tail", "n:8"}).out.find("MINISUP_PROCESS_NUM=8") != std::string::npos;
  }));
  EXPECT_TRUE(fs::exists(d.dir() / "logs/n_7-stdout.log"));
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace minisup::testing
