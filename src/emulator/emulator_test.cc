// In-process emulator tests on a ManualClock: every transition is stepped, nothing sleeps.
#include "emulator/emulator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "glfm/json.h"
#include "testing/http_client.h"
#include "testing/status_matchers.h"

namespace glfm::emulator {
namespace {

using glfm::testing::HttpClient;
using glfm::testing::HttpResult;

class EmulatorTest : public ::testing::Test {
 protected:
  void Start(World world = DefaultWorld(), SignatureVerifier verifier = nullptr) {
    EmulatorOptions o;
    o.world = std::move(world);
    o.clock = &clock_;
    o.verify_signature = std::move(verifier);
    auto e = Emulator::Start(std::move(o));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    emu_ = std::move(e).value();
    client_ = std::make_unique<HttpClient>("127.0.0.1", emu_->port());
  }

  HttpResult Raw(const std::string& target, const std::string& body) {
    bool gl = target.rfind("GameLift.", 0) == 0;
    return client_->Request(
        "POST", "/", body,
        {{"X-Amz-Target", target},
         {"Content-Type", gl ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0"}});
  }

  // Calls an operation and returns the reply (aborting the test on a non-200).
  Json Call(const std::string& target, const std::string& body) {
    HttpResult r = Raw(target, body);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    auto j = Json::Parse(r.body);
    EXPECT_TRUE(j.ok()) << r.body;
    return j.ok() ? *j : Json();
  }

  std::string ErrorType(const std::string& target, const std::string& body) {
    HttpResult r = Raw(target, body);
    EXPECT_EQ(r.status / 100, 4) << r.body;
    auto j = Json::Parse(r.body);
    return j.ok() && j->Find("__type") ? j->Find("__type")->as_string() : r.body;
  }

  std::string Place(const std::string& id, const std::string& extra = "") {
    Json r = Call("GameLift.StartGameSessionPlacement",
                  R"({"PlacementId":")" + id +
                      R"(","GameSessionQueueName":"glfm-local","MaximumPlayerSessionCount":4)" +
                      extra + "}");
    return (*r.Find("GameSessionPlacement")).Find("Status")->as_string();
  }

  Json Placement(const std::string& id) {
    return *Call("GameLift.DescribeGameSessionPlacement", R"({"PlacementId":")" + id + "\"}")
                .Find("GameSessionPlacement");
  }

  std::string EventsUrl() { return emu_->url() + "/000000000000/glfm-placement-events"; }

  // Holds every call of `op` ("*": all) for `ms` (a latency fault), sends `target` with
  // `body` from a thread of its own and returns once the emulator holds it; the answer is in
  // `*answer` when the thread has been joined.
  std::thread SendHeld(const std::string& op, int ms, const std::string& target,
                       const std::string& body, HttpResult* answer) {
    Faults f;
    f.operations[op].latency_percent = 100;
    f.operations[op].latency_ms = ms;
    emu_->SetFaults(f);
    std::thread caller([this, target, body, answer] {
      HttpClient c("127.0.0.1", emu_->port());
      *answer = c.Request("POST", "/", body, {{"X-Amz-Target", target}});
    });
    while (emu_->HeldRequests() == 0) {
      std::this_thread::yield();
    }
    return caller;
  }

  // Receives up to 10 messages without waiting; returns the event JSON of each (SNS Message).
  std::vector<Json> DrainEvents() {
    std::vector<Json> out;
    Json r = Call("AmazonSQS.ReceiveMessage",
                  R"({"QueueUrl":")" + EventsUrl() + R"(","MaxNumberOfMessages":10})");
    if (const Json* msgs = r.Find("Messages")) {
      for (const Json& m : msgs->as_array()) {
        auto env = Json::Parse(m.Find("Body")->as_string());
        auto ev = Json::Parse(env->Find("Message")->as_string());
        out.push_back(*ev);
        Call("AmazonSQS.DeleteMessage", R"({"QueueUrl":")" + EventsUrl() +
                                            R"(","ReceiptHandle":")" +
                                            m.Find("ReceiptHandle")->as_string() + "\"}");
      }
    }
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<Emulator> emu_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(EmulatorTest, PlacementStepsThroughPendingActivatingFulfilled) {
  Start();
  EXPECT_EQ(Place("p1", R"(,"DesiredPlayerSessions":[{"PlayerId":"u1"}])"), "PENDING");
  ASSERT_OK(emu_->AdvanceClock(499));
  EXPECT_EQ(Placement("p1").Find("Status")->as_string(), "PENDING");
  ASSERT_OK(emu_->AdvanceClock(1));  // placement delay over: the session is ACTIVATING
  Json sessions = Call("GameLift.DescribeGameSessions", R"({"AliasId":"alias-local"})");
  ASSERT_EQ(sessions.Find("GameSessions")->as_array().size(), 1u);
  EXPECT_EQ(sessions.Find("GameSessions")->as_array()[0].Find("Status")->as_string(), "ACTIVATING");
  EXPECT_TRUE(DrainEvents().empty());
  ASSERT_OK(emu_->AdvanceClock(300));
  Json p = Placement("p1");
  EXPECT_EQ(p.Find("Status")->as_string(), "FULFILLED");
  EXPECT_EQ(p.Find("GameSessionRegion")->as_string(), "us-east-1");  // queue order
  EXPECT_TRUE(p.Find("Port")->is_integer());
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  const Json& d = *events[0].Find("detail");
  EXPECT_EQ(d.Find("type")->as_string(), "PlacementFulfilled");
  EXPECT_EQ(d.Find("port")->as_string(), std::to_string(p.Find("Port")->as_int64()));
  EXPECT_EQ(events[0].Find("version")->as_string(), "0");
  EXPECT_EQ(events[0].Find("time")->as_string().size(), 20u);  // 2026-01-01T00:00:00Z
  // Player sessions: RESERVED, accepted after the accept delay, never timed out then.
  std::string arn = p.Find("GameSessionArn")->as_string();
  auto status = [&] {
    return Call("GameLift.DescribePlayerSessions", R"({"GameSessionId":")" + arn + "\"}")
        .Find("PlayerSessions")
        ->as_array()[0]
        .Find("Status")
        ->as_string();
  };
  EXPECT_EQ(status(), "RESERVED");
  ASSERT_OK(emu_->AdvanceClock(1000));
  EXPECT_EQ(status(), "ACTIVE");
  ASSERT_OK(emu_->AdvanceClock(60000));
  EXPECT_EQ(status(), "ACTIVE");
}

TEST_F(EmulatorTest, EventAndEnvelopeKeepAwsMemberOrder) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  Start(w);
  Place("order", R"(,"DesiredPlayerSessions":[{"PlayerId":"u1"}])");
  emu_->RunDueWork();
  Json r = Call("AmazonSQS.ReceiveMessage", R"({"QueueUrl":")" + EventsUrl() + "\"}");
  std::string body = r.Find("Messages")->as_array()[0].Find("Body")->as_string();
  EXPECT_EQ(body.rfind(R"({"Type":"Notification","MessageId":")", 0), 0u) << body;
  std::string event = Json::Parse(body)->Find("Message")->as_string();
  EXPECT_EQ(event.rfind(R"({"version":"0","id":")", 0), 0u) << event;
  EXPECT_NE(
      event.find(R"(","detail-type":"GameLift Queue Placement Event","source":"aws.gamelift",)"
                 R"("account":"000000000000","time":")"),
      std::string::npos)
      << event;
  EXPECT_NE(event.find(R"(,"detail":{"type":"PlacementFulfilled","placementId":"order","port":")"),
            std::string::npos)
      << event;
  EXPECT_NE(event.find(R"("placedPlayerSessions":[{"playerId":"u1","playerSessionId":"psess-)"),
            std::string::npos)
      << event;
}

TEST_F(EmulatorTest, UnacceptedPlayerSessionTimesOutAfterSixtySeconds) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  Start(w);
  Place("p1");
  emu_->RunDueWork();
  std::string arn = Placement("p1").Find("GameSessionArn")->as_string();
  Json ps =
      Call("GameLift.CreatePlayerSession", R"({"GameSessionId":")" + arn + R"(","PlayerId":"u9"})");
  std::string id = ps.Find("PlayerSession")->Find("PlayerSessionId")->as_string();
  auto status = [&] {
    return Call("GameLift.DescribePlayerSessions", R"({"PlayerSessionId":")" + id + "\"}")
        .Find("PlayerSessions")
        ->as_array()[0]
        .Find("Status")
        ->as_string();
  };
  ASSERT_OK(emu_->AdvanceClock(59999));
  EXPECT_EQ(status(), "RESERVED");
  ASSERT_OK(emu_->AdvanceClock(1));
  EXPECT_EQ(status(), "TIMEDOUT");
  // A TIMEDOUT session no longer counts against the game session.
  Json gs = Call("GameLift.DescribeGameSessions", R"({"GameSessionId":")" + arn + "\"}");
  EXPECT_EQ(gs.Find("GameSessions")->as_array()[0].Find("CurrentPlayerSessionCount")->as_int64(),
            0);
}

TEST_F(EmulatorTest, LowestLatencyWithCapacityWinsAndWaitsForFreedCapacity) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  w.fleets[0].locations[1].capacity = 1;  // eu-west-1
  w.fleets[0].locations[0].capacity = 0;  // us-east-1
  Start(w);
  const std::string lat =
      R"(,"PlayerLatencies":[{"PlayerId":"a","RegionIdentifier":"us-east-1","LatencyInMilliseconds":5},)"
      R"({"PlayerId":"a","RegionIdentifier":"eu-west-1","LatencyInMilliseconds":90}])";
  Place("first", lat);
  Place("second", lat);
  emu_->RunDueWork();
  EXPECT_EQ(Placement("first").Find("GameSessionRegion")->as_string(), "eu-west-1");
  EXPECT_EQ(Placement("second").Find("Status")->as_string(), "PENDING");
  // Terminating the first session frees the only slot: the waiting placement takes it.
  std::string arn = Placement("first").Find("GameSessionArn")->as_string();
  HttpResult t = client_->Request("POST", "/_emulator/game-sessions/terminate",
                                  R"({"GameSessionId":")" + arn + "\"}");
  EXPECT_EQ(t.status, 200) << t.body;
  emu_->RunDueWork();
  EXPECT_EQ(Placement("second").Find("Status")->as_string(), "FULFILLED");
  // The queue times out a placement that never finds room.
  Place("third");
  ASSERT_OK(emu_->AdvanceClock(60000));
  EXPECT_EQ(Placement("third").Find("Status")->as_string(), "TIMED_OUT");
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].Find("detail")->Find("type")->as_string(), "PlacementTimedOut");
}

TEST_F(EmulatorTest, PlayerLatencyPolicyExcludesSlowLocations) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  w.placement_queues[0].max_player_latency_ms = 100;
  Start(w);
  // us-east-1 has the lower average but one player over the limit; eu-west-1 qualifies.
  Place(
      "policy",
      R"(,"PlayerLatencies":[{"PlayerId":"a","RegionIdentifier":"us-east-1","LatencyInMilliseconds":1},)"
      R"({"PlayerId":"b","RegionIdentifier":"us-east-1","LatencyInMilliseconds":150},)"
      R"({"PlayerId":"a","RegionIdentifier":"eu-west-1","LatencyInMilliseconds":90},)"
      R"({"PlayerId":"b","RegionIdentifier":"eu-west-1","LatencyInMilliseconds":95}])");
  emu_->RunDueWork();
  EXPECT_EQ(Placement("policy").Find("GameSessionRegion")->as_string(), "eu-west-1");
}

TEST_F(EmulatorTest, SearchPagesAtMostTwentyWhateverLimitAsks) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  Start(w);
  for (int i = 0; i < 25; ++i) {
    std::string id = "s";  // (operator+ on a literal trips g++ 12's -Wrestrict)
    id += std::to_string(i);
    Place(id);
  }
  emu_->RunDueWork();
  Json page = Call("GameLift.SearchGameSessions", R"({"AliasId":"alias-local","Limit":50})");
  EXPECT_EQ(page.Find("GameSessions")->as_array().size(), 20u);
  ASSERT_NE(page.Find("NextToken"), nullptr);
  page = Call("GameLift.SearchGameSessions", R"({"AliasId":"alias-local","NextToken":")" +
                                                 page.Find("NextToken")->as_string() + "\"}");
  EXPECT_EQ(page.Find("GameSessions")->as_array().size(), 5u);
  EXPECT_EQ(page.Find("NextToken"), nullptr);
}

TEST_F(EmulatorTest, GameLiftErrorsNameTheEntity) {
  Start();
  EXPECT_EQ(ErrorType("GameLift.DescribeGameSessionPlacement", R"({"PlacementId":"nope"})"),
            "NotFoundException");
  EXPECT_EQ(ErrorType("GameLift.StartGameSessionPlacement",
                      R"({"PlacementId":"x","GameSessionQueueName":"missing",)"
                      R"("MaximumPlayerSessionCount":2})"),
            "NotFoundException");
  Place("dup");
  EXPECT_EQ(ErrorType("GameLift.StartGameSessionPlacement",
                      R"({"PlacementId":"dup","GameSessionQueueName":"glfm-local",)"
                      R"("MaximumPlayerSessionCount":2})"),
            "InvalidRequestException");
  EXPECT_EQ(ErrorType("GameLift.SearchGameSessions",
                      R"({"FleetId":"fleet-local","SortExpression":"size DESC"})"),
            "InvalidRequestException");
  EXPECT_EQ(ErrorType("GameLift.SearchGameSessions", R"({"FleetId":"fleet-local","Limit":0})"),
            "InvalidRequestException");
  EXPECT_EQ(ErrorType("GameLift.DescribeGameSessions",
                      R"({"FleetId":"fleet-local","NextToken":"forged"})"),
            "InvalidRequestException");
  EXPECT_EQ(ErrorType("GameLift.CreateFleet", "{}"), "UnknownOperationException");
  HttpResult r = Raw("GameLift.DescribeAlias", R"({"AliasId":"alias-x"})");
  EXPECT_EQ(r.body, R"({"__type":"NotFoundException","message":"alias alias-x not found"})");
}

TEST_F(EmulatorTest, StopPlacementCancelsAndEmitsEvent) {
  Start();
  Place("c1");
  Json stopped = Call("GameLift.StopGameSessionPlacement", R"({"PlacementId":"c1"})");
  EXPECT_EQ(stopped.Find("GameSessionPlacement")->Find("Status")->as_string(), "CANCELLED");
  ASSERT_OK(emu_->AdvanceClock(1000));
  EXPECT_EQ(Placement("c1").Find("Status")->as_string(), "CANCELLED");
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].Find("detail")->Find("type")->as_string(), "PlacementCancelled");
  EXPECT_EQ(events[0].Find("detail")->Find("port"), nullptr);
}

TEST_F(EmulatorTest, LongPollIsWokenByArrivalAndEndsAtItsDeadline) {
  Start();
  const std::string q = emu_->url() + "/000000000000/glfm-placement-events";
  std::atomic<int> got{-1};
  std::thread poller([&] {
    HttpClient c("127.0.0.1", emu_->port());
    HttpResult r = c.Request("POST", "/", R"({"QueueUrl":")" + q + R"(","WaitTimeSeconds":20})",
                             {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"}});
    auto j = Json::Parse(r.body);
    got = j.ok() && j->Find("Messages") ? static_cast<int>(j->Find("Messages")->as_array().size())
                                        : 0;
  });
  // Wait until the poll is parked (logged), then send: the arrival answers it.
  while (emu_->RequestLog().empty()) {
    std::this_thread::yield();
  }
  Call("AmazonSQS.SendMessage", R"({"QueueUrl":")" + q + R"(","MessageBody":"hi"})");
  poller.join();
  EXPECT_EQ(got.load(), 1);

  // No arrival: the poll answers empty when the (manual) clock passes its 20 s.
  got = -1;
  emu_->ClearRequestLog();
  std::thread idle([&] {
    HttpClient c("127.0.0.1", emu_->port());
    HttpResult r = c.Request("POST", "/", R"({"QueueUrl":")" + q + R"(","WaitTimeSeconds":20})",
                             {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"}});
    got = r.status == 200 && r.body == "{}" ? 0 : 99;
  });
  while (emu_->RequestLog().empty()) {
    std::this_thread::yield();
  }
  ASSERT_OK(emu_->AdvanceClock(19999));
  EXPECT_EQ(got.load(), -1);
  ASSERT_OK(emu_->AdvanceClock(1));
  idle.join();
  EXPECT_EQ(got.load(), 0);
}

TEST_F(EmulatorTest, StopAnswersParkedLongPolls) {
  Start();
  HttpResult result;
  std::thread poller([&] {
    HttpClient c("127.0.0.1", emu_->port());
    result = c.Request("POST", "/", R"({"QueueUrl":")" + EventsUrl() + R"(","WaitTimeSeconds":20})",
                       {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"}});
  });
  while (emu_->RequestLog().empty()) {
    std::this_thread::yield();
  }
  emu_->Stop();
  poller.join();
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "{}");
}

TEST_F(EmulatorTest, VisibilityTimeoutRedeliversWithNewHandleAndCount) {
  Start();
  const std::string q = emu_->url() + "/000000000000/glfm-placement-events";
  Call("AmazonSQS.SendMessage", R"({"QueueUrl":")" + q + R"(","MessageBody":"m"})");
  const std::string recv =
      R"({"QueueUrl":")" + q + R"(","MessageSystemAttributeNames":["ApproximateReceiveCount"]})";
  Json a = Call("AmazonSQS.ReceiveMessage", recv).Find("Messages")->as_array()[0];
  EXPECT_EQ(Call("AmazonSQS.ReceiveMessage", recv).Find("Messages"), nullptr);
  ASSERT_OK(emu_->AdvanceClock(30000));
  Json b = Call("AmazonSQS.ReceiveMessage", recv).Find("Messages")->as_array()[0];
  EXPECT_EQ(a.Find("MessageId")->as_string(), b.Find("MessageId")->as_string());
  EXPECT_NE(a.Find("ReceiptHandle")->as_string(), b.Find("ReceiptHandle")->as_string());
  EXPECT_EQ(b.Find("Attributes")->Find("ApproximateReceiveCount")->as_string(), "2");
  EXPECT_EQ(b.Find("MD5OfBody")->as_string(), "6f8f57715090da2632453988d9a1501b");
  // A stale handle does not delete; the current one does.
  Call("AmazonSQS.DeleteMessage", R"({"QueueUrl":")" + q + R"(","ReceiptHandle":")" +
                                      a.Find("ReceiptHandle")->as_string() + "\"}");
  ASSERT_OK(emu_->AdvanceClock(30000));
  Json c = Call("AmazonSQS.ReceiveMessage", recv).Find("Messages")->as_array()[0];
  Call("AmazonSQS.DeleteMessage", R"({"QueueUrl":")" + q + R"(","ReceiptHandle":")" +
                                      c.Find("ReceiptHandle")->as_string() + "\"}");
  ASSERT_OK(emu_->AdvanceClock(30000));
  EXPECT_EQ(Call("AmazonSQS.ReceiveMessage", recv).Find("Messages"), nullptr);
}

TEST_F(EmulatorTest, RetentionDropsOldMessagesAndDelayHidesNewOnes) {
  World w = DefaultWorld();
  SqsQueueSpec short_lived;
  short_lived.name = "short";
  short_lived.retention_seconds = 60;
  w.queues.push_back(short_lived);
  Start(w);
  const std::string q = emu_->url() + "/000000000000/short";
  Call("AmazonSQS.SendMessage", R"({"QueueUrl":")" + q + R"(","MessageBody":"old"})");
  ASSERT_OK(emu_->AdvanceClock(60000));
  Call("AmazonSQS.SendMessage",
       R"({"QueueUrl":")" + q + R"(","MessageBody":"late","DelaySeconds":5})");
  Json attrs = Call("AmazonSQS.GetQueueAttributes",
                    R"({"QueueUrl":")" + q + R"(","AttributeNames":["All"]})");
  EXPECT_EQ(attrs.Find("Attributes")->Find("ApproximateNumberOfMessagesDelayed")->as_string(), "1");
  EXPECT_EQ(Call("AmazonSQS.ReceiveMessage", R"({"QueueUrl":")" + q + "\"}").Find("Messages"),
            nullptr);
  ASSERT_OK(emu_->AdvanceClock(5000));
  Json r =
      Call("AmazonSQS.ReceiveMessage", R"({"QueueUrl":")" + q + R"(","MaxNumberOfMessages":10})");
  ASSERT_EQ(r.Find("Messages")->as_array().size(), 1u);
  EXPECT_EQ(r.Find("Messages")->as_array()[0].Find("Body")->as_string(), "late");
}

TEST_F(EmulatorTest, SqsErrorsCarryTypeAndQueryErrorHeader) {
  Start();
  HttpResult r = Raw("AmazonSQS.GetQueueUrl", R"({"QueueName":"nope"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers["x-amzn-query-error"], "AWS.SimpleQueueService.NonExistentQueue;Sender");
  EXPECT_EQ(r.body, R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist",)"
                    R"("message":"The specified queue does not exist."})");
}

TEST_F(EmulatorTest, QueryProtocolAnswersXml) {
  Start();
  HttpResult r = client_->Request(
      "POST", "/", "Action=GetQueueUrl&Version=2012-11-05&QueueName=glfm-placement-events",
      {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("<GetQueueUrlResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
                        "<GetQueueUrlResult><QueueUrl>" +
                        emu_->url() + "/000000000000/glfm-placement-events</QueueUrl>"),
            std::string::npos)
      << r.body;
  r = client_->Request("POST", "/", "Action=GetQueueUrl&QueueName=x",
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("<Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
            std::string::npos)
      << r.body;
  r = client_->Request("POST", "/", "Action=ListTopics&Version=2010-03-31",
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_NE(r.body.find("<Topics><member><TopicArn>arn:aws:sns:us-east-1:000000000000:"
                        "glfm-placements</TopicArn></member></Topics>"),
            std::string::npos)
      << r.body;
}

// Runs 40 placements under 50% event loss and returns which placement ids got an event.
std::vector<std::string> SurvivorsWithSeed(uint64_t seed) {
  ManualClock clock;
  EmulatorOptions o;
  o.clock = &clock;
  o.world.timings = {0, 0, -1, 60000};
  o.world.faults.seed = seed;
  o.world.faults.events.drop_percent = 50;
  auto emu = Emulator::Start(std::move(o));
  EXPECT_TRUE(emu.ok());
  HttpClient c("127.0.0.1", (*emu)->port());
  for (int i = 0; i < 40; ++i) {
    c.Request("POST", "/",
              R"({"PlacementId":"p)" + std::to_string(i) +
                  R"(","GameSessionQueueName":"glfm-local","MaximumPlayerSessionCount":2})",
              {{"X-Amz-Target", "GameLift.StartGameSessionPlacement"}});
    (*emu)->RunDueWork();
  }
  std::vector<std::string> ids;
  const std::string q = (*emu)->url() + "/000000000000/glfm-placement-events";
  while (true) {
    HttpResult r =
        c.Request("POST", "/",
                  R"({"QueueUrl":")" + q + R"(","MaxNumberOfMessages":10,"VisibilityTimeout":600})",
                  {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"}});
    auto j = Json::Parse(r.body);
    if (!j.ok() || j->Find("Messages") == nullptr) {
      break;
    }
    for (const Json& m : j->Find("Messages")->as_array()) {
      auto env = Json::Parse(m.Find("Body")->as_string());
      auto ev = Json::Parse(env->Find("Message")->as_string());
      ids.push_back(ev->Find("detail")->Find("placementId")->as_string());
    }
  }
  return ids;
}

TEST(EmulatorFaultTest, EventLossIsSeededAndReproducible) {
  auto a = SurvivorsWithSeed(42);
  auto b = SurvivorsWithSeed(42);
  auto c = SurvivorsWithSeed(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(a.size(), 5u);
  EXPECT_LT(a.size(), 35u);
}

TEST_F(EmulatorTest, DuplicateAndReorderFaults) {
  World w = DefaultWorld();
  w.timings = {0, 0, -1, 60000};
  Start(w);
  Faults f;
  f.events.duplicate_percent = 100;
  emu_->SetFaults(f);
  Place("d1");
  emu_->RunDueWork();
  EXPECT_EQ(DrainEvents().size(), 2u);
  f.events.duplicate_percent = 0;
  f.events.reorder_percent = 100;
  emu_->SetFaults(f);
  Place("r1");
  emu_->RunDueWork();
  EXPECT_TRUE(DrainEvents().empty());  // held back until the next event
  Place("r2");
  emu_->RunDueWork();
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].Find("detail")->Find("placementId")->as_string(), "r2");
  EXPECT_EQ(events[1].Find("detail")->Find("placementId")->as_string(), "r1");
}

TEST_F(EmulatorTest, InjectedPlacementFailure) {
  Start();
  Faults f;
  f.placement_fail_percent = 100;
  emu_->SetFaults(f);
  Place("f1");
  ASSERT_OK(emu_->AdvanceClock(500));
  EXPECT_EQ(Placement("f1").Find("Status")->as_string(), "FAILED");
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].Find("detail")->Find("type")->as_string(), "PlacementFailed");
  ASSERT_OK(emu_->AdvanceClock(60000));  // the queue timeout no longer applies
  EXPECT_EQ(Placement("f1").Find("Status")->as_string(), "FAILED");
}

TEST_F(EmulatorTest, OperationFaultsThrottleAndFail) {
  Start();
  Faults f;
  f.operations["DescribeAlias"].throttle_percent = 100;
  f.operations["ReceiveMessage"].error_percent = 100;
  emu_->SetFaults(f);
  EXPECT_EQ(ErrorType("GameLift.DescribeAlias", R"({"AliasId":"alias-local"})"),
            "ThrottlingException");
  HttpResult r = Raw("AmazonSQS.ReceiveMessage", R"({"QueueUrl":")" + EventsUrl() + "\"}");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.headers["x-amzn-query-error"], "InternalError;Receiver");
  auto log = emu_->RequestLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].operation, "DescribeAlias");
  EXPECT_EQ(log[0].error_code, "ThrottlingException");
  EXPECT_EQ(log[1].http_status, 500);
}

TEST_F(EmulatorTest, LatencyFaultHoldsACallUntilItsTimeThenHandlesIt) {
  Start();
  HttpResult slow;
  std::thread caller = SendHeld(
      "StartGameSessionPlacement", 5000, "GameLift.StartGameSessionPlacement",
      R"({"PlacementId":"slow-1","GameSessionQueueName":"glfm-local","MaximumPlayerSessionCount":4})",
      &slow);
  // Held and not handled: no placement yet, nothing logged, and other calls answer at once.
  EXPECT_EQ(ErrorType("GameLift.DescribeGameSessionPlacement", R"({"PlacementId":"slow-1"})"),
            "NotFoundException");
  ASSERT_OK(emu_->AdvanceClock(4999));
  EXPECT_EQ(emu_->HeldRequests(), 1u);
  ASSERT_OK(emu_->AdvanceClock(1));
  caller.join();
  EXPECT_EQ(emu_->HeldRequests(), 0u);
  ASSERT_EQ(slow.status, 200) << slow.body;
  EXPECT_EQ(Placement("slow-1").Find("Status")->as_string(), "PENDING");
  auto log = emu_->RequestLog();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].operation, "DescribeGameSessionPlacement");  // answered while the other waited
  EXPECT_EQ(log[1].operation, "StartGameSessionPlacement");
}

TEST_F(EmulatorTest, StopAnswersHeldCallsUnhandled) {
  Start();
  HttpResult held;
  std::thread caller =
      SendHeld("*", 60000, "GameLift.DescribeAlias", R"({"AliasId":"alias-local"})", &held);
  emu_->Stop();
  caller.join();
  EXPECT_EQ(held.status, 503);
  EXPECT_NE(held.body.find("emulator is stopping"), std::string::npos) << held.body;
  EXPECT_TRUE(emu_->RequestLog().empty());
}

TEST_F(EmulatorTest, AdminEndpointsValidateInput) {
  Start();
  HttpResult r = client_->Request("POST", "/_emulator/capacity",
                                  R"({"fleet":"fleet-local","location":"mars-1","capacity":0})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"fleet location fleet-local/mars-1 not found"})");
  r = client_->Request("POST", "/_emulator/faults", "events: {drop_percent: 120}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"faults.events.drop_percent: must be between 0 and 100"})");
  r = client_->Request("POST", "/_emulator/faults", R"({"operations":{"*":{"latency_ms":-1}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"faults.operations.*.latency_ms: must be between 0 and 3600000"})");
  r = client_->Request("POST", "/_emulator/player-sessions/accept", R"({"PlayerSessionId":"x"})");
  EXPECT_EQ(r.status, 404);
}

TEST_F(EmulatorTest, SignatureVerifierHookRejects) {
  Start(DefaultWorld(), [](const server::HttpRequest& req) -> Status {
    const std::string* auth = req.Header("authorization");
    if (auth == nullptr || auth->find("Credential=GOOD/") == std::string::npos) {
      return UnauthenticatedError("The request signature we calculated does not match");
    }
    return OkStatus();
  });
  EXPECT_EQ(ErrorType("GameLift.DescribeAlias", R"({"AliasId":"alias-local"})"),
            "UnauthorizedException");
  HttpResult r = client_->Request(
      "POST", "/", R"({"AliasId":"alias-local"})",
      {{"X-Amz-Target", "GameLift.DescribeAlias"},
       {"Authorization",
        "AWS4-HMAC-SHA256 Credential=GOOD/20260101/us-east-1/gamelift/aws4_request"}});
  EXPECT_EQ(r.status, 200);
}

TEST(EmulatorCommandTest, BadUsageExitsTwo) {
  auto run = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    return RunEmulatorCommand(static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_EQ(run({"emulator", "--bogus"}), 2);
  EXPECT_EQ(run({"emulator", "--listen", "127.0.0.1"}), 2);
  EXPECT_EQ(run({"emulator", "--listen", "127.0.0.1:99999"}), 2);
  EXPECT_EQ(run({"emulator", "--world", "/nonexistent/world.yaml"}), 2);
}

}  // namespace
}  // namespace glfm::emulator
