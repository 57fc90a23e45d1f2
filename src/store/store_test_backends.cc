// The conformance suite's backends: a SQLite file in a per-test temp dir, and a fresh
// database on the throw-away PostgreSQL server the harness starts (testing/postgres.h).
#include <sqlite3.h>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store_conformance.h"
#include "testing/postgres.h"
#include "testing/temp_dir.h"

namespace glfm::store {
namespace {

class SqliteBackend : public StoreBackend {
 public:
  explicit SqliteBackend(bool full) : full_(full), path_(dir_.path() + "/glfm.db") {}

  Result<std::unique_ptr<Store>> Open(int target_schema_version) override {
    SqliteOptions o;
    o.path = path_;
    o.synchronous = full_ ? SqliteOptions::Synchronous::kFull : SqliteOptions::Synchronous::kNormal;
    o.target_schema_version = target_schema_version;
    return OpenSqliteStore(o);
  }

  Status SetSchemaVersion(int version) override {
    sqlite3* db = nullptr;
    int rc = sqlite3_open(path_.c_str(), &db);
    if (rc == SQLITE_OK) {
      std::string sql = "PRAGMA user_version=" + std::to_string(version);
      rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    }
    sqlite3_close(db);
    return rc == SQLITE_OK ? OkStatus() : InternalError("cannot set user_version");
  }

  bool SharedFeed() const override { return false; }

 private:
  bool full_;
  glfm::testing::TempDir dir_{"glfm-store"};
  std::string path_;
};

class PostgresBackend : public StoreBackend {
 public:
  PostgresBackend(testing::PostgresServer* server, std::string conninfo)
      : server_(server), conninfo_(std::move(conninfo)) {
    dbname_ = conninfo_.substr(conninfo_.find("dbname=") + 7);
    dbname_ = dbname_.substr(0, dbname_.find(' '));
  }

  Result<std::unique_ptr<Store>> Open(int target_schema_version) override {
    PostgresOptions o;
    o.conninfo = conninfo_;
    o.target_schema_version = target_schema_version;
    o.commit_connections = 2;
    o.read_connections = 2;
    return OpenPostgresStore(o);
  }

  Status SetSchemaVersion(int version) override {
    return server_->Exec(
        "INSERT INTO glfm_schema_migrations (version) VALUES (" + std::to_string(version) + ")",
        dbname_);
  }

  bool SharedFeed() const override { return true; }

 private:
  testing::PostgresServer* server_;
  std::string conninfo_;
  std::string dbname_;
};

}  // namespace

BackendFactory SqliteBackendFactory(bool synchronous_full) {
  return {synchronous_full ? "sqlite" : "sqlite_normal",
          [synchronous_full]() -> Result<std::unique_ptr<StoreBackend>> {
            return std::unique_ptr<StoreBackend>(new SqliteBackend(synchronous_full));
          },
          false};
}

BackendFactory PostgresBackendFactory() {
  return {"postgres",
          []() -> Result<std::unique_ptr<StoreBackend>> {
            GLFM_ASSIGN_OR_RETURN(testing::PostgresServer * server, testing::SharedPostgres());
            GLFM_ASSIGN_OR_RETURN(std::string conninfo, server->CreateDatabase());
            return std::unique_ptr<StoreBackend>(new PostgresBackend(server, conninfo));
          },
          true};
}

void StoreConformanceTest::SetUp() {
  auto backend = GetParam().make();
  if (!backend.ok()) {
    if (GetParam().needs_postgres && testing::PostgresSkipRequested()) {
      GTEST_SKIP() << "GLFM_SKIP_POSTGRES=1: " << backend.status().ToString();
    }
    FAIL() << "cannot start the " << GetParam().name << " backend: " << backend.status().ToString();
  }
  backend_ = std::move(*backend);
  auto store = backend_->Open();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(*store);
}

}  // namespace glfm::store
