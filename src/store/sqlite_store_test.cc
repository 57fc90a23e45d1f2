// The conformance suite on SQLite (synchronous FULL and NORMAL), and SQLite-only behaviour.
#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "store/sqlite_test_helpers.h"
#include "store/store_conformance.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace glfm::store {
namespace {

using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(SqliteBackendFactory(true), SqliteBackendFactory(false)),
                         BackendName);

// Each test gets a directory of its own, removed when it ends.
class SqliteStoreTest : public ::testing::Test {
 protected:
  // Expects SQLite's integrity check of the file at `path` to pass (the store closed).
  static void ExpectIntact(const std::string& path) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(internal::QuerySql(db, "PRAGMA integrity_check"), "ok");
    sqlite3_close(db);
  }
  // An ACTIVE instance `id` with `player_count` players; a GameSessionName of `pad` bytes
  // when `pad` > 0 (the row's size).
  static InstanceInfo Instance(std::string id, int player_count = 0, size_t pad = 0) {
    InstanceInfo info;
    info.id = std::move(id);
    info.status = "ACTIVE";
    info.player_count = player_count;
    if (pad > 0) {
      info.metadata = Json::MakeObject();
      info.metadata["GameSessionName"] = Json(std::string(pad, 'x'));
    }
    return info;
  }

  glfm::testing::TempDir dir_{"glfm-sqlite-store"};
};

TEST_F(SqliteStoreTest, AnUnopenablePathIsUnavailableNamingThePath) {
  SqliteOptions o;
  o.path = "/nonexistent-dir-glfm/sub/glfm.db";
  EXPECT_THAT(OpenSqliteStore(o), StatusIs(StatusCode::kUnavailable,
                                           HasSubstr("sqlite /nonexistent-dir-glfm/sub/glfm.db")));
}

TEST_F(SqliteStoreTest, BadOptionsAreInvalidArgument) {
  SqliteOptions o;
  EXPECT_THAT(OpenSqliteStore(o),
              StatusIs(StatusCode::kInvalidArgument, "sqlite path must not be empty"));
  o.path = "/tmp/x.db";
  o.max_batch_ops = 0;
  EXPECT_THAT(OpenSqliteStore(o),
              StatusIs(StatusCode::kInvalidArgument, "sqlite max_batch_ops must be at least 1"));
}

TEST_F(SqliteStoreTest, AFileThatIsNotADatabaseIsRefused) {
  std::string path = dir_.path() + "/glfm.db";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an sqlite file, it is just some text long enough to be a header....", f);
  std::fclose(f);
  SqliteOptions o;
  o.path = path;
  EXPECT_THAT(OpenSqliteStore(o), StatusIs(StatusCode::kFailedPrecondition, HasSubstr(path)));
}

// Returns the page size of the SQLite file at `path` (0 when it cannot be read).
int FilePageSize(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_stmt* s = nullptr;
  int size = 0;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    size = sqlite3_column_int(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return size;
}

// Returns the value of the sample `name` (with its labels, if any) in /metrics' text, or -1.
double MetricValue(const std::string& name) {
  std::string text = metrics::Registry::Default().Render();
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) {
    return -1;
  }
  return std::stod(text.substr(at + name.size() + 2));
}

TEST_F(SqliteStoreTest, ANewFileHas2KiBPagesAndAnOlderFileKeepsItsOwn) {
  InstanceInfo info = Instance("gs-1", 3);
  {
    SqliteOptions o;
    o.path = dir_.path() + "/new.db";
    auto store = OpenSqliteStore(o);
    ASSERT_OK(store);
    ASSERT_OK((*store)->UpsertInstance(info, Timestamp(std::chrono::seconds(1))));
  }
  EXPECT_EQ(FilePageSize(dir_.path() + "/new.db"), 2048);
  // A WAL file with 4 KiB pages, as an earlier glfm created it.
  std::string old_path = dir_.path() + "/old.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(old_path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; VACUUM;", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_EQ(FilePageSize(old_path), 4096);
  for (int round = 0; round < 2; ++round) {
    SqliteOptions o;
    o.path = old_path;
    auto store = OpenSqliteStore(o);
    ASSERT_OK(store);
    info.player_count = round;
    ASSERT_OK((*store)->UpsertInstance(info, Timestamp(std::chrono::seconds(2))));
    auto got = (*store)->GetInstance("gs-1");
    ASSERT_OK(got);
    EXPECT_EQ(got->info.player_count, round);
  }
  EXPECT_EQ(FilePageSize(old_path), 4096);
}

// Returns the scheduling policy of each of this process's threads named glfm-sq-*, once
// `expected` of them have named themselves (each does when it starts), or what it found after
// 10 s.
std::map<std::string, int> StoreThreadPolicies(size_t expected) {
  std::map<std::string, int> policies;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (policies.size() < expected && std::chrono::steady_clock::now() < end) {
    policies.clear();
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      if (name.rfind("glfm-sq-", 0) != 0) continue;
      policies[name] = sched_getscheduler(std::stoi(task.path().filename().string()));
    }
    if (policies.size() < expected) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return policies;
}

// With synchronous=FULL the committer runs as SCHED_BATCH (see SqliteStore::Open): queueing a
// write must not preempt the queueing thread. The other threads keep the default policy: the
// fsync and the acknowledgements are what callers wait for. With NORMAL every thread keeps it.
TEST_F(SqliteStoreTest, OnlyTheCommitterOfAFullStoreRunsAsABatchThread) {
  {
    SqliteOptions o;
    o.path = dir_.path() + "/full.db";
    auto store = OpenSqliteStore(o);
    ASSERT_OK(store);
    auto policies = StoreThreadPolicies(4);
    ASSERT_EQ(policies.size(), 4u);
    EXPECT_EQ(policies["glfm-sq-commit"], SCHED_BATCH);
    EXPECT_EQ(policies["glfm-sq-sync"], SCHED_OTHER);
    EXPECT_EQ(policies["glfm-sq-ack"], SCHED_OTHER);
    EXPECT_EQ(policies["glfm-sq-ckpt"], SCHED_OTHER);
  }
  SqliteOptions o;
  o.path = dir_.path() + "/normal.db";
  o.synchronous = SqliteOptions::Synchronous::kNormal;
  auto store = OpenSqliteStore(o);
  ASSERT_OK(store);
  auto policies = StoreThreadPolicies(3);  // no syncer
  ASSERT_EQ(policies.size(), 3u);
  EXPECT_EQ(policies["glfm-sq-commit"], SCHED_OTHER);
  EXPECT_EQ(policies["glfm-sq-ack"], SCHED_OTHER);
  EXPECT_EQ(policies["glfm-sq-ckpt"], SCHED_OTHER);
}

// With FULL every acknowledged write is counted in glfm_sqlite_fsync_writes by the fsync
// that made it durable, and each fsync in glfm_sqlite_fsync_seconds; NORMAL fsyncs no write.
TEST_F(SqliteStoreTest, FsyncMetricsCountEveryDurableWrite) {
  {
    SqliteOptions o;
    o.path = dir_.path() + "/full.db";
    auto store = OpenSqliteStore(o);
    ASSERT_OK(store);
    double fsyncs_before = MetricValue("glfm_sqlite_fsync_seconds_count");
    double writes_before = MetricValue("glfm_sqlite_fsync_writes_sum");
    ASSERT_GE(fsyncs_before, 0);
    std::vector<std::thread> writers;
    std::atomic<int> failed{0};
    for (int w = 0; w < 8; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < 25; ++i) {
          std::string id = "gs-" + std::to_string(w) + "-" + std::to_string(i);
          if (!(*store)->UpsertInstance(Instance(id, i), Timestamp(std::chrono::seconds(1))).ok()) {
            failed++;
          }
        }
      });
    }
    for (auto& t : writers) t.join();
    ASSERT_EQ(failed.load(), 0);
    double fsyncs = MetricValue("glfm_sqlite_fsync_seconds_count") - fsyncs_before;
    EXPECT_EQ(MetricValue("glfm_sqlite_fsync_writes_sum") - writes_before, 200);
    // One observation of each per fsync.
    EXPECT_EQ(MetricValue("glfm_sqlite_fsync_writes_count"),
              MetricValue("glfm_sqlite_fsync_seconds_count"));
    EXPECT_GE(fsyncs, 1);
    EXPECT_LE(fsyncs, 200);
  }
  SqliteOptions o;
  o.path = dir_.path() + "/normal.db";
  o.synchronous = SqliteOptions::Synchronous::kNormal;
  auto store = OpenSqliteStore(o);
  ASSERT_OK(store);
  double fsyncs_before = MetricValue("glfm_sqlite_fsync_seconds_count");
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK((*store)->UpsertInstance(Instance("gs-n" + std::to_string(i)),
                                       Timestamp(std::chrono::seconds(1))));
  }
  EXPECT_EQ(MetricValue("glfm_sqlite_fsync_seconds_count"), fsyncs_before);
}

// Rounds of asynchronous writes alone are completed on the syncer's thread, rounds with
// blocked callers on the completer's (SqliteStore::SyncBatches): with both kinds of caller
// at once, an asynchronous writer's callbacks still come in the order it queued its writes,
// and the change feed still reports them in that order.
TEST_F(SqliteStoreTest, AsyncCompletionsKeepTheirOrderBesideBlockedWriters) {
  SqliteOptions o;
  o.path = dir_.path() + "/order.db";
  auto store = OpenSqliteStore(o);
  ASSERT_OK(store);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> completed;  // guarded by mu
  std::vector<int> published;  // guarded by mu
  auto sub = (*store)->Subscribe([&](const ChangeEvent& e) {
    if (e.kind != ChangeEvent::Kind::kInstanceUpserted || e.id.rfind("a-", 0) != 0) return;
    std::lock_guard lock(mu);
    published.push_back(std::stoi(e.id.substr(2)));
    cv.notify_all();
  });
  ASSERT_OK(sub);
  constexpr int kAsync = 3000;
  std::atomic<bool> stop{false};
  std::atomic<int> blocked_writes{0};
  std::vector<std::thread> blocked;
  for (int w = 0; w < 4; ++w) {
    blocked.emplace_back([&, w] {
      for (int i = 0; !stop.load(); ++i) {
        std::string id = "b-" + std::to_string(w) + "-" + std::to_string(i % 50);
        if ((*store)
                ->UpsertInstance(Instance(id, i % 10), Timestamp(std::chrono::seconds(1)))
                .ok()) {
          blocked_writes++;
        }
      }
    });
  }
  for (int i = 0; i < kAsync; ++i) {
    (*store)->UpsertInstanceAsync(Instance("a-" + std::to_string(i)),
                                  Timestamp(std::chrono::seconds(1)), [&, i](Status s) {
                                    std::lock_guard lock(mu);
                                    completed.push_back(s.ok() ? i : -1);
                                    cv.notify_all();
                                  });
    if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // rounds
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60),
                            [&] { return completed.size() == static_cast<size_t>(kAsync); }));
  }
  stop = true;
  for (auto& t : blocked) t.join();
  EXPECT_GT(blocked_writes.load(), 0);
  std::vector<int> expected(kAsync);
  std::iota(expected.begin(), expected.end(), 0);
  std::unique_lock lock(mu);
  EXPECT_EQ(completed, expected);
  // The feed delivers on its own thread, after the completions.
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10),
                          [&] { return published.size() >= static_cast<size_t>(kAsync); }));
  EXPECT_EQ(published, expected);
}

TEST_F(SqliteStoreTest, CheckpointsUnderWriteLoadKeepEveryAcknowledgedWrite) {
  // Enough writes for several background checkpoint passes (a pass per 16 MiB of WAL) and
  // the committer's catch-ups while writers and readers go on; then every id holds the last
  // value acknowledged for it and the file passes SQLite's integrity check.
  SqliteOptions o;
  o.path = dir_.path() + "/glfm.db";
  constexpr int kWriters = 8;
  constexpr int kIdsPerWriter = 2500;
  constexpr int kWritesPerWriter = 5000;
  std::vector<std::map<std::string, int>> last(kWriters);
  {
    auto opened = OpenSqliteStore(o);
    ASSERT_OK(opened);
    Store& store = **opened;
    std::atomic<bool> writing{true};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937 rng(w);
        for (int n = 0; n < kWritesPerWriter; ++n) {
          InstanceInfo info = Instance(
              "gs-" + std::to_string(w) + "-" + std::to_string(rng() % kIdsPerWriter), n, 150);
          if (store.UpsertInstance(info, Timestamp(std::chrono::seconds(1))).ok()) {
            last[w][info.id] = n;
          } else {
            ++failures;
          }
        }
      });
    }
    std::thread reader([&] {
      std::mt19937 rng(99);
      while (writing.load()) {
        auto got = store.GetInstance("gs-" + std::to_string(rng() % kWriters) + "-" +
                                     std::to_string(rng() % kIdsPerWriter));
        if (!got.ok() && got.status().code() != StatusCode::kNotFound) {
          ++failures;
        }
      }
    });
    for (auto& t : threads) {
      t.join();
    }
    writing = false;
    reader.join();
    EXPECT_EQ(failures.load(), 0);
  }
  auto reopened = OpenSqliteStore(o);
  ASSERT_OK(reopened);
  size_t checked = 0;
  for (const auto& per_writer : last) {
    for (const auto& [id, count] : per_writer) {
      auto got = (*reopened)->GetInstance(id);
      ASSERT_OK(got);
      EXPECT_EQ(got->info.player_count, count) << id;
      ++checked;
    }
  }
  // 5000 random draws of 2500 ids hit ~86% of them.
  EXPECT_GT(checked, static_cast<size_t>(kWriters * kIdsPerWriter * 8 / 10));
  reopened->reset();
  ExpectIntact(o.path);
}

TEST_F(SqliteStoreTest, TheWalRestartsUnderASteadyInsertLoad) {
  // 64 writers insert new instances, the B-tree's worst case (~7 KB of WAL a row, as every
  // insert lands on its own page and splits it often): ~230 MiB of WAL in all. The WAL must
  // keep restarting from its beginning after each checkpoint (at 16 MiB; ~21 MiB at the
  // restart here) rather than grow; before the committer's catch-up got priority over a new
  // background pass, it grew to ~200 MiB between restarts.
  SqliteOptions o;
  o.path = dir_.path() + "/glfm.db";
  constexpr int kWriters = 64;
  constexpr int kRowsPerWriter = 500;
  auto opened = OpenSqliteStore(o);
  ASSERT_OK(opened);
  Store& store = **opened;
  double pauses_before = MetricValue("glfm_sqlite_checkpoint_pause_seconds_count");
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::atomic<uintmax_t> max_wal{0};
  std::thread watcher([&] {
    while (writing.load()) {
      std::error_code ec;
      uintmax_t size = std::filesystem::file_size(o.path + "-wal", ec);
      if (!ec && size > max_wal.load()) {
        max_wal = size;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int n = 0; n < kRowsPerWriter; ++n) {
        InstanceInfo info = Instance("arn:aws:gamelift:us-east-1::gamesession/fleet-1/gs-" +
                                         std::to_string(w) + "-" + std::to_string(100000 + n),
                                     0, 150);
        if (!store.UpsertInstance(info, Timestamp(std::chrono::seconds(1))).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  writing = false;
  watcher.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LT(max_wal.load(), uintmax_t{80} << 20);
  // What /metrics shows of it: the WAL's size since its last restart, and the catch-ups
  // that restarted it (~230 MiB of WAL at a restart per ~20 MiB: several).
  double wal_bytes = MetricValue("glfm_sqlite_wal_bytes");
  EXPECT_GT(wal_bytes, 0);
  EXPECT_LT(wal_bytes, 80 << 20);
  EXPECT_GE(MetricValue("glfm_sqlite_checkpoint_pause_seconds_count") - pauses_before, 3);
  auto page = store.ScanInstances("", 100000);
  ASSERT_OK(page);
  EXPECT_EQ(page->instances.size(), static_cast<size_t>(kWriters * kRowsPerWriter));
  opened->reset();
}

TEST_F(SqliteStoreTest, AFullDiskFailsWritesUntilThereIsRoomAndLosesNothingAcknowledged) {
  // The files may not grow past 4 MiB (RLIMIT_FSIZE: a write past it fails with EFBIG, as
  // on a full disk with ENOSPC), then the limit is lifted again, without reopening.
  SqliteOptions o;
  o.path = dir_.path() + "/glfm.db";
  auto opened = OpenSqliteStore(o);
  ASSERT_OK(opened);
  Store& store = **opened;
  auto write = [&](int n) {
    return store.UpsertInstance(Instance("gs-" + std::to_string(n), n % 7, 200),
                                Timestamp(std::chrono::seconds(1)));
  };
  std::set<std::string> acknowledged;
  Status first_failure;
  int failures = 0;
  int n = 0;
  {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction old_action {};
    ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
    rlimit old_limit{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    rlimit limit = old_limit;
    limit.rlim_cur = rlim_t{4} << 20;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    for (; n < 20000 && failures < 50; ++n) {
      Status s = write(n);
      if (s.ok()) {
        acknowledged.insert("gs-" + std::to_string(n));
      } else if (failures++ == 0) {
        first_failure = s;
      }
    }
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);
  }
  EXPECT_GT(acknowledged.size(), 100u);
  EXPECT_EQ(failures, 50);
  EXPECT_THAT(first_failure,
              StatusIs(StatusCode::kUnavailable, "sqlite " + o.path + ": commit: disk I/O error"));
  // Room again: writes succeed at once.
  for (int i = 0; i < 100; ++i, ++n) {
    ASSERT_OK(write(n));
    acknowledged.insert("gs-" + std::to_string(n));
  }
  opened->reset();
  auto reopened = OpenSqliteStore(o);
  ASSERT_OK(reopened);
  auto page = (*reopened)->ScanInstances("", 100000);
  ASSERT_OK(page);
  std::set<std::string> stored;
  for (const auto& si : page->instances) stored.insert(si.info.id);
  EXPECT_EQ(stored, acknowledged);  // every acknowledged write, and none of the failed ones
  reopened->reset();
  ExpectIntact(o.path);
}

TEST_F(SqliteStoreTest, AFailedFsyncFailsEveryWriteUntilReopenedAndHealthSaysWhy) {
  // After a failed fsync the kernel may have dropped the pages it could not write: nothing
  // written since can be called durable, so the store refuses every write until reopened,
  // and Health() says why (glfm serve fails /healthz with it). The fsync is made to fail by
  // the test hook: no disk here can be made to.
  std::atomic<bool> fail{false};
  SqliteOptions o;
  o.path = dir_.path() + "/glfm.db";
  o.wal_fdatasync_for_test = [&](int fd) {
    if (fail.load()) {
      errno = EIO;
      return -1;
    }
    return fdatasync(fd);
  };
  auto opened = OpenSqliteStore(o);
  ASSERT_OK(opened);
  Store& store = **opened;
  auto write = [&](const std::string& id) {
    return store.UpsertInstance(Instance(id), Timestamp(std::chrono::seconds(1)));
  };
  ASSERT_OK(write("gs-before"));
  EXPECT_OK(store.Health());
  const std::string why = "sqlite " + o.path +
                          ": fsync of the WAL failed (Input/output error); the write may or may "
                          "not be durable; reopen the store";
  std::mutex lines_mu;
  std::vector<std::string> lines;
  log::SetSinkForTesting([&](std::string_view l) {
    std::lock_guard lock(lines_mu);
    lines.emplace_back(l);
  });
  const double fsyncs_before = MetricValue("glfm_sqlite_fsync_seconds_count");
  const double durable_before = MetricValue("glfm_sqlite_fsync_writes_sum");
  fail = true;
  EXPECT_THAT(write("gs-during"), StatusIs(StatusCode::kUnavailable, why));
  log::SetSinkForTesting(nullptr);
  // The fsync metrics count only fsyncs that made writes durable.
  EXPECT_EQ(MetricValue("glfm_sqlite_fsync_seconds_count"), fsyncs_before);
  EXPECT_EQ(MetricValue("glfm_sqlite_fsync_writes_sum"), durable_before);
  {
    std::lock_guard lock(lines_mu);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_THAT(lines[0], HasSubstr("sqlite: fsync of the WAL failed; every write is refused until "
                                    "the store is reopened"));
    EXPECT_THAT(lines[0], HasSubstr("Input/output error"));
  }
  fail = false;  // the disk works again; the store still cannot vouch for what it wrote
  EXPECT_THAT(write("gs-after"), StatusIs(StatusCode::kUnavailable, why));
  EXPECT_THAT(store.Health(), StatusIs(StatusCode::kUnavailable, why));
  opened->reset();
  o.wal_fdatasync_for_test = nullptr;
  auto reopened = OpenSqliteStore(o);
  ASSERT_OK(reopened);
  EXPECT_OK((*reopened)->Health());
  EXPECT_OK((*reopened)->GetInstance("gs-before"));
  // Refused without being committed: not there after reopening.
  EXPECT_THAT((*reopened)->GetInstance("gs-after"),
              StatusIs(StatusCode::kNotFound, HasSubstr("gs-after")));
  InstanceInfo info;
  info.id = "gs-reopened";
  EXPECT_OK((*reopened)->UpsertInstance(info, Timestamp(std::chrono::seconds(2))));
  reopened->reset();
}

TEST_F(SqliteStoreTest, DocumentsFromSchema4KeepTheirIdAndNewOnesLeaveItOut) {
  // Schema 5: an instance's document no longer repeats its id (the row's key); those written
  // before stay as they are and read the same.
  SqliteOptions o;
  o.path = dir_.path() + "/glfm.db";
  InstanceInfo a = Instance("arn:aws:gamelift:us-east-1::gamesession/fleet-1/gs-a", 3);
  InstanceInfo b = a;
  b.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-1/gs-b";
  {
    SqliteOptions v4 = o;
    v4.target_schema_version = 4;
    auto store = OpenSqliteStore(v4);
    ASSERT_OK(store);
    ASSERT_OK((*store)->UpsertInstance(a, Timestamp(std::chrono::seconds(1))));
  }
  {
    auto store = OpenSqliteStore(o);
    ASSERT_OK(store);
    ASSERT_OK((*store)->UpsertInstance(b, Timestamp(std::chrono::seconds(2))));
    auto page = (*store)->ScanInstances("", 10);
    ASSERT_OK(page);
    ASSERT_EQ(page->instances.size(), 2u);
    EXPECT_EQ(page->instances[0].info, a);
    EXPECT_EQ(page->instances[1].info, b);
    auto got = (*store)->GetInstance(b.id);
    ASSERT_OK(got);
    EXPECT_EQ(got->info, b);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(internal::QuerySql(db, "PRAGMA user_version"), "5");
  EXPECT_EQ(internal::QuerySql(
                db, "SELECT instr(doc, '\"id\"') > 0 FROM instances WHERE id = '" + a.id + "'"),
            "1");
  EXPECT_EQ(internal::QuerySql(
                db, "SELECT instr(doc, '\"id\"') > 0 FROM instances WHERE id = '" + b.id + "'"),
            "0");
  sqlite3_close(db);
}

}  // namespace
}  // namespace glfm::store
