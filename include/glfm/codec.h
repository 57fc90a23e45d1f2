// JSON encoding and decoding of the public types with Nakama's field names.
//
// Decoding is strict about types and names the offending field with its path and the
// expected type: `instance_info.connection_info.port: expected an integer, got string`.
// Unknown fields are ignored. Timestamps are RFC 3339 (encoded in UTC with "Z" and
// nanoseconds trimmed of trailing zeros, as Go's time.RFC3339Nano).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "glfm/json.h"
#include "glfm/status.h"
#include "glfm/types.h"

namespace glfm {

// Formats `t` as RFC 3339 in UTC: "2024-01-02T03:04:05.123Z".
std::string FormatRfc3339(Timestamp t);
// Parses RFC 3339 ("2024-01-02T03:04:05Z", fractions and "+01:00" offsets allowed).
// Errors: invalid-argument quoting the text.
Result<Timestamp> ParseRfc3339(std::string_view text);

Json ToJson(const ConnectionInfo& v);
Json ToJson(const InstanceInfo& v);
Json ToJson(const SessionInfo& v);
Json ToJson(const JoinInfo& v);
Json ToJson(const FleetUserLatency& v);

// Appends ToJson(v).Dump() to `out`, byte for byte, without building the tree: for hot paths
// that encode one value per event or write.
void AppendJson(std::string& out, const InstanceInfo& v);
void AppendJson(std::string& out, const SessionInfo& v);

// Each decoder reads `json`; `path` prefixes field names in errors ("" at the top).
Result<ConnectionInfo> ConnectionInfoFromJson(const Json& json, std::string_view path = "");
Result<InstanceInfo> InstanceInfoFromJson(const Json& json, std::string_view path = "");
Result<SessionInfo> SessionInfoFromJson(const Json& json, std::string_view path = "");
Result<JoinInfo> JoinInfoFromJson(const Json& json, std::string_view path = "");
Result<FleetUserLatency> FleetUserLatencyFromJson(const Json& json, std::string_view path = "");

}  // namespace glfm
