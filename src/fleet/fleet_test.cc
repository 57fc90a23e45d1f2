// GameLiftFleetManager against the in-process emulator and a real SQLite file: Create and its
// outcomes (events with faults, deadlines, cancel, restart, two nodes), List, Get, Join,
// Update, Delete, Reconcile, and one test per defect row of DESIGN.md (named Defect_*).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <thread>

#include "common/metrics.h"
#include "fleet/fleet_manager_impl.h"
#include "fleet/harness.h"
#include "glfm/codec.h"
#include "store/sqlite_test_helpers.h"
#include "testing/http_client.h"
#include "testing/status_matchers.h"

namespace glfm::fleet {
namespace {

using testing::FastWorld;
using testing::FleetHarness;
using ::testing::HasSubstr;
using testing::Recorder;
using namespace std::chrono_literals;

// Polls `f` until true (for state only visible by asking: queues, GameLift); false after
// `timeout`.
template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout = 60s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Returns prefix + i (snprintf: g++ 12 warns falsely on "u" + std::to_string(i)).
std::string Id(const char* prefix, int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%d", prefix, i);
  return buf;
}

Json Obj(std::string_view text) { return *Json::Parse(text); }

int QueueDepth(FleetHarness& h) {
  auto a = h.sqs().GetQueueAttributes(h.events_url());
  if (!a.ok()) return -1;
  return std::stoi((*a)["ApproximateNumberOfMessages"]) +
         std::stoi((*a)["ApproximateNumberOfMessagesNotVisible"]);
}

void Admin(FleetHarness& h, const std::string& path, const std::string& body) {
  glfm::testing::HttpClient c("127.0.0.1", h.emulator().port());
  auto r = c.Request("POST", "/_emulator/" + path, body, {{"content-type", "application/json"}});
  ASSERT_EQ(r.status, 200) << path << " " << r.body;
}

emulator::World NoCapacityWorld(int timeout_seconds) {
  emulator::World w = FastWorld();
  for (auto& f : w.fleets) {
    for (auto& l : f.locations) l.capacity = 0;
  }
  for (auto& q : w.placement_queues) q.timeout_seconds = timeout_seconds;
  return w;
}

// Creates a session through the fleet manager and returns its instance.
InstanceInfo CreateSession(GameLiftFleetManager& fm, int max_players,
                           std::vector<std::string> users = {}) {
  Recorder rec;
  auto id = fm.Create(max_players, users, {}, Json::MakeObject(), rec.Callback());
  GLFM_CHECK(id.ok());
  GLFM_CHECK(rec.WaitCount(1));
  auto o = rec.outcomes()[0];
  GLFM_CHECK(o.status == CreateStatus::kSuccess);
  return *o.instance_info;
}

class FleetTest : public ::testing::Test {};

TEST_F(FleetTest, CreateSuccessWithPlayersAndPlayerData) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  Recorder rec;
  Json md = Obj(R"({"GameProperties":{"mode":"ctf"},"GameSessionName":"room","u1":"data-1"})");
  auto id = fm->Create(4, {"u1", "u2"}, {{"u1", 20, "us-east-1"}, {"u2", 30, "eu-west-1"}}, md,
                       rec.Callback());
  ASSERT_OK(id);
  EXPECT_TRUE(std::regex_match(*id, std::regex("[A-Za-z0-9-]{1,48}"))) << *id;
  EXPECT_EQ(GameLiftFleetManager::OwnerOfPlacementId(*id), "n1");
  ASSERT_TRUE(rec.WaitCount(1));
  CreateOutcome o = rec.outcomes()[0];
  EXPECT_EQ(o.placement_id, *id);
  ASSERT_EQ(o.status, CreateStatus::kSuccess) << o.error.ToString();
  ASSERT_TRUE(o.instance_info.has_value());
  EXPECT_THAT(o.instance_info->id, HasSubstr("gamesession/"));
  EXPECT_EQ(o.instance_info->player_count, 2);
  EXPECT_EQ(o.instance_info->status, "ACTIVE");
  EXPECT_GT(o.instance_info->connection_info.port, 0);
  EXPECT_EQ(o.instance_info->metadata.Find("GameProperties")->Dump(), R"({"mode":"ctf"})");
  ASSERT_EQ(o.session_info.size(), 2u);
  ASSERT_NE(o.metadata.Find("event"), nullptr);
  EXPECT_THAT(o.metadata.Find("event")->as_string(), HasSubstr("PlacementFulfilled"));
  // The instance is durable and listed.
  ASSERT_OK(h.store().GetInstance(o.instance_info->id));
  EXPECT_NE(h.index().Get(o.instance_info->id), nullptr);
  // Player data went to GameLift.
  auto starts = h.Requests("StartGameSessionPlacement");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_THAT(starts[0].request_body, HasSubstr(R"("PlayerData":"data-1")"));
  // Delivered exactly once, and marked so.
  EXPECT_TRUE(Eventually([&] { return h.store().GetPlacement(*id)->delivered; }));
  EXPECT_EQ(rec.size(), 1u);
}

TEST_F(FleetTest, PendingPlacementStoredBeforeStartGameSessionPlacement) {
  store::Store* store = nullptr;
  std::atomic<int> checked{0}, missing{0};
  FleetHarness h(FastWorld(), [&](const server::HttpRequest& r) {
    const std::string* target = r.Header("x-amz-target");
    if (target != nullptr && *target == "GameLift.StartGameSessionPlacement" && store) {
      auto j = Json::Parse(r.body);
      auto p = store->GetPlacement(j->Find("PlacementId")->as_string());
      (p.ok() && p->pending() ? checked : missing)++;
    }
    return OkStatus();
  });
  store = &h.store();
  auto fm = h.Start(h.Options());
  Recorder rec;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback()));
  }
  ASSERT_TRUE(rec.WaitCount(5));
  EXPECT_EQ(checked.load(), 5);
  EXPECT_EQ(missing.load(), 0);
}

TEST_F(FleetTest, CreateValidationNamesTheField) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto cb = [](const CreateOutcome&) {};
  auto bad = [&](int max, std::vector<std::string> users, const char* md, const char* want) {
    EXPECT_THAT(fm->Create(max, users, {}, Obj(md), cb),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(want)))
        << want;
  };
  bad(0, {}, "{}", "max_players must be 1-200");
  bad(201, {}, "{}", "max_players must be 1-200");
  bad(4, {"a", ""}, "{}", "user_ids[1] is empty");
  bad(4, {"a", "a"}, "{}", "user_ids[1] repeats");
  bad(4, {}, R"({"GameSessionData":1})", "metadata.GameSessionData must be a string");
  bad(4, {}, ("{\"GameSessionData\":\"" + std::string(4097, 'x') + "\"}").c_str(),
      "GameSessionData must be at most 4096");
  bad(4, {}, ("{\"GameSessionName\":\"" + std::string(1025, 'x') + "\"}").c_str(),
      "GameSessionName must be at most 1024");
  bad(4, {}, R"({"GameProperties":[]})", "metadata.GameProperties must be an object");
  bad(4, {}, R"({"GameProperties":{"k":5}})", "metadata.GameProperties.k must be a string");
  bad(4, {}, ("{\"GameProperties\":{\"" + std::string(33, 'k') + "\":\"v\"}}").c_str(),
      "must be 1-32 characters");
  bad(4, {}, ("{\"GameProperties\":{\"k\":\"" + std::string(97, 'v') + "\"}}").c_str(),
      "metadata.GameProperties.k must be at most 96");
  std::string many = "{\"GameProperties\":{";
  for (int i = 0; i < 17; ++i) {
    if (i > 0) many.append(",");
    many.append(Id("\"k", i)).append("\":\"v\"");
  }
  bad(4, {}, (many + "}}").c_str(), "at most 16 entries");
  bad(4, {"u1"}, R"({"u1":7})", "metadata.u1 (PlayerData) must be a string");
  bad(4, {"u1"}, ("{\"u1\":\"" + std::string(2049, 'x') + "\"}").c_str(),
      "metadata.u1 (PlayerData) must be at most 2048");
  EXPECT_EQ(h.CountRequests("StartGameSessionPlacement"), 0);
}

TEST_F(FleetTest, TimeoutWithNoCapacity) {
  FleetHarness h(NoCapacityWorld(1));
  auto fm = h.Start(h.Options());
  Recorder rec;
  ASSERT_OK(fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback()));
  ASSERT_TRUE(rec.WaitCount(1));
  auto o = rec.outcomes()[0];
  EXPECT_EQ(o.status, CreateStatus::kTimeout);
  EXPECT_THAT(o.error, StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("timed out")));
  EXPECT_NE(o.metadata.Find("event"), nullptr);
}

TEST_F(FleetTest, Defect_NoCancel_CancelStopsThePlacement) {
  FleetHarness h(NoCapacityWorld(60));
  auto fm = h.Start(h.Options());
  Recorder rec;
  auto id = fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback());
  ASSERT_OK(id);
  ASSERT_OK(fm->Cancel(*id));
  ASSERT_TRUE(rec.WaitCount(1));
  EXPECT_EQ(rec.outcomes()[0].status, CreateStatus::kError);
  EXPECT_THAT(rec.outcomes()[0].error, StatusIs(StatusCode::kCancelled, HasSubstr(*id)));
  EXPECT_EQ(h.CountRequests("StopGameSessionPlacement"), 1);
  EXPECT_THAT(fm->Cancel(*id), StatusIs(StatusCode::kFailedPrecondition, HasSubstr(*id)));
  EXPECT_THAT(fm->Cancel("n1-unknown"), StatusIs(StatusCode::kNotFound, HasSubstr("n1-unknown")));
  // The cancellation event that follows is a harmless duplicate.
  EXPECT_TRUE(Eventually([&] { return QueueDepth(h) == 0 && fm->stats().events_received >= 1; }));
  EXPECT_EQ(rec.size(), 1u);
}

TEST_F(FleetTest, InjectedFailureReturnsErrorAndNothingIsPending) {
  FleetHarness h;
  emulator::Faults f;
  f.operations["StartGameSessionPlacement"].error_percent = 100;
  h.emulator().SetFaults(f);
  Recorder listened;
  auto fm = h.Start(h.Options(), [&](const CreateOutcome& o) { listened.Add(o); });
  Recorder rec;
  auto id = fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback());
  EXPECT_THAT(id, StatusIs(StatusCode::kInternal, HasSubstr("StartGameSessionPlacement")));
  auto undelivered = h.store().ListUndeliveredOutcomes("n1", 10);
  ASSERT_OK(undelivered);
  EXPECT_TRUE(undelivered->empty());
  auto pending = h.store().ListPendingPlacementsByOwner("n1", 10);
  ASSERT_OK(pending);
  EXPECT_TRUE(pending->empty());
  EXPECT_EQ(fm->ResolveDue(), 0);
  fm->Stop();  // the change feed has run
  EXPECT_EQ(rec.size(), 0u);
  EXPECT_EQ(listened.size(), 0u);
}

// Creates `n` placements and waits for every callback; returns the recorder's counts.
void CreateMany(GameLiftFleetManager& fm, Recorder& rec, int n, CreateOptions co = {}) {
  for (int i = 0; i < n; ++i) {
    ASSERT_OK(fm.Create(2, {}, {}, Json::MakeObject(), rec.Callback(), co));
  }
  ASSERT_TRUE(rec.WaitCount(n)) << rec.size();
}

TEST_F(FleetTest, DuplicatedEventsFireEachCallbackOnce) {
  FleetHarness h;
  emulator::Faults f;
  f.events.duplicate_percent = 10;
  f.seed = 7;
  h.emulator().SetFaults(f);
  auto fm = h.Start(h.Options());
  Recorder rec;
  CreateMany(*fm, rec, 60);
  ASSERT_TRUE(Eventually([&] { return QueueDepth(h) == 0 && fm->stats().events_received > 60; }));
  EXPECT_GT(fm->stats().events_duplicate, 0u);
  EXPECT_EQ(rec.size(), 60u);
  for (const auto& [id, n] : rec.counts()) EXPECT_EQ(n, 1) << id;
  for (const auto& o : rec.outcomes()) EXPECT_EQ(o.status, CreateStatus::kSuccess);
}

// A receiver builds the outcome of a Create this process holds without reading the placement;
// when another writer recorded an outcome first (here through a second store on the file, so
// that this process's change feed does not hear of it), the event's write loses and the
// stored outcome is what the callback gets, once.
TEST_F(FleetTest, EventOfAHeldCreateWhoseOutcomeIsAlreadyRecordedDeliversTheStoredOne) {
  emulator::World w = FastWorld();
  w.timings.placement_delay_ms = 3600 * 1000;  // only the test's own event reaches the queue
  FleetHarness h(w);
  auto fm = h.Start(h.Options());
  Recorder rec;
  auto id = fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback());
  ASSERT_OK(id);
  {
    store::SqliteOptions so;
    so.path = h.dir() + "/glfm.db";
    auto other = store::OpenSqliteStore(so);
    ASSERT_OK(other);
    ASSERT_THAT((*other)->RecordPlacementOutcome(
                    *id,
                    R"({"code":4,"max_players":2,"message":"placement )" + *id +
                        R"( timed out","metadata":{},"sessions":[],"status":"timeout"})",
                    Clock::now()),
                IsOkAndHolds(true));
  }
  Json detail = Json::MakeObject();
  detail["type"] = "PlacementFulfilled";
  detail["placementId"] = *id;
  detail["gameSessionArn"] = "arn:aws:gamelift:us-east-1::gamesession/fleet-local/gs-late";
  detail["ipAddress"] = "10.0.0.1";
  detail["port"] = "7000";
  Json ev = Json::MakeObject();
  ev["detail-type"] = "GameLift Queue Placement Event";
  ev["detail"] = std::move(detail);
  Json env = Json::MakeObject();
  env["Type"] = "Notification";
  env["Message"] = ev.Dump();
  gamelift::SendMessageRequest send;
  send.queue_url = h.events_url();
  send.message_body = env.Dump();
  ASSERT_OK(h.sqs().SendMessage(send));
  ASSERT_TRUE(rec.WaitCount(1));
  EXPECT_EQ(rec.outcomes()[0].status, CreateStatus::kTimeout);
  EXPECT_THAT(rec.outcomes()[0].error, StatusIs(StatusCode::kDeadlineExceeded, HasSubstr(*id)));
  EXPECT_TRUE(Eventually([&] { return QueueDepth(h) == 0 && fm->stats().messages_deleted == 1; }));
  EXPECT_EQ(fm->stats().events_duplicate, 1u);
  EXPECT_EQ(fm->stats().events_applied, 0u);
  EXPECT_EQ(h.index().Get("arn:aws:gamelift:us-east-1::gamesession/fleet-local/gs-late"), nullptr);
  fm->Stop();
  EXPECT_EQ(rec.size(), 1u);
  EXPECT_TRUE(h.store().GetPlacement(*id)->delivered);
}

TEST_F(FleetTest, Defect_CallbacksNeverExpire_DroppedEventsResolvedByDeadline) {
  FleetHarness h;
  emulator::Faults f;
  f.events.drop_percent = 10;
  f.seed = 3;
  h.emulator().SetFaults(f);
  auto fm = h.Start(h.Options());
  Recorder rec;
  CreateOptions co;
  co.deadline = 1500ms;
  CreateMany(*fm, rec, 60, co);
  EXPECT_GT(fm->stats().resolved_by_deadline, 0u);
  for (const auto& [id, n] : rec.counts()) EXPECT_EQ(n, 1) << id;
  for (const auto& o : rec.outcomes()) {
    EXPECT_EQ(o.status, CreateStatus::kSuccess) << o.error.ToString();
    ASSERT_TRUE(o.instance_info.has_value());
    EXPECT_NE(h.index().Get(o.instance_info->id), nullptr);
  }
}

TEST_F(FleetTest, AllEventsLostStillEveryCallback) {
  FleetHarness h(NoCapacityWorld(60));
  emulator::Faults f;
  f.events.drop_percent = 100;
  h.emulator().SetFaults(f);
  auto fm = h.Start(h.Options());
  Recorder rec;
  CreateOptions co;
  co.deadline = 200ms;
  CreateMany(*fm, rec, 5, co);
  for (const auto& o : rec.outcomes()) {
    EXPECT_EQ(o.status, CreateStatus::kTimeout);
    EXPECT_THAT(o.error, StatusIs(StatusCode::kDeadlineExceeded, ::testing::_));
  }
  // The pending placements were stopped in GameLift.
  EXPECT_EQ(h.CountRequests("StopGameSessionPlacement"), 5);
}

TEST_F(FleetTest, ResolverBacksOffOnThrottling) {
  FleetHarness h;
  emulator::Faults f;
  f.events.drop_percent = 100;
  f.operations["DescribeGameSessionPlacement"].throttle_percent = 100;
  h.emulator().SetFaults(f);
  auto opts = h.Options();
  opts.resolve_backoff_min = 10s;
  opts.deadline_tick = 1h;  // only this test resolves
  auto fm = h.Start(opts);
  Recorder rec;
  CreateOptions co;
  co.deadline = 1ms;
  ASSERT_OK(fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback(), co));
  ASSERT_TRUE(Eventually([&] {
    auto due = h.store().ListPendingPlacementsDueBy(Clock::now(), 10);
    return due.ok() && !due->empty();
  }));
  EXPECT_EQ(fm->ResolveDue(), 0);
  int before = h.CountRequests("DescribeGameSessionPlacement");
  for (int i = 0; i < 5; ++i) fm->ResolveDue();
  EXPECT_GT(before, 0);
  EXPECT_EQ(h.CountRequests("DescribeGameSessionPlacement"), before);  // backing off
  EXPECT_EQ(rec.size(), 0u);
}

TEST_F(FleetTest, ReorderedEvents) {
  FleetHarness h;
  emulator::Faults f;
  f.events.reorder_percent = 30;
  f.events.delay_ms = 50;
  h.emulator().SetFaults(f);
  auto fm = h.Start(h.Options());
  Recorder rec;
  CreateMany(*fm, rec, 40);
  for (const auto& [id, n] : rec.counts()) EXPECT_EQ(n, 1) << id;
  for (const auto& o : rec.outcomes()) EXPECT_EQ(o.status, CreateStatus::kSuccess);
}

TEST_F(FleetTest, Defect_UnparseableMessagesNeverDeleted_PoisonAndForeignDeletedOnce) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto send = [&](std::string body) {
    gamelift::SendMessageRequest r;
    r.queue_url = h.events_url();
    r.message_body = std::move(body);
    ASSERT_OK(h.sqs().SendMessage(r));
  };
  send("not json at all");
  send(R"({"hello":"world"})");
  send(R"({"version":"0","detail-type":"GameLift Queue Placement Event","source":"aws.gamelift",)"
       R"("detail":{"type":"PlacementTimedOut","placementId":"other-123"}})");
  ASSERT_TRUE(Eventually([&] {
    auto s = fm->stats();
    return s.events_unparseable == 2 && s.events_foreign == 1 && s.messages_deleted == 3 &&
           QueueDepth(h) == 0;
  }));
  EXPECT_EQ(fm->stats().messages_deleted, 3u);
  EXPECT_EQ(fm->stats().events_received, 3u);
  std::string text = metrics::Registry::Default().Render();
  EXPECT_THAT(text, HasSubstr("glfm_fleet_events_total{result=\"unparseable\"}"));
}

TEST_F(FleetTest, PoisonMessagesLeftForTheDeadLetterQueueWhenConfigured) {
  FleetHarness h;
  auto opts = h.Options();
  opts.delete_unparseable = false;
  auto fm = h.Start(opts);
  gamelift::SendMessageRequest r;
  r.queue_url = h.events_url();
  r.message_body = "poison";
  ASSERT_OK(h.sqs().SendMessage(r));
  ASSERT_TRUE(Eventually([&] { return fm->stats().events_unparseable == 1; }));
  fm->Stop();
  EXPECT_EQ(fm->stats().messages_deleted, 0u);
  EXPECT_EQ(QueueDepth(h), 1);  // in flight until its visibility timeout, then redriven
}

TEST_F(FleetTest, Defect_RawEventsNotUnderstood_RawDeliveryWorks) {
  emulator::World w = FastWorld();
  emulator::SqsQueueSpec raw_queue;
  raw_queue.name = "raw-events";
  w.queues.push_back(raw_queue);
  w.topics[0].subscriptions = {{"raw-events", true}};
  FleetHarness h(w);
  auto opts = h.Options();
  opts.events_queue_url = *h.sqs().GetQueueUrl("raw-events");
  auto fm = h.Start(opts);
  Recorder rec;
  CreateMany(*fm, rec, 3);
  for (const auto& o : rec.outcomes()) {
    EXPECT_EQ(o.status, CreateStatus::kSuccess);
    EXPECT_THAT(o.metadata.Find("event")->as_string(), HasSubstr("\"detail-type\""));
  }
}

TEST_F(FleetTest, EventParsingTolerance) {
  const char* base =
      R"({"detail-type":"GameLift Queue Placement Event","extra":1,"detail":{"type":)"
      R"("PlacementFulfilled","placementId":"p-1","gameSessionArn":"arn:x","ipAddress":)"
      R"("10.0.0.1","dnsName":"","port":%s,"more":[1,2]}})";
  char buf[512];
  std::snprintf(buf, sizeof(buf), base, "\"7001\"");
  auto a = ParsePlacementEvent(buf);
  ASSERT_OK(a);
  EXPECT_EQ(a->port, 7001);
  EXPECT_EQ(a->dns_name, "");
  std::snprintf(buf, sizeof(buf), base, "7002");
  auto b = ParsePlacementEvent(buf);
  ASSERT_OK(b);
  EXPECT_EQ(b->port, 7002);
  // Inside an SNS envelope.
  Json env = Json::MakeObject();
  env["Type"] = "Notification";
  env["Message"] = std::string(buf);
  auto c = ParsePlacementEvent(env.Dump());
  ASSERT_OK(c);
  EXPECT_EQ(c->placement_id, "p-1");
  EXPECT_EQ(c->raw, buf);
  EXPECT_THAT(ParsePlacementEvent("{"), StatusIs(StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ParsePlacementEvent(R"({"detail-type":"Other","detail":{}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a GameLift")));
}

TEST_F(FleetTest, EventParsingReadsEveryField) {
  auto ev = ParsePlacementEvent(
      R"({"detail-type":"GameLift Queue Placement Event","detail":{"type":"PlacementFulfilled",)"
      R"("placementId":"p-9","gameSessionArn":"arn:gs","ipAddress":"10.1.2.3","dnsName":"h.x",)"
      R"("port":7003.9,"gameSessionRegion":"eu-west-1","startTime":"2026-01-01T00:00:00Z",)"
      R"("endTime":"2026-01-01T00:00:02.5Z","errorMessage":"none","placedPlayerSessions":[)"
      R"({"playerId":"u1","playerSessionId":"psess-1"},7,{"playerId":"u2"}],)"
      R"("type":"PlacementFulfilled","dnsName":"last.x"}})");
  ASSERT_OK(ev);
  EXPECT_EQ(ev->type, "PlacementFulfilled");
  EXPECT_EQ(ev->placement_id, "p-9");
  EXPECT_EQ(ev->game_session_arn, "arn:gs");
  EXPECT_EQ(ev->ip_address, "10.1.2.3");
  EXPECT_EQ(ev->dns_name, "last.x");  // a repeated key keeps its last value
  EXPECT_EQ(ev->port, 7003);
  EXPECT_EQ(ev->region, "eu-west-1");
  EXPECT_EQ(ev->start_time, *ParseRfc3339("2026-01-01T00:00:00Z"));
  EXPECT_EQ(ev->end_time, *ParseRfc3339("2026-01-01T00:00:02.5Z"));
  EXPECT_EQ(ev->error_message, "none");
  ASSERT_EQ(ev->placed_player_sessions.size(), 2u);  // the non-object entry is skipped
  EXPECT_EQ(ev->placed_player_sessions[0].user_id, "u1");
  EXPECT_EQ(ev->placed_player_sessions[0].session_id, "psess-1");
  EXPECT_EQ(ev->placed_player_sessions[1].user_id, "u2");
  EXPECT_EQ(ev->placed_player_sessions[1].session_id, "");
}

TEST_F(FleetTest, EventParsingNamesWhatIsWrong) {
  auto event = [](const std::string& detail) {
    return R"({"detail-type":"GameLift Queue Placement Event","detail":{)" + detail + "}}";
  };
  auto sns = [](const std::string& type, const std::string& message) {
    Json env = Json::MakeObject();
    env["Type"] = type;
    env["Message"] = message;
    return env.Dump();
  };
  struct Case {
    std::string body, error;
  };
  for (const Case& c : std::vector<Case>{
           {"[1,", "message body is not JSON"},
           {R"({"a":1} x)", "message body is not JSON"},
           {"[1]", "message body is not a JSON object"},
           {sns("SubscriptionConfirmation", "{}"),
            "SNS message of type SubscriptionConfirmation is not a notification"},
           {sns("Notification", "[1]"), "SNS Message is not a JSON object"},
           {sns("Notification", "{"), "SNS Message is not a JSON object"},
           {R"({"detail-type":"GameLift Queue Placement Event","detail":[]})",
            "not a GameLift Queue Placement Event"},
           {R"({"detail-type":"GameLift Queue Placement Event"})",
            "not a GameLift Queue Placement Event"},
           {event(R"("placementId":"p-1")"), "placement event without detail.type"},
           {event(R"("type":"PlacementFailed","placementId":5)"),
            "placement event without detail.placementId"},
           {event(R"("type":"PlacementFailed","placementId":"p-1","port":"70x")"),
            "placement event with a non-numeric port \"70x\""},
           {event(R"("type":"PlacementFailed","placementId":"p-1","port":1e300)"),
            "placement event with a port out of range"},
           {event(R"("type":"PlacementFulfilled","placementId":"p-1")"),
            "PlacementFulfilled event without detail.gameSessionArn"},
       }) {
    EXPECT_THAT(ParsePlacementEvent(c.body), StatusIs(StatusCode::kInvalidArgument, c.error))
        << c.body;
  }
  // Inside an envelope the same checks apply to the event.
  EXPECT_THAT(ParsePlacementEvent(sns("Notification", event(R"("placementId":"p-1")"))),
              StatusIs(StatusCode::kInvalidArgument, "placement event without detail.type"));
}

TEST_F(FleetTest, Defect_OneMessageAtATime_ReceivesTenPerCall) {
  FleetHarness h;
  auto opts = h.Options();
  opts.receivers = 3;
  auto fm = h.Start(opts);
  Recorder rec;
  CreateMany(*fm, rec, 5);
  auto receives = h.Requests("ReceiveMessage");
  ASSERT_FALSE(receives.empty());
  for (const auto& r : receives)
    EXPECT_THAT(r.request_body, HasSubstr("\"MaxNumberOfMessages\":10"));
}

TEST_F(FleetTest, Defect_PerRequestQueueAndLocationOrder) {
  emulator::World w = FastWorld();
  w.placement_queues.push_back(w.placement_queues[0]);
  w.placement_queues.back().name = "second-queue";
  FleetHarness h(w);
  auto fm = h.Start(h.Options());
  Recorder rec;
  CreateOptions co;
  co.queue_name = "second-queue";
  co.location_order = {"eu-west-1", "us-east-1"};
  ASSERT_OK(fm->Create(2, {}, {}, Json::MakeObject(), rec.Callback(), co));
  ASSERT_TRUE(rec.WaitCount(1));
  auto starts = h.Requests("StartGameSessionPlacement");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_THAT(starts[0].request_body, HasSubstr(R"("GameSessionQueueName":"second-queue")"));
  EXPECT_THAT(starts[0].request_body, HasSubstr(R"("LocationOrder":["eu-west-1","us-east-1"])"));
  ASSERT_EQ(rec.outcomes()[0].status, CreateStatus::kSuccess);
  EXPECT_THAT(rec.outcomes()[0].metadata.Find("event")->as_string(), HasSubstr("eu-west-1"));
}

TEST_F(FleetTest, Defect_RestartLosesPendingCallbacks_RestartDeliversToListenerOnce) {
  FleetHarness h;
  std::vector<std::string> ids;
  {
    auto opts = h.Options();
    opts.receivers = 0;  // events arrive while "down"
    auto fm = h.Start(opts);
    for (int i = 0; i < 6; ++i) {
      ids.push_back(*fm->Create(2, {}, {}, Json::MakeObject(), [](const CreateOutcome&) {
        ADD_FAILURE() << "callback of a stopped process";
      }));
    }
    fm->Stop();  // without any outcome: "uncleanly"
  }
  ASSERT_TRUE(Eventually([&] {
    for (const auto& id : ids) {
      auto p = h.gl().DescribeGameSessionPlacement(id);
      if (!p.ok() || p->status != "FULFILLED") return false;
    }
    return true;
  }));
  h.OpenStore();  // a new process: same file, empty index
  Recorder listened;
  auto fm2 = h.Start(h.Options(), [&](const CreateOutcome& o) { listened.Add(o); });
  ASSERT_TRUE(listened.WaitCount(6));
  ASSERT_TRUE(Eventually([&] {
    auto u = h.store().ListUndeliveredOutcomes("n1", 100);
    auto p = h.store().ListPendingPlacementsByOwner("n1", 100);
    return u.ok() && u->empty() && p.ok() && p->empty() && QueueDepth(h) == 0;
  }));
  fm2->Stop();
  EXPECT_EQ(listened.size(), 6u);
  for (const auto& id : ids) EXPECT_EQ(listened.counts()[id], 1) << id;
  for (const auto& o : listened.outcomes()) {
    EXPECT_EQ(o.status, CreateStatus::kSuccess);
    EXPECT_NE(h.index().Get(o.instance_info->id), nullptr);
  }
  // A third start hands nothing out again.
  h.OpenStore();
  Recorder again;
  auto fm3 = h.Start(h.Options(), [&](const CreateOutcome& o) { again.Add(o); });
  fm3->Stop();
  EXPECT_EQ(again.size(), 0u);
}

TEST_F(FleetTest, OutcomesOfANodeGoneForGoodAreAdoptedAndDeliveredOnce) {
  FleetHarness h;
  std::vector<std::string> ids;
  {
    auto opts = h.Options("n1");
    opts.receivers = 0;  // events arrive after n1 is gone
    auto fm = h.Start(opts);
    for (int i = 0; i < 4; ++i) {
      ids.push_back(*fm->Create(2, {}, {}, Json::MakeObject(), [](const CreateOutcome&) {
        ADD_FAILURE() << "callback of a stopped process";
      }));
    }
    fm->Stop();
  }
  // n1 never comes back; the next process runs as n2. Its receivers record the outcomes, which
  // stay n1's to deliver until they have waited adopt_after.
  h.OpenStore();
  Recorder listened;
  auto opts = h.Options("n2");
  opts.adopt_after = std::chrono::milliseconds(300);
  auto fm2 = h.Start(opts, [&](const CreateOutcome& o) { listened.Add(o); });
  ASSERT_TRUE(Eventually([&] {
    auto u = h.store().ListUndeliveredOutcomes("n1", 100);
    return u.ok() && u->size() == 4;
  }));
  ASSERT_TRUE(listened.WaitCount(4));
  ASSERT_TRUE(Eventually([&] {
    auto u = h.store().ListUndeliveredOutcomes("n2", 100);
    auto n1 = h.store().ListUndeliveredOutcomes("n1", 100);
    return u.ok() && u->empty() && n1.ok() && n1->empty();
  }));
  EXPECT_EQ(fm2->stats().adopted_outcomes, 4u);
  fm2->Stop();
  EXPECT_EQ(listened.size(), 4u);
  for (const auto& id : ids) EXPECT_EQ(listened.counts()[id], 1) << id;
  for (const auto& o : listened.outcomes()) EXPECT_EQ(o.status, CreateStatus::kSuccess);
  // n2 again: nothing is handed out twice.
  h.OpenStore();
  Recorder again;
  auto fm3 = h.Start(opts, [&](const CreateOutcome& o) { again.Add(o); });
  fm3->Stop();
  EXPECT_EQ(again.size(), 0u);
}

TEST_F(FleetTest, AnotherNodesFreshOutcomesAreNotAdopted) {
  FleetHarness h;
  std::string id;
  {
    auto opts = h.Options("n1");
    opts.receivers = 0;
    auto fm = h.Start(opts);
    id = *fm->Create(2, {}, {}, Json::MakeObject(), [](const CreateOutcome&) {});
    fm->Stop();
  }
  h.OpenStore();
  Recorder listened;
  auto opts = h.Options("n2");  // adopt_after: the default, 10 minutes
  auto fm2 = h.Start(opts, [&](const CreateOutcome& o) { listened.Add(o); });
  ASSERT_TRUE(Eventually([&] {
    auto u = h.store().ListUndeliveredOutcomes("n1", 100);
    return u.ok() && u->size() == 1;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // many deadline ticks
  fm2->Stop();
  EXPECT_EQ(listened.size(), 0u);
  EXPECT_EQ(fm2->stats().adopted_outcomes, 0u);
}

TEST_F(FleetTest, ContextComesBackWithTheOutcomeAndAfterARestart) {
  FleetHarness h;
  std::string live_id, restart_id;
  Recorder live;
  {
    auto opts = h.Options();
    auto fm = h.Start(opts);
    CreateOptions co;
    co.context = R"({"webhook_url":"http://127.0.0.1:1/hook"})";
    live_id = *fm->Create(2, {}, {}, Json::MakeObject(), live.Callback(), co);
    ASSERT_TRUE(live.WaitCount(1));
    EXPECT_EQ(live.outcomes()[0].context, co.context);
    // Pending and then resolved, as GetPlacement sees it.
    auto state = fm->GetPlacement(live_id);
    ASSERT_OK(state);
    EXPECT_EQ(state->context, co.context);
    ASSERT_FALSE(state->pending());
    EXPECT_EQ(state->outcome->status, CreateStatus::kSuccess);
    EXPECT_EQ(state->outcome->context, co.context);
    EXPECT_EQ(state->outcome->instance_info->id, live.outcomes()[0].instance_info->id);
    EXPECT_GT(state->deadline, state->create_time);
    EXPECT_THAT(fm->GetPlacement("n1-nosuch"),
                StatusIs(StatusCode::kNotFound, HasSubstr("n1-nosuch")));
    co.context = std::string(kMaxCreateContextBytes + 1, 'x');
    EXPECT_THAT(fm->Create(2, {}, {}, Json::MakeObject(), live.Callback(), co),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("options.context")));
    fm->Stop();
  }
  {
    auto opts = h.Options();
    opts.receivers = 0;  // the event arrives while "down"
    auto fm = h.Start(opts);
    CreateOptions co;
    co.context = "ticket-42";
    restart_id = *fm->Create(
        2, {}, {}, Json::MakeObject(),
        [](const CreateOutcome&) { ADD_FAILURE() << "callback of a stopped process"; }, co);
    auto state = fm->GetPlacement(restart_id);
    ASSERT_OK(state);
    EXPECT_TRUE(state->pending());
    EXPECT_EQ(state->context, "ticket-42");
    fm->Stop();
  }
  h.OpenStore();
  Recorder listened;
  auto fm = h.Start(h.Options(), [&](const CreateOutcome& o) { listened.Add(o); });
  ASSERT_TRUE(listened.WaitCount(1));
  EXPECT_EQ(listened.outcomes()[0].placement_id, restart_id);
  EXPECT_EQ(listened.outcomes()[0].context, "ticket-42");
}

TEST_F(FleetTest, RestartResolvesPendingThroughDeadlineWhenEventsLost) {
  FleetHarness h;
  emulator::Faults f;
  f.events.drop_percent = 100;
  h.emulator().SetFaults(f);
  std::string id;
  {
    auto opts = h.Options();
    opts.queue_timeout = 0ms;
    opts.deadline_grace = 100ms;
    opts.receivers = 0;
    opts.deadline_tick = 1h;  // this process never resolves
    auto fm = h.Start(opts);
    id = *fm->Create(2, {}, {}, Json::MakeObject(), [](const CreateOutcome&) {});
    fm->Stop();
  }
  h.OpenStore();
  Recorder listened;
  auto fm2 = h.Start(h.Options(), [&](const CreateOutcome& o) { listened.Add(o); });
  ASSERT_TRUE(listened.WaitCount(1));
  EXPECT_EQ(listened.outcomes()[0].placement_id, id);
}

TEST_F(FleetTest, Defect_TwoNodesLoseHalfTheCallbacks_SharedQueueLosesNone) {
  FleetHarness h;
  index::InstanceIndex index_b;
  auto a = h.Start(h.Options("nodeA"));
  auto b = h.Start(h.Options("nodeB"), {}, &index_b);
  Recorder ra, rb;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(a->Create(2, {}, {}, Json::MakeObject(), ra.Callback()));
    ASSERT_OK(b->Create(2, {}, {}, Json::MakeObject(), rb.Callback()));
  }
  ASSERT_TRUE(ra.WaitCount(20));
  ASSERT_TRUE(rb.WaitCount(20));
  for (const auto& o : ra.outcomes())
    EXPECT_EQ(GameLiftFleetManager::OwnerOfPlacementId(o.placement_id), "nodeA");
  for (const auto& o : rb.outcomes())
    EXPECT_EQ(GameLiftFleetManager::OwnerOfPlacementId(o.placement_id), "nodeB");
  b->Stop();
  a->Stop();
  EXPECT_EQ(ra.size(), 20u);
  EXPECT_EQ(rb.size(), 20u);
}

// ---- List ----

TEST_F(FleetTest, Defect_EmptyListCallsGameLift_ListUsesIndexOnly) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  for (int i = 0; i < 5; ++i) CreateSession(*fm, 4);
  h.emulator().ClearRequestLog();
  auto page1 = fm->List("", 2, "");
  ASSERT_OK(page1);
  EXPECT_EQ(page1->instances.size(), 2u);
  EXPECT_FALSE(page1->next_cursor.empty());
  auto page2 = fm->List("", 2, page1->next_cursor);
  auto page3 = fm->List("", 2, page2->next_cursor);
  EXPECT_EQ(page3->instances.size(), 1u);
  EXPECT_TRUE(page3->next_cursor.empty());
  for (const auto& e : h.emulator().RequestLog()) EXPECT_NE(e.service, "gamelift") << e.operation;
}

TEST_F(FleetTest, Defect_QueryListDropsCursor_QueryListPages) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  for (int i = 0; i < 3; ++i) CreateSession(*fm, 4);
  auto p1 = fm->List("+value.status:ACTIVE", 2, "");
  ASSERT_OK(p1);
  EXPECT_EQ(p1->instances.size(), 2u);
  ASSERT_FALSE(p1->next_cursor.empty());
  auto p2 = fm->List("+value.status:ACTIVE", 2, p1->next_cursor);
  ASSERT_OK(p2);
  EXPECT_EQ(p2->instances.size(), 1u);
  EXPECT_THAT(fm->List("+value.status:OTHER", 2, p1->next_cursor),
              StatusIs(StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(FleetTest, Defect_SortFieldWrong_ListEmptiestFirst) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto a = CreateSession(*fm, 10);
  auto b = CreateSession(*fm, 10);
  ASSERT_OK(fm->Update(a.id, 5, Json()));
  ASSERT_OK(fm->Update(b.id, 1, Json()));
  auto l = fm->List("", 10, "");
  ASSERT_OK(l);
  ASSERT_EQ(l->instances.size(), 2u);
  EXPECT_EQ(l->instances[0].id, b.id);
}

TEST_F(FleetTest, Defect_StatusNotIndexed_ListByStatus) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  CreateSession(*fm, 4);
  EXPECT_EQ(fm->List("+value.status:ACTIVE", 10, "")->instances.size(), 1u);
  EXPECT_EQ(fm->List("+value.status:TERMINATED", 10, "")->instances.size(), 0u);
}

// ---- Get / Delete ----

TEST_F(FleetTest, GetRefreshesActiveRemovesTerminatedUnknownNotFound) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 4, {"p1"});
  h.emulator().ClearRequestLog();
  auto g = fm->Get(s.id);
  ASSERT_OK(g);
  EXPECT_EQ(g->status, "ACTIVE");
  EXPECT_EQ(g->player_count, 1);
  EXPECT_EQ(h.CountRequests("DescribeGameSessions"), 1);
  Admin(h, "game-sessions/terminate", "{\"GameSessionId\":\"" + s.id + "\"}");
  auto t = fm->Get(s.id);
  ASSERT_OK(t);
  EXPECT_EQ(t->status, "TERMINATED");
  EXPECT_EQ(h.index().Get(s.id), nullptr);
  EXPECT_THAT(h.store().GetInstance(s.id), StatusIs(StatusCode::kNotFound, ::testing::_));
  std::string unknown = "arn:aws:gamelift:us-east-1::gamesession/fleet-local/nope";
  EXPECT_THAT(fm->Get(unknown), StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_F(FleetTest, SessionsThatAreGoneAreForgotten) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto deleted = CreateSession(*fm, 4);
  auto terminated = CreateSession(*fm, 4);
  auto kept = CreateSession(*fm, 4);
  EXPECT_EQ(fm->stats().sessions_remembered, 3u);
  ASSERT_OK(fm->Delete(deleted.id));
  EXPECT_EQ(fm->stats().sessions_remembered, 2u);
  Admin(h, "game-sessions/terminate", "{\"GameSessionId\":\"" + terminated.id + "\"}");
  auto t = fm->Get(terminated.id);
  ASSERT_OK(t);
  EXPECT_EQ(t->status, "TERMINATED");
  EXPECT_EQ(fm->stats().sessions_remembered, 1u);
  // The one left still has its maximum: a player count above it is refused.
  EXPECT_THAT(fm->Update(kept.id, 5, Json::MakeObject()),
              StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST_F(FleetTest, DeleteIsIdempotent) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 4);
  EXPECT_OK(fm->Delete(s.id));
  EXPECT_OK(fm->Delete(s.id));
  EXPECT_OK(fm->Delete("never-existed"));
  EXPECT_EQ(h.index().Get(s.id), nullptr);
  EXPECT_THAT(h.store().GetInstance(s.id), StatusIs(StatusCode::kNotFound, ::testing::_));
}

// ---- Join ----

TEST_F(FleetTest, Defect_JoinErrorsSurfaceRaw_JoinErrorsMapped) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto full = CreateSession(*fm, 2, {"a", "b"});
  EXPECT_THAT(fm->Join(full.id, {"c"}, {}),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("GameSessionFull")));
  auto ended = CreateSession(*fm, 4);
  Admin(h, "game-sessions/terminate", "{\"GameSessionId\":\"" + ended.id + "\"}");
  EXPECT_THAT(fm->Join(ended.id, {"c"}, {}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("InvalidGameSessionStatus")));
  EXPECT_THAT(fm->Join("arn:aws:gamelift:us-east-1::gamesession/fleet-local/nope", {"c"}, {}),
              StatusIs(StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(fm->Join(ended.id, {"c", "c"}, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("user_ids[1] repeats")));
}

TEST_F(FleetTest, JoinSixtyPlayersInThreeBatches) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 100);
  std::vector<std::string> users;
  std::map<std::string, std::string> data;
  for (int i = 0; i < 60; ++i) users.push_back(Id("player", i));
  data["player59"] = "last";
  h.emulator().ClearRequestLog();
  auto j = fm->Join(s.id, users, data);
  ASSERT_OK(j);
  EXPECT_EQ(j->session_info.size(), 60u);
  EXPECT_EQ(j->instance_info.player_count, 60);
  EXPECT_EQ(h.CountRequests("CreatePlayerSessions"), 3);
  EXPECT_EQ(h.index().Get(s.id)->player_count, 60);
}

TEST_F(FleetTest, JoinPartialFailureSaysWhoGotSessions) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 30);
  std::vector<std::string> users;
  for (int i = 0; i < 40; ++i) users.push_back(Id("player", i));
  auto j = fm->Join(s.id, users, {});
  EXPECT_THAT(j, StatusIs(StatusCode::kResourceExhausted,
                          HasSubstr("player sessions were created for: player0=")));
  EXPECT_THAT(j.status().message(), HasSubstr("player24="));
  EXPECT_EQ(h.index().Get(s.id)->player_count, 25);
}

TEST_F(FleetTest, Defect_JoinCountRace_ConcurrentJoinsKeepCountExact) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 200);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (fm->Join(s.id, {Id(Id("t", t).append("-").c_str(), i)}, {}).ok()) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(h.store().GetInstance(s.id)->info.player_count, 40);
  EXPECT_EQ(h.index().Get(s.id)->player_count, 40);
}

// ---- Update ----

TEST_F(FleetTest, Defect_UpdateCallsGameLiftEveryTime_OnlyRealPropertyChanges) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 10);
  h.emulator().ClearRequestLog();
  for (int i = 0; i <= 10; ++i) ASSERT_OK(fm->Update(s.id, i, Json()));
  ASSERT_OK(fm->Update(s.id, std::nullopt, Obj(R"({"GameSessionData":"d"})")));
  ASSERT_OK(fm->Update(s.id, std::nullopt, Obj(R"({"GameProperties":{"mode":"ctf"}})")));
  fm->WaitForUpdates();
  ASSERT_OK(fm->Update(s.id, 3, Obj(R"({"GameProperties":{"mode":"ctf"}})")));  // no change
  fm->WaitForUpdates();
  EXPECT_EQ(h.CountRequests("UpdateGameSession"), 1);
  ASSERT_OK(fm->Update(s.id, std::nullopt, Obj(R"({"GameProperties":{"mode":"dm"}})")));
  fm->WaitForUpdates();
  auto ups = h.Requests("UpdateGameSession");
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_THAT(ups[1].request_body, HasSubstr(R"({"Key":"mode","Value":"dm"})"));
  auto stored = h.store().GetInstance(s.id);
  EXPECT_EQ(stored->info.player_count, 3);
  EXPECT_EQ(stored->info.metadata.Find("GameSessionData")->as_string(), "d");
  EXPECT_EQ(stored->info.metadata.Find("GameProperties")->Dump(), R"({"mode":"dm"})");
}

// Collects the results of TryUpdateAsync calls.
class AsyncResults {
 public:
  std::function<void(Status)> Callback() {
    return [this](Status s) {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(s));
      cv_.notify_all();
    };
  }
  bool Wait(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 60s, [&] { return results_.size() >= n; });
  }
  std::vector<Status> results() {
    std::lock_guard lock(mu_);
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Status> results_;
};

TEST_F(FleetTest, AsyncUpdatesAreDurableInOrderAndNeverAskGameLift) {
  FleetHarness h;
  auto opts = h.Options();
  opts.single_writer = true;
  auto fm = h.Start(opts);
  auto s = CreateSession(*fm, 50);
  h.emulator().ClearRequestLog();
  AsyncResults done;
  constexpr int kN = 200;
  for (int i = 0; i < kN; ++i) {
    Json md = Obj(R"({"GameSessionData":"v)" + std::to_string(i) + R"("})");
    ASSERT_TRUE(fm->TryUpdateAsync(s.id, i % 51, md, done.Callback())) << i;
  }
  ASSERT_TRUE(done.Wait(kN));
  for (const auto& r : done.results()) EXPECT_OK(r);
  // The last queued stands, in the store and in the index; nothing went to GameLift.
  auto stored = h.store().GetInstance(s.id);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->info.player_count, (kN - 1) % 51);
  EXPECT_EQ(stored->info.metadata.Find("GameSessionData")->as_string(),
            "v" + std::to_string(kN - 1));
  EXPECT_EQ(h.index().Get(s.id)->player_count, (kN - 1) % 51);
  for (const auto& e : h.emulator().RequestLog()) {
    EXPECT_NE(e.service, "gamelift") << e.operation;  // SQS polls go on meanwhile
  }
}

TEST_F(FleetTest, AsyncUpdatesBuildOnEachOtherAndMixWithBlockingCalls) {
  FleetHarness h;
  auto opts = h.Options();
  opts.single_writer = true;
  auto fm = h.Start(opts);
  auto s = CreateSession(*fm, 10);
  AsyncResults done;
  // Only the keys present overwrite, also while the previous update is still in flight.
  ASSERT_TRUE(fm->TryUpdateAsync(s.id, 4, Obj(R"({"GameSessionName":"room"})"), done.Callback()));
  ASSERT_TRUE(
      fm->TryUpdateAsync(s.id, std::nullopt, Obj(R"({"GameSessionData":"d"})"), done.Callback()));
  // A blocking Join right behind them counts on top of them.
  auto joined = fm->Join(s.id, {"late-1", "late-2"}, {});
  ASSERT_OK(joined);
  ASSERT_TRUE(done.Wait(2));
  EXPECT_OK(done.results()[0]);
  EXPECT_OK(done.results()[1]);
  auto stored = h.store().GetInstance(s.id);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->info.player_count, 6);
  EXPECT_EQ(stored->info.metadata.Find("GameSessionName")->as_string(), "room");
  EXPECT_EQ(stored->info.metadata.Find("GameSessionData")->as_string(), "d");
  // A property change still reaches GameLift, once.
  ASSERT_TRUE(fm->TryUpdateAsync(s.id, std::nullopt, Obj(R"({"GameProperties":{"mode":"dm"}})"),
                                 done.Callback()));
  ASSERT_TRUE(done.Wait(3));
  fm->WaitForUpdates();
  EXPECT_EQ(h.CountRequests("UpdateGameSession"), 1);
}

TEST_F(FleetTest, AsyncUpdateDeclinesWhatWouldBlockAndRejectsBadInput) {
  FleetHarness h;
  auto opts = h.Options();
  opts.single_writer = true;
  auto fm = h.Start(opts);
  auto s = CreateSession(*fm, 10);
  AsyncResults done;
  // Not in the index: the caller must use Update (which asks GameLift).
  EXPECT_FALSE(fm->TryUpdateAsync("arn:aws:gamelift:us-east-1::gamesession/fleet-local/none", 1,
                                  Json(), done.Callback()));
  // Bad input is answered through `done`, at once.
  EXPECT_TRUE(fm->TryUpdateAsync(s.id, -1, Json(), done.Callback()));
  EXPECT_TRUE(fm->TryUpdateAsync(s.id, 11, Json(), done.Callback()));
  EXPECT_TRUE(fm->TryUpdateAsync(s.id, std::nullopt, Obj(R"({"GameProperties":{"n":1}})"),
                                 done.Callback()));
  ASSERT_EQ(done.results().size(), 3u);
  EXPECT_THAT(done.results()[0],
              StatusIs(StatusCode::kInvalidArgument, "player_count must be >= 0, got -1"));
  EXPECT_THAT(done.results()[1],
              StatusIs(StatusCode::kInvalidArgument,
                       "player_count must be at most the session's maximum 10, got 11"));
  EXPECT_THAT(done.results()[2], StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(h.store().GetInstance(s.id)->info.player_count, 0);  // nothing stored
  // A node that is not the store's only writer never takes the fast path.
  fm->Stop();
  auto shared = h.Start(h.Options("n2"));
  EXPECT_FALSE(shared->TryUpdateAsync(s.id, 1, Json(), done.Callback()));
}

TEST_F(FleetTest, Defect_NonStringPropertyPanics_InvalidArgument) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 10);
  EXPECT_THAT(fm->Update(s.id, std::nullopt, Obj(R"({"GameProperties":{"n":1}})")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("metadata.GameProperties.n must be a string")));
  EXPECT_THAT(fm->Update(s.id, -1, Json()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("player_count must be >= 0")));
  EXPECT_THAT(
      fm->Update(s.id, 11, Json()),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most the session's maximum 10")));
}

TEST_F(FleetTest, UpdateUnknownIdLooksUpGameLiftOnce) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 10);
  ASSERT_OK(fm->Delete(s.id));  // known to GameLift, not to glfm
  h.emulator().ClearRequestLog();
  ASSERT_OK(fm->Update(s.id, 2, Json()));
  EXPECT_EQ(h.CountRequests("DescribeGameSessions"), 1);
  EXPECT_EQ(h.index().Get(s.id)->player_count, 2);
  EXPECT_THAT(fm->Update("arn:aws:gamelift:us-east-1::gamesession/fleet-local/nope", 1, Json()),
              StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_F(FleetTest, ConcurrentUpdatesOfAnUnknownIdLookUpOnce) {
  FleetHarness h;
  auto fm = h.Start(h.Options());
  auto s = CreateSession(*fm, 10);
  ASSERT_OK(fm->Delete(s.id));
  h.emulator().ClearRequestLog();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      if (fm->Update(s.id, t, Json()).ok()) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(h.CountRequests("DescribeGameSessions"), 1);
}

TEST_F(FleetTest, PropertyUpdatesCoalescedAndRetried) {
  FleetHarness h;
  auto opts = h.Options();
  opts.update_attempts = 40;  // 50% failures: the last value must get through
  auto fm = h.Start(opts);
  auto s = CreateSession(*fm, 10);
  emulator::Faults f;
  f.operations["UpdateGameSession"].error_percent = 50;
  f.seed = 11;
  h.emulator().SetFaults(f);
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(fm->Update(s.id, std::nullopt,
                         Obj(("{\"GameProperties\":{\"round\":\"" + Id("r", i) + "\"}}").c_str())));
  }
  fm->WaitForUpdates();
  EXPECT_LT(h.CountRequests("UpdateGameSession"), 60);  // coalesced: far fewer than 20 each
  h.emulator().SetFaults({});
  gamelift::GameSessionsFilter filter;
  filter.game_session_id = s.id;
  auto gs = h.gl().DescribeGameSessions(filter);
  ASSERT_OK(gs);
  ASSERT_EQ(gs->items.size(), 1u);
  bool found = false;
  for (const auto& p : gs->items[0].game_properties) {
    if (p.key == "round") {
      EXPECT_EQ(p.value, "r19");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// ---- Reconcile ----

gamelift::GameSessionsFilter ActiveSessionsOfTheAlias() {
  gamelift::GameSessionsFilter f;
  f.alias_id = "alias-local";
  f.status_filter = "ACTIVE";
  return f;
}

// Places `n` game sessions straight through GameLift (no Create: the store knows none of
// them), waits until all are ACTIVE and returns them in `all`.
void PlaceDirectly(FleetHarness& h, int n, std::vector<gamelift::GameSession>* all) {
  for (int i = 0; i < n; ++i) {
    gamelift::StartGameSessionPlacementRequest r;
    r.placement_id = Id("direct-", i);
    r.game_session_queue_name = "glfm-local";
    r.maximum_player_session_count = 4;
    ASSERT_OK(h.gl().StartGameSessionPlacement(r));
  }
  ASSERT_TRUE(Eventually([&] {
    auto active = h.gl().DescribeAllGameSessions(ActiveSessionsOfTheAlias());
    if (!active.ok() || active->size() != static_cast<size_t>(n)) return false;
    *all = std::move(*active);
    return true;
  }));
}

// A fleet manager that reconciles at start and receives no events.
FleetOptions ReconcileOnly(FleetHarness& h) {
  auto opts = h.Options();
  opts.reconcile_at_start = true;
  opts.events_queue_url = "";
  return opts;
}

TEST_F(FleetTest, Defect_SyncDeletesLiveSessionsOnLaterPages_Reconcile250Live7Terminated) {
  FleetHarness h;
  std::vector<gamelift::GameSession> all;
  ASSERT_NO_FATAL_FAILURE(PlaceDirectly(h, 257, &all));
  auto fm = h.Start(ReconcileOnly(h));
  EXPECT_EQ(h.index().size(), 257u);
  for (int i = 0; i < 7; ++i) {
    Admin(h, "game-sessions/terminate",
          "{\"GameSessionId\":\"" + all[i * 30].game_session_id + "\"}");
  }
  h.emulator().ClearRequestLog();
  ASSERT_OK(fm->Reconcile());
  EXPECT_EQ(h.CountRequests("DescribeGameSessions"), 3);
  EXPECT_EQ(fm->stats().reconcile_removed, 7u);
  EXPECT_EQ(h.index().size(), 250u);
  EXPECT_EQ(fm->stats().sessions_remembered, 250u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(h.index().Get(all[i * 30].game_session_id), nullptr);
}

TEST_F(FleetTest, ReconcileRewritesOnlyTheSessionsGameLiftChanged) {
  FleetHarness h;
  std::vector<gamelift::GameSession> all;
  ASSERT_NO_FATAL_FAILURE(PlaceDirectly(h, 5, &all));
  auto fm = h.Start(ReconcileOnly(h));
  ASSERT_EQ(h.index().size(), 5u);
  std::map<std::string, Timestamp> written;
  for (const auto& gs : all)
    written[gs.game_session_id] = h.store().GetInstance(gs.game_session_id)->update_time;
  gamelift::UpdateGameSessionRequest u;
  u.game_session_id = all[2].game_session_id;
  u.game_properties = std::vector<gamelift::GameProperty>{{"mode", "ranked"}};
  ASSERT_OK(h.gl().UpdateGameSession(u));
  ASSERT_OK(fm->Reconcile());
  for (const auto& gs : all) {
    auto stored = h.store().GetInstance(gs.game_session_id);
    ASSERT_OK(stored);
    if (gs.game_session_id == u.game_session_id) {
      EXPECT_GT(stored->update_time, written[gs.game_session_id]);
      const Json* props = stored->info.metadata.Find("GameProperties");
      ASSERT_NE(props, nullptr);
      EXPECT_EQ(props->Find("mode")->as_string(), "ranked");
    } else {
      EXPECT_EQ(stored->update_time, written[gs.game_session_id]) << "rewritten unchanged";
    }
  }
}

TEST_F(FleetTest, ReconcileOfASessionListedTwiceKeepsTheServersPlayerCount) {
  FleetHarness h;
  std::vector<gamelift::GameSession> all;
  ASSERT_NO_FATAL_FAILURE(PlaceDirectly(h, 3, &all));
  // The same fleet twice: GameLift's answer lists every session twice.
  auto opts = ReconcileOnly(h);
  opts.alias_id = "";
  opts.fleet_ids = {all[0].fleet_id, all[0].fleet_id};
  auto fm = h.Start(opts);
  ASSERT_EQ(h.index().size(), 3u);
  const std::string& id = all[1].game_session_id;
  ASSERT_OK(fm->Update(id, 3, Json::MakeObject()));
  // GameLift changes the session, so the pass rewrites it: with the count the server reported.
  gamelift::UpdateGameSessionRequest u;
  u.game_session_id = id;
  u.game_properties = std::vector<gamelift::GameProperty>{{"mode", "ranked"}};
  ASSERT_OK(h.gl().UpdateGameSession(u));
  ASSERT_OK(fm->Reconcile());
  auto stored = h.store().GetInstance(id);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->info.player_count, 3);
  const Json* props = stored->info.metadata.Find("GameProperties");
  ASSERT_NE(props, nullptr);
  EXPECT_EQ(props->Find("mode")->as_string(), "ranked");
  EXPECT_EQ(h.index().Get(id)->player_count, 3);
  EXPECT_EQ(h.index().size(), 3u);
  EXPECT_EQ(fm->stats().reconcile_removed, 0u);
}

TEST_F(FleetTest, ReconcileKeepsSessionsNewerThanTheSync) {
  FleetHarness h;
  auto opts = h.Options();
  auto fm = h.Start(opts);
  InstanceInfo fresh;
  fresh.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-local/fresh";
  fresh.status = "ACTIVE";
  Timestamp future = Clock::now() + 1h;
  ASSERT_OK(h.store().UpsertInstance(fresh, future));
  InstanceInfo old = fresh;
  old.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-local/old";
  ASSERT_OK(h.store().UpsertInstance(old, Clock::now() - 1h));
  ASSERT_OK(fm->Reconcile());
  EXPECT_OK(h.store().GetInstance(fresh.id));
  EXPECT_THAT(h.store().GetInstance(old.id), StatusIs(StatusCode::kNotFound, ::testing::_));
}

TEST_F(FleetTest, StartLoadsEveryStoredSessionAndRefusesACorruptOne) {
  FleetHarness h;
  // 2,345 sessions: three pages of the load, the last one partial.
  std::vector<store::InstanceWrite> writes;
  for (int i = 0; i < 2345; ++i) {
    InstanceInfo info;
    info.id = Id("arn:aws:gamelift:us-east-1::gamesession/fleet-local/gs-", i);
    info.status = "ACTIVE";
    info.player_count = i % 7;
    info.metadata = Obj(i % 5 == 0 ? R"({"GameProperties":{"mode":"ranked"}})"
                                   : R"({"GameProperties":{"mode":"casual"}})");
    writes.push_back({std::move(info), Clock::now()});
  }
  ASSERT_OK(h.store().UpsertInstances(writes));
  {
    auto fm = h.Start(h.Options());
    EXPECT_EQ(h.index().size(), 2345u);
    auto ranked = fm->List("+value.metadata.GameProperties.mode:ranked", 1000, "");
    ASSERT_OK(ranked.status());
    EXPECT_EQ(ranked->instances.size(), 469u);  // i % 5 == 0 below 2345
    auto last = h.index().Get(writes.back().info.id);
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(last->player_count, 2344 % 7);
    fm->Stop();
  }
  // A row no longer decodes (a damaged file, or a hand edit): start fails and names it rather
  // than serving an index without it.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((h.dir() + "/glfm.db").c_str(), &db), SQLITE_OK);
    store::internal::ExecSql(
        db, "UPDATE instances SET doc = '{\"id\":' WHERE id = '" + writes[1500].info.id + "'");
    sqlite3_close(db);
  }
  h.OpenStore();
  auto fm = GameLiftFleetManager::Start(h.Options(), &h.store(), &h.index(), &h.gl(), &h.sqs(), {});
  EXPECT_THAT(fm.status(),
              StatusIs(StatusCode::kDataLoss,
                       HasSubstr("stored instance " + writes[1500].info.id + " does not parse")));
}

TEST_F(FleetTest, PlacementsDeliveredLongAgoAreDeletedAfterTheRetention) {
  FleetHarness h;
  std::atomic<int64_t> ahead_s{0};  // the fleet manager's clock runs this far ahead
  auto options = [&](std::chrono::milliseconds retention) {
    auto o = h.Options();
    o.placement_retention = retention;
    o.now = [&] { return Clock::now() + std::chrono::seconds(ahead_s.load()); };
    return o;
  };
  std::string id;
  {
    // Retention 0: kept for ever, however old.
    auto fm = h.Start(options(0ms));
    Recorder rec;
    auto created = fm->Create(2, {"u1"}, {}, Json::MakeObject(), rec.Callback());
    ASSERT_OK(created);
    id = *created;
    ASSERT_TRUE(rec.WaitCount(1));
    ASSERT_TRUE(Eventually([&] { return h.store().GetPlacement(id)->delivered; }));
    ahead_s = 48 * 3600;
    std::this_thread::sleep_for(200ms);  // ten deadline ticks
    EXPECT_OK(h.store().GetPlacement(id));
    EXPECT_EQ(fm->stats().placements_pruned, 0u);
    fm->Stop();
  }
  // Retention 1 h: passes run every 15 min of the clock; the outcome is 48 h old by then.
  ahead_s = 0;
  auto fm = h.Start(options(1h));
  std::this_thread::sleep_for(100ms);
  EXPECT_OK(h.store().GetPlacement(id));  // younger than 1 h
  ahead_s = 48 * 3600;
  ASSERT_TRUE(Eventually([&] { return fm->stats().placements_pruned == 1; }));
  EXPECT_THAT(h.store().GetPlacement(id),
              StatusIs(StatusCode::kNotFound, "placement " + id + " not found"));
}

TEST_F(FleetTest, PeriodicReconcileRemovesStaleSessions) {
  FleetHarness h;
  InstanceInfo stale;
  stale.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-local/stale";
  stale.status = "ACTIVE";
  ASSERT_OK(h.store().UpsertInstance(stale, Clock::now() - 1h));
  auto opts = h.Options();
  opts.reconcile_interval = 20ms;
  auto fm = h.Start(opts);
  EXPECT_NE(h.index().Get(stale.id), nullptr);  // loaded from the store at start
  ASSERT_TRUE(Eventually([&] { return fm->stats().reconcile_removed == 1; }));
  EXPECT_EQ(h.index().Get(stale.id), nullptr);
}

}  // namespace
}  // namespace glfm::fleet
