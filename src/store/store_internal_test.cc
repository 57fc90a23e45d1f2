// Unit tests of the store internals: NOTIFY payload lines, the change-feed dispatcher and
// the commit pipeline's stages.
#include "store/store_internal.h"

#include <gmock/gmock.h>

#include <condition_variable>
#include <memory>
#include <thread>

#include "common/json_tape.h"
#include "glfm/codec.h"
#include "testing/status_matchers.h"

namespace glfm::store::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
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

// RunHereIfIdle runs a batch on the caller's thread only when the stage's own thread has
// nothing queued or running, so batches still run one at a time and in the order given.
TEST(BatchStageTest, RunsHereOnlyWhenIdleAndKeepsOrder) {
  WriteRequest first, second, third;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::pair<WriteRequest*, std::thread::id>> ran;  // guarded by mu
  BatchStage stage("glfm-test-stage", [&](std::vector<BatchStage::Batch>& batches) {
    std::unique_lock lock(mu);
    for (auto& batch : batches) {
      ran.emplace_back(batch.front(), std::this_thread::get_id());
    }
    cv.notify_all();
    cv.wait(lock, [&] { return release; });  // holds the stage busy until released
  });
  // Releases the stage before it is destroyed (its destructor joins), also when an assertion
  // below returns early.
  auto releaser = [&](void*) {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  };
  std::unique_ptr<void, decltype(releaser)> release_on_exit(&release, releaser);
  stage.Push({&first});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return ran.size() == 1; }));
  }
  std::vector<BatchStage::Batch> here = {{&second}};
  EXPECT_FALSE(stage.RunHereIfIdle(here)) << "ran beside a running batch";
  ASSERT_EQ(here.size(), 1u);
  EXPECT_EQ(here[0].front(), &second) << "a refused batch must be left as it was";
  stage.Push(std::move(here[0]));
  release_on_exit.reset();
  // Once the stage's thread has run `second` it is idle, and `third` runs on this thread.
  std::vector<BatchStage::Batch> last = {{&third}};
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool ran_here = false;
  while (!ran_here && std::chrono::steady_clock::now() < end) {
    ran_here = stage.RunHereIfIdle(last);
    if (!ran_here) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // still busy
  }
  ASSERT_TRUE(ran_here);
  std::lock_guard lock(mu);
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran[0].first, &first);
  EXPECT_EQ(ran[1].first, &second);
  EXPECT_EQ(ran[2].first, &third);
  EXPECT_NE(ran[0].second, std::this_thread::get_id());
  EXPECT_EQ(ran[1].second, ran[0].second);
  EXPECT_EQ(ran[2].second, std::this_thread::get_id());
}

TEST(ChangeFeedTest, EachSubscriberGetsItsKindsAndEveryoneTheResync) {
  ChangeFeed feed;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ChangeEvent> outcomes, instances;
  auto collect = [&](std::vector<ChangeEvent>& into) {
    return [&](const ChangeEvent& e) {
      std::lock_guard l(mu);
      into.push_back(e);
      cv.notify_all();
    };
  };
  EXPECT_FALSE(feed.HasSubscribers());
  auto a = feed.Subscribe(collect(outcomes), ChangeKindBit(K::kPlacementOutcome));
  auto b = feed.Subscribe(collect(instances),
                          ChangeKindBit(K::kInstanceUpserted) | ChangeKindBit(K::kInstanceDeleted));
  EXPECT_TRUE(feed.HasSubscribers());
  feed.Publish({{K::kInstanceUpserted, "gs-1", ""},
                {K::kPlacementCreated, "p-1", "n1"},
                {K::kPlacementOutcome, "p-1", "n1"},
                {K::kInstanceDeleted, "gs-1", ""},
                {K::kResync, "", ""}});
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10),
                          [&] { return outcomes.size() == 2 && instances.size() == 3; }));
  EXPECT_THAT(outcomes, ElementsAre(ChangeEvent{K::kPlacementOutcome, "p-1", "n1"},
                                    ChangeEvent{K::kResync, "", ""}));
  EXPECT_THAT(instances, ElementsAre(ChangeEvent{K::kInstanceUpserted, "gs-1", ""},
                                     ChangeEvent{K::kInstanceDeleted, "gs-1", ""},
                                     ChangeEvent{K::kResync, "", ""}));
  lock.unlock();
  a.reset();
  b.reset();
  EXPECT_FALSE(feed.HasSubscribers());
}

InstanceInfo SampleInstance() {
  InstanceInfo i;
  i.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-1/gsess-\"quoted\"\u00e9";
  i.connection_info = {"10.1.2.3", "host.example", 7777};
  i.create_time = Timestamp(std::chrono::nanoseconds(1700000000123456789));
  i.player_count = 12;
  i.status = "ACTIVE";
  i.metadata["GameProperties"]["mode"] = Json("ranked");
  i.metadata["GameSessionData"] = Json("line\nbreak\ttab");
  i.metadata["n"] = Json(1.5);
  return i;
}

TEST(InstanceCodecTest, EncodeMatchesTheJsonCodec) {
  InstanceInfo a = SampleInstance();
  EXPECT_EQ(EncodeInstance(a), ToJson(a).Dump());
  InstanceInfo b;  // defaults: empty strings, epoch, empty metadata
  EXPECT_EQ(EncodeInstance(b), ToJson(b).Dump());
  b.metadata = Json();  // a null metadata is written as {}
  EXPECT_EQ(EncodeInstance(b), ToJson(b).Dump());
  b.connection_info.port = -1;
  b.player_count = -5;
  EXPECT_EQ(EncodeInstance(b), ToJson(b).Dump());
}

TEST(InstanceCodecTest, DecodeRoundTripsAndAgreesWithTheJsonCodec) {
  InstanceInfo a = SampleInstance();
  auto got = DecodeInstance(a.id, EncodeInstance(a), 42);
  ASSERT_OK(got);
  EXPECT_EQ(got->info, a);
  EXPECT_EQ(ToNanos(got->update_time), 42);
  // Shapes the direct decoder leaves to the general one decode the same.
  for (std::string doc : {
           R"({"id":"x","player_count":3.0,"connection_info":{"port":80.0}})",
           R"({"id":"x","status":null,"metadata":null,"connection_info":null})",
           R"({"id":"x","id":"y","create_time":"","extra":[1,2]})",
       }) {
    auto direct = DecodeInstance("x", doc, 0);
    auto general = InstanceInfoFromJson(*Json::Parse(doc));
    ASSERT_OK(direct);
    ASSERT_OK(general);
    general->id = "x";  // the row's key counts, not the document's (the third repeats "id")
    EXPECT_EQ(direct->info, *general) << doc;
  }
}

TEST(InstanceCodecTest, ADocumentWithoutItsIdTakesTheRowsKey) {
  // The SQLite store's documents from schema 5 on leave out the id; older ones repeat it.
  InstanceInfo a = SampleInstance();
  std::string doc = EncodeInstance(a, /*with_id=*/false);
  EXPECT_THAT(doc, Not(HasSubstr("\"id\"")));
  EXPECT_THAT(doc, Not(HasSubstr(a.id)));
  // Otherwise the same bytes: the full document less its "id" member.
  std::string full = EncodeInstance(a);
  std::string member = ",\"id\":";
  AppendJsonString(member, a.id);
  ASSERT_NE(full.find(member), std::string::npos);
  EXPECT_EQ(doc, full.erase(full.find(member), member.size()));
  auto got = DecodeInstance(a.id, doc, 7);
  ASSERT_OK(got);
  EXPECT_EQ(got->info, a);
  auto old = DecodeInstance(a.id, EncodeInstance(a), 7);
  ASSERT_OK(old);
  EXPECT_EQ(old->info, a);
  // The general decoder's path (a shape the direct one leaves to it) takes the key too.
  auto general = DecodeInstance("gs-9", R"({"player_count":3.0})", 0);
  ASSERT_OK(general);
  EXPECT_EQ(general->info.id, "gs-9");
  EXPECT_EQ(general->info.player_count, 3);
}

TEST(InstanceCodecTest, DecodeErrorsAreDataLossNamingTheId) {
  for (std::string doc : {
           std::string("{not json"),
           std::string(R"({"id":5})"),
           std::string(R"({"connection_info":{"port":70000}})"),
           std::string(R"({"create_time":"yesterday"})"),
           std::string(R"({"player_count":9999999999})"),
           std::string(R"({"metadata":[1]})"),
       }) {
    auto got = DecodeInstance("inst-7", doc, 0);
    EXPECT_THAT(got, StatusCodeIs(StatusCode::kDataLoss)) << doc;
    EXPECT_THAT(got.status().message(), ::testing::HasSubstr("inst-7")) << doc;
  }
}

// DecodeInstanceViews (the start-up load's decoder: spans and metadata tapes) gives what
// DecodeInstanceDocuments gives, for every shape, and the same error for a bad document.
TEST(InstanceCodecTest, ViewsOfAPageHoldWhatItsDocumentsDecodeTo) {
  InstanceInfo a = SampleInstance();
  InstanceInfo b;  // defaults
  b.id = "gs-b";
  InstanceDocumentPage page;
  page.Add(a.id, EncodeInstance(a, /*with_id=*/false), 42);
  page.Add("gs-old", EncodeInstance(a), 43);  // before schema 5, the document repeats its id
  page.Add(b.id, EncodeInstance(b, /*with_id=*/false), 0);
  for (std::string doc : {
           // Left to the general decoder:
           R"({"id":"x","player_count":3.0,"connection_info":{"port":80.0}})",
           R"({"id":"x","status":null,"metadata":null,"connection_info":null})",
           R"({"id":"x","id":"y","create_time":"","extra":[1,2]})",
           // Taken by the direct one; metadata keys out of order, repeated, or absent:
           R"({"metadata":{"z":1,"a":{"y":[true,null,2.5],"x":"s"},"z":2},"status":"ACTIVE"})",
           R"({"player_count":2,"connection_info":{"ip_address":"10.0.0.1"}})",
       }) {
    page.Add("gs-" + std::to_string(page.rows.size()), doc, 7);
  }
  std::vector<StoredInstance> decoded;
  ASSERT_OK(DecodeInstanceDocuments(page, decoded));
  InstanceViewPage views;
  views.rows.emplace_back();  // cleared first
  ASSERT_OK(DecodeInstanceViews(page, views));
  ASSERT_EQ(views.rows.size(), page.rows.size());
  for (size_t i = 0; i < page.rows.size(); ++i) {
    const InstanceViewPage::Row& r = views.rows[i];
    InstanceInfo got;
    got.id = views.str(r.id);
    got.status = views.str(r.status);
    got.connection_info = {std::string(views.str(r.ip_address)), std::string(views.str(r.dns_name)),
                           r.port};
    got.player_count = r.player_count;
    got.create_time = r.create_time;
    got.metadata = glfm::internal::JsonFromTape(views.str(r.metadata_tape));
    EXPECT_EQ(got, decoded[i].info) << page.doc(i);
    EXPECT_EQ(r.update_time, decoded[i].update_time) << page.doc(i);
  }
  EXPECT_EQ(views.rows[0].update_time, FromNanos(42));
  EXPECT_EQ(decoded[6].info.metadata.Dump(), R"({"a":{"x":"s","y":[true,null,2.5]},"z":2})");
  // A bad document on the second row: data-loss naming its id, as DecodeInstanceDocuments.
  InstanceDocumentPage bad;
  bad.Add("gs-1", EncodeInstance(b), 1);
  bad.Add("gs-2", R"({"metadata":[1]})", 1);
  Status want = DecodeInstanceDocuments(bad, decoded);
  EXPECT_THAT(want, StatusCodeIs(StatusCode::kDataLoss));
  EXPECT_EQ(DecodeInstanceViews(bad, views), want);
  EXPECT_THAT(want.message(), HasSubstr("gs-2"));
}

TEST(ValidationTest, PlacementIds) {
  EXPECT_OK(ValidatePlacementId("abc-DEF-123"));
  EXPECT_THAT(ValidatePlacementId(""), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidatePlacementId("a_b"), StatusCodeIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace glfm::store::internal
