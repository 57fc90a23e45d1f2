// EventHub over the real HTTP server and real sockets: event framing, type filters,
// Last-Event-ID replay and resync, heartbeats, the activation hook and shutdown.
#include "server/events.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "testing/status_matchers.h"
#include "testing/stream_client.h"

namespace glfm::server {
namespace {

using glfm::testing::StreamClient;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

// A server whose every request attaches a stream to `hub` (types from ?types=a,b; the
// Last-Event-ID header).
class HubServer {
 public:
  explicit HubServer(EventHub& hub) : hub_(hub) {
    auto s = HttpServer::Start({}, [this](HttpRequest&& req, Responder respond) {
      std::set<std::string> types;
      if (auto t = req.QueryParam("types")) {
        size_t start = 0;
        while (start < t->size()) {
          size_t comma = std::min(t->find(',', start), t->size());
          types.insert(t->substr(start, comma - start));
          start = comma + 1;
        }
      }
      std::optional<uint64_t> last;
      if (const std::string* h = req.Header("last-event-id")) last = std::stoull(*h);
      HttpResponse res;
      res.content_type = "text/event-stream";
      res.on_stream = [this, types, last](std::shared_ptr<ResponseStream> stream) {
        hub_.Attach(std::move(stream), types, last);
        std::lock_guard lock(mu_);
        attached_++;
        cv_.notify_all();
      };
      respond(std::move(res));
    });
    EXPECT_OK(s);
    server_ = std::move(s).value();
  }

  // Connects and waits until the hub has the stream.
  std::unique_ptr<StreamClient> Connect(const std::string& target,
                                        std::vector<std::pair<std::string, std::string>> h = {}) {
    int before;
    {
      std::lock_guard lock(mu_);
      before = attached_;
    }
    auto c = std::make_unique<StreamClient>("127.0.0.1", server_->port(), "GET", target, h);
    EXPECT_EQ(c->status(), 200);
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, 10s, [&] { return attached_ > before; }));
    return c;
  }

 private:
  EventHub& hub_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  int attached_ = 0;
};

TEST(EventHubTest, PublishesFramedEventsToMatchingStreams) {
  EventHub hub;
  HubServer server(hub);
  auto all = server.Connect("/events");
  auto placements = server.Connect("/events?types=placement");
  EXPECT_EQ(hub.streams(), 2u);
  EXPECT_TRUE(hub.active());
  hub.Publish("instance", R"({"id":"gs-1"})");
  hub.Publish("placement", R"({"placement_id":"p-1"})");
  EXPECT_EQ(all->ReadUntil("\n\n"), "id: 1\nevent: instance\ndata: {\"id\":\"gs-1\"}\n\n");
  EXPECT_EQ(all->ReadUntil("\n\n"),
            "id: 2\nevent: placement\ndata: {\"placement_id\":\"p-1\"}\n\n");
  // The filtered stream never saw event 1.
  EXPECT_EQ(placements->ReadUntil("\n\n"),
            "id: 2\nevent: placement\ndata: {\"placement_id\":\"p-1\"}\n\n");
}

TEST(EventHubTest, LastEventIdReplaysWhatWasMissedOrSaysResync) {
  EventHubOptions o;
  o.history = 3;
  EventHub hub(o);
  HubServer server(hub);
  for (int i = 1; i <= 5; ++i) hub.Publish("placement", "{\"n\":" + std::to_string(i) + "}");
  // Kept: 3, 4, 5. After 3: 4 and 5, complete.
  auto caught_up = server.Connect("/events", {{"Last-Event-ID", "3"}});
  EXPECT_EQ(caught_up->ReadUntil("\n\n"), "id: 4\nevent: placement\ndata: {\"n\":4}\n\n");
  EXPECT_EQ(caught_up->ReadUntil("\n\n"), "id: 5\nevent: placement\ndata: {\"n\":5}\n\n");
  // After 1: event 2 is gone, so resync first, then what is kept.
  auto behind = server.Connect("/events", {{"Last-Event-ID", "1"}});
  EXPECT_THAT(behind->ReadUntil("\n\n"), HasSubstr("event: resync\n"));
  EXPECT_EQ(behind->ReadUntil("\n\n"), "id: 3\nevent: placement\ndata: {\"n\":3}\n\n");
  // Up to date: nothing replayed; the next event is 6.
  auto current = server.Connect("/events", {{"Last-Event-ID", "5"}});
  hub.Publish("placement", "{\"n\":6}");
  EXPECT_EQ(current->ReadUntil("\n\n"), "id: 6\nevent: placement\ndata: {\"n\":6}\n\n");
}

TEST(EventHubTest, HeartbeatsKeepStreamsAlive) {
  EventHubOptions o;
  o.heartbeat = 50ms;
  EventHub hub(o);
  HubServer server(hub);
  auto c = server.Connect("/events");
  EXPECT_EQ(c->ReadUntil("\n\n"), ": keep-alive\n\n");
}

TEST(EventHubTest, ActivationFollowsWhetherAnyoneListens) {
  std::mutex mu;
  std::condition_variable cv;
  int activations = 0, releases = 0;
  EventHubOptions o;
  o.activate = [&]() -> std::shared_ptr<void> {
    std::lock_guard lock(mu);
    activations++;
    cv.notify_all();
    return std::shared_ptr<void>(nullptr, [&](void*) {
      std::lock_guard lock(mu);
      releases++;
      cv.notify_all();
    });
  };
  EventHub hub(o);
  EXPECT_FALSE(hub.active());
  HubServer server(hub);
  {
    auto a = server.Connect("/events");
    auto b = server.Connect("/events");
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return activations == 1; }));
    EXPECT_EQ(releases, 0);
  }
  // Both clients hung up: the hub notices without any event or heartbeat.
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return releases == 1; }));
  }
  EXPECT_FALSE(hub.active());
  auto again = server.Connect("/events");
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return activations == 2; }));
}

TEST(EventHubTest, ShutdownEndsEveryStream) {
  EventHub hub;
  HubServer server(hub);
  auto c = server.Connect("/events");
  hub.Publish("placement", "{}");
  hub.Shutdown();
  EXPECT_TRUE(c->WaitClosed());
  EXPECT_THAT(c->pending(), HasSubstr("event: placement"));  // sent before the end
  EXPECT_FALSE(hub.active());
  hub.Publish("placement", "{}");  // harmless after shutdown
  auto late = server.Connect("/events");
  EXPECT_TRUE(late->WaitClosed());  // attached after shutdown: closed at once
  EXPECT_EQ(late->pending(), "");
}

}  // namespace
}  // namespace glfm::server
