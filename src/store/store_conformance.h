// The store conformance suite: one set of tests that every Store backend must pass.
//
// A backend test binary instantiates it with a factory for its backend:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(SqliteBackendFactory()), BackendName);
//
// Thread-safety: test code; one test at a time.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "glfm/status.h"
#include "store/store.h"

namespace glfm::store {

// One database of one backend, fresh for each test, that can be opened several times.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens the database, migrating up to `target_schema_version`.
  virtual Result<std::unique_ptr<Store>> Open(int target_schema_version = kSchemaVersion) = 0;
  // Stamps the database with schema version `version`, as a newer glfm would.
  virtual Status SetSchemaVersion(int version) = 0;
  // Returns true when two stores opened on this database hear each other's changes.
  virtual bool SharedFeed() const = 0;
};

struct BackendFactory {
  std::string name;
  // Creates a fresh backend; may fail (a PostgreSQL server that cannot start).
  std::function<Result<std::unique_ptr<StoreBackend>>()> make;
  // The backend needs PostgreSQL: failing to start it is skipped only under
  // GLFM_SKIP_POSTGRES=1.
  bool needs_postgres = false;
};

inline void PrintTo(const BackendFactory& factory, std::ostream* os) { *os << factory.name; }

inline std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

// Factories for the two backends (store_test_backends.cc).
BackendFactory SqliteBackendFactory(bool synchronous_full = true);
BackendFactory PostgresBackendFactory();

class StoreConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  // Opens the test's database (ASSERT on failure in the caller).
  Result<std::unique_ptr<Store>> Open(int version = kSchemaVersion) {
    return backend_->Open(version);
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

}  // namespace glfm::store
