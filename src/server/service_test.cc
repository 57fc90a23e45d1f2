// `glfm serve` in-process over real sockets: webhooks (signed, retried, kept across a
// restart), the /v1/events stream, the OpenAPI document, and placements looked up after a
// restart. Local mode runs the emulator in-process; the restart test runs the emulator on its
// own so that it outlives the glfm process, which then talks to it as to AWS.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "emulator/emulator.h"
#include "server/webhooks.h"
#include "store/postgres_store.h"
#include "testing/app_harness.h"
#include "testing/http_receiver.h"
#include "testing/postgres.h"
#include "testing/stream_client.h"

namespace glfm::server {
namespace {

using glfm::testing::HttpClient;
using glfm::testing::HttpReceiver;
using glfm::testing::HttpResult;
using glfm::testing::StreamClient;
using testing::AppTest;
using testing::Encode;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Quote;
using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HeaderOf(const HttpRequest& r, std::string_view name) {
  const std::string* h = r.Header(name);
  return h == nullptr ? "<none>" : *h;
}

// Checks X-Glfm-Signature of `r` against `secret`.
void ExpectSigned(const HttpRequest& r, const std::string& secret) {
  std::string sig = HeaderOf(r, "x-glfm-signature");
  ASSERT_EQ(sig.rfind("t=", 0), 0u) << sig;
  int64_t t = std::stoll(sig.substr(2, sig.find(',') - 2));
  EXPECT_EQ(sig, WebhookSignature(secret, t, r.body));
}

// The type and data of the last complete event in `text` (frames "event: T\ndata: D\n\n").
std::pair<std::string, Json> LastEvent(const std::string& text) {
  size_t e = text.rfind("event: ");
  if (e == std::string::npos) return {"", Json()};
  size_t nl = text.find('\n', e);
  std::string type = text.substr(e + 7, nl - e - 7);
  size_t d = text.find("data: ", nl);
  size_t end = text.find('\n', d);
  auto data =
      Json::Parse(text.substr(d + 6, end == std::string::npos ? std::string::npos : end - d - 6));
  return {type, data.ok() ? *data : Json()};
}

// Reads `stream` through the end of the event that contains `marker`; "" when the marker
// did not come in time.
std::string ReadEventWith(StreamClient& stream, const std::string& marker) {
  std::string text = stream.ReadUntil(marker);
  if (text.empty()) return "";
  return text + stream.ReadUntil("\n\n");
}

class ServiceTest : public AppTest {
 protected:
  std::string PlacementId(const HttpResult& created) {
    EXPECT_EQ(created.status, 202) << created.body;
    return Json::Parse(created.body)->Find("placement_id")->as_string();
  }
  int EmulatorCalls(const std::string& op) {
    HttpClient c("127.0.0.1", static_cast<uint16_t>(std::stoi(app_->emulator_url().substr(
                                  app_->emulator_url().rfind(':') + 1))));
    auto r = c.Request("GET", "/_emulator/requests");
    EXPECT_EQ(r.status, 200) << r.body;
    int n = 0;
    for (size_t at = r.body.find("\"" + op + "\""); at != std::string::npos;
         at = r.body.find("\"" + op + "\"", at + 1)) {
      n++;
    }
    return n;
  }
};

TEST_F(ServiceTest, APlacementsOutcomeIsPostedToItsWebhookSigned) {
  HttpReceiver receiver;
  Start(Config());
  std::string pid = PlacementId(Call(
      "POST", "/v1/placements",
      R"({"max_players":4,"user_ids":["u1"],"webhook_url":")" + receiver.url("/hook?k=v") + "\"}"));
  auto got = receiver.Wait(1);
  const HttpRequest& hook = got[0];
  EXPECT_EQ(hook.method, "POST");
  EXPECT_EQ(hook.target, "/hook?k=v");
  EXPECT_EQ(HeaderOf(hook, "x-glfm-webhook-id"), pid);
  Json body = *Json::Parse(hook.body);
  EXPECT_EQ(body.Find("placement_id")->as_string(), pid);
  EXPECT_EQ(body.Find("status")->as_string(), "success");
  EXPECT_THAT(body.Find("instance_info")->Find("id")->as_string(), HasSubstr("gamesession/"));
  EXPECT_EQ(body.Find("session_info")->as_array().size(), 1u);
  // Signed with the local secret kept under the data dir.
  std::string secret = ReadFile(dir_.path() + "/data/local_webhook_secret");
  while (!secret.empty() && secret.back() == '\n') secret.pop_back();
  ASSERT_EQ(secret.size(), 32u);
  ExpectSigned(hook, secret);
  // The same body as the long poll answers.
  auto polled = Call("GET", "/v1/placements/" + pid);
  EXPECT_EQ(polled.body, hook.body);
  // What an operator watches.
  std::string metrics = Call("GET", "/metrics").body;
  for (
      const char* m :
      {R"(glfm_aws_requests_total{service="GameLift",operation="StartGameSessionPlacement",result="ok"})",
       R"(glfm_webhooks_total{result="enqueued"})", R"(glfm_webhooks_total{result="delivered"})",
       "glfm_webhook_outbox ", "glfm_webhook_delivery_seconds_count ", "glfm_index_instances 1",
       "glfm_store_commit_seconds_count ", "glfm_event_streams 0", "glfm_sqlite_wal_bytes ",
       "glfm_sqlite_checkpoint_pause_seconds_count ",
       R"(glfm_fleet_events_total{result="received"})"}) {
    EXPECT_NE(metrics.find(m), std::string::npos) << "missing from /metrics: " << m;
  }
}

TEST_F(ServiceTest, TheDefaultWebhookTakesEveryOutcomeAndARefusingReceiverIsRetried) {
  HttpReceiver receiver([](int n) { return n == 1 ? 503 : 204; });
  config::Config c = Config();
  c.webhook.url = receiver.url("/all");
  c.webhook.secret = "configured-secret";
  Start(c);
  std::string pid = PlacementId(Call("POST", "/v1/placements", R"({"max_players":2})"));
  auto got = receiver.Wait(2);
  EXPECT_EQ(got[0].path, "/all");
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-attempt"), "1");
  EXPECT_EQ(HeaderOf(got[1], "x-glfm-attempt"), "2");
  EXPECT_EQ(got[0].body, got[1].body);
  EXPECT_EQ(HeaderOf(got[1], "x-glfm-webhook-id"), pid);
  ExpectSigned(got[1], "configured-secret");
}

TEST_F(ServiceTest, BadCreateBodiesAreRefusedAndPlaceNothing) {
  Start(Config());
  struct Case {
    std::string body, message;
  } cases[] = {
      {R"({"max_players":2,"webhook_url":"ftp://example.com/"})",
       R"({"code":3,"message":"webhook_url: scheme must be http or https, got \"ftp\""})"},
      {R"({"max_players":2,"webhook_url":7})",
       R"({"code":3,"message":"webhook_url: expected a string, got number"})"},
      {R"({"max_players":2,"webhook_url":"http:///x"})",
       R"({"code":3,"message":"webhook_url: the URL has no host"})"},
      {R"({"max_players":2,"webhok_url":"http://x/"})",
       R"j({"code":3,"message":"webhok_url: unknown field (expected max_players, user_ids, latencies, metadata, webhook_url)"})j"},
  };
  for (const auto& c : cases) {
    auto r = Call("POST", "/v1/placements", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.body, c.message);
  }
  EXPECT_EQ(EmulatorCalls("StartGameSessionPlacement"), 0);
}

TEST_F(ServiceTest, EventStreamCarriesPlacementOutcomesAndInstanceChanges) {
  Start(Config());
  auto bad = Call("GET", "/v1/events?types=placement,gossip");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(
      bad.body,
      R"j({"code":3,"message":"types: unknown event type \"gossip\" (expected placement, instance)"})j");

  StreamClient events("127.0.0.1", app_->port(), "GET", "/v1/events");
  ASSERT_EQ(events.status(), 200);
  EXPECT_THAT(events.head(), HasSubstr("Content-Type: text/event-stream"));
  EXPECT_EQ(events.ReadUntil("\n\n"), "retry: 2000\n\n");
  StreamClient placements_only("127.0.0.1", app_->port(), "GET", "/v1/events?types=placement");
  ASSERT_EQ(placements_only.status(), 200);

  std::string pid = PlacementId(Call("POST", "/v1/placements", R"({"max_players":4})"));
  std::string upto = ReadEventWith(events, pid);
  ASSERT_NE(upto, "") << events.pending();
  auto [type, placement] = LastEvent(upto);
  EXPECT_EQ(type, "placement") << upto;
  EXPECT_EQ(placement.Find("placement_id")->as_string(), pid);
  EXPECT_EQ(placement.Find("status")->as_string(), "success");
  std::string arn = placement.Find("instance_info")->Find("id")->as_string();
  EXPECT_EQ(placement.Dump(), Call("GET", "/v1/placements/" + pid).body);

  // The status RPC's player count shows up as an instance change.
  auto upd = Call("POST", Rpc("update_instance_info") + "&unwrap",
                  R"({"id":")" + arn + R"(","playerCount":3})");
  ASSERT_EQ(upd.status, 200) << upd.body;
  std::string change = ReadEventWith(events, "\"player_count\":3");
  ASSERT_NE(change, "") << events.pending();
  auto [ctype, instance] = LastEvent(change);
  EXPECT_EQ(ctype, "instance");
  EXPECT_EQ(instance.Find("change")->as_string(), "upserted");
  EXPECT_EQ(instance.Find("id")->as_string(), arn);
  EXPECT_EQ(instance.Find("instance")->Find("player_count")->as_int64(), 3);
  auto del = Call("POST", Rpc("delete_instance_info") + "&unwrap", R"({"id":")" + arn + "\"}");
  ASSERT_EQ(del.status, 200) << del.body;
  std::string gone = ReadEventWith(events, "\"change\":\"deleted\"");
  ASSERT_NE(gone, "") << events.pending();
  auto [dtype, deleted] = LastEvent(gone);
  EXPECT_EQ(dtype, "instance");
  EXPECT_EQ(deleted.Find("id")->as_string(), arn);
  EXPECT_TRUE(deleted.Find("instance")->is_null());

  // The filtered stream saw the placement and no instance event.
  std::string only = ReadEventWith(placements_only, pid);
  ASSERT_NE(only, "");
  EXPECT_THAT(only, Not(HasSubstr("event: instance")));
}

TEST_F(ServiceTest, OpenApiDocumentIsServedAndItsRoutesExist) {
  Start(Config());
  auto served = Call("GET", "/v1/openapi.json");
  ASSERT_EQ(served.status, 200);
  EXPECT_EQ(served.body, ReadFile(std::string(GLFM_SOURCE_DIR) + "/docs/openapi.json"));
  auto doc = Json::Parse(served.body);
  ASSERT_OK(doc);
  EXPECT_EQ(doc->Find("openapi")->as_string(), "3.0.3");
  int checked = 0;
  for (const auto& [path, item] : doc->Find("paths")->as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters") continue;
      std::string upper;
      for (char ch : method) upper.push_back(static_cast<char>(std::toupper(ch)));
      std::string target = path;
      if (auto at = target.find("{id}"); at != std::string::npos) target.replace(at, 4, "x");
      if (target == "/v1/events") {
        StreamClient s("127.0.0.1", app_->port(), upper, target);
        EXPECT_EQ(s.status(), 200);
        ++checked;
        continue;
      }
      auto r = Call(upper, target, method == "get" || method == "delete" ? "" : "{}");
      EXPECT_NE(r.status, 405) << upper << " " << target;
      EXPECT_THAT(r.body, Not(HasSubstr("no route for"))) << upper << " " << target;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 16);
}

// The emulator on its own (it outlives the glfm processes), glfm in AWS mode pointed at it.
class AwsModeTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    StartEmulator(5);
  }
  void StartEmulator(int placement_delay_ms,
                     const std::function<void(emulator::World&)>& change = {}) {
    if (emulator_) emulator_->Stop();
    emulator::EmulatorOptions eo;
    eo.world.timings.placement_delay_ms = placement_delay_ms;
    eo.world.timings.activation_delay_ms = 5;
    if (change) change(eo.world);
    auto e = emulator::Emulator::Start(std::move(eo));
    ASSERT_OK(e);
    emulator_ = std::move(e).value();
    HttpClient c("127.0.0.1", emulator_->port());
    auto r = c.Request("POST", "/", R"({"QueueName":"glfm-placement-events"})",
                       {{"Content-Type", "application/x-amz-json-1.0"},
                        {"X-Amz-Target", "AmazonSQS.GetQueueUrl"}});
    ASSERT_EQ(r.status, 200) << r.body;
    events_url_ = Json::Parse(r.body)->Find("QueueUrl")->as_string();
  }
  void TearDown() override {
    AppTest::TearDown();
    emulator_->Stop();
  }
  config::Config AwsConfig(int receivers) {
    config::Config c = Config();
    c.local_mode = false;
    c.aws.region = "us-east-1";
    c.aws.access_key_id = "AKIDTEST";
    c.aws.secret_access_key = "secret";
    c.aws.endpoint_url = emulator_->url();
    c.aws.alias_id = "alias-local";
    c.aws.placement_queue_name = "glfm-local";
    c.aws.placement_events_sqs_url = events_url_;
    c.auth.http_key = "server-key";
    c.auth.api_keys = {"api-key"};
    c.webhook.secret = "hook-secret";
    c.fleet.receivers = receivers;
    c.fleet.receive_wait = 1s;  // quick shutdowns
    c.node_name = "node1";
    return c;
  }
  HttpResult Api(const std::string& method, const std::string& target,
                 const std::string& body = "") {
    return Call(method, target, body, {{"Authorization", "Bearer api-key"}});
  }
  int QueueDepth() {
    HttpClient c("127.0.0.1", emulator_->port());
    auto r = c.Request(
        "POST", "/",
        R"({"QueueUrl":")" + events_url_ + R"(","AttributeNames":["ApproximateNumberOfMessages"]})",
        {{"Content-Type", "application/x-amz-json-1.0"},
         {"X-Amz-Target", "AmazonSQS.GetQueueAttributes"}});
    return std::stoi(
        Json::Parse(r.body)->Find("Attributes")->Find("ApproximateNumberOfMessages")->as_string());
  }

  // Starts glfm ("node1") with no receivers, places a session whose outcome goes to
  // `webhook_url`, stops glfm, and waits until the placement's event (Fulfilled) is in SQS,
  // where no one takes it. Returns the placement id.
  std::string PlaceThenStopBeforeTheEvent(const std::string& webhook_url) {
    Start(AwsConfig(0));
    auto created =
        Api("POST", "/v1/placements", R"({"max_players":2,"webhook_url":")" + webhook_url + "\"}");
    EXPECT_EQ(created.status, 202) << created.body;
    auto body = Json::Parse(created.body);
    const Json* id = body.ok() ? body->Find("placement_id") : nullptr;
    if (id == nullptr) {
      ADD_FAILURE() << "no placement id: " << created.body;
      return "";
    }
    std::string pid = id->as_string();
    auto pending = Api("GET", "/v1/placements/" + pid);
    EXPECT_EQ(Json::Parse(pending.body)->Find("status")->as_string(), "pending");
    app_.reset();
    for (int i = 0; i < 2000 && QueueDepth() == 0; ++i) std::this_thread::sleep_for(5ms);
    EXPECT_GT(QueueDepth(), 0);
    return pid;
  }

  // Starts glfm with aws.timeout 300 ms while GameLift holds each StartGameSessionPlacement
  // for `hold_ms` before handling it (plus the faults in `f`).
  void StartWhileGameLiftHoldsStarts(int hold_ms, emulator::Faults f = {}) {
    config::Config c = AwsConfig(2);
    c.aws.timeout = 300ms;
    Start(c);
    f.operations["StartGameSessionPlacement"].latency_percent = 100;
    f.operations["StartGameSessionPlacement"].latency_ms = hold_ms;
    emulator_->SetFaults(f);
  }
  std::string CreateWhileGameLiftHoldsStarts(HttpReceiver& receiver, emulator::Faults f);

  std::unique_ptr<emulator::Emulator> emulator_;
  std::string events_url_;
};

TEST_F(AwsModeTest, AnOutcomeThatArrivesWhileGlfmIsDownIsPostedOnceAfterTheRestart) {
  HttpReceiver receiver;
  std::string pid;
  ASSERT_NO_FATAL_FAILURE(pid = PlaceThenStopBeforeTheEvent(receiver.url("/after")));
  EXPECT_TRUE(receiver.requests().empty());

  // Second process: picks the event up, hands the outcome to its listener, which sends the
  // webhook; GET finds the placement in the store.
  Start(AwsConfig(2));
  auto got = receiver.Wait(1);
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"), pid);
  EXPECT_EQ(got[0].path, "/after");
  ExpectSigned(got[0], "hook-secret");
  EXPECT_EQ(Json::Parse(got[0].body)->Find("status")->as_string(), "success");
  auto after = Api("GET", "/v1/placements/" + pid + "?wait=10");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.body, got[0].body);
  EXPECT_EQ(Api("GET", "/v1/placements/n1-unknown").status, 404);
  app_.reset();

  // Third process: nothing is owed any more.
  Start(AwsConfig(2));
  auto third = Api("GET", "/v1/placements/" + pid);
  EXPECT_EQ(third.body, got[0].body);
  app_.reset();
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(AwsModeTest, AfterARenameTheOldNamesOutcomeIsAdoptedAndPostedOnce) {
  HttpReceiver receiver;
  // "node1" places, then stops before the event arrives; the host comes back as "node2".
  std::string pid;
  ASSERT_NO_FATAL_FAILURE(pid = PlaceThenStopBeforeTheEvent(receiver.url("/adopted")));
  config::Config renamed = AwsConfig(2);
  renamed.node_name = "node2";  // fleet.adopt_after: the default, which SQLite caps at 1 s
  Start(renamed);
  // node2's receivers record the outcome, which stays node1's until it has waited 1 s.
  auto got = receiver.Wait(1);
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"), pid);
  EXPECT_EQ(got[0].path, "/adopted");
  ExpectSigned(got[0], "hook-secret");
  EXPECT_EQ(Json::Parse(got[0].body)->Find("status")->as_string(), "success");
  app_.reset();
  Start(renamed);  // nothing is owed any more
  std::this_thread::sleep_for(300ms);
  app_.reset();
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(AwsModeTest, ALongPollOfAPlacementFromBeforeTheRestartEndsWithItsOutcome) {
  StartEmulator(1500);  // placed 1.5 s after the Create: after the restart below
  Start(AwsConfig(2));
  std::string pid = Json::Parse(Api("POST", "/v1/placements", R"({"max_players":2})").body)
                        ->Find("placement_id")
                        ->as_string();
  app_.reset();
  Start(AwsConfig(2));
  // Unknown to this process's memory: read from the store (pending), parked, then answered
  // when the outcome reaches this node's listener.
  auto polled = Api("GET", "/v1/placements/" + pid + "?wait=30");
  ASSERT_EQ(polled.status, 200);
  EXPECT_EQ(Json::Parse(polled.body)->Find("status")->as_string(), "success") << polled.body;
}

TEST_F(AwsModeTest, TimeoutsAndCancellationsReachTheWebhookAndTheLongPoll) {
  StartEmulator(5, [](emulator::World& w) {
    for (auto& f : w.fleets) {
      for (auto& l : f.locations) l.capacity = 0;  // nothing can be placed
    }
    for (auto& q : w.placement_queues) q.timeout_seconds = 1;
  });
  HttpReceiver receiver;
  Start(AwsConfig(2));
  std::string body = R"({"max_players":2,"webhook_url":")" + receiver.url("/outcomes") + R"("})";
  auto timed = Api("POST", "/v1/placements", body);
  auto cancelled = Api("POST", "/v1/placements", body);
  ASSERT_EQ(timed.status, 202);
  ASSERT_EQ(cancelled.status, 202);
  std::string timed_id = Json::Parse(timed.body)->Find("placement_id")->as_string();
  std::string cancelled_id = Json::Parse(cancelled.body)->Find("placement_id")->as_string();
  auto cancel = Api("DELETE", "/v1/placements/" + cancelled_id);
  EXPECT_EQ(cancel.status, 202) << cancel.body;
  EXPECT_EQ(Api("DELETE", "/v1/placements/n1-unknown").status, 404);

  auto polled = Api("GET", "/v1/placements/" + timed_id + "?wait=30");
  Json timeout = *Json::Parse(polled.body);
  EXPECT_EQ(timeout.Find("status")->as_string(), "timeout") << polled.body;
  EXPECT_EQ(timeout.Find("error")->Find("code")->as_int64(), 4);  // deadline exceeded
  auto got = receiver.Wait(2);
  std::map<std::string, std::string> status_of;
  for (const auto& r : got) {
    status_of[HeaderOf(r, "x-glfm-webhook-id")] = Json::Parse(r.body)->Find("status")->as_string();
  }
  EXPECT_EQ(status_of[timed_id], "timeout");
  EXPECT_EQ(status_of[cancelled_id], "cancelled");
  // A second cancel of a finished placement says so.
  auto again = Api("DELETE", "/v1/placements/" + cancelled_id);
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(Json::Parse(again.body)->Find("code")->as_int64(), 9) << again.body;
}

TEST_F(AwsModeTest, ACreateThatAwsDoesNotAnswerFailsAfterAwsTimeoutNotMinutes) {
  HttpReceiver receiver;
  // GameLift stops answering placements: each attempt is held 30 s, far past aws.timeout
  // (before aws.timeout, an attempt waited 60 s, and a create 3 minutes).
  StartWhileGameLiftHoldsStarts(30000);
  std::string body = R"({"max_players":2,"webhook_url":")" + receiver.url("/outcomes") + R"("})";
  auto stuck = Api("POST", "/v1/placements", body);
  EXPECT_EQ(stuck.status, 504) << stuck.body;
  auto error = Json::Parse(stuck.body);
  ASSERT_OK(error);
  EXPECT_EQ(error->Find("code")->as_int64(), 4);
  EXPECT_THAT(
      error->Find("message")->as_string(),
      AllOf(HasSubstr("GameLift.StartGameSessionPlacement"), HasSubstr("Timeout was reached")));
  EXPECT_EQ(emulator_->HeldRequests(), 3u);  // three attempts, none answered

  // GameLift answers again: the next create is placed and its outcome is the only webhook.
  emulator_->SetFaults({});
  auto placed = Api("POST", "/v1/placements", body);
  ASSERT_EQ(placed.status, 202) << placed.body;
  auto got = receiver.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"),
            Json::Parse(placed.body)->Find("placement_id")->as_string());
}

// With each StartGameSessionPlacement held 400 ms and then handled (plus the faults in `f`),
// the first attempt starts the placement after glfm has stopped waiting for it, and the
// retries find its id taken. Creates a placement whose outcome goes to `receiver`; expects it
// acknowledged (it answered 504 before) and its webhook `success`, the placement having run
// all the same. Returns its id.
std::string AwsModeTest::CreateWhileGameLiftHoldsStarts(HttpReceiver& receiver,
                                                        emulator::Faults f) {
  StartWhileGameLiftHoldsStarts(400, std::move(f));
  auto created = Api("POST", "/v1/placements",
                     R"({"max_players":2,"webhook_url":")" + receiver.url("/outcomes") + R"("})");
  EXPECT_EQ(created.status, 202) << created.body;
  auto body = Json::Parse(created.body);
  const Json* id = body.ok() ? body->Find("placement_id") : nullptr;
  if (id == nullptr) return "";
  auto got = receiver.Wait(1);
  EXPECT_EQ(got.size(), 1u);
  if (got.empty()) return "";
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"), id->as_string());
  EXPECT_EQ(Json::Parse(got[0].body)->Find("status")->as_string(), "success") << got[0].body;
  return id->as_string();
}

TEST_F(AwsModeTest, ACreateWhoseAnswersWereLostButWhichRanIsAcknowledged) {
  HttpReceiver receiver;
  std::string pid = CreateWhileGameLiftHoldsStarts(receiver, {});
  ASSERT_FALSE(pid.empty());
  auto polled = Api("GET", "/v1/placements/" + pid);
  EXPECT_EQ(Json::Parse(polled.body)->Find("status")->as_string(), "success") << polled.body;
  for (int i = 0; i < 400 && emulator_->HeldRequests() > 0; ++i) std::this_thread::sleep_for(5ms);
  int starts = 0;
  for (const auto& e : emulator_->RequestLog()) {
    starts += e.operation == "StartGameSessionPlacement";
  }
  EXPECT_EQ(starts, 3);  // every attempt reached GameLift; only the first placed anything
}

TEST_F(AwsModeTest, ACreateWhoseEventCameWhileGameLiftWasNotAnsweringIsAcknowledged) {
  // DescribeGameSessionPlacement fails too, so only the placement's event (which comes while
  // the retries go on) tells that it ran.
  HttpReceiver receiver;
  emulator::Faults f;
  f.operations["DescribeGameSessionPlacement"].error_percent = 100;
  EXPECT_FALSE(CreateWhileGameLiftHoldsStarts(receiver, f).empty());
}

TEST_F(AwsModeTest, WebhooksAreOffWithoutASecret) {
  config::Config c = AwsConfig(2);
  c.webhook.secret.clear();
  Start(c);
  auto r =
      Api("POST", "/v1/placements", R"({"max_players":2,"webhook_url":"http://127.0.0.1:9/x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(
      r.body,
      R"j({"code":9,"message":"webhook_url: webhooks are off on this server (set webhook.secret)"})j");
  EXPECT_EQ(Api("GET", "/v1/instances").status, 200);
  EXPECT_EQ(Call("GET", "/v1/instances").status, 401);  // the API key is required here
}

// Two glfm nodes sharing one PostgreSQL database, one SQS queue and one GameLift (the
// emulator): what a cluster behind a load balancer must get right.
class ClusterTest : public AwsModeTest {
 protected:
  void SetUp() override {
    AwsModeTest::SetUp();
    if (glfm::testing::PostgresSkipRequested()) GTEST_SKIP() << "GLFM_SKIP_POSTGRES=1";
    auto pg = glfm::testing::SharedPostgres();
    ASSERT_OK(pg);
    auto db = (*pg)->CreateDatabase();
    ASSERT_OK(db);
    dsn_ = *db;
  }
  void TearDown() override {
    node_b_.reset();
    AwsModeTest::TearDown();
  }
  config::Config NodeConfig(const std::string& name) {
    config::Config c = AwsConfig(2);
    c.node_name = name;
    c.store.driver = "postgres";
    c.store.postgres_dsn = dsn_;
    c.data_dir = dir_.path() + "/" + name;
    return c;
  }
  // Node A is the fixture's app (Call/Api); node B is started here.
  void StartBoth() {
    Start(NodeConfig("nodeA"));
    auto b = App::Start(NodeConfig("nodeB"));
    ASSERT_OK(b);
    node_b_ = std::move(b).value();
    client_b_ = std::make_unique<HttpClient>("127.0.0.1", node_b_->port());
  }
  HttpResult ApiB(const std::string& method, const std::string& target,
                  const std::string& body = "") {
    return client_b_->Request(method, target, body, {{"Authorization", "Bearer api-key"}});
  }

  std::string dsn_;
  std::unique_ptr<App> node_b_;
  std::unique_ptr<HttpClient> client_b_;
};

TEST_F(ClusterTest, AnyNodeAnswersForAnyPlacementAndOnlyItsOwnerPostsTheWebhook) {
  HttpReceiver receiver;
  StartBoth();
  StreamClient events_b("127.0.0.1", node_b_->port(), "GET", "/v1/events?types=placement",
                        {{"Authorization", "Bearer api-key"}});
  ASSERT_EQ(events_b.status(), 200);
  auto created = Api("POST", "/v1/placements",
                     R"({"max_players":2,"webhook_url":")" + receiver.url("/cluster") + R"("})");
  ASSERT_EQ(created.status, 202) << created.body;
  std::string pid = Json::Parse(created.body)->Find("placement_id")->as_string();
  // Node B never saw the Create; its long poll still ends with the outcome node A recorded.
  auto polled = ApiB("GET", "/v1/placements/" + pid + "?wait=30");
  ASSERT_EQ(polled.status, 200) << polled.body;
  EXPECT_EQ(Json::Parse(polled.body)->Find("status")->as_string(), "success") << polled.body;
  // ...and so does its event stream.
  EXPECT_NE(events_b.ReadUntil(pid), "");
  auto got = receiver.Wait(1);
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"), pid);
  // Both nodes stop; the owner's webhook went out exactly once.
  node_b_.reset();
  app_.reset();
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(ClusterTest, AWebhookLeftUnsentByANodeGoneForGoodIsPostedByAnother) {
  HttpReceiver receiver;
  {
    // The outbox row of a node that died an hour ago with this delivery due.
    store::PostgresOptions po;
    po.conninfo = dsn_;
    auto pg = store::OpenPostgresStore(po);
    ASSERT_OK(pg);
    store::WebhookRecord w;
    w.id = "gone-0123456789ab-1";
    w.owner_node = "gone";
    w.url = receiver.url("/orphan");
    w.body = R"({"placement_id":"gone-0123456789ab-1","status":"success"})";
    w.create_time = Clock::now() - 1h;
    w.expire_time = Clock::now() + 1h;
    w.next_attempt = Clock::now() - 1h;
    ASSERT_OK((*pg)->EnqueueWebhooks({w}));
  }
  Start(NodeConfig("nodeA"));  // adopt_after: the default, 10 minutes
  auto got = receiver.Wait(1);
  EXPECT_EQ(got[0].path, "/orphan");
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-webhook-id"), "gone-0123456789ab-1");
  ExpectSigned(got[0], "hook-secret");
  EXPECT_EQ(got[0].body, R"({"placement_id":"gone-0123456789ab-1","status":"success"})");
  app_.reset();
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(ClusterTest, AStatusReportTakenByOneNodeShowsInTheOtherNodesList) {
  StartBoth();
  auto created = Api("POST", "/v1/placements", R"({"max_players":8})");
  ASSERT_EQ(created.status, 202);
  std::string pid = Json::Parse(created.body)->Find("placement_id")->as_string();
  Json placed = *Json::Parse(Api("GET", "/v1/placements/" + pid + "?wait=30").body);
  std::string arn = placed.Find("instance_info")->Find("id")->as_string();
  // The game server's report reaches node B.
  auto upd = client_b_->Request(
      "POST", "/v2/rpc/update_instance_info?http_key=server-key&unwrap",
      R"({"id":")" + arn + R"(","playerCount":5,"metadata":{"GameSessionName":"b-side"}})");
  ASSERT_EQ(upd.status, 200) << upd.body;
  // Node A's index follows through the change feed.
  std::string query = "/v1/instances?query=" + Encode("+value.player_count:5");
  bool seen = false;
  for (int i = 0; i < 2000 && !seen; ++i) {
    auto l = Api("GET", query);
    seen = l.status == 200 && l.body.find(arn) != std::string::npos;
    if (!seen) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(seen) << "node A's list never showed the count node B stored";
  // A delete through node A disappears from node B's list too.
  auto del = Call("POST", "/v2/rpc/delete_instance_info?http_key=server-key&unwrap",
                  R"({"id":")" + arn + R"("})");
  ASSERT_EQ(del.status, 200) << del.body;
  bool gone = false;
  for (int i = 0; i < 2000 && !gone; ++i) {
    auto l = ApiB("GET", "/v1/instances");
    gone = l.status == 200 && l.body.find(arn) == std::string::npos;
    if (!gone) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace glfm::server
