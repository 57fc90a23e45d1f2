// libFuzzer target for what glfm reads off the network besides queries (make fuzz): every
// input is offered as an SQS message body to ParsePlacementEvent, as JSON to Json::Parse, and
// as raw bytes to AppendJsonString (glfm's hand-written, 16-bytes-at-a-time string escaper).
//
// Nothing may crash, leak, hit undefined behaviour or take super-linear time, and:
//   - a rejected event is invalid-argument; an accepted one has a type and a placement id,
//     and a PlacementFulfilled one a game session ARN;
//   - JSON that parses dumps to text that parses again to the same value, and dumps the same;
//   - a valid UTF-8 string, escaped, parses back to exactly its bytes.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fleet/fleet_manager_impl.h"
#include "glfm/json.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void FuzzEvent(std::string_view body) {
  auto ev = glfm::fleet::ParsePlacementEvent(body);
  if (!ev.ok()) {
    Check(ev.status().code() == glfm::StatusCode::kInvalidArgument);
    return;
  }
  Check(!ev->type.empty() && !ev->placement_id.empty());
  Check(ev->type != "PlacementFulfilled" || !ev->game_session_arn.empty());
}

void FuzzJson(std::string_view text) {
  auto parsed = glfm::Json::Parse(text);
  if (!parsed.ok()) {
    Check(parsed.status().code() == glfm::StatusCode::kInvalidArgument);
    return;
  }
  std::string once = parsed->Dump();
  auto again = glfm::Json::Parse(once);
  Check(again.ok());
  Check(*again == *parsed);
  Check(again->Dump() == once);
}

void FuzzEscape(std::string_view bytes) {
  std::string quoted;
  glfm::AppendJsonString(quoted, bytes);
  auto back = glfm::Json::Parse(quoted);
  if (!back.ok()) {
    // Only bytes that are not UTF-8 may fail to come back: the escaper copies them as they
    // are, and the parser rejects them.
    Check(back.status().code() == glfm::StatusCode::kInvalidArgument);
    Check(!simdjson::validate_utf8(bytes.data(), bytes.size()));
    return;
  }
  Check(back->is_string() && back->as_string() == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzEvent(input);
  FuzzJson(input);
  FuzzEscape(input);
  return 0;
}
