// World: what the emulator simulates — fleets, aliases, placement queues, SNS topics, SQS
// queues, timings and faults — read from YAML, with a built-in default scripts can rely on.
//
// Default world (DefaultWorld()): region us-east-1, account 000000000000; alias
// `alias-local` → fleet `fleet-local` with locations us-east-1 and eu-west-1 (300 server
// processes each); placement queue `glfm-local` (timeout 60 s) notifying SNS topic
// `glfm-placements`, subscribed (enveloped) by SQS queue `glfm-placement-events`; placements
// fulfilled after 500 ms + 300 ms activation.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "glfm/status.h"

namespace glfm::emulator {

struct LocationSpec {
  std::string name;        // a region: "us-east-1"
  int capacity = 300;      // server processes: concurrent ACTIVATING/ACTIVE game sessions
  std::string ip_prefix;   // first three octets, e.g. "10.0.1"; hosts .1 .. .254
  std::string dns_suffix;  // "compute.local"; empty: no DnsName (GameLift Anywhere style)
  int port_min = 7000;
  int port_max = 7999;
};

struct FleetSpec {
  std::string id;  // "fleet-local"
  std::vector<LocationSpec> locations;
};

struct AliasSpec {
  std::string id;  // "alias-local"
  std::string name;
  std::string fleet_id;
};

struct PlacementQueueSpec {
  std::string name;
  int timeout_seconds = 60;
  std::vector<std::string> destinations;  // fleet or alias ids, in priority order
  std::string notification_topic;         // SNS topic name ("" = no events)
  // Player latency policy: a location where any player reported more is never chosen (0: none).
  int max_player_latency_ms = 0;
};

struct SubscriptionSpec {
  std::string queue;  // SQS queue name
  bool raw = false;   // RawMessageDelivery
};

struct TopicSpec {
  std::string name;
  std::vector<SubscriptionSpec> subscriptions;
};

struct SqsQueueSpec {
  std::string name;
  int visibility_timeout_seconds = 30;
  int retention_seconds = 345600;
  int receive_wait_seconds = 0;
  std::string dead_letter_queue;  // name; "" = none
  int max_receive_count = 0;      // > 0 with a dead-letter queue
};

// Percentages are 0..100.
struct EventFaults {
  double drop_percent = 0;
  double duplicate_percent = 0;
  double delay_percent = 0;
  int delay_ms = 2000;
  double reorder_percent = 0;  // held back and delivered after the next event
};

struct OperationFaults {
  double throttle_percent = 0;  // answered as the service's throttling error
  double error_percent = 0;     // answered 500 with the service's internal error
  // Held latency_ms on arrival, then handled as usual (a slow or cut network: a caller that
  // gives up first cannot tell whether the call took effect).
  double latency_percent = 0;
  int latency_ms = 0;
};

struct Faults {
  uint64_t seed = 1;
  EventFaults events;
  double placement_fail_percent = 0;  // placements that end FAILED (PlacementFailed event)
  std::map<std::string, OperationFaults> operations;  // key: operation name, or "*"
};

struct Timings {
  int placement_delay_ms = 500;       // PENDING → game session created (ACTIVATING)
  int activation_delay_ms = 300;      // ACTIVATING → ACTIVE, placement FULFILLED, event sent
  int player_accept_delay_ms = 1000;  // RESERVED → ACTIVE; -1: only through the admin endpoint
  int player_timeout_ms = 60000;      // RESERVED and never accepted → TIMEDOUT
};

struct World {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  std::vector<FleetSpec> fleets;
  std::vector<AliasSpec> aliases;
  std::vector<PlacementQueueSpec> placement_queues;
  std::vector<TopicSpec> topics;
  std::vector<SqsQueueSpec> queues;
  Timings timings;
  Faults faults;
  // Access key id -> secret access key. Non-empty turns signature checking on: every request
  // must carry a valid SigV4 signature made with one of these keys (YAML `signing_keys`).
  // Empty (the default) accepts any credentials.
  std::map<std::string, std::string> signing_keys;
};

// Returns the built-in default world described at the top of this file.
World DefaultWorld();

// Parses a world from YAML text; keys left out keep DefaultWorld()'s values, and a list given
// (fleets, aliases, ...) replaces the default list. Errors: invalid-argument naming the key,
// for bad YAML, wrong types, and references to unknown fleets, topics or queues.
Result<World> ParseWorldYaml(const std::string& text);

// Reads and parses a world file. Errors: not-found when unreadable; as ParseWorldYaml.
Result<World> LoadWorldFile(const std::string& path);

// Parses the `faults:` mapping alone (also the admin endpoint's body, as YAML or JSON).
// Errors: invalid-argument naming the key.
Result<Faults> ParseFaultsYaml(const std::string& text);

// Checks cross references. Errors: invalid-argument naming the first bad reference.
Status ValidateWorld(const World& world);

}  // namespace glfm::emulator
