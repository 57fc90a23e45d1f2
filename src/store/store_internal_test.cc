// Unit tests of the store internals: NOTIFY payload lines and the change-feed dispatcher.
#include "store/store_internal.h"

#include <gmock/gmock.h>

#include <condition_variable>

#include "testing/status_matchers.h"

namespace glfm::store::internal {
namespace {

using ::testing::ElementsAre;
using K = ChangeEvent::Kind;

TEST(EventLinesTest, RoundTripEveryKind) {
  std::vector<ChangeEvent> events = {{K::kInstanceUpserted, "arn:a/b c", ""},
                                     {K::kInstanceDeleted, "x", ""},
                                     {K::kPlacementCreated, "p-1", "node a"},
                                     {K::kPlacementOutcome, "p-1", "node-b"},
                                     {K::kResync, "", ""}};
  std::string payload;
  for (const auto& e : events) {
    AppendEventLine(e, payload);
  }
  EXPECT_EQ(ParseEventLines(payload), events);
  EXPECT_THAT(ParseEventLines("garbage\nZ\tx\nU\tok\n"),
              ElementsAre(ChangeEvent{K::kInstanceUpserted, "ok", ""}));
}

TEST(ChangeFeedTest, ACallbackMayUnsubscribeItself) {
  ChangeFeed feed;
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  std::unique_ptr<Subscription> sub;
  std::unique_ptr<Subscription> witness;
  int witness_calls = 0;
  {
    std::lock_guard lock(mu);
    sub = feed.Subscribe([&](const ChangeEvent&) {
      std::lock_guard l(mu);
      ++calls;
      sub.reset();
    });
    witness = feed.Subscribe([&](const ChangeEvent&) {
      std::lock_guard l(mu);
      ++witness_calls;
      cv.notify_all();
    });
  }
  feed.Publish({{K::kInstanceUpserted, "a", ""}, {K::kInstanceUpserted, "b", ""}});
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return witness_calls == 2; }));
  EXPECT_EQ(calls, 1);
}

TEST(ValidationTest, PlacementIds) {
  EXPECT_OK(ValidatePlacementId("abc-DEF-123"));
  EXPECT_THAT(ValidatePlacementId(""), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidatePlacementId("a_b"), StatusCodeIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace glfm::store::internal
