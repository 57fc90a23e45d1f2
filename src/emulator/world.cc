#include "emulator/world.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace glfm::emulator {
namespace {

// yaml-cpp reports problems with exceptions; they are caught here, where they enter.
template <typename T>
Status Read(const YAML::Node& node, const char* key, const std::string& where, T& out) {
  YAML::Node v = node[key];
  if (!v) {
    return OkStatus();
  }
  try {
    out = v.as<T>();
  } catch (const YAML::Exception&) {
    return InvalidArgumentError(where + key + ": wrong type");
  }
  return OkStatus();
}

Status ReadPercent(const YAML::Node& node, const char* key, const std::string& where, double& out) {
  GLFM_RETURN_IF_ERROR(Read(node, key, where, out));
  if (out < 0 || out > 100) {
    return InvalidArgumentError(where + key + ": must be between 0 and 100");
  }
  return OkStatus();
}

Status ParseFaultsNode(const YAML::Node& node, Faults& f) {
  if (!node.IsMap()) {
    return InvalidArgumentError("faults: must be a mapping");
  }
  GLFM_RETURN_IF_ERROR(Read(node, "seed", "faults.", f.seed));
  GLFM_RETURN_IF_ERROR(
      ReadPercent(node, "placement_fail_percent", "faults.", f.placement_fail_percent));
  if (YAML::Node ev = node["events"]) {
    const std::string w = "faults.events.";
    GLFM_RETURN_IF_ERROR(ReadPercent(ev, "drop_percent", w, f.events.drop_percent));
    GLFM_RETURN_IF_ERROR(ReadPercent(ev, "duplicate_percent", w, f.events.duplicate_percent));
    GLFM_RETURN_IF_ERROR(ReadPercent(ev, "delay_percent", w, f.events.delay_percent));
    GLFM_RETURN_IF_ERROR(ReadPercent(ev, "reorder_percent", w, f.events.reorder_percent));
    GLFM_RETURN_IF_ERROR(Read(ev, "delay_ms", w, f.events.delay_ms));
  }
  if (YAML::Node ops = node["operations"]) {
    if (!ops.IsMap()) {
      return InvalidArgumentError("faults.operations: must be a mapping");
    }
    for (const auto& kv : ops) {
      std::string name = kv.first.as<std::string>();
      OperationFaults of;
      const std::string w = "faults.operations." + name + ".";
      GLFM_RETURN_IF_ERROR(ReadPercent(kv.second, "throttle_percent", w, of.throttle_percent));
      GLFM_RETURN_IF_ERROR(ReadPercent(kv.second, "error_percent", w, of.error_percent));
      GLFM_RETURN_IF_ERROR(ReadPercent(kv.second, "latency_percent", w, of.latency_percent));
      GLFM_RETURN_IF_ERROR(Read(kv.second, "latency_ms", w, of.latency_ms));
      if (of.latency_ms < 0 || of.latency_ms > 3'600'000) {
        return InvalidArgumentError(w + "latency_ms: must be between 0 and 3600000");
      }
      f.operations[name] = of;
    }
  }
  return OkStatus();
}

Status ParseWorldNode(const YAML::Node& root, World& w) {
  if (!root.IsMap()) {
    return InvalidArgumentError("world: must be a mapping");
  }
  GLFM_RETURN_IF_ERROR(Read(root, "region", "", w.region));
  GLFM_RETURN_IF_ERROR(Read(root, "account", "", w.account));
  if (YAML::Node fleets = root["fleets"]) {
    w.fleets.clear();
    for (size_t i = 0; i < fleets.size(); ++i) {
      const YAML::Node& fn = fleets[i];
      const std::string where = "fleets[" + std::to_string(i) + "].";
      FleetSpec f;
      GLFM_RETURN_IF_ERROR(Read(fn, "id", where, f.id));
      if (f.id.empty()) {
        return InvalidArgumentError(where + "id: required");
      }
      YAML::Node locs = fn["locations"];
      for (size_t j = 0; locs && j < locs.size(); ++j) {
        const std::string lw = where + "locations[" + std::to_string(j) + "].";
        LocationSpec l;
        if (locs[j].IsScalar()) {
          l.name = locs[j].as<std::string>();
        } else {
          GLFM_RETURN_IF_ERROR(Read(locs[j], "name", lw, l.name));
          GLFM_RETURN_IF_ERROR(Read(locs[j], "capacity", lw, l.capacity));
          GLFM_RETURN_IF_ERROR(Read(locs[j], "ip_prefix", lw, l.ip_prefix));
          GLFM_RETURN_IF_ERROR(Read(locs[j], "dns_suffix", lw, l.dns_suffix));
          GLFM_RETURN_IF_ERROR(Read(locs[j], "port_min", lw, l.port_min));
          GLFM_RETURN_IF_ERROR(Read(locs[j], "port_max", lw, l.port_max));
        }
        if (l.name.empty()) {
          return InvalidArgumentError(lw + "name: required");
        }
        if (l.capacity < 0 || l.port_min < 1 || l.port_max > 65535 || l.port_min > l.port_max) {
          return InvalidArgumentError(lw + "capacity or port range out of bounds");
        }
        if (l.ip_prefix.empty()) {
          l.ip_prefix = "10.0." + std::to_string(j + 1);
        }
        f.locations.push_back(l);
      }
      if (f.locations.empty()) {
        LocationSpec l;
        l.name = w.region;
        l.ip_prefix = "10.0.1";
        f.locations.push_back(l);
      }
      w.fleets.push_back(f);
    }
  }
  if (YAML::Node aliases = root["aliases"]) {
    w.aliases.clear();
    for (size_t i = 0; i < aliases.size(); ++i) {
      const std::string where = "aliases[" + std::to_string(i) + "].";
      AliasSpec a;
      GLFM_RETURN_IF_ERROR(Read(aliases[i], "id", where, a.id));
      GLFM_RETURN_IF_ERROR(Read(aliases[i], "name", where, a.name));
      GLFM_RETURN_IF_ERROR(Read(aliases[i], "fleet", where, a.fleet_id));
      if (a.name.empty()) {
        a.name = a.id;
      }
      w.aliases.push_back(a);
    }
  }
  if (YAML::Node qs = root["placement_queues"]) {
    w.placement_queues.clear();
    for (size_t i = 0; i < qs.size(); ++i) {
      const std::string where = "placement_queues[" + std::to_string(i) + "].";
      PlacementQueueSpec q;
      GLFM_RETURN_IF_ERROR(Read(qs[i], "name", where, q.name));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "timeout_seconds", where, q.timeout_seconds));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "destinations", where, q.destinations));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "notification_topic", where, q.notification_topic));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "max_player_latency_ms", where, q.max_player_latency_ms));
      w.placement_queues.push_back(q);
    }
  }
  if (YAML::Node ts = root["topics"]) {
    w.topics.clear();
    for (size_t i = 0; i < ts.size(); ++i) {
      const std::string where = "topics[" + std::to_string(i) + "].";
      TopicSpec t;
      GLFM_RETURN_IF_ERROR(Read(ts[i], "name", where, t.name));
      YAML::Node subs = ts[i]["subscriptions"];
      for (size_t j = 0; subs && j < subs.size(); ++j) {
        const std::string sw = where + "subscriptions[" + std::to_string(j) + "].";
        SubscriptionSpec s;
        GLFM_RETURN_IF_ERROR(Read(subs[j], "queue", sw, s.queue));
        GLFM_RETURN_IF_ERROR(Read(subs[j], "raw", sw, s.raw));
        t.subscriptions.push_back(s);
      }
      w.topics.push_back(t);
    }
  }
  if (YAML::Node qs = root["queues"]) {
    w.queues.clear();
    for (size_t i = 0; i < qs.size(); ++i) {
      const std::string where = "queues[" + std::to_string(i) + "].";
      SqsQueueSpec q;
      GLFM_RETURN_IF_ERROR(Read(qs[i], "name", where, q.name));
      GLFM_RETURN_IF_ERROR(
          Read(qs[i], "visibility_timeout_seconds", where, q.visibility_timeout_seconds));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "retention_seconds", where, q.retention_seconds));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "receive_wait_seconds", where, q.receive_wait_seconds));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "dead_letter_queue", where, q.dead_letter_queue));
      GLFM_RETURN_IF_ERROR(Read(qs[i], "max_receive_count", where, q.max_receive_count));
      w.queues.push_back(q);
    }
  }
  if (YAML::Node t = root["timings"]) {
    GLFM_RETURN_IF_ERROR(Read(t, "placement_delay_ms", "timings.", w.timings.placement_delay_ms));
    GLFM_RETURN_IF_ERROR(Read(t, "activation_delay_ms", "timings.", w.timings.activation_delay_ms));
    GLFM_RETURN_IF_ERROR(
        Read(t, "player_accept_delay_ms", "timings.", w.timings.player_accept_delay_ms));
    GLFM_RETURN_IF_ERROR(Read(t, "player_timeout_ms", "timings.", w.timings.player_timeout_ms));
  }
  if (YAML::Node f = root["faults"]) {
    GLFM_RETURN_IF_ERROR(ParseFaultsNode(f, w.faults));
  }
  GLFM_RETURN_IF_ERROR(Read(root, "signing_keys", "", w.signing_keys));
  return ValidateWorld(w);
}

}  // namespace

World DefaultWorld() {
  World w;
  FleetSpec fleet;
  fleet.id = "fleet-local";
  LocationSpec us;
  us.name = "us-east-1";
  us.ip_prefix = "10.0.1";
  us.dns_suffix = "us-east-1.compute.local";
  LocationSpec eu = us;
  eu.name = "eu-west-1";
  eu.ip_prefix = "10.0.2";
  eu.dns_suffix = "eu-west-1.compute.local";
  fleet.locations = {us, eu};
  w.fleets.push_back(fleet);
  w.aliases.push_back({"alias-local", "alias-local", "fleet-local"});
  w.placement_queues.push_back({"glfm-local", 60, {"alias-local"}, "glfm-placements", 0});
  w.topics.push_back({"glfm-placements", {{"glfm-placement-events", false}}});
  SqsQueueSpec q;
  q.name = "glfm-placement-events";
  w.queues.push_back(q);
  return w;
}

Status ValidateWorld(const World& w) {
  std::set<std::string> fleets, aliases, topics, queues;
  for (const auto& f : w.fleets) {
    if (!fleets.insert(f.id).second) {
      return InvalidArgumentError("fleets: duplicate fleet id " + f.id);
    }
  }
  for (const auto& a : w.aliases) {
    if (a.id.empty() || !fleets.count(a.fleet_id)) {
      return InvalidArgumentError("aliases: alias " + a.id + " names unknown fleet " + a.fleet_id);
    }
    aliases.insert(a.id);
  }
  for (const auto& q : w.queues) {
    if (q.name.empty() || !queues.insert(q.name).second) {
      return InvalidArgumentError("queues: empty or duplicate queue name " + q.name);
    }
  }
  for (const auto& q : w.queues) {
    if (!q.dead_letter_queue.empty() && !queues.count(q.dead_letter_queue)) {
      return InvalidArgumentError("queues: queue " + q.name + " names unknown dead_letter_queue " +
                                  q.dead_letter_queue);
    }
  }
  for (const auto& t : w.topics) {
    topics.insert(t.name);
    for (const auto& s : t.subscriptions) {
      if (!queues.count(s.queue)) {
        return InvalidArgumentError("topics: topic " + t.name + " subscribes unknown queue " +
                                    s.queue);
      }
    }
  }
  for (const auto& q : w.placement_queues) {
    if (q.name.empty()) {
      return InvalidArgumentError("placement_queues: name required");
    }
    for (const auto& d : q.destinations) {
      if (!fleets.count(d) && !aliases.count(d)) {
        return InvalidArgumentError("placement_queues: queue " + q.name +
                                    " names unknown destination " + d);
      }
    }
    if (!q.notification_topic.empty() && !topics.count(q.notification_topic)) {
      return InvalidArgumentError("placement_queues: queue " + q.name +
                                  " names unknown notification_topic " + q.notification_topic);
    }
  }
  return OkStatus();
}

Result<World> ParseWorldYaml(const std::string& text) {
  World w = DefaultWorld();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(std::string("world: bad YAML: ") + e.what());
  }
  if (root.IsNull()) {
    return w;
  }
  try {
    GLFM_RETURN_IF_ERROR(ParseWorldNode(root, w));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(std::string("world: ") + e.what());
  }
  return w;
}

Result<World> LoadWorldFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return NotFoundError("world file " + path + " cannot be read");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto w = ParseWorldYaml(ss.str());
  if (!w.ok()) {
    return w.status().WithPrefix(path);
  }
  return w;
}

Result<Faults> ParseFaultsYaml(const std::string& text) {
  Faults f;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) {
      return f;
    }
    GLFM_RETURN_IF_ERROR(ParseFaultsNode(root, f));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(std::string("faults: ") + e.what());
  }
  return f;
}

}  // namespace glfm::emulator
