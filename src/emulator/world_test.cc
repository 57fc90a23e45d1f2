#include "emulator/world.h"

#include <gtest/gtest.h>

#include "testing/status_matchers.h"

namespace glfm::emulator {
namespace {

TEST(WorldTest, DefaultWorldIsWhatScriptsRelyOn) {
  World w = DefaultWorld();
  EXPECT_EQ(w.region, "us-east-1");
  ASSERT_EQ(w.aliases.size(), 1u);
  EXPECT_EQ(w.aliases[0].id, "alias-local");
  EXPECT_EQ(w.aliases[0].fleet_id, "fleet-local");
  ASSERT_EQ(w.fleets[0].locations.size(), 2u);
  EXPECT_EQ(w.fleets[0].locations[0].name, "us-east-1");
  EXPECT_EQ(w.fleets[0].locations[1].name, "eu-west-1");
  EXPECT_GE(w.fleets[0].locations[0].capacity, 200);
  EXPECT_EQ(w.placement_queues[0].name, "glfm-local");
  EXPECT_EQ(w.topics[0].name, "glfm-placements");
  EXPECT_EQ(w.topics[0].subscriptions[0].queue, "glfm-placement-events");
  EXPECT_LE(w.timings.placement_delay_ms + w.timings.activation_delay_ms, 1000);
  EXPECT_OK(ValidateWorld(w));
}

TEST(WorldTest, YamlOverridesAndKeepsDefaults) {
  auto w = ParseWorldYaml(R"(
region: eu-west-1
timings: {placement_delay_ms: 0}
fleets:
  - id: f1
    locations: [eu-west-1, {name: ap-south-1, capacity: 2, dns_suffix: ""}]
aliases: [{id: a1, fleet: f1}]
placement_queues: [{name: q1, destinations: [a1], notification_topic: glfm-placements}]
faults:
  seed: 9
  events: {drop_percent: 10}
  operations: {SearchGameSessions: {throttle_percent: 25}, "*": {latency_percent: 5, latency_ms: 800}}
)");
  ASSERT_OK(w.status());
  EXPECT_EQ(w->region, "eu-west-1");
  EXPECT_EQ(w->timings.placement_delay_ms, 0);
  EXPECT_EQ(w->timings.activation_delay_ms, 300);
  EXPECT_EQ(w->fleets[0].locations[1].capacity, 2);
  EXPECT_EQ(w->faults.seed, 9u);
  EXPECT_EQ(w->faults.events.drop_percent, 10);
  EXPECT_EQ(w->faults.operations["SearchGameSessions"].throttle_percent, 25);
  EXPECT_EQ(w->faults.operations["*"].latency_percent, 5);
  EXPECT_EQ(w->faults.operations["*"].latency_ms, 800);
  EXPECT_EQ(w->queues[0].name, "glfm-placement-events");  // default kept
}

TEST(WorldTest, RejectsBrokenReferencesNamingThem) {
  EXPECT_THAT(
      ParseWorldYaml("aliases: [{id: a1, fleet: ghost}]").status(),
      StatusIs(StatusCode::kInvalidArgument, "aliases: alias a1 names unknown fleet ghost"));
  EXPECT_THAT(
      ParseWorldYaml("topics: [{name: t, subscriptions: [{queue: nope}]}]").status(),
      StatusIs(StatusCode::kInvalidArgument, "topics: topic t subscribes unknown queue nope"));
  EXPECT_THAT(ParseWorldYaml("timings: {placement_delay_ms: soon}").status(),
              StatusIs(StatusCode::kInvalidArgument, "timings.placement_delay_ms: wrong type"));
  EXPECT_THAT(ParseWorldYaml("region: [").status(), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(LoadWorldFile("/nonexistent/world.yaml").status(),
              StatusIs(StatusCode::kNotFound, "world file /nonexistent/world.yaml cannot be read"));
}

}  // namespace
}  // namespace glfm::emulator
