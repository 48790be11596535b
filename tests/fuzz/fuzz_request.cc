// libFuzzer target: the request side of the control protocol without the
// socket (fuzz_protocol's fast twin). The input is a byte stream as a client
// would send it; it is split into lines exactly as ControlServer does
// (request_model.h) and every line goes through control::parse_request with
// the checks of check_request(): never a throw or a crash, errors carry a
// message and encode to a valid reply, and a valid request survives
// encode_request() -> parse_request() unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/request_model.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  const auto framing = minisup::fuzz::frame(stream, minisup::control::kMaxRequestBytes);
  for (const auto& line : framing.lines) (void)minisup::fuzz::check_request("fuzz_request", line);
  // The last, unterminated part too: the parser must not care about framing.
  if (const auto nl = stream.rfind('\n'); nl + 1 < stream.size()) {
    (void)minisup::fuzz::check_request("fuzz_request", stream.substr(nl + 1));
  }
  return 0;
}
