// Helpers for decoders inside libglfm that parse with simdjson themselves and build only
// part of the document as Json, or none of it (the store's instance decoder, placement events,
// SQS answers). Not part of the public API.
//
// Thread-safety: pure functions.
#pragma once

// simdjson 3.0's header trips g++ 12's dangling-pointer analysis; the code is fine.
// (clang, as clang-tidy runs it, knows neither warning.)
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <simdjson.h>
#pragma GCC diagnostic pop

#include <optional>
#include <string>
#include <string_view>

#include "glfm/json.h"

namespace glfm::internal {

// Returns `e` as a Json, recursively: integers that fit in int64 stay integers, a repeated
// object key keeps its last value (as Json::Parse).
Json JsonFromDom(simdjson::dom::element e);

// Appends the tape (json_tape.h) of `e` to `out`: the tape of JsonFromDom(e), written
// without building it.
void AppendDomTape(simdjson::dom::element e, std::string& out);

// Returns the value of the last member `key` of `o` (a repeated key keeps its last value, as
// Json::Parse), or nullopt when there is none.
inline std::optional<simdjson::dom::element> LastMember(simdjson::dom::object o,
                                                        std::string_view key) {
  std::optional<simdjson::dom::element> found;
  for (simdjson::dom::key_value_pair kv : o) {
    if (kv.key == key) found = kv.value;
  }
  return found;
}

}  // namespace glfm::internal
