// Emulator: GameLift operations (AWS JSON 1.1, GameLift API reference 2015-10-01) and the
// placement / game session / player session state machines.
#include <algorithm>
#include <cctype>

#include "emulator/emulator_impl.h"
#include "emulator/search_expression.h"
#include "emulator/wire.h"

namespace glfm::emulator {
namespace {

constexpr int kMaxPlayersPerSession = 200;

OpResult InvalidRequest(std::string message) {
  return Fail(400, "InvalidRequestException", std::move(message));
}
OpResult NotFound(std::string message) {
  return Fail(400, "NotFoundException", std::move(message));
}

Json Seconds(int64_t ms) {
  if (ms % 1000 == 0) {
    return Json(ms / 1000);
  }
  return Json(static_cast<double>(ms) / 1000.0);
}

Json PropertiesJson(const std::vector<std::pair<std::string, std::string>>& props) {
  Json arr = Json::MakeArray();
  for (const auto& [k, v] : props) {
    arr.as_array().push_back(Json(Json::Object{{"Key", Json(k)}, {"Value", Json(v)}}));
  }
  return arr;
}

// Reads GameProperties [{Key, Value}]. Errors: InvalidRequestException naming the problem.
std::optional<OpResult> ReadProperties(const Json& in,
                                       std::vector<std::pair<std::string, std::string>>& out) {
  const Json* props = in.Find("GameProperties");
  if (props == nullptr) {
    return std::nullopt;
  }
  if (!props->is_array() || props->as_array().size() > 16) {
    return InvalidRequest("GameProperties must be a list of at most 16 {Key, Value}");
  }
  for (const Json& p : props->as_array()) {
    std::string k = Str(p, "Key"), v = Str(p, "Value");
    if (k.empty() || k.size() > 32 || v.size() > 96) {
      return InvalidRequest("GameProperties: Key must be 1-32 characters and Value at most 96");
    }
    out.emplace_back(k, v);
  }
  return std::nullopt;
}

bool ValidPlacementId(const std::string& id) {
  if (id.empty() || id.size() > 48) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

// Returns the last path segment of an ARN ("arn:...:alias/alias-1" → "alias-1"), or `id`.
std::string IdFromArn(const std::string& id) {
  if (id.rfind("arn:", 0) != 0) {
    return id;
  }
  size_t slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

// Pages `items` by an offset token. Errors: InvalidRequestException for a foreign token or a
// limit out of [1, max_limit].
template <typename T>
std::optional<OpResult> Page(const Json& in, int max_limit, std::vector<T>& items,
                             std::string& next) {
  auto limit = Int(in, "Limit", max_limit);
  if (!limit || *limit < 1 || *limit > max_limit) {
    return InvalidRequest("Limit must be between 1 and " + std::to_string(max_limit));
  }
  size_t offset = 0;
  std::string token = Str(in, "NextToken");
  if (!token.empty()) {
    if (token.rfind("glfm-", 0) != 0) {
      return InvalidRequest("NextToken " + token + " is not valid");
    }
    offset = std::strtoull(token.c_str() + 5, nullptr, 10);
  }
  if (offset > items.size()) {
    offset = items.size();
  }
  size_t end = std::min(items.size(), offset + static_cast<size_t>(*limit));
  next = end < items.size() ? "glfm-" + std::to_string(end) : "";
  items = std::vector<T>(items.begin() + offset, items.begin() + end);
  return std::nullopt;
}

}  // namespace

OpResult Emulator::Impl::GameLiftLocked(const std::string& op, const Json& in, Outbox& out) {
  if (op == "StartGameSessionPlacement") {
    return StartPlacementLocked(in);
  }
  if (op == "DescribeGameSessionPlacement") {
    return DescribePlacementLocked(in);
  }
  if (op == "StopGameSessionPlacement") {
    return StopPlacementLocked(in, out);
  }
  if (op == "DescribeGameSessions") {
    return DescribeGameSessionsLocked(in);
  }
  if (op == "SearchGameSessions") {
    return SearchGameSessionsLocked(in);
  }
  if (op == "UpdateGameSession") {
    return UpdateGameSessionLocked(in);
  }
  if (op == "CreatePlayerSession") {
    return CreatePlayerSessionsLocked(in, true);
  }
  if (op == "CreatePlayerSessions") {
    return CreatePlayerSessionsLocked(in, false);
  }
  if (op == "DescribePlayerSessions") {
    return DescribePlayerSessionsLocked(in);
  }
  if (op == "DescribeAlias") {
    return DescribeAliasLocked(in);
  }
  if (op == "DescribeGameSessionQueues") {
    return DescribeQueuesLocked(in);
  }
  return Fail(400, "UnsupportedRegionException",
              "operation " + op + " is not supported by the glfm emulator");
}

std::vector<std::string> Emulator::Impl::ResolveFleetsLocked(const std::string& id_or_arn) const {
  std::string id = IdFromArn(id_or_arn);
  for (const auto& a : world_.aliases) {
    if (a.id == id) {
      return {a.fleet_id};
    }
  }
  for (const auto& f : world_.fleets) {
    if (f.id == id) {
      return {f.id};
    }
  }
  return {};
}

int Emulator::Impl::CountPlayersLocked(const GameSession& g) const {
  int n = 0;
  for (const auto& id : g.player_sessions) {
    auto it = player_sessions_.find(id);
    if (it != player_sessions_.end() &&
        (it->second.status == "RESERVED" || it->second.status == "ACTIVE")) {
      ++n;
    }
  }
  return n;
}

Json Emulator::Impl::PlacementJson(const Placement& p) const {
  Json j = Json::MakeObject();
  j["PlacementId"] = Json(p.id);
  j["GameSessionQueueName"] = Json(p.queue);
  j["Status"] = Json(p.status);
  j["GameProperties"] = PropertiesJson(p.properties);
  j["MaximumPlayerSessionCount"] = Json(p.max_players);
  if (!p.name.empty()) {
    j["GameSessionName"] = Json(p.name);
  }
  if (!p.data.empty()) {
    j["GameSessionData"] = Json(p.data);
  }
  Json lat = Json::MakeArray();
  for (const auto& l : p.latencies) {
    lat.as_array().push_back(Json(Json::Object{{"PlayerId", Json(l.player_id)},
                                               {"RegionIdentifier", Json(l.region)},
                                               {"LatencyInMilliseconds", Json(l.ms)}}));
  }
  j["PlayerLatencies"] = std::move(lat);
  j["StartTime"] = Seconds(p.start_ms);
  if (p.end_ms > 0) {
    j["EndTime"] = Seconds(p.end_ms);
  }
  if (p.status == "FULFILLED") {
    auto it = game_sessions_.find(p.game_session_arn);
    if (it != game_sessions_.end()) {
      const GameSession& g = it->second;
      j["GameSessionId"] = Json(g.arn);
      j["GameSessionArn"] = Json(g.arn);
      j["GameSessionRegion"] = Json(g.location);
      j["IpAddress"] = Json(g.ip);
      j["DnsName"] = Json(g.dns);
      j["Port"] = Json(g.port);
    }
    Json placed = Json::MakeArray();
    for (const auto& [player, ps] : p.placed) {
      placed.as_array().push_back(
          Json(Json::Object{{"PlayerId", Json(player)}, {"PlayerSessionId", Json(ps)}}));
    }
    j["PlacedPlayerSessions"] = std::move(placed);
  }
  return j;
}

Json Emulator::Impl::GameSessionJson(const GameSession& g) const {
  Json j = Json::MakeObject();
  j["GameSessionId"] = Json(g.arn);
  if (!g.name.empty()) {
    j["Name"] = Json(g.name);
  }
  j["FleetId"] = Json(g.fleet_id);
  j["FleetArn"] =
      Json("arn:aws:gamelift:" + world_.region + ":" + world_.account + ":fleet/" + g.fleet_id);
  j["CreationTime"] = Seconds(g.creation_ms);
  if (g.termination_ms > 0) {
    j["TerminationTime"] = Seconds(g.termination_ms);
  }
  j["CurrentPlayerSessionCount"] = Json(CountPlayersLocked(g));
  j["MaximumPlayerSessionCount"] = Json(g.max_players);
  j["Status"] = Json(g.status);
  if (!g.status_reason.empty()) {
    j["StatusReason"] = Json(g.status_reason);
  }
  j["GameProperties"] = PropertiesJson(g.properties);
  j["IpAddress"] = Json(g.ip);
  j["DnsName"] = Json(g.dns);
  j["Port"] = Json(g.port);
  j["PlayerSessionCreationPolicy"] = Json(g.policy);
  if (!g.data.empty()) {
    j["GameSessionData"] = Json(g.data);
  }
  j["Location"] = Json(g.location);
  return j;
}

Json Emulator::Impl::PlayerSessionJson(const PlayerSession& s) const {
  Json j = Json::MakeObject();
  j["PlayerSessionId"] = Json(s.id);
  j["PlayerId"] = Json(s.player_id);
  j["GameSessionId"] = Json(s.game_session_arn);
  j["FleetId"] = Json(s.fleet_id);
  j["FleetArn"] =
      Json("arn:aws:gamelift:" + world_.region + ":" + world_.account + ":fleet/" + s.fleet_id);
  j["CreationTime"] = Seconds(s.creation_ms);
  if (s.termination_ms > 0) {
    j["TerminationTime"] = Seconds(s.termination_ms);
  }
  j["Status"] = Json(s.status);
  auto it = game_sessions_.find(s.game_session_arn);
  if (it != game_sessions_.end()) {
    j["IpAddress"] = Json(it->second.ip);
    j["DnsName"] = Json(it->second.dns);
    j["Port"] = Json(it->second.port);
  }
  if (!s.player_data.empty()) {
    j["PlayerData"] = Json(s.player_data);
  }
  return j;
}

// ---------------------------------------------------------------------------------------
// Placements

OpResult Emulator::Impl::StartPlacementLocked(const Json& in) {
  Placement p;
  p.id = Str(in, "PlacementId");
  if (!ValidPlacementId(p.id)) {
    return InvalidRequest("PlacementId must be 1-48 characters of [a-zA-Z0-9-]");
  }
  if (placements_.count(p.id)) {
    return InvalidRequest("PlacementId " + p.id + " is already in use; use a new one");
  }
  p.queue = IdFromArn(Str(in, "GameSessionQueueName"));
  const PlacementQueueSpec* queue = nullptr;
  for (const auto& q : world_.placement_queues) {
    if (q.name == p.queue) {
      queue = &q;
    }
  }
  if (queue == nullptr) {
    return NotFound("game session queue " + p.queue + " not found");
  }
  auto max = Int(in, "MaximumPlayerSessionCount", -1);
  if (!max || *max < 0 || *max > kMaxPlayersPerSession) {
    return InvalidRequest("MaximumPlayerSessionCount must be between 0 and 200");
  }
  p.max_players = static_cast<int>(*max);
  if (auto err = ReadProperties(in, p.properties)) {
    return *err;
  }
  p.name = Str(in, "GameSessionName");
  p.data = Str(in, "GameSessionData");
  if (p.data.size() > 262144) {
    return InvalidRequest("GameSessionData must be at most 262144 characters");
  }
  if (const Json* lat = in.Find("PlayerLatencies"); lat != nullptr && lat->is_array()) {
    for (const Json& l : lat->as_array()) {
      const Json* ms = l.Find("LatencyInMilliseconds");
      PlayerLatency pl{Str(l, "PlayerId"), Str(l, "RegionIdentifier"),
                       ms != nullptr && ms->is_number() ? ms->as_double() : 0.0};
      if (pl.region.empty() || pl.ms < 0) {
        return InvalidRequest("PlayerLatencies need a RegionIdentifier and a latency >= 0");
      }
      p.latencies.push_back(pl);
    }
  }
  if (const Json* d = in.Find("DesiredPlayerSessions"); d != nullptr && d->is_array()) {
    if (d->as_array().size() > 25) {
      return InvalidRequest("DesiredPlayerSessions holds at most 25 players");
    }
    for (const Json& e : d->as_array()) {
      std::string player = Str(e, "PlayerId");
      if (player.empty()) {
        return InvalidRequest("DesiredPlayerSessions: PlayerId is required");
      }
      p.desired.emplace_back(player, Str(e, "PlayerData"));
    }
    if (static_cast<int>(p.desired.size()) > p.max_players) {
      return InvalidRequest("DesiredPlayerSessions exceeds MaximumPlayerSessionCount");
    }
  }
  if (const Json* pc = in.Find("PriorityConfigurationOverride"); pc != nullptr) {
    if (const Json* order = pc->Find("LocationOrder"); order != nullptr && order->is_array()) {
      for (const Json& l : order->as_array()) {
        if (l.is_string()) {
          p.location_order.push_back(l.as_string());
        }
      }
    }
  }
  p.start_ms = Now();
  p.deadline_ms = p.start_ms + int64_t{queue->timeout_seconds} * 1000;
  ScheduleLocked(p.start_ms + world_.timings.placement_delay_ms, TimerKind::kPlacementAttempt,
                 p.id);
  ScheduleLocked(p.deadline_ms, TimerKind::kPlacementTimeout, p.id);
  OpResult r;
  r.body["GameSessionPlacement"] = PlacementJson(p);
  placements_.emplace(p.id, std::move(p));
  return r;
}

OpResult Emulator::Impl::DescribePlacementLocked(const Json& in) {
  auto it = placements_.find(Str(in, "PlacementId"));
  if (it == placements_.end()) {
    return NotFound("game session placement " + Str(in, "PlacementId") + " not found");
  }
  OpResult r;
  r.body["GameSessionPlacement"] = PlacementJson(it->second);
  return r;
}

OpResult Emulator::Impl::StopPlacementLocked(const Json& in, Outbox& out) {
  auto it = placements_.find(Str(in, "PlacementId"));
  if (it == placements_.end()) {
    return NotFound("game session placement " + Str(in, "PlacementId") + " not found");
  }
  Placement& p = it->second;
  if (p.status == "PENDING") {
    waiting_placements_.erase(p.id);
    if (!p.game_session_arn.empty()) {
      TerminateGameSessionLocked(p.game_session_arn, out).IgnoreError();
    }
    FinishPlacementLocked(p, "CANCELLED", out);
  }
  OpResult r;
  r.body["GameSessionPlacement"] = PlacementJson(p);
  return r;
}

void Emulator::Impl::TryPlaceLocked(const std::string& id, Outbox& out) {
  auto it = placements_.find(id);
  if (it == placements_.end() || it->second.status != "PENDING" ||
      !it->second.game_session_arn.empty()) {
    return;
  }
  Placement& p = it->second;
  const PlacementQueueSpec* queue = nullptr;
  for (const auto& q : world_.placement_queues) {
    if (q.name == p.queue) {
      queue = &q;
    }
  }
  if (queue == nullptr) {
    return;
  }
  // Candidates in queue order: destinations, then each fleet's locations.
  std::vector<LocationState*> candidates;
  for (const auto& dest : queue->destinations) {
    for (const auto& fleet_id : ResolveFleetsLocked(dest)) {
      for (const auto& f : world_.fleets) {
        if (f.id != fleet_id) {
          continue;
        }
        for (const auto& l : f.locations) {
          candidates.push_back(&locations_[f.id + "/" + l.name]);
        }
      }
    }
  }
  if (!p.location_order.empty()) {
    std::stable_sort(
        candidates.begin(), candidates.end(), [&p](const LocationState* a, const LocationState* b) {
          auto rank = [&p](const LocationState* s) {
            auto f = std::find(p.location_order.begin(), p.location_order.end(), s->spec.name);
            return f - p.location_order.begin();
          };
          return rank(a) < rank(b);
        });
  }
  // The lowest average latency reported by the players among locations with room; without
  // latency data for any of them, the first location with room in queue order.
  LocationState* chosen = nullptr;
  LocationState* first_free = nullptr;
  double best = 0;
  for (LocationState* c : candidates) {
    if (c->in_use >= c->spec.capacity) {
      continue;
    }
    if (first_free == nullptr) {
      first_free = c;
    }
    double sum = 0;
    int n = 0;
    for (const auto& l : p.latencies) {
      if (l.region == c->spec.name) {
        sum += l.ms;
        ++n;
      }
    }
    if (n > 0 && (chosen == nullptr || sum / n < best)) {
      chosen = c;
      best = sum / n;
    }
  }
  if (chosen == nullptr) {
    chosen = first_free;
  }
  if (chosen == nullptr) {
    waiting_placements_.insert(id);
    return;
  }
  waiting_placements_.erase(id);
  chosen->in_use++;
  uint64_t n = chosen->next++;
  GameSession g;
  g.fleet_id = chosen->fleet_id;
  g.location = chosen->spec.name;
  g.arn = "arn:aws:gamelift:" + g.location + "::gamesession/" + g.fleet_id + "/gsess-" +
          UuidFrom(id_state_);
  g.name = p.name;
  g.data = p.data;
  g.properties = p.properties;
  g.max_players = p.max_players;
  g.creation_ms = Now();
  g.ip = chosen->spec.ip_prefix + "." + std::to_string(1 + n % 254);
  g.port = chosen->spec.port_min +
           static_cast<int>(
               n % static_cast<uint64_t>(chosen->spec.port_max - chosen->spec.port_min + 1));
  if (!chosen->spec.dns_suffix.empty()) {
    std::string host = g.ip;
    std::replace(host.begin(), host.end(), '.', '-');
    g.dns = "ec2-" + host + "." + chosen->spec.dns_suffix;
  }
  g.placement_id = p.id;
  g.order = game_session_order_++;
  p.game_session_arn = g.arn;
  p.location = g.location;
  game_session_list_.push_back(g.arn);
  std::string arn = g.arn;
  game_sessions_.emplace(arn, std::move(g));
  ScheduleLocked(Now() + world_.timings.activation_delay_ms, TimerKind::kActivate, arn);
  (void)out;
}

void Emulator::Impl::RetryWaitingPlacementsLocked(Outbox& out) {
  std::vector<std::string> ids(waiting_placements_.begin(), waiting_placements_.end());
  std::sort(ids.begin(), ids.end(), [this](const std::string& a, const std::string& b) {
    return placements_[a].start_ms < placements_[b].start_ms;
  });
  for (const auto& id : ids) {
    TryPlaceLocked(id, out);
  }
}

void Emulator::Impl::ActivateLocked(const std::string& arn, Outbox& out) {
  auto it = game_sessions_.find(arn);
  if (it == game_sessions_.end() || it->second.status != "ACTIVATING") {
    return;
  }
  GameSession& g = it->second;
  g.status = "ACTIVE";
  auto pit = placements_.find(g.placement_id);
  if (pit == placements_.end() || pit->second.status != "PENDING") {
    return;
  }
  Placement& p = pit->second;
  int64_t now = Now();
  for (const auto& [player, data] : p.desired) {
    PlayerSession s;
    s.id = "psess-" + UuidFrom(id_state_);
    s.player_id = player;
    s.game_session_arn = g.arn;
    s.fleet_id = g.fleet_id;
    s.creation_ms = now;
    s.player_data = data;
    p.placed.emplace_back(player, s.id);
    g.player_sessions.push_back(s.id);
    if (world_.timings.player_accept_delay_ms >= 0) {
      ScheduleLocked(now + world_.timings.player_accept_delay_ms, TimerKind::kPlayerAccept, s.id);
    }
    ScheduleLocked(now + world_.timings.player_timeout_ms, TimerKind::kPlayerTimeout, s.id);
    player_sessions_.emplace(s.id, std::move(s));
  }
  FinishPlacementLocked(p, "FULFILLED", out);
}

void Emulator::Impl::FinishPlacementLocked(Placement& p, const std::string& status, Outbox& out) {
  p.status = status;
  p.end_ms = Now();
  EmitPlacementEventLocked(p, out);
}

Status Emulator::Impl::TerminateGameSessionLocked(const std::string& arn, Outbox& out) {
  auto it = game_sessions_.find(arn);
  if (it == game_sessions_.end()) {
    return NotFoundError("game session " + arn + " not found");
  }
  GameSession& g = it->second;
  if (g.status == "TERMINATED") {
    return OkStatus();
  }
  g.status = "TERMINATED";
  g.termination_ms = Now();
  for (const auto& id : g.player_sessions) {
    auto ps = player_sessions_.find(id);
    if (ps != player_sessions_.end() &&
        (ps->second.status == "RESERVED" || ps->second.status == "ACTIVE")) {
      ps->second.status = "COMPLETED";
      ps->second.termination_ms = g.termination_ms;
    }
  }
  auto loc = locations_.find(g.fleet_id + "/" + g.location);
  if (loc != locations_.end() && loc->second.in_use > 0) {
    loc->second.in_use--;
  }
  RetryWaitingPlacementsLocked(out);
  return OkStatus();
}

void Emulator::Impl::EmitPlacementEventLocked(const Placement& p, Outbox& out) {
  const PlacementQueueSpec* queue = nullptr;
  for (const auto& q : world_.placement_queues) {
    if (q.name == p.queue) {
      queue = &q;
    }
  }
  if (queue == nullptr || queue->notification_topic.empty()) {
    return;
  }
  static const std::map<std::string, std::string> kTypes = {{"FULFILLED", "PlacementFulfilled"},
                                                            {"TIMED_OUT", "PlacementTimedOut"},
                                                            {"CANCELLED", "PlacementCancelled"},
                                                            {"FAILED", "PlacementFailed"}};
  // GameLift Queue Placement Event (developer guide, "Game session placement events").
  JsonObjectWriter detail;
  detail.String("type", kTypes.at(p.status)).String("placementId", p.id);
  if (p.status == "FULFILLED") {
    const GameSession& g = game_sessions_.at(p.game_session_arn);
    std::string placed = "[";
    for (const auto& [player, ps] : p.placed) {
      placed +=
          (placed.size() > 1 ? "," : "") +
          JsonObjectWriter().String("playerId", player).String("playerSessionId", ps).Finish();
    }
    placed += "]";
    detail
        .String("port", std::to_string(g.port))  // a string in events, a number in the API
        .String("gameSessionArn", g.arn)
        .String("ipAddress", g.ip)
        .String("dnsName", g.dns)
        .String("startTime", Iso8601Millis(p.start_ms))
        .String("endTime", Iso8601Millis(p.end_ms))
        .String("gameSessionRegion", g.location)
        .Raw("placedPlayerSessions", placed);
  } else {
    detail.String("startTime", Iso8601Millis(p.start_ms))
        .String("endTime", Iso8601Millis(p.end_ms));
  }
  std::string time = Iso8601Millis(p.end_ms);
  time = time.substr(0, 19) + "Z";
  std::string resources = "[";
  AppendJsonString(resources, "arn:aws:gamelift:" + world_.region + ":" + world_.account +
                                  ":gamesessionqueue/" + queue->name);
  resources += "]";
  std::string text = JsonObjectWriter()
                         .String("version", "0")
                         .String("id", UuidFrom(id_state_))
                         .String("detail-type", "GameLift Queue Placement Event")
                         .String("source", "aws.gamelift")
                         .String("account", world_.account)
                         .String("time", time)
                         .String("region", world_.region)
                         .Raw("resources", resources)
                         .Raw("detail", detail.Finish())
                         .Finish();
  const EventFaults& f = world_.faults.events;
  const std::string& topic = queue->notification_topic;
  if (Roll(f.drop_percent)) {
    return;
  }
  int copies = Roll(f.duplicate_percent) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    if (Roll(f.delay_percent)) {
      uint64_t n = next_delayed_++;
      delayed_events_[n] = {topic, text};
      ScheduleLocked(Now() + f.delay_ms, TimerKind::kDelayedEvent, "", n);
    } else if (!held_event_ && Roll(f.reorder_percent)) {
      held_event_ = std::make_pair(topic, text);
      ScheduleLocked(Now() + f.delay_ms, TimerKind::kFlushHeld, text);
    } else {
      DeliverEventLocked(topic, text, out);
      if (held_event_) {
        auto held = std::move(*held_event_);
        held_event_.reset();
        DeliverEventLocked(held.first, held.second, out);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Game sessions and player sessions

OpResult Emulator::Impl::DescribeGameSessionsLocked(const Json& in) {
  std::vector<const GameSession*> found;
  std::string gs = Str(in, "GameSessionId");
  if (!gs.empty()) {
    auto it = game_sessions_.find(gs);
    if (it == game_sessions_.end()) {
      return NotFound("game session " + gs + " not found");
    }
    found.push_back(&it->second);
  } else {
    std::string fleet = Str(in, "FleetId");
    std::string alias = Str(in, "AliasId");
    auto fleets = ResolveFleetsLocked(fleet.empty() ? alias : fleet);
    if (fleet.empty() && alias.empty()) {
      return InvalidRequest("one of GameSessionId, FleetId or AliasId is required");
    }
    if (fleets.empty()) {
      return NotFound((fleet.empty() ? "alias " + alias : "fleet " + fleet) + " not found");
    }
    std::string status = Str(in, "StatusFilter");
    std::string location = Str(in, "Location");
    for (const auto& arn : game_session_list_) {
      const GameSession& g = game_sessions_.at(arn);
      if (g.fleet_id == fleets[0] && (status.empty() || g.status == status) &&
          (location.empty() || g.location == location)) {
        found.push_back(&g);
      }
    }
  }
  std::string next;
  if (auto err = Page(in, 100, found, next)) {
    return *err;
  }
  OpResult r;
  Json list = Json::MakeArray();
  for (const GameSession* g : found) {
    list.as_array().push_back(GameSessionJson(*g));
  }
  r.body["GameSessions"] = std::move(list);
  if (!next.empty()) {
    r.body["NextToken"] = Json(next);
  }
  return r;
}

OpResult Emulator::Impl::SearchGameSessionsLocked(const Json& in) {
  std::string fleet = Str(in, "FleetId");
  std::string alias = Str(in, "AliasId");
  if (fleet.empty() == alias.empty()) {
    return InvalidRequest("exactly one of FleetId or AliasId is required");
  }
  auto fleets = ResolveFleetsLocked(fleet.empty() ? alias : fleet);
  if (fleets.empty()) {
    return NotFound((fleet.empty() ? "alias " + alias : "fleet " + fleet) + " not found");
  }
  std::optional<FilterExpression> filter;
  if (std::string f = Str(in, "FilterExpression"); !f.empty()) {
    auto parsed = FilterExpression::Parse(f);
    if (!parsed.ok()) {
      return InvalidRequest(parsed.status().message());
    }
    filter = std::move(parsed).value();
  }
  std::optional<SortExpression> sort;
  if (std::string s = Str(in, "SortExpression"); !s.empty()) {
    auto parsed = SortExpression::Parse(s);
    if (!parsed.ok()) {
      return InvalidRequest(parsed.status().message());
    }
    sort = *parsed;
  }
  std::string location = Str(in, "Location");
  std::vector<const GameSession*> found;
  for (const auto& arn : game_session_list_) {
    const GameSession& g = game_sessions_.at(arn);
    if (g.fleet_id != fleets[0] || g.status != "ACTIVE" ||
        (!location.empty() && g.location != location)) {
      continue;
    }
    if (filter) {
      int players = CountPlayersLocked(g);
      bool ok = filter->Matches([&](const std::string& operand) -> SearchValue {
        if (operand == "gameSessionId") {
          return g.arn;
        }
        if (operand == "gameSessionName") {
          return g.name;
        }
        if (operand == "creationTimeMillis") {
          return static_cast<double>(g.creation_ms);
        }
        if (operand == "playerSessionCount") {
          return static_cast<double>(players);
        }
        if (operand == "maximumSessions") {
          return static_cast<double>(g.max_players);
        }
        if (operand == "hasAvailablePlayerSessions") {
          return g.policy == "ACCEPT_ALL" && players < g.max_players;
        }
        std::string key = operand.substr(22);
        for (const auto& [k, v] : g.properties) {
          if (k == key) {
            return v;
          }
        }
        return std::monostate{};
      });
      if (!ok) {
        continue;
      }
    }
    found.push_back(&g);
  }
  if (sort) {
    auto value = [this, &sort](const GameSession* g) -> SearchValue {
      const std::string& o = sort->operand;
      if (o == "gameSessionId") {
        return g->arn;
      }
      if (o == "gameSessionName") {
        return g->name;
      }
      if (o == "creationTimeMillis") {
        return static_cast<double>(g->creation_ms);
      }
      if (o == "playerSessionCount") {
        return static_cast<double>(CountPlayersLocked(*g));
      }
      if (o == "maximumSessions") {
        return static_cast<double>(g->max_players);
      }
      if (o == "hasAvailablePlayerSessions") {
        return CountPlayersLocked(*g) < g->max_players;
      }
      for (const auto& [k, v] : g->properties) {
        if (k == o.substr(22)) {
          return v;
        }
      }
      return std::monostate{};
    };
    std::stable_sort(found.begin(), found.end(), [&](const GameSession* a, const GameSession* b) {
      SearchValue va = value(a), vb = value(b);
      bool na = std::holds_alternative<std::monostate>(va);
      bool nb = std::holds_alternative<std::monostate>(vb);
      if (na || nb) {
        return !na && nb;  // absent values last in either direction
      }
      int c = CompareSearchValues(va, vb);
      return sort->descending ? c > 0 : c < 0;
    });
  }
  std::string next;
  if (auto err = Page(in, 20, found, next)) {
    return *err;
  }
  OpResult r;
  Json list = Json::MakeArray();
  for (const GameSession* g : found) {
    list.as_array().push_back(GameSessionJson(*g));
  }
  r.body["GameSessions"] = std::move(list);
  if (!next.empty()) {
    r.body["NextToken"] = Json(next);
  }
  return r;
}

OpResult Emulator::Impl::UpdateGameSessionLocked(const Json& in) {
  std::string arn = Str(in, "GameSessionId");
  auto it = game_sessions_.find(arn);
  if (it == game_sessions_.end()) {
    return NotFound("game session " + arn + " not found");
  }
  GameSession& g = it->second;
  if (g.status != "ACTIVE" && g.status != "ACTIVATING") {
    return Fail(400, "InvalidGameSessionStatusException",
                "game session " + arn + " is " + g.status + " and cannot be updated");
  }
  auto max = Int(in, "MaximumPlayerSessionCount", g.max_players);
  if (!max || *max < 0 || *max > kMaxPlayersPerSession) {
    return InvalidRequest("MaximumPlayerSessionCount must be between 0 and 200");
  }
  std::string policy = Str(in, "PlayerSessionCreationPolicy");
  if (!policy.empty() && policy != "ACCEPT_ALL" && policy != "DENY_ALL") {
    return InvalidRequest("PlayerSessionCreationPolicy must be ACCEPT_ALL or DENY_ALL");
  }
  std::string protection = Str(in, "ProtectionPolicy");
  if (!protection.empty() && protection != "NoProtection" && protection != "FullProtection") {
    return InvalidRequest("ProtectionPolicy must be NoProtection or FullProtection");
  }
  std::vector<std::pair<std::string, std::string>> props;
  if (auto err = ReadProperties(in, props)) {
    return *err;
  }
  g.max_players = static_cast<int>(*max);
  if (!policy.empty()) {
    g.policy = policy;
  }
  if (!protection.empty()) {
    g.protection = protection;
  }
  if (in.Find("Name") != nullptr) {
    g.name = Str(in, "Name");
  }
  // Properties named in the request overwrite; the others stay.
  for (const auto& [k, v] : props) {
    auto pit = std::find_if(g.properties.begin(), g.properties.end(),
                            [&k](const auto& p) { return p.first == k; });
    if (pit == g.properties.end()) {
      g.properties.emplace_back(k, v);
    } else {
      pit->second = v;
    }
  }
  OpResult r;
  r.body["GameSession"] = GameSessionJson(g);
  return r;
}

OpResult Emulator::Impl::CreatePlayerSessionsLocked(const Json& in, bool single) {
  std::string arn = Str(in, "GameSessionId");
  std::vector<std::pair<std::string, std::string>> players;
  if (single) {
    std::string player = Str(in, "PlayerId");
    if (player.empty()) {
      return InvalidRequest("PlayerId is required");
    }
    players.emplace_back(player, Str(in, "PlayerData"));
  } else {
    const Json* ids = in.Find("PlayerIds");
    if (ids == nullptr || !ids->is_array() || ids->as_array().empty() ||
        ids->as_array().size() > 25) {
      return InvalidRequest("PlayerIds must hold 1 to 25 player ids");
    }
    const Json* data = in.Find("PlayerDataMap");
    for (const Json& id : ids->as_array()) {
      if (!id.is_string() || id.as_string().empty()) {
        return InvalidRequest("PlayerIds must be non-empty strings");
      }
      std::string d;
      if (data != nullptr) {
        d = Str(*data, id.as_string().c_str());
      }
      players.emplace_back(id.as_string(), d);
    }
  }
  if (arn.empty()) {
    return InvalidRequest("GameSessionId is required");
  }
  auto it = game_sessions_.find(arn);
  if (it == game_sessions_.end()) {
    return NotFound("game session " + arn + " not found");
  }
  GameSession& g = it->second;
  if (g.status != "ACTIVE") {
    return Fail(400, "InvalidGameSessionStatusException",
                "game session " + arn + " is " + g.status + ", not ACTIVE");
  }
  if (g.policy == "DENY_ALL") {
    return Fail(400, "InvalidGameSessionStatusException",
                "game session " + arn + " does not accept new players (DENY_ALL)");
  }
  if (CountPlayersLocked(g) + static_cast<int>(players.size()) > g.max_players) {
    return Fail(400, "GameSessionFullException",
                "game session " + arn + " has no room for " + std::to_string(players.size()) +
                    " more players");
  }
  int64_t now = Now();
  Json list = Json::MakeArray();
  for (const auto& [player, data] : players) {
    PlayerSession s;
    s.id = "psess-" + UuidFrom(id_state_);
    s.player_id = player;
    s.game_session_arn = arn;
    s.fleet_id = g.fleet_id;
    s.creation_ms = now;
    s.player_data = data;
    g.player_sessions.push_back(s.id);
    if (world_.timings.player_accept_delay_ms >= 0) {
      ScheduleLocked(now + world_.timings.player_accept_delay_ms, TimerKind::kPlayerAccept, s.id);
    }
    ScheduleLocked(now + world_.timings.player_timeout_ms, TimerKind::kPlayerTimeout, s.id);
    list.as_array().push_back(PlayerSessionJson(s));
    player_sessions_.emplace(s.id, std::move(s));
  }
  OpResult r;
  if (single) {
    r.body["PlayerSession"] = list.as_array()[0];
  } else {
    r.body["PlayerSessions"] = std::move(list);
  }
  return r;
}

OpResult Emulator::Impl::DescribePlayerSessionsLocked(const Json& in) {
  std::string id = Str(in, "PlayerSessionId");
  std::string player = Str(in, "PlayerId");
  std::string arn = Str(in, "GameSessionId");
  std::string status = Str(in, "PlayerSessionStatusFilter");
  std::vector<const PlayerSession*> found;
  if (!id.empty()) {
    auto it = player_sessions_.find(id);
    if (it == player_sessions_.end()) {
      return NotFound("player session " + id + " not found");
    }
    found.push_back(&it->second);
  } else if (!arn.empty()) {
    auto it = game_sessions_.find(arn);
    if (it == game_sessions_.end()) {
      return NotFound("game session " + arn + " not found");
    }
    for (const auto& ps : it->second.player_sessions) {
      const PlayerSession& s = player_sessions_.at(ps);
      if ((status.empty() || s.status == status) && (player.empty() || s.player_id == player)) {
        found.push_back(&s);
      }
    }
  } else if (!player.empty()) {
    for (const auto& garn : game_session_list_) {
      for (const auto& ps : game_sessions_.at(garn).player_sessions) {
        const PlayerSession& s = player_sessions_.at(ps);
        if (s.player_id == player && (status.empty() || s.status == status)) {
          found.push_back(&s);
        }
      }
    }
  } else {
    return InvalidRequest("one of PlayerSessionId, GameSessionId or PlayerId is required");
  }
  std::string next;
  if (auto err = Page(in, 50, found, next)) {
    return *err;
  }
  OpResult r;
  Json list = Json::MakeArray();
  for (const PlayerSession* s : found) {
    list.as_array().push_back(PlayerSessionJson(*s));
  }
  r.body["PlayerSessions"] = std::move(list);
  if (!next.empty()) {
    r.body["NextToken"] = Json(next);
  }
  return r;
}

OpResult Emulator::Impl::DescribeAliasLocked(const Json& in) {
  std::string id = IdFromArn(Str(in, "AliasId"));
  for (const auto& a : world_.aliases) {
    if (a.id == id) {
      Json alias = Json::MakeObject();
      alias["AliasId"] = Json(a.id);
      alias["Name"] = Json(a.name);
      alias["AliasArn"] =
          Json("arn:aws:gamelift:" + world_.region + ":" + world_.account + ":alias/" + a.id);
      alias["Description"] = Json("glfm emulator alias");
      alias["RoutingStrategy"] =
          Json(Json::Object{{"Type", Json("SIMPLE")}, {"FleetId", Json(a.fleet_id)}});
      alias["CreationTime"] = Json(0);
      alias["LastUpdatedTime"] = Json(0);
      OpResult r;
      r.body["Alias"] = std::move(alias);
      return r;
    }
  }
  return NotFound("alias " + id + " not found");
}

OpResult Emulator::Impl::DescribeQueuesLocked(const Json& in) {
  const Json* names = in.Find("Names");
  Json list = Json::MakeArray();
  for (const auto& q : world_.placement_queues) {
    bool wanted = names == nullptr || !names->is_array() || names->as_array().empty();
    for (size_t i = 0; !wanted && i < names->as_array().size(); ++i) {
      const Json& n = names->as_array()[i];
      wanted = n.is_string() && IdFromArn(n.as_string()) == q.name;
    }
    if (!wanted) {
      continue;
    }
    Json j = Json::MakeObject();
    j["Name"] = Json(q.name);
    j["GameSessionQueueArn"] = Json("arn:aws:gamelift:" + world_.region + ":" + world_.account +
                                    ":gamesessionqueue/" + q.name);
    j["TimeoutInSeconds"] = Json(q.timeout_seconds);
    Json dests = Json::MakeArray();
    for (const auto& d : q.destinations) {
      std::string kind = ResolveFleetsLocked(d).front() == d ? "fleet/" : "alias/";
      dests.as_array().push_back(
          Json(Json::Object{{"DestinationArn", Json("arn:aws:gamelift:" + world_.region + ":" +
                                                    world_.account + ":" + kind + d)}}));
    }
    j["Destinations"] = std::move(dests);
    if (!q.notification_topic.empty()) {
      j["NotificationTarget"] =
          Json("arn:aws:sns:" + world_.region + ":" + world_.account + ":" + q.notification_topic);
    }
    list.as_array().push_back(std::move(j));
  }
  OpResult r;
  r.body["GameSessionQueues"] = std::move(list);
  return r;
}

}  // namespace glfm::emulator
