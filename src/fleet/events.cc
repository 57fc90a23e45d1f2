// ParsePlacementEvent: GameLift Queue Placement Events, SNS-enveloped or raw.
//
// Read straight from simdjson's DOM (validated in full, as Json::Parse does) rather than
// through a Json tree: a receiver decodes every message of every receive, and building and
// tearing down two trees of maps per message cost more than the parse itself.
#include <charconv>
#include <optional>

#include "common/json_dom.h"
#include "fleet/fleet_manager_impl.h"
#include "glfm/codec.h"

namespace glfm::fleet {
namespace {

using internal::LastMember;
using simdjson::dom::element;
using simdjson::dom::object;

// Returns the string `key` of `o`, or nullopt when it is missing or not a string.
std::optional<std::string_view> Str(object o, std::string_view key) {
  std::optional<element> e = LastMember(o, key);
  std::string_view s;
  if (!e || e->get_string().get(s) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return s;
}

std::string StrOr(object o, std::string_view key) { return std::string(Str(o, key).value_or("")); }

// A numeric port as Json::as_int64 reads it: integers as they are, fractions truncated.
// Returns false for a number no int64 can hold.
bool NumberPort(element e, int& port) {
  int64_t i = 0;
  double d = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    port = static_cast<int>(i);
    return true;
  }
  // An unsigned beyond int64, or a fraction: as a double; beyond int64 it is no port.
  if (e.get_double().get(d) != simdjson::SUCCESS || !(d > -9.2e18 && d < 9.2e18)) {
    return false;
  }
  port = static_cast<int>(static_cast<int64_t>(d));
  return true;
}

}  // namespace

Result<PlacementEvent> ParsePlacementEvent(std::string_view body) {
  // Two parsers: the event inside an SNS envelope is parsed while the envelope's strings (the
  // Message among them) still live in the first one.
  thread_local simdjson::dom::parser outer_parser;
  thread_local simdjson::dom::parser inner_parser;
  element outer;
  if (outer_parser.parse(body.data(), body.size()).get(outer) != simdjson::SUCCESS) {
    return InvalidArgumentError("message body is not JSON");
  }
  object outer_obj;
  if (outer.get_object().get(outer_obj) != simdjson::SUCCESS) {
    return InvalidArgumentError("message body is not a JSON object");
  }
  PlacementEvent ev;
  object event;
  auto type = Str(outer_obj, "Type");
  auto message = Str(outer_obj, "Message");
  if (type && message) {
    // The SNS envelope: the event is the JSON text in Message.
    if (*type != "Notification") {
      return InvalidArgumentError("SNS message of type " + std::string(*type) +
                                  " is not a notification");
    }
    element inner;
    if (inner_parser.parse(message->data(), message->size()).get(inner) != simdjson::SUCCESS ||
        inner.get_object().get(event) != simdjson::SUCCESS) {
      return InvalidArgumentError("SNS Message is not a JSON object");
    }
    ev.raw = std::string(*message);
  } else {
    event = outer_obj;
    ev.raw = std::string(body);
  }
  auto detail_type = Str(event, "detail-type");
  std::optional<element> detail_value = LastMember(event, "detail");
  object detail;
  if (!detail_type || *detail_type != "GameLift Queue Placement Event" || !detail_value ||
      detail_value->get_object().get(detail) != simdjson::SUCCESS) {
    return InvalidArgumentError("not a GameLift Queue Placement Event");
  }
  // One pass over detail; a repeated key keeps its last value.
  std::optional<element> port, placed;
  for (simdjson::dom::key_value_pair kv : detail) {
    std::string_view k = kv.key;
    std::string_view s;
    bool is_string = kv.value.get_string().get(s) == simdjson::SUCCESS;
    auto set = [&](std::string& field) { field = is_string ? std::string(s) : std::string(); };
    auto set_time = [&](Timestamp& field) {
      field = Timestamp{};
      if (is_string) {
        auto t = ParseRfc3339(s);
        if (t.ok()) {
          field = *t;
        }
      }
    };
    if (k == "type") {
      set(ev.type);
    } else if (k == "placementId") {
      set(ev.placement_id);
    } else if (k == "gameSessionArn") {
      set(ev.game_session_arn);
    } else if (k == "ipAddress") {
      set(ev.ip_address);
    } else if (k == "dnsName") {
      set(ev.dns_name);
    } else if (k == "gameSessionRegion") {
      set(ev.region);
    } else if (k == "startTime") {
      set_time(ev.start_time);
    } else if (k == "endTime") {
      set_time(ev.end_time);
    } else if (k == "errorMessage") {
      set(ev.error_message);
    } else if (k == "port") {
      port = kv.value;
    } else if (k == "placedPlayerSessions") {
      placed = kv.value;
    }
  }
  if (ev.type.empty()) {
    return InvalidArgumentError("placement event without detail.type");
  }
  if (ev.placement_id.empty()) {
    return InvalidArgumentError("placement event without detail.placementId");
  }
  if (port && port->is_number()) {
    if (!NumberPort(*port, ev.port)) {
      return InvalidArgumentError("placement event with a port out of range");
    }
  } else if (std::string_view s; port && port->get_string().get(s) == simdjson::SUCCESS) {
    int v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      return InvalidArgumentError("placement event with a non-numeric port \"" + std::string(s) +
                                  "\"");
    }
    ev.port = v;
  }
  if (simdjson::dom::array sessions;
      placed && placed->get_array().get(sessions) == simdjson::SUCCESS) {
    for (element p : sessions) {
      object po;
      if (p.get_object().get(po) != simdjson::SUCCESS) {
        continue;
      }
      ev.placed_player_sessions.push_back({StrOr(po, "playerId"), StrOr(po, "playerSessionId")});
    }
  }
  if (ev.type == "PlacementFulfilled" && ev.game_session_arn.empty()) {
    return InvalidArgumentError("PlacementFulfilled event without detail.gameSessionArn");
  }
  return ev;
}

}  // namespace glfm::fleet
