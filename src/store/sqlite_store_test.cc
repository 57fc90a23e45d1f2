// The conformance suite on SQLite (synchronous FULL and NORMAL), and SQLite-only behaviour.
#include "store/sqlite_store.h"

#include <gmock/gmock.h>

#include "store/store_conformance.h"
#include "testing/status_matchers.h"

namespace glfm::store {
namespace {

using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(SqliteBackendFactory(true), SqliteBackendFactory(false)),
                         BackendName);

TEST(SqliteStoreTest, AnUnopenablePathIsUnavailableNamingThePath) {
  SqliteOptions o;
  o.path = "/nonexistent-dir-glfm/sub/glfm.db";
  EXPECT_THAT(OpenSqliteStore(o),
              StatusIs(StatusCode::kUnavailable, HasSubstr("sqlite /nonexistent-dir-glfm/sub/glfm.db")));
}

TEST(SqliteStoreTest, BadOptionsAreInvalidArgument) {
  SqliteOptions o;
  EXPECT_THAT(OpenSqliteStore(o),
              StatusIs(StatusCode::kInvalidArgument, "sqlite path must not be empty"));
  o.path = "/tmp/x.db";
  o.max_batch_ops = 0;
  EXPECT_THAT(OpenSqliteStore(o),
              StatusIs(StatusCode::kInvalidArgument, "sqlite max_batch_ops must be at least 1"));
}

TEST(SqliteStoreTest, AFileThatIsNotADatabaseIsRefused) {
  char tmpl[] = "/tmp/glfm-notdb-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/glfm.db";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an sqlite file, it is just some text long enough to be a header....",
             f);
  std::fclose(f);
  SqliteOptions o;
  o.path = path;
  EXPECT_THAT(OpenSqliteStore(o), StatusIs(StatusCode::kFailedPrecondition, HasSubstr(path)));
  std::remove(path.c_str());
  rmdir(tmpl);
}

}  // namespace
}  // namespace glfm::store
