// Converts simdjson DOM values into Json, for decoders inside libglfm that parse with
// simdjson themselves and build only part of the document as Json (the store's instance
// decoder). Not part of the public API.
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

#include "glfm/json.h"

namespace glfm::internal {

// Returns `e` as a Json, recursively: integers that fit in int64 stay integers, a repeated
// object key keeps its last value (as Json::Parse).
Json JsonFromDom(simdjson::dom::element e);

}  // namespace glfm::internal
