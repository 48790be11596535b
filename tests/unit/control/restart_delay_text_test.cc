// Status of a crash loop's restart delay and of a core dump: the
// description, the JSON keys, and both decoders (nlohmann and the fast
// status decoder) agree.
#include <gtest/gtest.h>

#include "supervisor/control/protocol.h"

namespace minisup::control {
namespace {

using nlohmann::json;

ProcessInfo crash_looping() {
  ProcessInfo p;
  p.name = p.group = "w";
  p.state = "BACKOFF";
  p.exit_signal = 6;
  p.core_dumped = true;
  p.retry = RetryInfo{3, 0, Seconds(4.0), true};
  return p;
}

TEST(RestartDelayText, DescriptionSaysRestartNotRetry) {
  ProcessInfo p = crash_looping();
  EXPECT_EQ(describe(p),
            "restart in 4.0s (3 quick exits in a row; killed by SIGABRT (core dumped))");
  p.exit_signal.reset();
  p.core_dumped = false;
  p.exit_code = 1;
  EXPECT_EQ(describe(p), "restart in 4.0s (3 quick exits in a row; exited with status 1)");
}

TEST(RestartDelayText, CoreDumpIsShownForExitedProcesses) {
  ProcessInfo p;
  p.name = p.group = "w";
  p.state = "FATAL";
  p.exit_signal = 11;
  p.core_dumped = true;
  EXPECT_EQ(describe(p), "exited too quickly (killed by SIGSEGV (core dumped))");
  p.core_dumped = false;
  EXPECT_EQ(describe(p), "exited too quickly (killed by SIGSEGV)");
}

TEST(RestartDelayText, JsonKeysAndTheDecoderRoundTrip) {
  ProcessInfo p = crash_looping();
  p.description = describe(p);
  StatusReply status{{p}};
  const std::string line = encode_reply(nullptr, status);
  const json parsed = json::parse(line);
  const json& process = parsed["processes"][0];
  EXPECT_EQ(process["core_dumped"], true);
  EXPECT_EQ(process["retry"]["restart"], true);
  EXPECT_EQ(process["retry"]["attempt"], 3);
  EXPECT_EQ(process["retry"]["of"], 0);

  auto fast = decode_status_line(line);
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->reply, status);

  // A plain failed start keeps restart false and core_dumped false.
  ProcessInfo q;
  q.name = q.group = "x";
  q.state = "BACKOFF";
  q.retry = RetryInfo{1, 3, Seconds(1.0)};
  q.description = describe(q);
  const json plain = json::parse(encode_reply(nullptr, StatusReply{{q}}))["processes"][0];
  EXPECT_EQ(plain["core_dumped"], false);
  EXPECT_EQ(plain["retry"]["restart"], false);
}

}  // namespace
}  // namespace minisup::control
