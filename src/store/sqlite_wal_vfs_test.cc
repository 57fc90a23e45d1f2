// Tests of the batched-WAL VFS: a connection writing through it and another reading through
// the default VFS see the same database after every commit, whatever SQLite does in between
// (large transactions, cache spills, rollbacks, checkpoints and WAL restarts).
#include "store/sqlite_wal_vfs.h"

#include <gmock/gmock.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "store/sqlite_test_helpers.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace glfm::store::internal {
namespace {

class SqliteWalVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/t.db";
    auto vfs = BatchedWalVfsName();
    ASSERT_OK(vfs);
    ASSERT_EQ(
        sqlite3_open_v2(path_.c_str(), &writer_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, *vfs),
        SQLITE_OK);
    // A small page cache, so that big transactions spill frames to the WAL before COMMIT.
    ExecSql(writer_,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=20;"
            "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=65536;"
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);");
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &reader_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  }

  void TearDown() override {
    sqlite3_close_v2(reader_);
    sqlite3_close_v2(writer_);
  }

  // Inserts rows [from, to) with 500-byte values in one transaction.
  void InsertRange(int from, int to, bool commit = true) {
    DeferWalSyncScope defer;
    ExecSql(writer_, "BEGIN IMMEDIATE");
    for (int i = from; i < to; ++i) {
      ExecSql(writer_, "INSERT INTO t VALUES (" + std::to_string(i) + ", printf('%.500c', 'x'))");
    }
    ExecSql(writer_, commit ? "COMMIT" : "ROLLBACK");
  }

  glfm::testing::TempDir dir_{"glfm-wal-vfs"};
  std::string path_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
};

TEST_F(SqliteWalVfsTest, ReaderSeesEveryCommitAtOnce) {
  int next = 0;
  for (int round = 0; round < 50; ++round) {
    int rows = round % 10 == 9 ? 20000 : 1 + round;  // some 10 MB transactions: spills, flushes
    InsertRange(next, next + rows);
    next += rows;
    EXPECT_EQ(QuerySql(reader_, "SELECT count(*) FROM t"), std::to_string(next)) << round;
    EXPECT_EQ(QuerySql(reader_, "SELECT length(v) FROM t WHERE id = " + std::to_string(next - 1)),
              "500");
    if (round % 7 == 6) {
      // A checkpoint outside the scope (real syncs); the next transaction restarts the WAL.
      ASSERT_EQ(
          sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr),
          SQLITE_OK);
    }
  }
  EXPECT_EQ(QuerySql(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteWalVfsTest, RolledBackSpillLeavesNothingBehind) {
  InsertRange(0, 10);
  InsertRange(10, 20010, /*commit=*/false);  // spills frames, then rolls back
  InsertRange(10, 15);
  EXPECT_EQ(QuerySql(reader_, "SELECT count(*) FROM t"), "15");
  EXPECT_EQ(QuerySql(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteWalVfsTest, TheFilesHoldEveryCommitWhenItReturns) {
  // What a process crash leaves: the files as they are when COMMIT returns (the fsync is
  // the caller's business). A copy opened afresh recovers every committed row.
  int next = 0;
  for (int round = 0; round < 6; ++round) {
    int rows = round == 3 ? 20000 : 100;
    InsertRange(next, next + rows);
    next += rows;
    InsertRange(next, next + 5000, /*commit=*/false);
    std::string copy = dir_.path() + "/copy" + std::to_string(round) + ".db";
    std::filesystem::copy_file(path_, copy);
    std::filesystem::copy_file(path_ + "-wal", copy + "-wal");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(copy.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    EXPECT_EQ(QuerySql(db, "SELECT count(*) FROM t"), std::to_string(next)) << round;
    EXPECT_EQ(QuerySql(db, "PRAGMA integrity_check"), "ok");
    sqlite3_close_v2(db);
  }
}

TEST_F(SqliteWalVfsTest, ACheckpointInTheScopeCopiesTheLastVersionOfEveryPage) {
  // A checkpoint inside a CheckpointIoScope reads the WAL through its own mapping. Rows
  // rewritten in many transactions leave many versions of their pages in the WAL: the
  // database file must end up with the last one of each, across WAL restarts.
  InsertRange(0, 2000);
  sqlite3* checkpointer = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(path_.c_str(), &checkpointer, SQLITE_OPEN_READWRITE, *BatchedWalVfsName()),
      SQLITE_OK);
  ASSERT_EQ(QuerySql(checkpointer, "PRAGMA journal_mode"), "wal");  // opens the files
  std::map<int, std::string> want;
  std::mt19937 rng(7);
  for (int pass = 0; pass < 3; ++pass) {
    for (int round = 0; round < 40; ++round) {
      DeferWalSyncScope defer;
      ExecSql(writer_, "BEGIN IMMEDIATE");
      for (int k = 0; k < 25; ++k) {
        int id = static_cast<int>(rng() % 2000);
        char v[32];
        std::snprintf(v, sizeof v, "p%dr%dk%d", pass, round, k);
        ExecSql(writer_,
                std::string("UPDATE t SET v = '") + v + "' WHERE id = " + std::to_string(id));
        want[id] = v;
      }
      ExecSql(writer_, "COMMIT");
    }
    {
      CheckpointIoScope scope;
      int log = -1;
      int copied = -1;
      ASSERT_EQ(sqlite3_wal_checkpoint_v2(checkpointer, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log,
                                          &copied),
                SQLITE_OK)
          << sqlite3_errmsg(checkpointer);
      EXPECT_GT(log, 500) << pass;
      EXPECT_EQ(copied, log) << pass;
    }
    // Nothing is left to copy: this only empties the WAL, so the reads below see the file.
    ASSERT_EQ(sqlite3_wal_checkpoint_v2(checkpointer, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                                        nullptr),
              SQLITE_OK);
    ASSERT_EQ(std::filesystem::file_size(path_ + "-wal"), 0u) << pass;  // all in the database
    for (const auto& [id, v] : want) {
      ASSERT_EQ(QuerySql(reader_, "SELECT v FROM t WHERE id = " + std::to_string(id)), v)
          << "pass " << pass << " id " << id;
    }
  }
  EXPECT_EQ(QuerySql(reader_, "PRAGMA integrity_check"), "ok");
  sqlite3_close_v2(checkpointer);
}

}  // namespace
}  // namespace glfm::store::internal
