// [group.NAME] in name resolution: `GROUP:*`, `GROUP`, `GROUP:PROGRAM`,
// `GROUP:PROCESS`, and a reload that changes the groups.
#include <gtest/gtest.h>

#include "tests/unit/core/core_test_support.h"

namespace minisup::core {
namespace {

using testing_support::make_config;
using testing_support::make_program;
using V = std::vector<std::string>;

config::Config grouped_config() {
  config::Config config = make_config({make_program("queue", 10, 2), make_program("mail", 20),
                                       make_program("web", 1), make_program("cron", 30)});
  config.groups.push_back(config::GroupConfig{"workers", {"queue", "mail"}, std::nullopt, {}});
  return config;
}

V resolve(const Supervisor& supervisor, const V& names) {
  const NameResolution r = supervisor.resolve_names(names);
  EXPECT_TRUE(r.ok()) << "unknown: " << r.unknown.value_or("");
  return r.processes;
}

TEST(GroupNames, GroupStarSelectsEveryProcessOfItsPrograms) {
  Supervisor supervisor{grouped_config()};
  EXPECT_EQ(resolve(supervisor, {"workers:*"}), (V{"queue:0", "queue:1", "mail"}));
  EXPECT_EQ(resolve(supervisor, {"workers"}), (V{"queue:0", "queue:1", "mail"}));
  // Mixed with other names: start order, each once.
  EXPECT_EQ(resolve(supervisor, {"workers:*", "web", "mail"}),
            (V{"web", "queue:0", "queue:1", "mail"}));
}

TEST(GroupNames, GroupColonNameSelectsAMemberProgramOrProcess) {
  Supervisor supervisor{grouped_config()};
  EXPECT_EQ(resolve(supervisor, {"workers:queue"}), (V{"queue:0", "queue:1"}));
  EXPECT_EQ(resolve(supervisor, {"workers:queue:1"}), (V{"queue:1"}));
  EXPECT_EQ(resolve(supervisor, {"workers:mail"}), (V{"mail"}));
}

TEST(GroupNames, NamesOutsideTheGroupAreUnknown) {
  Supervisor supervisor{grouped_config()};
  for (const std::string name :
       {"workers:web", "workers:queue:2", "workers:", "workers:nope", "other:*", "workers:*:*"}) {
    const NameResolution r = supervisor.resolve_names({name});
    EXPECT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.unknown, name);
  }
}

TEST(GroupNames, AReloadReplacesTheGroups) {
  Supervisor supervisor{grouped_config()};
  config::Config next = grouped_config();
  next.groups = {config::GroupConfig{"batch", {"cron", "mail"}, std::nullopt, {}}};
  supervisor.apply_config(next, kT0);
  EXPECT_EQ(resolve(supervisor, {"batch:*"}), (V{"mail", "cron"}));
  EXPECT_FALSE(supervisor.resolve_names({"workers:*"}).ok());
}

}  // namespace
}  // namespace minisup::core
