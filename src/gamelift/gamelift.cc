#include "gamelift/gamelift.h"

#include <cmath>
#include <set>

#include "gamelift/wire.h"
#include "glfm/codec.h"

namespace glfm::gamelift {
namespace {

using wire::Decoder;

bool AllOf(std::string_view s, bool (*ok)(char)) {
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}
bool IdChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }
bool ArnChar(char c) { return IdChar(c) || c == ':' || c == '/'; }
bool NotSpace(char c) { return !std::isspace(static_cast<unsigned char>(c)); }

Status Bad(std::string_view op, std::string_view field, std::string_view what) {
  return InvalidArgumentError(std::string(op) + ": " + std::string(field) + " " +
                              std::string(what));
}

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s.size() > 80 ? s.substr(0, 80) : s);
  return out;
}

Status CheckLength(std::string_view op, std::string_view field, std::string_view v, size_t min,
                   size_t max) {
  if (v.size() < min || v.size() > max) {
    return Bad(op, field,
               "must be " + std::to_string(min) + "-" + std::to_string(max) + " characters, got " +
                   std::to_string(v.size()));
  }
  return OkStatus();
}

Status CheckGameSessionId(std::string_view op, std::string_view v) {
  if (v.empty() || v.size() > 512 || !AllOf(v, ArnChar)) {
    return Bad(op, "GameSessionId", "must be 1-512 characters of [A-Za-z0-9:/-], got " + Quote(v));
  }
  return OkStatus();
}

Status CheckAliasId(std::string_view op, std::string_view v) {
  bool ok = false;
  if (v.rfind("alias-", 0) == 0) {
    ok = v.size() > 6 && AllOf(v.substr(6), NotSpace);
  } else if (v.rfind("arn:", 0) == 0) {
    size_t p = v.find(":alias/alias-");
    ok = p != std::string_view::npos && v.size() > p + 13 && AllOf(v.substr(p + 13), NotSpace);
  }
  if (!ok) return Bad(op, "AliasId", "must be alias-... or an alias ARN, got " + Quote(v));
  return OkStatus();
}

Status CheckFleetId(std::string_view op, std::string_view v) {
  std::string_view id = v;
  if (v.rfind("arn:", 0) == 0) {
    size_t slash = v.rfind('/');
    id = slash == std::string_view::npos ? std::string_view() : v.substr(slash + 1);
  }
  size_t p = id.find("fleet-");
  bool ok = p != std::string_view::npos && v.size() <= 512 && id.size() > p + 6 &&
            AllOf(id.substr(0, p), [](char c) { return c >= 'a' && c <= 'z'; }) &&
            AllOf(id.substr(p + 6), IdChar);
  if (!ok) return Bad(op, "FleetId", "must be fleet-... or a fleet ARN, got " + Quote(v));
  return OkStatus();
}

Status CheckLocation(std::string_view op, std::string_view field, std::string_view v) {
  if (v.empty() || v.size() > 64 || !AllOf(v, IdChar)) {
    return Bad(op, field, "must be 1-64 characters of [A-Za-z0-9-], got " + Quote(v));
  }
  return OkStatus();
}

Status CheckOneOf(std::string_view op, std::string_view field, std::string_view v,
                  std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) return OkStatus();
  }
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return Bad(op, field, "must be one of " + list + ", got " + Quote(v));
}

Status CheckPlayerId(std::string_view op, std::string_view field, std::string_view v) {
  return CheckLength(op, field, v, 1, kMaxPlayerIdLength);
}

Status CheckGameProperties(std::string_view op, const std::vector<GameProperty>& props) {
  if (props.size() > kMaxGameProperties) {
    return Bad(op, "GameProperties",
               "has " + std::to_string(props.size()) + " entries; at most 16 are allowed");
  }
  std::set<std::string_view> seen;
  for (const auto& p : props) {
    if (p.key.empty() || p.key.size() > kMaxGamePropertyKeyLength) {
      return Bad(op, "GameProperties key", Quote(p.key) + " must be 1-32 characters");
    }
    if (p.value.size() > kMaxGamePropertyValueLength) {
      return Bad(op, "GameProperties value",
                 "of key " + Quote(p.key) + " must be at most 96 characters, got " +
                     std::to_string(p.value.size()));
    }
    if (!seen.insert(p.key).second) {
      return Bad(op, "GameProperties key", Quote(p.key) + " appears twice");
    }
  }
  return OkStatus();
}

Status CheckLimit(std::string_view op, int limit, int max) {
  if (limit < 0 || (max > 0 && limit > max)) {
    return Bad(op, "Limit",
               "must be 1-" + (max > 0 ? std::to_string(max) : std::string("2147483647")) +
                   ", got " + std::to_string(limit));
  }
  return OkStatus();
}

Json PropertiesJson(const std::vector<GameProperty>& props) {
  Json::Array a;
  for (const auto& p : props) {
    Json o = Json::MakeObject();
    o["Key"] = p.key;
    o["Value"] = p.value;
    a.push_back(std::move(o));
  }
  return Json(std::move(a));
}

std::vector<GameProperty> DecodeProperties(Decoder& d, const Json& j) {
  std::vector<GameProperty> out;
  for (const Json& p : d.Array(j, "GameProperties")) {
    out.push_back({d.Str(p, "Key"), d.Str(p, "Value")});
  }
  return out;
}

template <typename T>
Result<Page<T>> DecodePage(std::string_view op, const std::string& body, const char* list_key,
                           Result<T> (*decode)(const Json&)) {
  GLFM_ASSIGN_OR_RETURN(Json j, wire::ParseBody(op, body));
  Page<T> page;
  Decoder d(op);
  for (const Json& item : d.Array(j, list_key)) {
    GLFM_ASSIGN_OR_RETURN(T v, decode(item));
    page.items.push_back(std::move(v));
  }
  page.next_token = d.Str(j, "NextToken");
  GLFM_RETURN_IF_ERROR(d.status());
  return page;
}

template <typename T>
Result<T> DecodeMember(std::string_view op, const std::string& body, const char* key,
                       Result<T> (*decode)(const Json&)) {
  GLFM_ASSIGN_OR_RETURN(Json j, wire::ParseBody(op, body));
  const Json* m = j.Find(key);
  if (m == nullptr || !m->is_object()) {
    return InternalError(std::string(op) + ": the answer has no " + key + " object");
  }
  return decode(*m);
}

}  // namespace

Status ValidatePlacementId(std::string_view op, std::string_view id) {
  if (id.empty() || id.size() > kMaxPlacementIdLength || !AllOf(id, IdChar)) {
    return Bad(op, "PlacementId", "must be 1-48 characters of [A-Za-z0-9-], got " + Quote(id));
  }
  return OkStatus();
}

Status ValidateStartGameSessionPlacement(const StartGameSessionPlacementRequest& r) {
  constexpr std::string_view op = "StartGameSessionPlacement";
  GLFM_RETURN_IF_ERROR(ValidatePlacementId(op, r.placement_id));
  std::string_view q = r.game_session_queue_name;
  bool queue_ok = false;
  if (q.rfind("arn:", 0) == 0) {
    size_t p = q.find(":gamesessionqueue/");
    queue_ok = p != std::string_view::npos && q.size() > p + 18 && AllOf(q.substr(p + 18), IdChar);
  } else {
    queue_ok = !q.empty() && AllOf(q, IdChar);
  }
  if (!queue_ok || q.size() > 256) {
    return Bad(op, "GameSessionQueueName",
               "must be 1-256 characters of [A-Za-z0-9-] or a queue ARN, got " + Quote(q));
  }
  if (r.maximum_player_session_count < 0) {
    return Bad(op, "MaximumPlayerSessionCount", "must not be negative");
  }
  if (!r.game_session_name.empty()) {
    GLFM_RETURN_IF_ERROR(
        CheckLength(op, "GameSessionName", r.game_session_name, 1, kMaxNameLength));
  }
  GLFM_RETURN_IF_ERROR(CheckGameProperties(op, r.game_properties));
  if (r.game_session_data.size() > kMaxGameSessionDataLength) {
    return Bad(
        op, "GameSessionData",
        "must be at most 4096 characters, got " + std::to_string(r.game_session_data.size()));
  }
  for (const auto& l : r.player_latencies) {
    GLFM_RETURN_IF_ERROR(CheckPlayerId(op, "PlayerLatencies PlayerId", l.player_id));
    GLFM_RETURN_IF_ERROR(CheckLength(op, "PlayerLatencies RegionIdentifier", l.region, 1, 1024));
    if (!std::isfinite(l.latency_ms) || l.latency_ms < 0) {
      return Bad(op, "PlayerLatencies LatencyInMilliseconds",
                 "of player " + Quote(l.player_id) + " must be a finite number >= 0");
    }
  }
  if (r.desired_player_sessions.size() > kMaxPlayerIdsPerCall) {
    return Bad(op, "DesiredPlayerSessions",
               "has " + std::to_string(r.desired_player_sessions.size()) +
                   " players; at most 25 are allowed");
  }
  std::set<std::string_view> players;
  for (const auto& s : r.desired_player_sessions) {
    GLFM_RETURN_IF_ERROR(CheckPlayerId(op, "DesiredPlayerSessions PlayerId", s.player_id));
    if (s.player_data.size() > kMaxPlayerDataLength) {
      return Bad(op, "DesiredPlayerSessions PlayerData",
                 "of player " + Quote(s.player_id) + " must be at most 2048 characters");
    }
    if (!players.insert(s.player_id).second) {
      return Bad(op, "DesiredPlayerSessions PlayerId", Quote(s.player_id) + " appears twice");
    }
  }
  if (r.location_order.size() > 10) {
    return Bad(op, "PriorityConfigurationOverride LocationOrder", "has more than 10 locations");
  }
  for (const auto& l : r.location_order) {
    GLFM_RETURN_IF_ERROR(CheckLocation(op, "PriorityConfigurationOverride LocationOrder", l));
  }
  return OkStatus();
}

std::string EncodeStartGameSessionPlacement(const StartGameSessionPlacementRequest& r) {
  Json j = Json::MakeObject();
  j["PlacementId"] = r.placement_id;
  j["GameSessionQueueName"] = r.game_session_queue_name;
  j["MaximumPlayerSessionCount"] = r.maximum_player_session_count;
  if (!r.game_session_name.empty()) j["GameSessionName"] = r.game_session_name;
  if (!r.game_properties.empty()) j["GameProperties"] = PropertiesJson(r.game_properties);
  if (!r.game_session_data.empty()) j["GameSessionData"] = r.game_session_data;
  if (!r.player_latencies.empty()) {
    Json::Array a;
    for (const auto& l : r.player_latencies) {
      Json o = Json::MakeObject();
      o["PlayerId"] = l.player_id;
      o["RegionIdentifier"] = l.region;
      o["LatencyInMilliseconds"] = l.latency_ms;
      a.push_back(std::move(o));
    }
    j["PlayerLatencies"] = Json(std::move(a));
  }
  if (!r.desired_player_sessions.empty()) {
    Json::Array a;
    for (const auto& s : r.desired_player_sessions) {
      Json o = Json::MakeObject();
      o["PlayerId"] = s.player_id;
      if (!s.player_data.empty()) o["PlayerData"] = s.player_data;
      a.push_back(std::move(o));
    }
    j["DesiredPlayerSessions"] = Json(std::move(a));
  }
  if (!r.location_order.empty()) {
    Json::Array a(r.location_order.begin(), r.location_order.end());
    j["PriorityConfigurationOverride"]["LocationOrder"] = Json(std::move(a));
  }
  return j.Dump();
}

Result<GameSession> DecodeGameSession(const Json& j) {
  Decoder d("GameSession");
  GameSession g;
  g.game_session_id = d.Str(j, "GameSessionId");
  g.name = d.Str(j, "Name");
  g.fleet_id = d.Str(j, "FleetId");
  g.fleet_arn = d.Str(j, "FleetArn");
  g.creation_time = d.Time(j, "CreationTime").value_or(Timestamp{});
  g.termination_time = d.Time(j, "TerminationTime");
  g.current_player_session_count = d.Int(j, "CurrentPlayerSessionCount");
  g.maximum_player_session_count = d.Int(j, "MaximumPlayerSessionCount");
  g.status = d.Str(j, "Status");
  g.status_reason = d.Str(j, "StatusReason");
  g.game_properties = DecodeProperties(d, j);
  g.ip_address = d.Str(j, "IpAddress");
  g.dns_name = d.Str(j, "DnsName");
  g.port = d.Int(j, "Port");
  g.player_session_creation_policy = d.Str(j, "PlayerSessionCreationPolicy");
  g.creator_id = d.Str(j, "CreatorId");
  g.game_session_data = d.Str(j, "GameSessionData");
  g.matchmaker_data = d.Str(j, "MatchmakerData");
  g.location = d.Str(j, "Location");
  GLFM_RETURN_IF_ERROR(d.status());
  if (g.game_session_id.empty()) return InternalError("GameSession: GameSessionId is missing");
  return g;
}

Result<GameSessionPlacement> DecodeGameSessionPlacement(const Json& j) {
  Decoder d("GameSessionPlacement");
  GameSessionPlacement p;
  p.placement_id = d.Str(j, "PlacementId");
  p.game_session_queue_name = d.Str(j, "GameSessionQueueName");
  p.status = d.Str(j, "Status");
  p.game_properties = DecodeProperties(d, j);
  p.maximum_player_session_count = d.Int(j, "MaximumPlayerSessionCount");
  p.game_session_name = d.Str(j, "GameSessionName");
  p.game_session_id = d.Str(j, "GameSessionId");
  p.game_session_arn = d.Str(j, "GameSessionArn");
  p.game_session_region = d.Str(j, "GameSessionRegion");
  p.start_time = d.Time(j, "StartTime");
  p.end_time = d.Time(j, "EndTime");
  p.ip_address = d.Str(j, "IpAddress");
  p.dns_name = d.Str(j, "DnsName");
  p.port = d.Int(j, "Port");
  for (const Json& s : d.Array(j, "PlacedPlayerSessions")) {
    p.placed_player_sessions.push_back({d.Str(s, "PlayerId"), d.Str(s, "PlayerSessionId")});
  }
  p.game_session_data = d.Str(j, "GameSessionData");
  p.matchmaker_data = d.Str(j, "MatchmakerData");
  GLFM_RETURN_IF_ERROR(d.status());
  if (p.placement_id.empty()) return InternalError("GameSessionPlacement: PlacementId is missing");
  return p;
}

Result<PlayerSession> DecodePlayerSession(const Json& j) {
  Decoder d("PlayerSession");
  PlayerSession s;
  s.player_session_id = d.Str(j, "PlayerSessionId");
  s.player_id = d.Str(j, "PlayerId");
  s.game_session_id = d.Str(j, "GameSessionId");
  s.fleet_id = d.Str(j, "FleetId");
  s.fleet_arn = d.Str(j, "FleetArn");
  s.creation_time = d.Time(j, "CreationTime").value_or(Timestamp{});
  s.termination_time = d.Time(j, "TerminationTime");
  s.status = d.Str(j, "Status");
  s.ip_address = d.Str(j, "IpAddress");
  s.dns_name = d.Str(j, "DnsName");
  s.port = d.Int(j, "Port");
  s.player_data = d.Str(j, "PlayerData");
  GLFM_RETURN_IF_ERROR(d.status());
  if (s.player_session_id.empty()) {
    return InternalError("PlayerSession: PlayerSessionId is missing");
  }
  return s;
}

namespace {
Result<Alias> DecodeAlias(const Json& j) {
  Decoder d("Alias");
  Alias a;
  a.alias_id = d.Str(j, "AliasId");
  a.name = d.Str(j, "Name");
  a.alias_arn = d.Str(j, "AliasArn");
  a.description = d.Str(j, "Description");
  if (const Json* rs = j.Find("RoutingStrategy"); rs != nullptr && rs->is_object()) {
    a.routing_type = d.Str(*rs, "Type");
    a.fleet_id = d.Str(*rs, "FleetId");
    a.message = d.Str(*rs, "Message");
  }
  GLFM_RETURN_IF_ERROR(d.status());
  if (a.alias_id.empty()) return InternalError("Alias: AliasId is missing");
  return a;
}

std::string PlacementIdBody(const std::string& id) {
  Json j = Json::MakeObject();
  j["PlacementId"] = id;
  return j.Dump();
}
}  // namespace

Result<GameSessionPlacement> GameLiftClient::StartGameSessionPlacement(
    const StartGameSessionPlacementRequest& r) {
  GLFM_RETURN_IF_ERROR(ValidateStartGameSessionPlacement(r));
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call("StartGameSessionPlacement",
                                                        EncodeStartGameSessionPlacement(r)));
  return DecodeMember("StartGameSessionPlacement", body, "GameSessionPlacement",
                      &DecodeGameSessionPlacement);
}

Result<GameSessionPlacement> GameLiftClient::DescribeGameSessionPlacement(
    const std::string& placement_id) {
  GLFM_RETURN_IF_ERROR(ValidatePlacementId("DescribeGameSessionPlacement", placement_id));
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call("DescribeGameSessionPlacement",
                                                        PlacementIdBody(placement_id)));
  return DecodeMember("DescribeGameSessionPlacement", body, "GameSessionPlacement",
                      &DecodeGameSessionPlacement);
}

Result<GameSessionPlacement> GameLiftClient::StopGameSessionPlacement(
    const std::string& placement_id) {
  GLFM_RETURN_IF_ERROR(ValidatePlacementId("StopGameSessionPlacement", placement_id));
  GLFM_ASSIGN_OR_RETURN(std::string body,
                        client_->Call("StopGameSessionPlacement", PlacementIdBody(placement_id)));
  return DecodeMember("StopGameSessionPlacement", body, "GameSessionPlacement",
                      &DecodeGameSessionPlacement);
}

Result<Page<GameSession>> GameLiftClient::DescribeGameSessions(const GameSessionsFilter& f,
                                                               int limit,
                                                               const std::string& next_token) {
  constexpr std::string_view op = "DescribeGameSessions";
  int ids = !f.game_session_id.empty() + !f.alias_id.empty() + !f.fleet_id.empty();
  if (ids != 1) {
    return InvalidArgumentError(std::string(op) +
                                ": exactly one of GameSessionId, AliasId and FleetId must be set");
  }
  Json j = Json::MakeObject();
  if (!f.game_session_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckGameSessionId(op, f.game_session_id));
    j["GameSessionId"] = f.game_session_id;
  }
  if (!f.alias_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckAliasId(op, f.alias_id));
    j["AliasId"] = f.alias_id;
  }
  if (!f.fleet_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckFleetId(op, f.fleet_id));
    j["FleetId"] = f.fleet_id;
  }
  if (!f.status_filter.empty()) {
    GLFM_RETURN_IF_ERROR(
        CheckOneOf(op, "StatusFilter", f.status_filter,
                   {"ACTIVE", "ACTIVATING", "TERMINATED", "TERMINATING", "ERROR"}));
    j["StatusFilter"] = f.status_filter;
  }
  if (!f.location.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLocation(op, "Location", f.location));
    j["Location"] = f.location;
  }
  GLFM_RETURN_IF_ERROR(CheckLimit(op, limit, 0));
  if (limit > 0) j["Limit"] = limit;
  if (!next_token.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "NextToken", next_token, 1, 1024));
    j["NextToken"] = next_token;
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodePage<GameSession>(op, body, "GameSessions", &DecodeGameSession);
}

Result<std::vector<GameSession>> GameLiftClient::DescribeAllGameSessions(
    const GameSessionsFilter& filter, int page_limit) {
  std::vector<GameSession> all;
  std::set<std::string> tokens;
  std::string token;
  do {
    GLFM_ASSIGN_OR_RETURN(auto page, DescribeGameSessions(filter, page_limit, token));
    for (auto& g : page.items) all.push_back(std::move(g));
    token = std::move(page.next_token);
    if (!token.empty() && !tokens.insert(token).second) {
      return InternalError("DescribeGameSessions: the service repeated NextToken " + token);
    }
  } while (!token.empty());
  return all;
}

Result<Page<GameSession>> GameLiftClient::SearchGameSessions(const SearchGameSessionsRequest& r) {
  constexpr std::string_view op = "SearchGameSessions";
  if (r.alias_id.empty() == r.fleet_id.empty()) {
    return InvalidArgumentError(std::string(op) +
                                ": exactly one of AliasId and FleetId must be set");
  }
  Json j = Json::MakeObject();
  if (!r.alias_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckAliasId(op, r.alias_id));
    j["AliasId"] = r.alias_id;
  } else {
    GLFM_RETURN_IF_ERROR(CheckFleetId(op, r.fleet_id));
    j["FleetId"] = r.fleet_id;
  }
  if (!r.location.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLocation(op, "Location", r.location));
    j["Location"] = r.location;
  }
  if (!r.filter_expression.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "FilterExpression", r.filter_expression, 1, 1024));
    j["FilterExpression"] = r.filter_expression;
  }
  if (!r.sort_expression.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "SortExpression", r.sort_expression, 1, 1024));
    j["SortExpression"] = r.sort_expression;
  }
  GLFM_RETURN_IF_ERROR(CheckLimit(op, r.limit, 20));
  if (r.limit > 0) j["Limit"] = r.limit;
  if (!r.next_token.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "NextToken", r.next_token, 1, 1024));
    j["NextToken"] = r.next_token;
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodePage<GameSession>(op, body, "GameSessions", &DecodeGameSession);
}

Result<PlayerSession> GameLiftClient::CreatePlayerSession(const std::string& game_session_id,
                                                          const std::string& player_id,
                                                          const std::string& player_data) {
  constexpr std::string_view op = "CreatePlayerSession";
  GLFM_RETURN_IF_ERROR(CheckGameSessionId(op, game_session_id));
  GLFM_RETURN_IF_ERROR(CheckPlayerId(op, "PlayerId", player_id));
  if (player_data.size() > kMaxPlayerDataLength) {
    return Bad(op, "PlayerData", "must be at most 2048 characters");
  }
  Json j = Json::MakeObject();
  j["GameSessionId"] = game_session_id;
  j["PlayerId"] = player_id;
  if (!player_data.empty()) j["PlayerData"] = player_data;
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodeMember(op, body, "PlayerSession", &DecodePlayerSession);
}

Result<std::vector<PlayerSession>> GameLiftClient::CreatePlayerSessions(
    const std::string& game_session_id, const std::vector<std::string>& player_ids,
    const std::map<std::string, std::string>& player_data) {
  constexpr std::string_view op = "CreatePlayerSessions";
  GLFM_RETURN_IF_ERROR(CheckGameSessionId(op, game_session_id));
  if (player_ids.empty() || player_ids.size() > kMaxPlayerIdsPerCall) {
    return Bad(op, "PlayerIds", "must hold 1-25 players, got " + std::to_string(player_ids.size()));
  }
  std::set<std::string_view> ids;
  for (const auto& p : player_ids) {
    GLFM_RETURN_IF_ERROR(CheckPlayerId(op, "PlayerIds", p));
    if (!ids.insert(p).second) return Bad(op, "PlayerIds", Quote(p) + " appears twice");
  }
  Json j = Json::MakeObject();
  j["GameSessionId"] = game_session_id;
  j["PlayerIds"] = Json(Json::Array(player_ids.begin(), player_ids.end()));
  if (!player_data.empty()) {
    Json m = Json::MakeObject();
    for (const auto& [k, v] : player_data) {
      if (!ids.contains(k)) {
        return Bad(op, "PlayerDataMap", "key " + Quote(k) + " is not among PlayerIds");
      }
      if (v.empty() || v.size() > kMaxPlayerDataLength) {
        return Bad(op, "PlayerDataMap", "value of " + Quote(k) + " must be 1-2048 characters");
      }
      m[k] = v;
    }
    j["PlayerDataMap"] = std::move(m);
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  GLFM_ASSIGN_OR_RETURN(
      auto page, DecodePage<PlayerSession>(op, body, "PlayerSessions", &DecodePlayerSession));
  return std::move(page.items);
}

Result<Page<PlayerSession>> GameLiftClient::DescribePlayerSessions(
    const DescribePlayerSessionsRequest& r) {
  constexpr std::string_view op = "DescribePlayerSessions";
  int ids = !r.game_session_id.empty() + !r.player_id.empty() + !r.player_session_id.empty();
  if (ids != 1) {
    return InvalidArgumentError(
        std::string(op) +
        ": exactly one of GameSessionId, PlayerId and PlayerSessionId must be set");
  }
  Json j = Json::MakeObject();
  if (!r.game_session_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckGameSessionId(op, r.game_session_id));
    j["GameSessionId"] = r.game_session_id;
  }
  if (!r.player_id.empty()) {
    GLFM_RETURN_IF_ERROR(CheckPlayerId(op, "PlayerId", r.player_id));
    j["PlayerId"] = r.player_id;
  }
  if (!r.player_session_id.empty()) {
    if (r.player_session_id.rfind("psess-", 0) != 0 || r.player_session_id.size() == 6 ||
        !AllOf(r.player_session_id, NotSpace)) {
      return Bad(op, "PlayerSessionId", "must be psess-..., got " + Quote(r.player_session_id));
    }
    j["PlayerSessionId"] = r.player_session_id;
  }
  if (!r.status_filter.empty()) {
    GLFM_RETURN_IF_ERROR(CheckOneOf(op, "PlayerSessionStatusFilter", r.status_filter,
                                    {"RESERVED", "ACTIVE", "COMPLETED", "TIMEDOUT"}));
    j["PlayerSessionStatusFilter"] = r.status_filter;
  }
  GLFM_RETURN_IF_ERROR(CheckLimit(op, r.limit, 0));
  if (r.limit > 0) j["Limit"] = r.limit;
  if (!r.next_token.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "NextToken", r.next_token, 1, 1024));
    j["NextToken"] = r.next_token;
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodePage<PlayerSession>(op, body, "PlayerSessions", &DecodePlayerSession);
}

Result<GameSession> GameLiftClient::UpdateGameSession(const UpdateGameSessionRequest& r) {
  constexpr std::string_view op = "UpdateGameSession";
  GLFM_RETURN_IF_ERROR(CheckGameSessionId(op, r.game_session_id));
  Json j = Json::MakeObject();
  j["GameSessionId"] = r.game_session_id;
  if (r.maximum_player_session_count.has_value()) {
    if (*r.maximum_player_session_count < 0) {
      return Bad(op, "MaximumPlayerSessionCount", "must not be negative");
    }
    j["MaximumPlayerSessionCount"] = *r.maximum_player_session_count;
  }
  if (!r.name.empty()) {
    GLFM_RETURN_IF_ERROR(CheckLength(op, "Name", r.name, 1, kMaxNameLength));
    j["Name"] = r.name;
  }
  if (!r.player_session_creation_policy.empty()) {
    GLFM_RETURN_IF_ERROR(CheckOneOf(op, "PlayerSessionCreationPolicy",
                                    r.player_session_creation_policy, {"ACCEPT_ALL", "DENY_ALL"}));
    j["PlayerSessionCreationPolicy"] = r.player_session_creation_policy;
  }
  if (!r.protection_policy.empty()) {
    GLFM_RETURN_IF_ERROR(CheckOneOf(op, "ProtectionPolicy", r.protection_policy,
                                    {"NoProtection", "FullProtection"}));
    j["ProtectionPolicy"] = r.protection_policy;
  }
  if (r.game_properties.has_value()) {
    GLFM_RETURN_IF_ERROR(CheckGameProperties(op, *r.game_properties));
    j["GameProperties"] = PropertiesJson(*r.game_properties);
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodeMember(op, body, "GameSession", &DecodeGameSession);
}

Result<Alias> GameLiftClient::DescribeAlias(const std::string& alias_id) {
  constexpr std::string_view op = "DescribeAlias";
  GLFM_RETURN_IF_ERROR(CheckAliasId(op, alias_id));
  Json j = Json::MakeObject();
  j["AliasId"] = alias_id;
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  return DecodeMember(op, body, "Alias", &DecodeAlias);
}

}  // namespace glfm::gamelift
