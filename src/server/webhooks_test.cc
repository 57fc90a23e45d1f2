// WebhookDispatcher against a real receiver (glfm's HTTP server on a loopback port) and a
// real SQLite outbox: signing, retries with backoff, giving up, restart, the Nakama RPC form.
#include "server/webhooks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>

#include "server/http_server.h"
#include "store/sqlite_store.h"
#include "testing/http_receiver.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace glfm::server {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

using Receiver = glfm::testing::HttpReceiver;

class WebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }
  void TearDown() override {
    dispatcher_.reset();
    store_.reset();
  }
  void OpenStore() {
    store::SqliteOptions so;
    so.path = dir_.path() + "/glfm.db";
    store_ = std::move(store::OpenSqliteStore(so)).value();
  }
  WebhookOptions Options() {
    WebhookOptions o;
    o.node_id = "n1";
    o.secret = "s3cret";
    o.min_backoff = 10ms;
    o.max_backoff = 40ms;
    o.attempt_timeout = 5s;
    return o;
  }
  void Start(WebhookOptions o) {
    auto d = WebhookDispatcher::Start(std::move(o), store_.get());
    ASSERT_OK(d);
    dispatcher_ = std::move(d).value();
  }
  // Waits until the outbox is empty (deliveries finished and removed).
  bool OutboxDrained() {
    for (int i = 0; i < 3000; ++i) {
      if (dispatcher_->stats().pending == 0 && store_->ListWebhooks("n1", "", 10)->empty()) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  glfm::testing::TempDir dir_{"glfm-webhooks"};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<WebhookDispatcher> dispatcher_;
};

std::string HeaderOf(const HttpRequest& r, std::string_view name) {
  const std::string* h = r.Header(name);
  return h == nullptr ? "<none>" : *h;
}

TEST(WebhookSignatureTest, IsHmacSha256OfTimestampDotBody) {
  // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
  EXPECT_EQ(WebhookSignature("key", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=" +
                std::string("a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"));
}

TEST(WebhookUrlTest, OnlyHttpUrlsWithAHost) {
  EXPECT_OK(ValidateWebhookUrl("https://example.com/hook?x=1", "webhook_url"));
  EXPECT_OK(ValidateWebhookUrl("http://127.0.0.1:8080", "webhook_url"));
  EXPECT_THAT(ValidateWebhookUrl("ftp://example.com/", "webhook_url"),
              StatusIs(StatusCode::kInvalidArgument,
                       "webhook_url: scheme must be http or https, got \"ftp\""));
  EXPECT_THAT(
      ValidateWebhookUrl("example.com/hook", "webhook_url"),
      StatusIs(StatusCode::kInvalidArgument, "webhook_url: expected an http:// or https:// URL"));
  EXPECT_THAT(ValidateWebhookUrl("http:///path", "webhook_url"),
              StatusIs(StatusCode::kInvalidArgument, "webhook_url: the URL has no host"));
  EXPECT_THAT(ValidateWebhookUrl("http://a b/", "webhook_url"),
              StatusIs(StatusCode::kInvalidArgument,
                       "webhook_url: must not contain spaces or control characters"));
}

TEST_F(WebhooksTest, DeliversSignedBodyOnceAndEmptiesTheOutbox) {
  Receiver receiver;
  Start(Options());
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url(), R"({"placement_id":"p-1"})"));
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url(), R"({"placement_id":"p-1"})"));  // dup
  auto got = receiver.Wait(1);
  ASSERT_TRUE(OutboxDrained());
  got = receiver.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  const HttpRequest& r = got[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/hook");
  EXPECT_EQ(r.body, R"({"placement_id":"p-1"})");
  EXPECT_EQ(HeaderOf(r, "content-type"), "application/json");
  EXPECT_EQ(HeaderOf(r, "x-glfm-webhook-id"), "p-1");
  EXPECT_EQ(HeaderOf(r, "x-glfm-attempt"), "1");
  std::string sig = HeaderOf(r, "x-glfm-signature");
  ASSERT_EQ(sig.rfind("t=", 0), 0u) << sig;
  int64_t t = std::stoll(sig.substr(2, sig.find(',') - 2));
  EXPECT_EQ(sig, WebhookSignature("s3cret", t, r.body));
  EXPECT_NE(sig, WebhookSignature("other", t, r.body));
  auto st = dispatcher_->stats();
  EXPECT_EQ(st.enqueued, 1u);
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ(st.failed_attempts, 0u);
}

TEST_F(WebhooksTest, RetriesWithBackoffUntilA2xx) {
  Receiver receiver([](int n) { return n <= 2 ? 503 : 200; });
  Start(Options());
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url(), "{}"));
  auto got = receiver.Wait(3);
  ASSERT_TRUE(OutboxDrained());
  EXPECT_EQ(HeaderOf(got[0], "x-glfm-attempt"), "1");
  EXPECT_EQ(HeaderOf(got[1], "x-glfm-attempt"), "2");
  EXPECT_EQ(HeaderOf(got[2], "x-glfm-attempt"), "3");
  auto st = dispatcher_->stats();
  EXPECT_EQ(st.failed_attempts, 2u);
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ(st.expired, 0u);
}

TEST_F(WebhooksTest, GivesUpAfterMaxAgeAndRemovesIt) {
  Receiver receiver([](int) { return 500; });
  auto o = Options();
  o.max_age = 150ms;
  Start(o);
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url(), "{}"));
  ASSERT_TRUE(OutboxDrained());
  auto st = dispatcher_->stats();
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.delivered, 0u);
  EXPECT_GE(st.failed_attempts, 2u);
}

TEST_F(WebhooksTest, UnreachableReceiverIsRetriedAndTheAttemptRecorded) {
  // A port nobody listens on: bind one, then close it.
  std::string dead_url;
  {
    Receiver gone;
    dead_url = gone.url("/v2/rpc/hook?http_key=topsecret&unwrap");
  }
  auto o = Options();
  o.min_backoff = 1h;  // one attempt, then it waits
  o.max_backoff = 1h;
  Start(o);
  ASSERT_OK(dispatcher_->Enqueue("p-1", dead_url, "{}"));
  for (int i = 0; i < 3000 && dispatcher_->stats().failed_attempts == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(dispatcher_->stats().failed_attempts, 1u);
  std::vector<store::WebhookRecord> rows;
  for (int i = 0; i < 3000; ++i) {
    rows = *store_->ListWebhooks("n1", "", 10);
    if (!rows.empty() && rows[0].attempts == 1) break;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attempts, 1);
  EXPECT_THAT(rows[0].last_error, HasSubstr("/v2/rpc/hook"));
  EXPECT_THAT(rows[0].last_error, ::testing::Not(HasSubstr("topsecret")));  // the key stays out
  EXPECT_GT(rows[0].next_attempt, rows[0].create_time + 30min);
}

TEST_F(WebhooksTest, ARestartResumesTheOutbox) {
  Receiver receiver([](int) { return 503; });
  auto o = Options();
  o.min_backoff = 1h;  // after the first failure nothing more happens in this process
  o.max_backoff = 1h;
  Start(o);
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url(), R"({"n":1})"));
  receiver.Wait(1);
  for (int i = 0; i < 3000 && store_->ListWebhooks("n1", "", 10)->at(0).attempts == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  dispatcher_.reset();  // "crash"
  OpenStore();
  receiver.SetAnswer([](int) { return 200; });
  // The persisted next attempt is an hour away; a new process honours it unless the clock
  // says otherwise.
  auto o2 = Options();
  o2.now = [] { return std::chrono::system_clock::now() + 2h; };
  Start(o2);
  // (Not asserted here: stats().pending right after Start. The resumed delivery may already
  // be done by then — a race that once failed this test under ASan.)
  auto got = receiver.Wait(2);
  ASSERT_TRUE(OutboxDrained());
  EXPECT_EQ(got[1].body, R"({"n":1})");
  EXPECT_EQ(HeaderOf(got[1], "x-glfm-attempt"), "2");  // the count survived the restart
  // Enqueueing the same id again after the restart (the fleet re-delivering an outcome)
  // would have been a no-op while it was pending; now it is a new delivery.
  EXPECT_EQ(dispatcher_->stats().delivered, 1u);
}

TEST_F(WebhooksTest, NakamaRpcUrlsGetTheBodyAsAJsonString) {
  Receiver receiver;
  Start(Options());
  std::string body = R"({"placement_id":"p-1","status":"success"})";
  ASSERT_OK(dispatcher_->Enqueue("p-1", receiver.url("/v2/rpc/on_outcome?http_key=k"), body));
  ASSERT_OK(
      dispatcher_->Enqueue("p-2", receiver.url("/v2/rpc/on_outcome?http_key=k&unwrap"), body));
  auto got = receiver.Wait(2);
  std::map<std::string, std::string> by_id;
  for (const auto& r : got) by_id[HeaderOf(r, "x-glfm-webhook-id")] = r.body;
  EXPECT_EQ(by_id["p-1"], R"("{\"placement_id\":\"p-1\",\"status\":\"success\"}")");
  EXPECT_EQ(by_id["p-2"], body);
}

TEST_F(WebhooksTest, BadInputIsRefusedAndStoresNothing) {
  auto o = Options();
  o.secret.clear();
  EXPECT_THAT(WebhookDispatcher::Start(o, store_.get()),
              StatusIs(StatusCode::kInvalidArgument,
                       "webhooks: a signing secret is required (webhook.secret)"));
  Start(Options());
  EXPECT_THAT(dispatcher_->Enqueue("p-1", "gopher://x/", "{}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("webhook url: scheme")));
  EXPECT_THAT(dispatcher_->Enqueue("", "http://127.0.0.1:9/", "{}"),
              StatusIs(StatusCode::kInvalidArgument, "webhook.id must be 1-128 bytes, got 0"));
  EXPECT_TRUE(store_->ListWebhooks("n1", "", 10)->empty());
  EXPECT_EQ(dispatcher_->stats().pending, 0u);
}

}  // namespace
}  // namespace glfm::server
