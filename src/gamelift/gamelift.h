// Typed Amazon GameLift operations (GameLift API Reference, version 2015-10-01) over the AWS
// JSON 1.1 protocol: the requests glfm sends and the parts of the answers it reads.
//
// Every request is validated before it is sent, with the service's limits, and a bad one is
// an invalid-argument naming the operation and the field
// ("StartGameSessionPlacement: PlacementId must be 1-48 characters of [A-Za-z0-9-]").
// Answers: timestamps arrive as epoch seconds with fractions; unknown fields are ignored; a
// malformed answer is an internal error naming the operation. Service errors map to Status
// codes per docs/errors.md; retries happened below (aws/client.h), never again above.
//
// Thread-safety: GameLiftClient is safe for concurrent use. Every method blocks on the
// network: call from a worker thread, never from an HTTP-server IO thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aws/client.h"
#include "glfm/status.h"
#include "glfm/types.h"

namespace glfm::gamelift {

// GameLift's documented limits.
inline constexpr size_t kMaxPlacementIdLength = 48;
inline constexpr size_t kMaxPlayerIdsPerCall = 25;
inline constexpr size_t kMaxGameProperties = 16;
inline constexpr size_t kMaxGamePropertyKeyLength = 32;
inline constexpr size_t kMaxGamePropertyValueLength = 96;
inline constexpr size_t kMaxGameSessionDataLength = 4096;
inline constexpr size_t kMaxPlayerDataLength = 2048;
inline constexpr size_t kMaxNameLength = 1024;
inline constexpr size_t kMaxPlayerIdLength = 1024;

struct GameProperty {
  std::string key;
  std::string value;
  friend bool operator==(const GameProperty&, const GameProperty&) = default;
};

struct PlayerLatency {
  std::string player_id;
  std::string region;
  double latency_ms = 0;
};

struct DesiredPlayerSession {
  std::string player_id;
  std::string player_data;  // optional; empty is not sent
};

struct PlacedPlayerSession {
  std::string player_id;
  std::string player_session_id;
};

struct GameSession {
  std::string game_session_id;  // the ARN
  std::string name;
  std::string fleet_id;
  std::string fleet_arn;
  Timestamp creation_time{};
  std::optional<Timestamp> termination_time;
  int current_player_session_count = 0;
  int maximum_player_session_count = 0;
  std::string status;  // ACTIVE, ACTIVATING, TERMINATED, TERMINATING, ERROR
  std::string status_reason;
  std::vector<GameProperty> game_properties;
  std::string ip_address;
  std::string dns_name;
  int port = 0;
  std::string player_session_creation_policy;
  std::string creator_id;
  std::string game_session_data;
  std::string matchmaker_data;
  std::string location;
};

struct GameSessionPlacement {
  std::string placement_id;
  std::string game_session_queue_name;
  std::string status;  // PENDING, FULFILLED, CANCELLED, TIMED_OUT, FAILED
  std::vector<GameProperty> game_properties;
  int maximum_player_session_count = 0;
  std::string game_session_name;
  std::string game_session_id;
  std::string game_session_arn;
  std::string game_session_region;
  std::optional<Timestamp> start_time;
  std::optional<Timestamp> end_time;
  std::string ip_address;
  std::string dns_name;
  int port = 0;
  std::vector<PlacedPlayerSession> placed_player_sessions;
  std::string game_session_data;
  std::string matchmaker_data;
};

struct PlayerSession {
  std::string player_session_id;
  std::string player_id;
  std::string game_session_id;
  std::string fleet_id;
  std::string fleet_arn;
  Timestamp creation_time{};
  std::optional<Timestamp> termination_time;
  std::string status;  // RESERVED, ACTIVE, COMPLETED, TIMEDOUT
  std::string ip_address;
  std::string dns_name;
  int port = 0;
  std::string player_data;
};

struct Alias {
  std::string alias_id;
  std::string name;
  std::string alias_arn;
  std::string description;
  std::string routing_type;  // SIMPLE or TERMINAL
  std::string fleet_id;      // SIMPLE: where the alias points
  std::string message;       // TERMINAL: the message
};

struct StartGameSessionPlacementRequest {
  std::string placement_id;  // 1-48 of [A-Za-z0-9-]; never reused
  std::string game_session_queue_name;
  int maximum_player_session_count = 0;
  std::string game_session_name;  // optional
  std::vector<GameProperty> game_properties;
  std::string game_session_data;  // optional
  std::vector<PlayerLatency> player_latencies;
  std::vector<DesiredPlayerSession> desired_player_sessions;
  // Optional per-request location priority (PriorityConfigurationOverride.LocationOrder).
  std::vector<std::string> location_order;
};

// Which game sessions DescribeGameSessions looks at: exactly one of the three ids.
struct GameSessionsFilter {
  std::string game_session_id;
  std::string alias_id;
  std::string fleet_id;
  std::string status_filter;  // ACTIVE, ACTIVATING, TERMINATED, TERMINATING, ERROR; optional
  std::string location;       // optional
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_token;  // empty on the last page
};

struct SearchGameSessionsRequest {
  std::string alias_id;  // exactly one of alias_id and fleet_id
  std::string fleet_id;
  std::string location;
  std::string filter_expression;
  std::string sort_expression;
  int limit = 0;  // 0: the service default; else 1-20
  std::string next_token;
};

struct DescribePlayerSessionsRequest {
  std::string game_session_id;  // exactly one of these three
  std::string player_id;
  std::string player_session_id;
  std::string status_filter;  // RESERVED, ACTIVE, COMPLETED, TIMEDOUT; optional
  int limit = 0;              // 0: the service default
  std::string next_token;
};

struct UpdateGameSessionRequest {
  std::string game_session_id;
  std::optional<int> maximum_player_session_count;
  std::string name;                            // empty: unchanged
  std::string player_session_creation_policy;  // ACCEPT_ALL / DENY_ALL; empty: unchanged
  std::string protection_policy;               // NoProtection / FullProtection
  std::optional<std::vector<GameProperty>> game_properties;
};

// Validators, public for tests and for callers that check early. Errors: invalid-argument
// naming the operation and field.
Status ValidatePlacementId(std::string_view op, std::string_view placement_id);
Status ValidateStartGameSessionPlacement(const StartGameSessionPlacementRequest& r);

// Encoders: the JSON body each operation sends (public for tests).
std::string EncodeStartGameSessionPlacement(const StartGameSessionPlacementRequest& r);

class GameLiftClient {
 public:
  explicit GameLiftClient(std::unique_ptr<aws::AwsClient> client) : client_(std::move(client)) {}

  Result<GameSessionPlacement> StartGameSessionPlacement(const StartGameSessionPlacementRequest& r);
  Result<GameSessionPlacement> DescribeGameSessionPlacement(const std::string& placement_id);
  Result<GameSessionPlacement> StopGameSessionPlacement(const std::string& placement_id);

  // One page. `limit` 0 leaves the service default.
  Result<Page<GameSession>> DescribeGameSessions(const GameSessionsFilter& filter, int limit = 0,
                                                 const std::string& next_token = "");
  // Every page, following NextToken, with the same filter on each page (the original sync
  // looked only at the first page). Errors: as DescribeGameSessions; internal when the
  // service repeats a token.
  Result<std::vector<GameSession>> DescribeAllGameSessions(const GameSessionsFilter& filter,
                                                           int page_limit = 100);

  Result<Page<GameSession>> SearchGameSessions(const SearchGameSessionsRequest& r);

  Result<PlayerSession> CreatePlayerSession(const std::string& game_session_id,
                                            const std::string& player_id,
                                            const std::string& player_data = "");
  // At most 25 players; `player_data` keys must be among `player_ids`.
  Result<std::vector<PlayerSession>> CreatePlayerSessions(
      const std::string& game_session_id, const std::vector<std::string>& player_ids,
      const std::map<std::string, std::string>& player_data = {});
  Result<Page<PlayerSession>> DescribePlayerSessions(const DescribePlayerSessionsRequest& r);

  Result<GameSession> UpdateGameSession(const UpdateGameSessionRequest& r);
  Result<Alias> DescribeAlias(const std::string& alias_id);

  aws::AwsClient& aws() { return *client_; }

 private:
  std::unique_ptr<aws::AwsClient> client_;
};

// Decoders, public for tests: parse one answer object. Errors: internal naming the field.
Result<GameSession> DecodeGameSession(const Json& j);
Result<GameSessionPlacement> DecodeGameSessionPlacement(const Json& j);
Result<PlayerSession> DecodePlayerSession(const Json& j);

}  // namespace glfm::gamelift
