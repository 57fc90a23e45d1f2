// The SQLite store backend: the default, one file owned by one glfm process.
//
// The file runs in WAL mode with a busy timeout. Writes go through a commit pipeline that
// batches the writes of concurrent callers into one transaction (group commit) and
// acknowledges each caller only after its batch is durable: a committer thread runs the
// transactions (its connection writes the WAL in a few large writes, sqlite_wal_vfs.h); with
// synchronous FULL a syncer thread fdatasyncs the WAL once for every batch committed since
// its last fsync; a completer thread publishes the change events and wakes the callers.
// Readers use their own connections and never wait for the committer; they may see a
// commit shortly before it is durable (before its writer returns). WAL checkpoints run on a
// background thread. The schema is versioned (PRAGMA user_version) and migrated forward on
// open. The change feed is in-process only.
//
// Thread-safety: see store.h (any thread; the Store is internally synchronised).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "glfm/status.h"
#include "store/store.h"

namespace glfm::store {

struct SqliteOptions {
  // The database file; created (with its schema) when missing. Required.
  std::string path;

  enum class Synchronous {
    // Every commit is fsynced before its writers are acknowledged: an acknowledged write
    // survives a power loss. Default.
    kFull,
    // Commits are not fsynced one by one (only at WAL checkpoints): an acknowledged write
    // survives a process crash, not a power loss.
    kNormal,
  };
  Synchronous synchronous = Synchronous::kFull;

  // How long a statement waits for a lock another connection holds. Default 5 s.
  std::chrono::milliseconds busy_timeout{5000};

  // Most writes committed in one transaction by the group committer. Default 1024.
  int max_batch_ops = 1024;

  // Migrate only up to this version (tests of the upgrade path). Default: the newest.
  int target_schema_version = kSchemaVersion;

  // Tests only: called instead of fdatasync(2) when the WAL is synced before its writers are
  // acknowledged (kFull), to make that fsync fail (returning -1 with errno set), which no
  // real disk here can be made to do. Default (empty): fdatasync.
  std::function<int(int fd)> wal_fdatasync_for_test;
};

// Opens (creating when missing) the SQLite store at `options.path` and migrates its schema.
// Errors: invalid-argument for an empty path or bad option; unavailable naming the path when
// the file cannot be opened; failed-precondition naming both versions when the file's schema
// is newer than this binary's; internal for other SQLite errors.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace glfm::store
