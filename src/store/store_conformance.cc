// The conformance suite (see store_conformance.h): every backend must pass all of it.
#include "store/store_conformance.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "testing/status_matchers.h"

namespace glfm::store {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

Timestamp FromUnix(int64_t seconds) { return Timestamp(std::chrono::seconds(seconds)); }

InstanceInfo MakeInstance(const std::string& id, int players = 1) {
  InstanceInfo i;
  i.id = id;
  i.connection_info = {"10.0.0.7", "ec2-10-0-0-7.compute.amazonaws.com", 7777};
  i.create_time = FromUnix(1700000000);
  i.player_count = players;
  i.status = "ACTIVE";
  i.metadata = Json::MakeObject();
  i.metadata["GameSessionName"] = Json("room \"quoted\" \\ backslash");
  i.metadata["GameProperties"]["mode"] = Json("ranked");
  return i;
}

PlacementRecord MakePlacement(const std::string& id, const std::string& owner, int deadline_s) {
  PlacementRecord p;
  p.placement_id = id;
  p.owner_node = owner;
  p.deadline = FromUnix(1700000000 + deadline_s);
  p.create_time = FromUnix(1700000000);
  p.request_json = R"({"max_players":8})";
  return p;
}

std::vector<std::string> Ids(const std::vector<PlacementRecord>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) {
    out.push_back(p.placement_id);
  }
  return out;
}

// Collects change events; Wait blocks until a predicate holds (or 10 s pass: a failure).
class Collector {
 public:
  void Add(const ChangeEvent& e) {
    std::lock_guard lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  ChangeCallback Callback() {
    return [this](const ChangeEvent& e) { Add(e); };
  }
  bool WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
  }
  std::vector<ChangeEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ChangeEvent> events_;
};

TEST_P(StoreConformanceTest, UpsertThenGetReturnsTheInstance) {
  InstanceInfo info = MakeInstance("arn:aws:gamelift:us-east-1::gamesession/fleet-1/a", 3);
  Timestamp t = FromUnix(1700000100) + std::chrono::microseconds(123456);
  ASSERT_OK(store_->UpsertInstance(info, t));
  auto got = store_->GetInstance(info.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->info, info);
  EXPECT_EQ(got->update_time, t);
}

TEST_P(StoreConformanceTest, UpsertReplacesAndGetOfMissingIsNotFound) {
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1", 1), FromUnix(1)));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1", 7), FromUnix(2)));
  auto got = store_->GetInstance("gs-1");
  ASSERT_OK(got);
  EXPECT_EQ(got->info.player_count, 7);
  EXPECT_EQ(got->update_time, FromUnix(2));
  EXPECT_THAT(store_->GetInstance("gs-404"),
              StatusIs(StatusCode::kNotFound, "instance gs-404 not found"));
}

TEST_P(StoreConformanceTest, BadInstanceIdsAreInvalidArgument) {
  EXPECT_THAT(store_->UpsertInstance(MakeInstance(""), FromUnix(1)),
              StatusIs(StatusCode::kInvalidArgument, "instance id must not be empty"));
  EXPECT_THAT(store_->UpsertInstance(MakeInstance("a\nb"), FromUnix(1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("control characters")));
  EXPECT_THAT(store_->DeleteInstance(""), StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST_P(StoreConformanceTest, DeleteReportsWhetherTheInstanceExisted) {
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1"), FromUnix(1)));
  EXPECT_THAT(store_->DeleteInstance("gs-1"), IsOkAndHolds(true));
  EXPECT_THAT(store_->DeleteInstance("gs-1"), IsOkAndHolds(false));
  EXPECT_THAT(store_->GetInstance("gs-1"), StatusCodeIs(StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, DeleteOlderThanKeepsWhatWasWrittenSince) {
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-old"), FromUnix(1)));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-new"), FromUnix(5)));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-edge"), FromUnix(3)));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-old-2"), FromUnix(2)));
  EXPECT_THAT(store_->DeleteInstancesOlderThan(
                  {"gs-new", "gs-old-2", "gs-missing", "gs-edge", "gs-old", "gs-old"}, FromUnix(3)),
              IsOkAndHolds(ElementsAre("gs-old-2", "gs-old")));
  EXPECT_THAT(store_->GetInstance("gs-old"), StatusCodeIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->GetInstance("gs-old-2"), StatusCodeIs(StatusCode::kNotFound));
  ASSERT_OK(store_->GetInstance("gs-new"));
  ASSERT_OK(store_->GetInstance("gs-edge"));  // written exactly at the cutoff: kept
  EXPECT_THAT(store_->DeleteInstancesOlderThan({}, FromUnix(3)),
              IsOkAndHolds(::testing::IsEmpty()));
}

TEST_P(StoreConformanceTest, DeleteOlderThanRejectsABadIdAndDeletesNothing) {
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1"), FromUnix(1)));
  EXPECT_THAT(store_->DeleteInstancesOlderThan({"gs-1", ""}, FromUnix(9)),
              StatusIs(StatusCode::kInvalidArgument, "ids[1] must not be empty"));
  ASSERT_OK(store_->GetInstance("gs-1"));
}

TEST_P(StoreConformanceTest, DeleteOlderThanCommitsManyGroups) {
  const int n = static_cast<int>(Store::kDeleteGroup) * 2 + 7;
  std::vector<InstanceWrite> writes;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    ids.push_back("gs-" + std::to_string(i));
    // Every tenth one was written after the cutoff.
    writes.push_back({MakeInstance(ids.back()), FromUnix(i % 10 == 0 ? 20 : 1)});
  }
  ASSERT_OK(store_->UpsertInstances(writes));
  auto deleted = store_->DeleteInstancesOlderThan(ids, FromUnix(10));
  ASSERT_OK(deleted);
  EXPECT_EQ(deleted->size(), static_cast<size_t>(n - (n + 9) / 10));
  auto page = store_->ScanInstances("", 100000);
  ASSERT_OK(page);
  ASSERT_EQ(page->instances.size(), static_cast<size_t>((n + 9) / 10));
  for (const auto& si : page->instances) {
    EXPECT_EQ(std::stoi(si.info.id.substr(3)) % 10, 0) << si.info.id;
  }
}

TEST_P(StoreConformanceTest, ScanPagesThroughEveryInstanceInIdOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    std::string id = "gs-";
    id += static_cast<char>('a' + i);
    id += std::to_string(i);
    ids.push_back(std::move(id));
  }
  std::vector<std::string> shuffled = ids;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  for (const auto& id : shuffled) {
    ASSERT_OK(store_->UpsertInstance(MakeInstance(id), FromUnix(1)));
  }
  std::vector<std::string> seen;
  std::vector<size_t> page_sizes;
  std::string after;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = store_->ScanInstances(after, 10);
    ASSERT_OK(page);
    page_sizes.push_back(page->instances.size());
    for (const auto& s : page->instances) {
      seen.push_back(s.info.id);
    }
    if (page->done) {
      break;
    }
    after = page->next_after_id;
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(seen, ids);
  EXPECT_THAT(page_sizes, ElementsAre(10, 10, 5));
  EXPECT_THAT(store_->ScanInstances("", 0),
              StatusIs(StatusCode::kInvalidArgument, "limit must be 1..100000, got 0"));
}

TEST_P(StoreConformanceTest, ScanOfDocumentsDecodesToWhatScanInstancesReturns) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-" + std::to_string(i), i), FromUnix(10 + i)));
  }
  std::vector<StoredInstance> from_documents;
  std::string after;
  std::vector<size_t> page_sizes;
  for (int guard = 0; guard < 10; ++guard) {
    auto docs = store_->ScanInstanceDocuments(after, 3);
    ASSERT_OK(docs);
    page_sizes.push_back(docs->rows.size());
    std::vector<StoredInstance> decoded;
    ASSERT_OK(DecodeInstanceDocuments(*docs, decoded));
    ASSERT_EQ(decoded.size(), docs->rows.size());
    for (size_t i = 0; i < decoded.size(); ++i) EXPECT_EQ(decoded[i].info.id, docs->id(i));
    from_documents.insert(from_documents.end(), decoded.begin(), decoded.end());
    if (docs->done) break;
    EXPECT_EQ(docs->next_after_id, decoded.back().info.id);
    after = docs->next_after_id;
  }
  EXPECT_THAT(page_sizes, ElementsAre(3, 3, 1));
  auto all = store_->ScanInstances("", 100);
  ASSERT_OK(all);
  ASSERT_EQ(from_documents.size(), all->instances.size());
  for (size_t i = 0; i < from_documents.size(); ++i) {
    EXPECT_EQ(from_documents[i].info, all->instances[i].info) << i;
    EXPECT_EQ(from_documents[i].update_time, all->instances[i].update_time) << i;
  }
  EXPECT_EQ(from_documents[4].info.player_count, 4);
  EXPECT_EQ(from_documents[4].update_time, FromUnix(14));
  EXPECT_THAT(store_->ScanInstanceDocuments("", 100001),
              StatusIs(StatusCode::kInvalidArgument, "limit must be 1..100000, got 100001"));
}

TEST_P(StoreConformanceTest, ScanOfAnExactMultipleEndsWithoutAnEmptyPage) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-" + std::to_string(i)), FromUnix(1)));
  }
  auto page = store_->ScanInstances("", 2);
  ASSERT_OK(page);
  EXPECT_FALSE(page->done);
  EXPECT_EQ(page->next_after_id, "gs-1");
  page = store_->ScanInstances(page->next_after_id, 2);
  ASSERT_OK(page);
  EXPECT_TRUE(page->done);
  EXPECT_EQ(page->instances.size(), 2u);
}

TEST_P(StoreConformanceTest, UpsertInstancesIsAllOrNothing) {
  std::vector<InstanceWrite> writes;
  for (int i = 0; i < 100; ++i) {
    writes.push_back({MakeInstance("bulk-" + std::to_string(i), i), FromUnix(5)});
  }
  ASSERT_OK(store_->UpsertInstances(writes));
  EXPECT_THAT(store_->GetInstance("bulk-99"), IsOk());
  std::vector<InstanceWrite> bad = {{MakeInstance("ok-1"), FromUnix(1)},
                                    {MakeInstance(""), FromUnix(1)}};
  EXPECT_THAT(store_->UpsertInstances(bad),
              StatusIs(StatusCode::kInvalidArgument, "writes[1].id must not be empty"));
  EXPECT_THAT(store_->GetInstance("ok-1"), StatusCodeIs(StatusCode::kNotFound));
}

// Regression: GetInstance/GetPlacement once reset their prepared statement after handing the
// connection back to the pool, so two concurrent readers could share a statement (a double
// free under ASan). Many readers at once must each get their own, correct answer.
TEST_P(StoreConformanceTest, ConcurrentReadersEachGetTheirOwnAnswer) {
  constexpr int kIds = 8, kThreads = 8, kReadsPerThread = 300;
  for (int i = 0; i < kIds; ++i) {
    ASSERT_OK(store_->UpsertInstance(MakeInstance("r-" + std::to_string(i), i), FromUnix(1)));
    ASSERT_OK(store_->CreatePlacement(MakePlacement("p-" + std::to_string(i), "node-a", 100 + i)));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kReadsPerThread; ++n) {
        int i = (t + n) % kIds;
        auto inst = store_->GetInstance("r-" + std::to_string(i));
        if (!inst.ok() || inst->info.player_count != i) {
          ++wrong;
        }
        auto placement = store_->GetPlacement("p-" + std::to_string(i));
        if (!placement.ok() || placement->placement_id != "p-" + std::to_string(i)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

TEST_P(StoreConformanceTest, ConcurrentWritersAreAllAcknowledgedAndStored) {
  constexpr int kThreads = 16, kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "w";
        id += std::to_string(t);
        id += '-';
        id += std::to_string(i);
        if (!store_->UpsertInstance(MakeInstance(id, i), FromUnix(i)).ok()) {
          ++failures;
        }
        // Every fourth write is deleted again by the same writer.
        if (i % 4 == 0) {
          auto deleted = store_->DeleteInstance(id);
          if (!deleted.ok() || !*deleted) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  auto page = store_->ScanInstances("", 100000);
  ASSERT_OK(page);
  EXPECT_EQ(page->instances.size(), static_cast<size_t>(kThreads * kPerThread * 3 / 4));
  for (const auto& s : page->instances) {
    EXPECT_EQ(s.info, MakeInstance(s.info.id, s.info.player_count));
  }
}

TEST_P(StoreConformanceTest, WritesSurviveReopening) {
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-keep", 4), FromUnix(9)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-keep", "node-a", 30)));
  store_.reset();
  auto reopened = Open();
  ASSERT_OK(reopened);
  EXPECT_THAT((*reopened)->GetInstance("gs-keep"), IsOk());
  EXPECT_THAT((*reopened)->GetPlacement("p-keep"), IsOk());
}

TEST_P(StoreConformanceTest, CreatePlacementStoresItOnce) {
  PlacementRecord p = MakePlacement("p-1", "node-a", 30);
  ASSERT_OK(store_->CreatePlacement(p));
  auto got = store_->GetPlacement("p-1");
  ASSERT_OK(got);
  EXPECT_EQ(*got, p);
  EXPECT_TRUE(got->pending());
  EXPECT_THAT(store_->CreatePlacement(MakePlacement("p-1", "node-b", 60)),
              StatusIs(StatusCode::kAlreadyExists, "placement p-1 already exists"));
  EXPECT_EQ(store_->GetPlacement("p-1")->owner_node, "node-a");
  EXPECT_THAT(store_->GetPlacement("p-2"),
              StatusIs(StatusCode::kNotFound, "placement p-2 not found"));
}

TEST_P(StoreConformanceTest, GetPlacementsAnswersEachIdInOrder) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-1", "node-a", 30)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-2", "node-b", 40)));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-2", R"({"status":"success"})", FromUnix(50)),
              IsOkAndHolds(true));
  ASSERT_OK(store_->MarkPlacementDelivered("p-2"));
  auto got = store_->GetPlacements({"p-2", "p-404", "p-1", "p-2", "bad id"});
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), 5u);
  ASSERT_OK((*got)[0]);
  EXPECT_EQ(*(*got)[0], *store_->GetPlacement("p-2"));
  EXPECT_EQ((*got)[0]->outcome_json, R"({"status":"success"})");
  EXPECT_TRUE((*got)[0]->delivered);
  EXPECT_THAT((*got)[1], StatusIs(StatusCode::kNotFound, "placement p-404 not found"));
  ASSERT_OK((*got)[2]);
  EXPECT_EQ(*(*got)[2], MakePlacement("p-1", "node-a", 30));
  ASSERT_OK((*got)[3]);
  EXPECT_EQ((*got)[3]->placement_id, "p-2");
  EXPECT_THAT((*got)[4], StatusIs(StatusCode::kNotFound, "placement bad id not found"));
  EXPECT_THAT(store_->GetPlacements({}), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_P(StoreConformanceTest, GetPlacementsAnswersManyIds) {
  // More ids than one statement of a backend may take; every other one exists.
  std::vector<std::string> ids;
  for (int i = 0; i < 75; ++i) {
    ids.push_back("m-" + std::to_string(i));
    if (i % 2 == 0) {
      ASSERT_OK(store_->CreatePlacement(MakePlacement(ids.back(), "node-a", i)));
    }
  }
  auto got = store_->GetPlacements(ids);
  ASSERT_OK(got);
  ASSERT_EQ(got->size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_OK((*got)[i]);
      EXPECT_EQ(*(*got)[i], MakePlacement(ids[i], "node-a", static_cast<int>(i)));
    } else {
      EXPECT_THAT((*got)[i], StatusCodeIs(StatusCode::kNotFound));
    }
  }
}

TEST_P(StoreConformanceTest, CreatePlacementValidatesItsFields) {
  EXPECT_THAT(
      store_->CreatePlacement(MakePlacement("bad id", "node-a", 1)),
      StatusIs(StatusCode::kInvalidArgument, "placement_id \"bad id\" may hold only [A-Za-z0-9-]"));
  EXPECT_THAT(
      store_->CreatePlacement(MakePlacement(std::string(49, 'a'), "node-a", 1)),
      StatusIs(StatusCode::kInvalidArgument, "placement_id must be 1-48 characters, got 49"));
  EXPECT_THAT(store_->CreatePlacement(MakePlacement("p-1", "", 1)),
              StatusIs(StatusCode::kInvalidArgument, "owner_node must not be empty"));
  PlacementRecord no_request = MakePlacement("p-1", "node-a", 1);
  no_request.request_json.clear();
  EXPECT_THAT(store_->CreatePlacement(no_request),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("request_json")));
  EXPECT_THAT(store_->GetPlacement("p-1"), StatusCodeIs(StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, FirstRecordedOutcomeWinsAndLaterWritersLearnTheyLost) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-1", "node-a", 30)));
  EXPECT_THAT(store_->RecordPlacementOutcome("p-1", R"({"status":"success"})", FromUnix(50)),
              IsOkAndHolds(true));
  EXPECT_THAT(store_->RecordPlacementOutcome("p-1", R"({"status":"timeout"})", FromUnix(60)),
              IsOkAndHolds(false));
  auto got = store_->GetPlacement("p-1");
  ASSERT_OK(got);
  EXPECT_EQ(got->outcome_json, R"({"status":"success"})");
  EXPECT_EQ(got->outcome_time, FromUnix(50));
  EXPECT_FALSE(got->pending());
  EXPECT_THAT(store_->RecordPlacementOutcome("p-404", "{}", FromUnix(1)),
              StatusIs(StatusCode::kNotFound, "placement p-404 not found"));
  EXPECT_THAT(store_->RecordPlacementOutcome("p-1", "", FromUnix(1)),
              StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST_P(StoreConformanceTest, ConcurrentOutcomesHaveExactlyOneWinner) {
  constexpr int kRounds = 5, kThreads = 8;
  for (int round = 0; round < kRounds; ++round) {
    std::string id = "race-" + std::to_string(round);
    ASSERT_OK(store_->CreatePlacement(MakePlacement(id, "node-a", 30)));
    std::atomic<int> winners{0}, errors{0};
    std::atomic<int> winner{-1};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto won =
            store_->RecordPlacementOutcome(id, "{\"by\":" + std::to_string(t) + "}", FromUnix(t));
        if (!won.ok()) {
          ++errors;
        } else if (*won) {
          ++winners;
          winner = t;
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    EXPECT_EQ(errors.load(), 0);
    ASSERT_EQ(winners.load(), 1);
    EXPECT_EQ(store_->GetPlacement(id)->outcome_json,
              "{\"by\":" + std::to_string(winner.load()) + "}");
  }
}

TEST_P(StoreConformanceTest, ListsPendingPlacementsByOwnerAndByDeadline) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("a-late", "node-a", 300)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("a-early", "node-a", 10)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("a-done", "node-a", 5)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("b-mid", "node-b", 100)));
  ASSERT_THAT(store_->RecordPlacementOutcome("a-done", "{}", FromUnix(1)), IsOkAndHolds(true));

  auto by_a = store_->ListPendingPlacementsByOwner("node-a", 10);
  ASSERT_OK(by_a);
  EXPECT_THAT(Ids(*by_a), ElementsAre("a-early", "a-late"));
  auto limited = store_->ListPendingPlacementsByOwner("node-a", 1);
  ASSERT_OK(limited);
  EXPECT_THAT(Ids(*limited), ElementsAre("a-early"));
  auto due = store_->ListPendingPlacementsDueBy(FromUnix(1700000000 + 100), 10);
  ASSERT_OK(due);
  EXPECT_THAT(Ids(*due), ElementsAre("a-early", "b-mid"));
  EXPECT_THAT(store_->ListPendingPlacementsByOwner("node-z", 10), IsOkAndHolds(ElementsAre()));
  EXPECT_THAT(store_->ListPendingPlacementsDueBy(FromUnix(0), 0),
              StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST_P(StoreConformanceTest, OutcomesStayUndeliveredUntilMarked) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-1", "node-a", 30)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-2", "node-a", 30)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-3", "node-b", 30)));
  EXPECT_THAT(store_->MarkPlacementDelivered("p-1"),
              StatusIs(StatusCode::kFailedPrecondition, "placement p-1 has no outcome to deliver"));
  EXPECT_THAT(store_->MarkPlacementDelivered("p-404"),
              StatusIs(StatusCode::kNotFound, "placement p-404 not found"));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-2", "{}", FromUnix(20)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-1", "{}", FromUnix(10)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-3", "{}", FromUnix(10)), IsOkAndHolds(true));
  auto undelivered = store_->ListUndeliveredOutcomes("node-a", 10);
  ASSERT_OK(undelivered);
  EXPECT_THAT(Ids(*undelivered), ElementsAre("p-1", "p-2"));
  ASSERT_OK(store_->MarkPlacementDelivered("p-1"));
  ASSERT_OK(store_->MarkPlacementDelivered("p-1"));  // idempotent
  EXPECT_TRUE(store_->GetPlacement("p-1")->delivered);
  EXPECT_THAT(Ids(*store_->ListUndeliveredOutcomes("node-a", 10)), ElementsAre("p-2"));
  EXPECT_THAT(Ids(*store_->ListPendingPlacementsByOwner("node-a", 10)), ElementsAre());
}

TEST_P(StoreConformanceTest, RecordPlacementOutcomesReportsEachWinnerInOneCall) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("r-1", "node-a", 30)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("r-2", "node-b", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("r-2", R"({"first":true})", FromUnix(5)),
              IsOkAndHolds(true));
  EXPECT_THAT(store_->RecordPlacementOutcomes({}), IsOkAndHolds(ElementsAre()));
  EXPECT_THAT(store_->RecordPlacementOutcomes({{"r-1", "{}", FromUnix(1)}, {"r-2", "", {}}}),
              StatusIs(StatusCode::kInvalidArgument, "writes[1].outcome_json must not be empty"));
  EXPECT_TRUE(store_->GetPlacement("r-1")->pending());  // nothing recorded
  auto r = store_->RecordPlacementOutcomes({{"r-1", R"({"a":1})", FromUnix(10)},
                                            {"r-2", R"({"b":2})", FromUnix(11)},
                                            {"r-404", "{}", FromUnix(12)},
                                            {"r-1", R"({"again":1})", FromUnix(13)}});
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 4u);
  EXPECT_THAT((*r)[0], IsOkAndHolds(true));
  EXPECT_THAT((*r)[1], IsOkAndHolds(false));  // an earlier outcome stands
  EXPECT_THAT((*r)[2], StatusIs(StatusCode::kNotFound, "placement r-404 not found"));
  EXPECT_THAT((*r)[3], IsOkAndHolds(false));  // the first write of the call won
  EXPECT_EQ(store_->GetPlacement("r-1")->outcome_json, R"({"a":1})");
  EXPECT_EQ(store_->GetPlacement("r-1")->outcome_time, FromUnix(10));
  EXPECT_EQ(store_->GetPlacement("r-2")->outcome_json, R"({"first":true})");
}

TEST_P(StoreConformanceTest, RecordPlacementOutcomesUpsertsTheInstanceOfEachWinner) {
  ASSERT_OK(store_->CreatePlacement(MakePlacement("w-1", "node-a", 30)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("w-2", "node-b", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("w-2", "{}", FromUnix(5)), IsOkAndHolds(true));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-old", 1), FromUnix(1)));
  Collector collector;
  auto sub = store_->Subscribe(collector.Callback());
  ASSERT_OK(sub);
  InstanceInfo bad = MakeInstance("gs-x");
  bad.id = "";
  EXPECT_THAT(
      store_->RecordPlacementOutcomes({{"w-1", "{}", FromUnix(1), InstanceWrite{bad, {}}}}),
      StatusIs(StatusCode::kInvalidArgument, "writes[0].instance.info.id must not be empty"));
  EXPECT_TRUE(store_->GetPlacement("w-1")->pending());  // nothing recorded
  auto r = store_->RecordPlacementOutcomes(
      {{"w-1", R"({"won":1})", FromUnix(10),
        InstanceWrite{MakeInstance("gs-old", 7), FromUnix(20)}},
       {"w-2", R"({"lost":1})", FromUnix(11), InstanceWrite{MakeInstance("gs-lost"), FromUnix(21)}},
       {"w-404", "{}", FromUnix(12), InstanceWrite{MakeInstance("gs-none"), FromUnix(22)}}});
  ASSERT_OK(r);
  EXPECT_THAT((*r)[0], IsOkAndHolds(true));
  EXPECT_THAT((*r)[1], IsOkAndHolds(false));
  EXPECT_THAT((*r)[2], StatusIs(StatusCode::kNotFound, "placement w-404 not found"));
  auto won = store_->GetInstance("gs-old");  // replaced, with the outcome
  ASSERT_OK(won);
  EXPECT_EQ(won->info, MakeInstance("gs-old", 7));
  EXPECT_EQ(won->update_time, FromUnix(20));
  EXPECT_THAT(store_->GetInstance("gs-lost"), StatusCodeIs(StatusCode::kNotFound));
  EXPECT_THAT(store_->GetInstance("gs-none"), StatusCodeIs(StatusCode::kNotFound));
  ASSERT_TRUE(collector.WaitForCount(2));
  using K = ChangeEvent::Kind;
  EXPECT_THAT(collector.events(), ElementsAre(ChangeEvent{K::kPlacementOutcome, "w-1", "node-a"},
                                              ChangeEvent{K::kInstanceUpserted, "gs-old", ""}));
}

TEST_P(StoreConformanceTest, MarkPlacementsDeliveredMarksEachAndReportsTheFirstError) {
  for (const char* id : {"m-1", "m-2", "m-3", "m-4"}) {
    ASSERT_OK(store_->CreatePlacement(MakePlacement(id, "node-a", 30)));
  }
  ASSERT_THAT(store_->RecordPlacementOutcome("m-1", "{}", FromUnix(10)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("m-2", "{}", FromUnix(11)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("m-4", "{}", FromUnix(12)), IsOkAndHolds(true));
  EXPECT_OK(store_->MarkPlacementsDelivered({}));
  EXPECT_THAT(store_->MarkPlacementsDelivered({"m-1", "bad id"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "placement_ids[1] \"bad id\" may hold only [A-Za-z0-9-]"));
  EXPECT_FALSE(store_->GetPlacement("m-1")->delivered);  // nothing marked
  ASSERT_OK(store_->MarkPlacementsDelivered({"m-1", "m-2"}));
  ASSERT_OK(store_->MarkPlacementsDelivered({"m-2", "m-1"}));  // idempotent
  EXPECT_THAT(store_->MarkPlacementsDelivered({"m-404", "m-3", "m-4"}),
              StatusIs(StatusCode::kNotFound, "placement m-404 not found"));
  EXPECT_THAT(store_->MarkPlacementsDelivered({"m-3"}),
              StatusIs(StatusCode::kFailedPrecondition, "placement m-3 has no outcome to deliver"));
  EXPECT_TRUE(store_->GetPlacement("m-1")->delivered);
  EXPECT_TRUE(store_->GetPlacement("m-2")->delivered);
  EXPECT_FALSE(store_->GetPlacement("m-3")->delivered);
  EXPECT_TRUE(store_->GetPlacement("m-4")->delivered);  // marked despite m-404 before it
  EXPECT_THAT(Ids(*store_->ListUndeliveredOutcomes("node-a", 10)), ElementsAre());
}

WebhookRecord MakeWebhook(const std::string& id, const std::string& owner) {
  WebhookRecord w;
  w.id = id;
  w.owner_node = owner;
  w.url = "http://127.0.0.1:9/hook?x=1&y=\"2\"";
  w.body = R"({"placement_id":")" + id + R"(","note":"tab\there, quote \" é"})";
  w.create_time = FromUnix(1700000000);
  w.expire_time = FromUnix(1700086400);
  w.next_attempt = FromUnix(1700000000);
  return w;
}

TEST_P(StoreConformanceTest, WebhookOutboxKeepsDeliveriesUntilDeleted) {
  std::vector<WebhookRecord> a;
  for (int i = 0; i < 5; ++i) a.push_back(MakeWebhook("w-" + std::to_string(i), "node-a"));
  ASSERT_OK(store_->EnqueueWebhooks(a));
  ASSERT_OK(store_->EnqueueWebhooks({MakeWebhook("w-other", "node-b")}));
  ASSERT_OK(store_->EnqueueWebhooks({}));
  // Enqueueing an id again keeps the stored row.
  WebhookRecord again = MakeWebhook("w-0", "node-a");
  again.url = "http://127.0.0.1:9/changed";
  ASSERT_OK(store_->EnqueueWebhooks({again}));

  auto page1 = store_->ListWebhooks("node-a", "", 3);
  ASSERT_OK(page1);
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0], a[0]);  // every field round-trips, the url unchanged
  EXPECT_EQ((*page1)[2].id, "w-2");
  auto page2 = store_->ListWebhooks("node-a", "w-2", 3);
  ASSERT_OK(page2);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[1], a[4]);
  EXPECT_THAT(store_->ListWebhooks("node-a", "w-4", 3), IsOkAndHolds(ElementsAre()));
  EXPECT_THAT(store_->ListWebhooks("node-a", "", 0),
              StatusIs(StatusCode::kInvalidArgument, "limit must be 1..100000, got 0"));

  ASSERT_OK(store_->RescheduleWebhook("w-1", 3, FromUnix(1700000300), "HTTP 503 from receiver"));
  EXPECT_THAT(store_->RescheduleWebhook("w-404", 1, FromUnix(1), "x"),
              StatusIs(StatusCode::kNotFound, "webhook w-404 not found"));
  EXPECT_THAT(
      store_->RescheduleWebhook("w-1", -1, FromUnix(1), "x"),
      StatusIs(StatusCode::kInvalidArgument, "attempts of webhook w-1 must not be negative"));
  auto rescheduled = store_->ListWebhooks("node-a", "w-0", 1);
  ASSERT_OK(rescheduled);
  ASSERT_EQ(rescheduled->size(), 1u);
  EXPECT_EQ((*rescheduled)[0].attempts, 3);
  EXPECT_EQ((*rescheduled)[0].next_attempt, FromUnix(1700000300));
  EXPECT_EQ((*rescheduled)[0].last_error, "HTTP 503 from receiver");

  EXPECT_THAT(store_->DeleteWebhooks({"w-0", ""}),
              StatusIs(StatusCode::kInvalidArgument, "ids[1] must be 1-128 bytes, got 0"));
  ASSERT_OK(store_->DeleteWebhooks({"w-0", "w-3", "w-404"}));
  auto remaining = store_->ListWebhooks("node-a", "", 100);
  ASSERT_OK(remaining);
  std::vector<std::string> left;
  for (const auto& w : *remaining) left.push_back(w.id);
  EXPECT_THAT(left, ElementsAre("w-1", "w-2", "w-4"));
  EXPECT_THAT(store_->ListWebhooks("node-b", "", 100)->size(), 1u);

  // Survives reopening.
  store_.reset();
  auto reopened = Open();
  ASSERT_OK(reopened);
  store_ = std::move(*reopened);
  EXPECT_EQ(store_->ListWebhooks("node-a", "", 100)->size(), 3u);
}

TEST_P(StoreConformanceTest, AdoptOrphansTakesWhatAGoneNodeLeftUndone) {
  for (const char* id : {"p-old", "p-new", "p-delivered", "p-pending"}) {
    ASSERT_OK(store_->CreatePlacement(MakePlacement(id, "node-a", 30)));
  }
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-mine", "node-b", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-old", "{}", FromUnix(1)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-new", "{}", FromUnix(9)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-delivered", "{}", FromUnix(1)), IsOkAndHolds(true));
  ASSERT_OK(store_->MarkPlacementDelivered("p-delivered"));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-mine", "{}", FromUnix(1)), IsOkAndHolds(true));
  WebhookRecord due = MakeWebhook("w-due", "node-a");
  due.next_attempt = FromUnix(1);
  WebhookRecord later = MakeWebhook("w-later", "node-a");
  later.next_attempt = FromUnix(9);
  WebhookRecord mine = MakeWebhook("w-mine", "node-b");
  mine.next_attempt = FromUnix(1);
  ASSERT_OK(store_->EnqueueWebhooks({due, later, mine}));

  auto adopted = store_->AdoptOrphans("node-b", FromUnix(5), true);
  ASSERT_OK(adopted);
  EXPECT_EQ(adopted->outcomes, 1);  // p-old
  EXPECT_EQ(adopted->webhooks, 1);  // w-due
  auto ids = [](const std::vector<PlacementRecord>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(p.placement_id);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(ids(*store_->ListUndeliveredOutcomes("node-b", 10)), ElementsAre("p-mine", "p-old"));
  EXPECT_THAT(ids(*store_->ListUndeliveredOutcomes("node-a", 10)), ElementsAre("p-new"));
  EXPECT_THAT(ids(*store_->ListPendingPlacementsByOwner("node-a", 10)), ElementsAre("p-pending"));
  auto hooks = [&](const char* node) {
    std::vector<std::string> out;
    auto listed = store_->ListWebhooks(node, "", 10);
    EXPECT_OK(listed);
    if (listed.ok()) {
      for (const auto& w : *listed) out.push_back(w.id);
    }
    return out;
  };
  EXPECT_THAT(hooks("node-b"), ElementsAre("w-due", "w-mine"));
  EXPECT_THAT(hooks("node-a"), ElementsAre("w-later"));
  auto again = store_->AdoptOrphans("node-b", FromUnix(5), true);
  ASSERT_OK(again);
  EXPECT_EQ(again->outcomes + again->webhooks, 0);
  // A node that sends no webhooks takes the outcomes only.
  auto outcomes_only = store_->AdoptOrphans("node-c", FromUnix(5), false);
  ASSERT_OK(outcomes_only);
  EXPECT_EQ(outcomes_only->outcomes, 2);  // p-mine, p-old
  EXPECT_EQ(outcomes_only->webhooks, 0);
  EXPECT_THAT(hooks("node-b"), ElementsAre("w-due", "w-mine"));
  EXPECT_THAT(store_->AdoptOrphans("", FromUnix(5), true),
              StatusIs(StatusCode::kInvalidArgument, "node must not be empty"));
}

TEST_P(StoreConformanceTest, DeleteDeliveredPlacementsKeepsWhatIsStillOwed) {
  const int64_t t0 = 1700000000;
  auto create = [&](const std::string& id, int64_t created) {
    PlacementRecord p = MakePlacement(id, "node-a", 30);
    p.create_time = FromUnix(t0 + created);
    ASSERT_OK(store_->CreatePlacement(p));
  };
  auto outcome = [&](const std::string& id, int64_t at, bool delivered) {
    ASSERT_THAT(store_->RecordPlacementOutcome(id, "{}", FromUnix(t0 + at)), IsOkAndHolds(true));
    if (delivered) {
      ASSERT_OK(store_->MarkPlacementDelivered(id));
    }
  };
  for (int i = 1; i <= 3; ++i) {
    create("p-old-" + std::to_string(i), i);
    outcome("p-old-" + std::to_string(i), 10, true);
  }
  create("p-recent", 0);  // delivered after the cutoff
  outcome("p-recent", 100, true);
  create("p-undelivered", 0);  // still owed to its owner
  outcome("p-undelivered", 10, false);
  create("p-pending", 0);  // no outcome yet
  create("p-young", 60);   // created after the cutoff
  outcome("p-young", 70, true);
  const Timestamp cutoff = FromUnix(t0 + 50);

  EXPECT_THAT(store_->DeleteDeliveredPlacements(cutoff, 0),
              StatusIs(StatusCode::kInvalidArgument, "limit must be 1..100000, got 0"));
  EXPECT_THAT(store_->DeleteDeliveredPlacements(cutoff, 2), IsOkAndHolds(2));  // oldest first
  EXPECT_THAT(store_->GetPlacement("p-old-1"),
              StatusIs(StatusCode::kNotFound, "placement p-old-1 not found"));
  EXPECT_THAT(store_->GetPlacement("p-old-2"),
              StatusIs(StatusCode::kNotFound, "placement p-old-2 not found"));
  EXPECT_OK(store_->GetPlacement("p-old-3"));
  EXPECT_THAT(store_->DeleteDeliveredPlacements(cutoff, 100), IsOkAndHolds(1));
  EXPECT_THAT(store_->DeleteDeliveredPlacements(cutoff, 100), IsOkAndHolds(0));
  EXPECT_THAT(store_->GetPlacement("p-old-3"),
              StatusIs(StatusCode::kNotFound, "placement p-old-3 not found"));
  for (const char* kept : {"p-recent", "p-undelivered", "p-pending", "p-young"}) {
    EXPECT_OK(store_->GetPlacement(kept)) << kept;
  }
  auto ids = [](const Result<std::vector<PlacementRecord>>& ps) {
    std::vector<std::string> out;
    if (ps.ok()) {
      for (const auto& p : *ps) out.push_back(p.placement_id);
    }
    return out;
  };
  EXPECT_THAT(ids(store_->ListUndeliveredOutcomes("node-a", 10)), ElementsAre("p-undelivered"));
  EXPECT_THAT(ids(store_->ListPendingPlacementsByOwner("node-a", 10)), ElementsAre("p-pending"));
}

TEST_P(StoreConformanceTest, WebhookEnqueueValidatesEveryEntryFirst) {
  WebhookRecord bad = MakeWebhook("w-bad", "node-a");
  bad.url.clear();
  EXPECT_THAT(store_->EnqueueWebhooks({MakeWebhook("w-good", "node-a"), bad}),
              StatusIs(StatusCode::kInvalidArgument, "webhooks[1].url must not be empty"));
  WebhookRecord no_owner = MakeWebhook("w-x", "");
  EXPECT_THAT(store_->EnqueueWebhooks({no_owner}),
              StatusIs(StatusCode::kInvalidArgument, "webhooks[0].owner_node must not be empty"));
  WebhookRecord long_id = MakeWebhook(std::string(129, 'a'), "node-a");
  EXPECT_THAT(
      store_->EnqueueWebhooks({long_id}),
      StatusIs(StatusCode::kInvalidArgument, "webhooks[0].id must be 1-128 bytes, got 129"));
  EXPECT_THAT(store_->ListWebhooks("node-a", "", 10), IsOkAndHolds(ElementsAre()));
}

TEST_P(StoreConformanceTest, AsyncUpsertsCommitInOrderAndReportEach) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<Status> errors;
  auto count = [&](Status s) {
    std::lock_guard lock(mu);
    if (!s.ok()) errors.push_back(s);
    done++;
    cv.notify_all();
  };
  constexpr int kSame = 300;
  for (int i = 0; i < kSame; ++i) {
    store_->UpsertInstanceAsync(MakeInstance("gs-same", i), FromUnix(i), count);
    if (i % 2 == 0) {
      store_->UpsertInstanceAsync(MakeInstance("gs-other-" + std::to_string(i / 2)), FromUnix(1),
                                  count);
    }
  }
  // Invalid input is answered at once, on this thread.
  Status bad;
  store_->UpsertInstanceAsync(MakeInstance(""), FromUnix(1), [&](Status s) { bad = s; });
  EXPECT_THAT(bad, StatusIs(StatusCode::kInvalidArgument, "instance id must not be empty"));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kSame + kSame / 2; }));
    EXPECT_TRUE(errors.empty()) << errors.front().ToString();
  }
  auto same = store_->GetInstance("gs-same");
  ASSERT_OK(same);
  if (store_->backend() == "sqlite") {
    // One committer: the last one queued is the one that stands. (The PostgreSQL backend
    // under test runs two commit connections, which may commit batches out of order.)
    EXPECT_EQ(same->info.player_count, kSame - 1);
    EXPECT_EQ(same->update_time, FromUnix(kSame - 1));
  }
  auto page = store_->ScanInstances("", 1000);
  ASSERT_OK(page);
  int others = 0;
  for (const auto& i : page->instances) others += i.info.id.rfind("gs-other-", 0) == 0 ? 1 : 0;
  EXPECT_EQ(others, kSame / 2);
}

TEST_P(StoreConformanceTest, ChangeFeedReportsEveryCommittedChange) {
  Collector collector;
  auto sub = store_->Subscribe(collector.Callback());
  ASSERT_OK(sub);
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1"), FromUnix(1)));
  ASSERT_THAT(store_->DeleteInstance("gs-1"), IsOkAndHolds(true));
  ASSERT_THAT(store_->DeleteInstance("gs-1"), IsOkAndHolds(false));  // no event
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-2"), FromUnix(1)));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-3"), FromUnix(9)));
  // gs-3 is newer than the cutoff and stays: no event.
  ASSERT_THAT(store_->DeleteInstancesOlderThan({"gs-2", "gs-3"}, FromUnix(5)),
              IsOkAndHolds(ElementsAre("gs-2")));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-1", "node-a", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-1", "{}", FromUnix(1)), IsOkAndHolds(true));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-1", "{}", FromUnix(1)), IsOkAndHolds(false));
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-last"), FromUnix(1)));
  ASSERT_TRUE(collector.WaitForCount(8));
  using K = ChangeEvent::Kind;
  EXPECT_THAT(collector.events(), ElementsAre(ChangeEvent{K::kInstanceUpserted, "gs-1", ""},
                                              ChangeEvent{K::kInstanceDeleted, "gs-1", ""},
                                              ChangeEvent{K::kInstanceUpserted, "gs-2", ""},
                                              ChangeEvent{K::kInstanceUpserted, "gs-3", ""},
                                              ChangeEvent{K::kInstanceDeleted, "gs-2", ""},
                                              ChangeEvent{K::kPlacementCreated, "p-1", "node-a"},
                                              ChangeEvent{K::kPlacementOutcome, "p-1", "node-a"},
                                              ChangeEvent{K::kInstanceUpserted, "gs-last", ""}));
}

TEST_P(StoreConformanceTest, ASubscriberHearsOnlyTheKindsItAskedFor) {
  using K = ChangeEvent::Kind;
  Collector outcomes, everything;
  auto only_outcomes = store_->Subscribe(outcomes.Callback(), ChangeKindBit(K::kPlacementOutcome));
  auto all = store_->Subscribe(everything.Callback());
  ASSERT_OK(only_outcomes);
  ASSERT_OK(all);
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1"), FromUnix(1)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-1", "node-a", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-1", "{}", FromUnix(1)), IsOkAndHolds(true));
  ASSERT_THAT(store_->DeleteInstance("gs-1"), IsOkAndHolds(true));
  ASSERT_TRUE(everything.WaitForCount(4));  // in commit order, after the outcome's
  EXPECT_THAT(outcomes.events(), ElementsAre(ChangeEvent{K::kPlacementOutcome, "p-1", "node-a"}));
  // With only the outcome subscriber left, outcomes still arrive (and nothing else).
  all->reset();
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-2"), FromUnix(1)));
  ASSERT_OK(store_->CreatePlacement(MakePlacement("p-2", "node-a", 30)));
  ASSERT_THAT(store_->RecordPlacementOutcome("p-2", "{}", FromUnix(1)), IsOkAndHolds(true));
  ASSERT_TRUE(outcomes.WaitForCount(2));
  EXPECT_THAT(outcomes.events(), ElementsAre(ChangeEvent{K::kPlacementOutcome, "p-1", "node-a"},
                                             ChangeEvent{K::kPlacementOutcome, "p-2", "node-a"}));
}

TEST_P(StoreConformanceTest, UnsubscribedCallbacksStopHearing) {
  Collector kept, dropped;
  auto keep = store_->Subscribe(kept.Callback());
  auto drop = store_->Subscribe(dropped.Callback());
  ASSERT_OK(keep);
  ASSERT_OK(drop);
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-1"), FromUnix(1)));
  ASSERT_TRUE(dropped.WaitForCount(1));
  drop->reset();
  ASSERT_OK(store_->UpsertInstance(MakeInstance("gs-2"), FromUnix(1)));
  ASSERT_TRUE(kept.WaitForCount(2));
  EXPECT_EQ(dropped.events().size(), 1u);
}

TEST_P(StoreConformanceTest, ASchemaNewerThanTheBinaryIsFailedPrecondition) {
  store_.reset();
  ASSERT_OK(backend_->SetSchemaVersion(kSchemaVersion + 7));
  auto reopened = Open();
  EXPECT_THAT(
      reopened,
      StatusIs(StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("database schema version " + std::to_string(kSchemaVersion + 7)),
                     HasSubstr("newer than this glfm supports (" + std::to_string(kSchemaVersion) +
                               ")"))));
}

TEST_P(StoreConformanceTest, AnOldSchemaIsUpgradedKeepingItsData) {
  // A fresh test database; SetUp opened it at the newest version, so use another one.
  auto fresh = GetParam().make();
  ASSERT_OK(fresh);
  backend_ = std::move(*fresh);
  store_.reset();
  {
    auto v1 = backend_->Open(1);
    ASSERT_OK(v1);
    ASSERT_OK((*v1)->UpsertInstance(MakeInstance("gs-old", 2), FromUnix(3)));
  }
  auto upgraded = backend_->Open();
  ASSERT_OK(upgraded);
  auto old = (*upgraded)->GetInstance("gs-old");
  ASSERT_OK(old);
  EXPECT_EQ(old->info, MakeInstance("gs-old", 2));
  EXPECT_OK((*upgraded)->CreatePlacement(MakePlacement("p-new", "node-a", 3)));
  EXPECT_OK((*upgraded)->EnqueueWebhooks({MakeWebhook("w-new", "node-a")}));
  upgraded->reset();
  // From version 2 (placements, no outbox) too.
  auto fresh2 = GetParam().make();
  ASSERT_OK(fresh2);
  backend_ = std::move(*fresh2);
  {
    auto v2 = backend_->Open(2);
    ASSERT_OK(v2);
    ASSERT_OK((*v2)->CreatePlacement(MakePlacement("p-v2", "node-a", 3)));
  }
  auto from2 = backend_->Open();
  ASSERT_OK(from2);
  EXPECT_THAT((*from2)->GetPlacement("p-v2"), IsOk());
  EXPECT_OK((*from2)->EnqueueWebhooks({MakeWebhook("w-v2", "node-a")}));
  EXPECT_EQ((*from2)->ListWebhooks("node-a", "", 10)->size(), 1u);
  from2->reset();
  // Opening again is a no-op migration.
  EXPECT_THAT(backend_->Open(), IsOk());
}

}  // namespace
}  // namespace glfm::store
