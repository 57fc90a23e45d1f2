// Helpers for the tests that drive SQLite connections directly.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace glfm::store::internal {

// Runs `sql` (one or more statements) on `db`; a failure fails the test, naming the SQL.
inline void ExecSql(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err != nullptr ? err : "");
  sqlite3_free(err);
}

// Returns the first column of the first row of `sql` as text ("" when there is no row).
inline std::string QuerySql(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const unsigned char* v = sqlite3_column_text(s, 0);
    out = v != nullptr ? reinterpret_cast<const char*>(v) : "";
  }
  sqlite3_finalize(s);
  return out;
}

}  // namespace glfm::store::internal
