// ParsePlacementEvent: GameLift Queue Placement Events, SNS-enveloped or raw.
#include <charconv>

#include "fleet/fleet_manager_impl.h"
#include "glfm/codec.h"

namespace glfm::fleet {
namespace {

const std::string* Str(const Json& j, std::string_view key) {
  const Json* v = j.Find(key);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

std::string StrOr(const Json& j, std::string_view key) {
  const std::string* s = Str(j, key);
  return s == nullptr ? std::string() : *s;
}

Timestamp TimeOr(const Json& j, std::string_view key) {
  const std::string* s = Str(j, key);
  if (s == nullptr) return {};
  auto t = ParseRfc3339(*s);
  return t.ok() ? *t : Timestamp{};
}

}  // namespace

Result<PlacementEvent> ParsePlacementEvent(std::string_view body) {
  auto parsed = Json::Parse(body);
  if (!parsed.ok()) return InvalidArgumentError("message body is not JSON");
  Json outer = std::move(parsed).value();
  if (!outer.is_object()) return InvalidArgumentError("message body is not a JSON object");
  PlacementEvent ev;
  Json event;
  const std::string* type = Str(outer, "Type");
  const std::string* message = Str(outer, "Message");
  if (type != nullptr && message != nullptr) {
    // The SNS envelope: the event is the JSON text in Message.
    if (*type != "Notification") {
      return InvalidArgumentError("SNS message of type " + *type + " is not a notification");
    }
    auto inner = Json::Parse(*message);
    if (!inner.ok() || !inner->is_object()) {
      return InvalidArgumentError("SNS Message is not a JSON object");
    }
    event = std::move(inner).value();
    ev.raw = *message;
  } else {
    event = std::move(outer);
    ev.raw = std::string(body);
  }
  const std::string* detail_type = Str(event, "detail-type");
  const Json* detail = event.Find("detail");
  if (detail_type == nullptr || *detail_type != "GameLift Queue Placement Event" ||
      detail == nullptr || !detail->is_object()) {
    return InvalidArgumentError("not a GameLift Queue Placement Event");
  }
  ev.type = StrOr(*detail, "type");
  ev.placement_id = StrOr(*detail, "placementId");
  if (ev.type.empty()) return InvalidArgumentError("placement event without detail.type");
  if (ev.placement_id.empty()) {
    return InvalidArgumentError("placement event without detail.placementId");
  }
  ev.game_session_arn = StrOr(*detail, "gameSessionArn");
  ev.ip_address = StrOr(*detail, "ipAddress");
  ev.dns_name = StrOr(*detail, "dnsName");
  ev.region = StrOr(*detail, "gameSessionRegion");
  ev.start_time = TimeOr(*detail, "startTime");
  ev.end_time = TimeOr(*detail, "endTime");
  if (const Json* port = detail->Find("port"); port != nullptr) {
    if (port->is_number()) {
      ev.port = static_cast<int>(port->as_int64());
    } else if (port->is_string()) {
      const std::string& s = port->as_string();
      int v = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || ptr != s.data() + s.size()) {
        return InvalidArgumentError("placement event with a non-numeric port \"" + s + "\"");
      }
      ev.port = v;
    }
  }
  if (const Json* placed = detail->Find("placedPlayerSessions");
      placed != nullptr && placed->is_array()) {
    for (const Json& p : placed->as_array()) {
      if (!p.is_object()) continue;
      ev.placed_player_sessions.push_back({StrOr(p, "playerId"), StrOr(p, "playerSessionId")});
    }
  }
  ev.error_message = StrOr(*detail, "errorMessage");
  if (ev.type == "PlacementFulfilled" && ev.game_session_arn.empty()) {
    return InvalidArgumentError("PlacementFulfilled event without detail.gameSessionArn");
  }
  return ev;
}

}  // namespace glfm::fleet
