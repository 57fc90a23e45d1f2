// The fleet manager's value types, named as Nakama's runtime names them (InstanceInfo,
// SessionInfo, JoinInfo, FleetUserLatencies, CreateStatus) so that code and JSON written for
// Nakama's GameLift fleet manager reads the same here. JSON encoding: glfm/codec.h.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "glfm/json.h"
#include "glfm/status.h"

namespace glfm {

using Clock = std::chrono::system_clock;
using Timestamp = std::chrono::system_clock::time_point;

// Metadata keys the fleet manager understands (the original's GameSessionDataKey, ...).
inline constexpr char kGameSessionDataKey[] = "GameSessionData";
inline constexpr char kGameSessionNameKey[] = "GameSessionName";
inline constexpr char kGamePropertiesKey[] = "GameProperties";
// The key under which a Create outcome carries the raw placement event.
inline constexpr char kEventKey[] = "event";

// Where a game client connects. JSON: {"ip_address", "dns_name", "port"}.
struct ConnectionInfo {
  std::string ip_address;
  std::string dns_name;  // may be empty (GameLift Anywhere)
  int port = 0;

  friend bool operator==(const ConnectionInfo&, const ConnectionInfo&) = default;
};

// One live game session. JSON: {"id", "connection_info", "create_time" (RFC 3339),
// "player_count", "status", "metadata"}.
struct InstanceInfo {
  std::string id;  // the game session ARN
  ConnectionInfo connection_info;
  Timestamp create_time{};
  int player_count = 0;
  std::string status;  // GameLift game session status: ACTIVE, ACTIVATING, TERMINATED, ...
  Json metadata = Json::MakeObject();  // GameSessionData, GameSessionName, GameProperties, ...

  friend bool operator==(const InstanceInfo&, const InstanceInfo&) = default;
};

// A player's reservation on a game session. JSON: {"user_id", "session_id"}.
struct SessionInfo {
  std::string user_id;
  std::string session_id;  // the GameLift player session id

  friend bool operator==(const SessionInfo&, const SessionInfo&) = default;
};

// The answer to Join. JSON: {"instance_info", "session_info": [...]}.
struct JoinInfo {
  InstanceInfo instance_info;
  std::vector<SessionInfo> session_info;

  friend bool operator==(const JoinInfo&, const JoinInfo&) = default;
};

// A player's latency to one AWS region, used to choose where a placement lands.
// JSON: {"user_id", "latency_ms", "region"}.
struct FleetUserLatency {
  std::string user_id;
  double latency_ms = 0;
  std::string region;

  friend bool operator==(const FleetUserLatency&, const FleetUserLatency&) = default;
};

// How a Create ended. The numbers match Nakama's runtime.FmCreateStatus.
enum class CreateStatus { kSuccess = 0, kTimeout = 1, kError = 2 };

// Returns "success", "timeout" or "error".
std::string_view CreateStatusName(CreateStatus status);

// Everything a Create callback learns.
struct CreateOutcome {
  std::string placement_id;
  CreateStatus status = CreateStatus::kError;
  // Set on success.
  std::optional<InstanceInfo> instance_info;
  // The placed player sessions, on success.
  std::vector<SessionInfo> session_info;
  // {"event": <the raw placement event>} when an event decided the outcome.
  Json metadata = Json::MakeObject();
  // Not OK unless status is kSuccess: deadline-exceeded for a timeout, cancelled for a
  // cancelled placement, the GameLift failure otherwise.
  Status error;
  // The CreateOptions::context given to Create, stored with the placement: it comes back
  // with the outcome even after a restart, when the outcome goes to an outcome listener.
  std::string context;
};

// Called once per Create, on a fleet-manager thread; must not block for long.
using CreateCallback = std::function<void(const CreateOutcome& outcome)>;

}  // namespace glfm
