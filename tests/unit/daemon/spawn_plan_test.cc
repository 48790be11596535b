// plan_spawn(): the resource limits a child gets. What minisupd hands down
// (its original RLIMIT_NOFILE) and the program's `rlimit_*` keys, soft =
// hard, a program's rlimit_nofile replacing the inherited entry; and the
// runtime handing the plan to the spawn. child_environment(): HOME, USER
// and LOGNAME of the program's `user`, unless configured.
#include "supervisor/daemon/spawn_plan.h"

#include <sys/resource.h>

#include "tests/unit/daemon/runtime_test_support.h"

namespace minisup::daemon::testing {
namespace {

using ::testing::ElementsAre;
using Rlimits = std::vector<sys::SpawnRlimit>;

/// minisupd's original RLIMIT_NOFILE soft limit, with its raised hard one.
const Rlimits kInherited{{RLIMIT_NOFILE, 1024, 524288}};

Rlimits rlimits_of(const config::ProgramConfig& p, const Rlimits& inherited = kInherited) {
  return plan_spawn(p, p.processes.at(0), {}, {}, inherited).rlimits;
}

TEST(SpawnPlan, WithoutRlimitKeysTheChildGetsWhatMinisupdHandsDown) {
  const config::ProgramConfig web = program("web");
  EXPECT_EQ(rlimits_of(web), kInherited);
  EXPECT_EQ(rlimits_of(web, {}), Rlimits{});
}

TEST(SpawnPlan, RlimitNofileReplacesTheInheritedEntry) {
  config::ProgramConfig web = program("web");
  web.rlimit_nofile = 256;
  EXPECT_EQ(rlimits_of(web), (Rlimits{{RLIMIT_NOFILE, 256, 256}}));
  web.rlimit_nofile = 1048576;  // above the inherited hard limit: root's to grant
  EXPECT_EQ(rlimits_of(web), (Rlimits{{RLIMIT_NOFILE, 1048576, 1048576}}));
  EXPECT_EQ(rlimits_of(web, {}), (Rlimits{{RLIMIT_NOFILE, 1048576, 1048576}}));
}

TEST(SpawnPlan, EveryKeySetsSoftAndHardInKeyOrderAfterTheInheritedOnes) {
  config::ProgramConfig web = program("web");
  web.rlimit_as = 1073741824;
  web.rlimit_core = RLIM_INFINITY;
  web.rlimit_nproc = 4096;
  EXPECT_EQ(rlimits_of(web), (Rlimits{{RLIMIT_NOFILE, 1024, 524288},
                                      {RLIMIT_NPROC, 4096, 4096},
                                      {RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY},
                                      {RLIMIT_AS, 1073741824, 1073741824}}));
  web.rlimit_nofile = 0;
  EXPECT_EQ(rlimits_of(web), (Rlimits{{RLIMIT_NOFILE, 0, 0},
                                      {RLIMIT_NPROC, 4096, 4096},
                                      {RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY},
                                      {RLIMIT_AS, 1073741824, 1073741824}}));
}

TEST(SpawnPlan, EveryProcessOfAProgramGetsItsLimits) {
  config::ProgramConfig web = program("web", 999, 3);
  web.rlimit_core = 0;
  for (const config::ProcessConfig& process : web.processes) {
    EXPECT_EQ(plan_spawn(web, process, {}, {}, kInherited).rlimits,
              (Rlimits{{RLIMIT_NOFILE, 1024, 524288}, {RLIMIT_CORE, 0, 0}}))
        << process.name;
  }
}

/// The value of `name` in an environment list; nullopt when absent.
std::optional<std::string> env_value(const std::vector<std::string>& envp,
                                     const std::string& name) {
  std::optional<std::string> value;
  for (const std::string& var : envp) {
    if (var.starts_with(name + "=")) {
      EXPECT_FALSE(value) << name << " is set twice";
      value = var.substr(name.size() + 1);
    }
  }
  return value;
}

const sys::UserIds kNobody{65534, 65534, {65534}, "nobody", "/nonexistent"};

TEST(SpawnPlanUser, HomeUserAndLognameComeFromThePasswdEntry) {
  config::ProgramConfig web = program("web");
  web.user = "nobody";
  const SpawnPlan plan = plan_spawn(web, web.processes.at(0), {},
                                    {{"HOME", "/root"}, {"USER", "root"}, {"PATH", "/bin"}}, {});
  EXPECT_THAT(plan.user_variables, ElementsAre("HOME", "USER", "LOGNAME"));
  const std::vector<std::string> envp = child_environment(plan, kNobody);
  EXPECT_EQ(env_value(envp, "HOME"), "/nonexistent");
  EXPECT_EQ(env_value(envp, "USER"), "nobody");
  EXPECT_EQ(env_value(envp, "LOGNAME"), "nobody");
  EXPECT_EQ(env_value(envp, "PATH"), "/bin");
  EXPECT_EQ(env_value(envp, "MINISUP_PROGRAM"), "web");
}

TEST(SpawnPlanUser, TheConfiguredEnvironmentWins) {
  config::ProgramConfig web = program("web");
  web.user = "nobody";
  web.processes.at(0).environment = {{"HOME", "/srv/web"}};
  const SpawnPlan plan = plan_spawn(web, web.processes.at(0), {{"LOGNAME", "svc"}},
                                    {{"HOME", "/root"}, {"LOGNAME", "root"}}, {});
  EXPECT_THAT(plan.user_variables, ElementsAre("USER"));
  const std::vector<std::string> envp = child_environment(plan, kNobody);
  EXPECT_EQ(env_value(envp, "HOME"), "/srv/web");
  EXPECT_EQ(env_value(envp, "LOGNAME"), "svc");
  EXPECT_EQ(env_value(envp, "USER"), "nobody");
}

TEST(SpawnPlanUser, WithoutUserNothingIsSet) {
  const config::ProgramConfig web = program("web");
  const SpawnPlan plan = plan_spawn(web, web.processes.at(0), {}, {{"HOME", "/root"}}, {});
  EXPECT_TRUE(plan.user_variables.empty());
  EXPECT_EQ(env_value(plan.envp, "HOME"), "/root");
  EXPECT_EQ(env_value(plan.envp, "USER"), std::nullopt);
}

class SpawnPlanOfTheRuntime : public RuntimeTest {};

TEST_F(SpawnPlanOfTheRuntime, TheSpawnGetsTheProgramsLimits) {
  config::ProgramConfig limited = program("limited", 999, 1, false);
  limited.rlimit_nofile = 256;
  limited.rlimit_core = 0;
  config::ProgramConfig plain = program("plain", 999, 1, false);
  Runtime::Options options;
  options.child_rlimits = kInherited;
  make(config_of({limited, plain}), std::move(options));

  request(1, {{"cmd", "start"}, {"names", {"limited", "plain"}}});
  ASSERT_THAT(sys.spawned_names(), ElementsAre("limited", "plain"));
  EXPECT_EQ(sys.spawns()[0].plan.rlimits,
            (Rlimits{{RLIMIT_NOFILE, 256, 256}, {RLIMIT_CORE, 0, 0}}));
  EXPECT_EQ(sys.spawns()[1].plan.rlimits, kInherited);
}

}  // namespace
}  // namespace minisup::daemon::testing

namespace minisup::daemon::testing {
namespace {

// ---- held sockets ----

TEST(SpawnPlanSockets, ProgramWithSocketsGetsThemWithTheListenVariables) {
  config::ProgramConfig web = program("web");
  for (const std::string name : {"http", "admin"}) {
    config::SocketConfig socket;
    socket.name = name;
    web.sockets.push_back(socket);
  }
  // minisupd's own LISTEN_* (from its service manager) are not passed on.
  const SpawnPlan plan =
      plan_spawn(web, web.processes.at(0), {}, {{"LISTEN_FDS", "7"}, {"LISTEN_PID", "1"}}, {});
  EXPECT_THAT(plan.sockets, ElementsAre("http", "admin"));
  EXPECT_EQ(plan.own_pid_variable, "LISTEN_PID");
  EXPECT_THAT(plan.envp, ::testing::IsSupersetOf({std::string("LISTEN_FDS=2"),
                                                  std::string("LISTEN_FDNAMES=http:admin"),
                                                  std::string("LISTEN_PID=")}));
}

TEST(SpawnPlanSockets, ProgramWithoutSocketsGetsNoListenVariables) {
  const config::ProgramConfig web = program("web");
  const SpawnPlan plan =
      plan_spawn(web, web.processes.at(0), {}, {{"LISTEN_FDS", "7"}, {"LISTEN_FDNAMES", "x"}}, {});
  EXPECT_TRUE(plan.sockets.empty());
  EXPECT_TRUE(plan.own_pid_variable.empty());
  for (const std::string& entry : plan.envp) EXPECT_FALSE(entry.starts_with("LISTEN_")) << entry;
}

}  // namespace
}  // namespace minisup::daemon::testing
