// Tests of the page cache that skips empty truncates: transactions that split pages end
// without passing a truncate on, and a truncate that has pages to discard (a rolled-back
// transaction that grew the file) still discards them, leaving a sound database.
#include "store/sqlite_page_cache.h"

#include <gmock/gmock.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <string>

#include "store/sqlite_test_helpers.h"
#include "testing/temp_dir.h"

namespace glfm::store::internal {
namespace {

class SqlitePageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Other tests of this process may have initialized SQLite with its own cache.
    ASSERT_EQ(sqlite3_shutdown(), SQLITE_OK);
    ASSERT_TRUE(InstallPageCache());
    path_ = dir_.path() + "/t.db";
    db_ = Open();
    ExecSql(db_, "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL) WITHOUT ROWID;");
  }

  void TearDown() override { sqlite3_close_v2(db_); }

  // As the store's writer: 2 KiB pages, WAL, a large cache.
  sqlite3* Open() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ExecSql(db, "PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;");
    return db;
  }

  // Inserts `n` rows at random places in the key order ("<prefix><random>"), ~330 bytes
  // each as an instance row, in transactions of `per_txn`.
  void InsertRandom(const std::string& prefix, int n, int per_txn, uint32_t seed) {
    std::mt19937 rng(seed);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db_, "INSERT INTO t(id, v) VALUES(?1, ?2)", -1, &s, nullptr),
              SQLITE_OK);
    for (int i = 0; i < n; ++i) {
      if (i % per_txn == 0) {
        ExecSql(db_, "BEGIN");
      }
      std::string id = prefix + std::to_string(rng()) + "-" + std::to_string(i);
      std::string v(270, static_cast<char>('a' + i % 26));
      sqlite3_bind_text(s, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
      sqlite3_reset(s);
      if (i % per_txn == per_txn - 1 || i == n - 1) {
        ExecSql(db_, "COMMIT");
      }
    }
    sqlite3_finalize(s);
  }

  glfm::testing::TempDir dir_{"glfm-page-cache"};
  std::string path_;
  sqlite3* db_ = nullptr;
};

TEST_F(SqlitePageCacheTest, TransactionsThatSplitPagesEndWithoutATruncate) {
  PageCacheCounts before = GetPageCacheCounts();
  // 300 transactions of 20 rows at random places: about 3,000 pages, split all along.
  InsertRandom("gs-", 6000, 20, 1);
  PageCacheCounts after = GetPageCacheCounts();

  EXPECT_GE(after.truncates_skipped - before.truncates_skipped, 300u);
  EXPECT_LE(after.truncates_passed - before.truncates_passed, 10u);
  EXPECT_EQ(QuerySql(db_, "SELECT count(*) FROM t"), "6000");
  EXPECT_EQ(QuerySql(db_, "PRAGMA integrity_check"), "ok");
}

TEST_F(SqlitePageCacheTest, ARolledBackGrowthIsDiscardedFromTheCache) {
  InsertRandom("kept-", 500, 50, 2);
  std::string pages_before = QuerySql(db_, "PRAGMA page_count");

  // One transaction grows the file by ~1,000 pages, then rolls back: the pages it added are
  // beyond the database's end again and must leave the cache.
  PageCacheCounts before = GetPageCacheCounts();
  ExecSql(db_, "BEGIN");
  for (int i = 0; i < 6000; ++i) {
    ExecSql(db_, "INSERT INTO t(id, v) VALUES('gone-" + std::to_string(i) + "', '" +
                     std::string(270, 'x') + "')");
  }
  ExecSql(db_, "ROLLBACK");
  EXPECT_GE(GetPageCacheCounts().truncates_passed - before.truncates_passed, 1u);
  EXPECT_EQ(QuerySql(db_, "PRAGMA page_count"), pages_before);

  // The same page numbers are allocated again, for other rows.
  InsertRandom("new-", 3000, 100, 3);
  EXPECT_EQ(QuerySql(db_, "SELECT count(*) FROM t WHERE id LIKE 'gone-%'"), "0");
  EXPECT_EQ(QuerySql(db_, "SELECT count(*) FROM t"), "3500");
  EXPECT_EQ(QuerySql(db_, "SELECT count(*) FROM t WHERE length(v) = 270"), "3500");
  EXPECT_EQ(QuerySql(db_, "PRAGMA integrity_check"), "ok");

  // And a new connection reads the same from the file.
  sqlite3* other = Open();
  EXPECT_EQ(QuerySql(other, "SELECT count(*) FROM t"), "3500");
  EXPECT_EQ(QuerySql(other, "PRAGMA integrity_check"), "ok");
  sqlite3_close_v2(other);
}

}  // namespace
}  // namespace glfm::store::internal
