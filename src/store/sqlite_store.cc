#include "store/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "store/sqlite_page_cache.h"
#include "store/sqlite_wal_vfs.h"
#include "store/store_internal.h"

namespace glfm::store {
namespace {

using internal::WriteOp;
using internal::WriteRequest;

// Versioned migrations: kMigrations[i] takes the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 1: instances, keyed and scanned by id.
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  update_time INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    // 2: placements and the indexes their listings use.
    "CREATE TABLE placements ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  owner_node TEXT NOT NULL,"
    "  deadline INTEGER NOT NULL,"
    "  request TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  outcome TEXT,"
    "  outcome_time INTEGER,"
    "  delivered INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX placements_pending_owner ON placements(owner_node, deadline)"
    "  WHERE outcome IS NULL;"
    "CREATE INDEX placements_pending_deadline ON placements(deadline) WHERE outcome IS NULL;"
    "CREATE INDEX placements_undelivered ON placements(owner_node, outcome_time)"
    "  WHERE outcome IS NOT NULL AND delivered = 0;",
    // 3: the webhook outbox of glfm serve, listed by owner.
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  owner_node TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  expire_time INTEGER NOT NULL,"
    "  next_attempt INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;"
    "CREATE INDEX webhooks_owner ON webhooks(owner_node, id);",
    // 4: placements by age, for deleting those delivered long ago (fleet.placement_retention).
    "CREATE INDEX placements_create_time ON placements(create_time);",
    // 5: the tables stay; instance documents written from now on leave out the id (the
    // row's key). A binary before 5 would read such a document without its id, so it must
    // refuse the file: the version says so.
    "SELECT 1;",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// The page size of a new database file (an existing file keeps its own). Every page a
// transaction changes goes to the WAL whole, and an update changes one or two pages at
// random places: smaller pages mean fewer bytes to fsync per row. In the id-keyed
// (WITHOUT ROWID) instances table a 2 KiB page keeps up to ~490 bytes of a row in the page
// (the rest goes to an overflow page): a typical instance (~330 bytes with its id) fits.
constexpr int kPageSize = 2048;
// The write connection's page cache: the pages of the rows it updates stay in memory rather
// than being read back from the file (and the WAL) for every update.
constexpr int kWriterCacheKiB = 64 * 1024;
// Readers map the database file (up to this much, and at most SQLite's compile-time limit,
// 2 GiB in Debian's build) instead of reading it a 2 KiB page per system call: loading 1M
// instances at start-up (bench_store's store_sqlite_load_1000000_s) went from 2.51 to 2.21 s
// (medians of five alternating pairs), with ~13% less CPU. Only the database file is mapped,
// never the WAL.
constexpr int64_t kReaderMmapBytes = int64_t{8} << 30;
// WAL size that wakes the background checkpointer.
constexpr int64_t kCheckpointBytes = 16 << 20;
// The background checkpointer runs up to this many passes until at most kCatchUpFrames are
// left for the committer's catch-up (CatchUpCheckpoint), a pause of its commits.
constexpr int kMaxCheckpointPasses = 4;
constexpr int kCatchUpFrames = 256;
constexpr int64_t kWalSizeLimitBytes = 64 << 20;

// Longest the committer waits for callers to come back before it commits (ShouldCommit).
constexpr std::chrono::milliseconds kMaxSyncLinger{5};
// While the syncer is busy, the committer is woken for every this many new requests (not for
// each: on a busy core every wake-up is a context switch), and when the syncer is done.
constexpr size_t kApplyBurst = 16;

constexpr char kPlacementColumns[] =
    "id, owner_node, deadline, request, create_time, outcome, outcome_time, delivered";
// Ids per statement of GetPlacements (a receive brings at most 10 events).
constexpr size_t kGetPlacementsChunk = 16;

// The WAL's size since its last restart (after each commit): bounded by the checkpoints,
// ~16-21 MiB under a steady load; a WAL that keeps growing means they cannot keep up.
metrics::Gauge& WalBytesGauge() {
  static metrics::Gauge& g =
      metrics::Registry::Default()
          .AddGauge("glfm_sqlite_wal_bytes", "Bytes in the SQLite WAL since it last restarted.")
          .WithLabels({});
  return g;
}

// Registers a histogram without labels in the default registry.
metrics::Histogram& NewHistogram(std::string_view name, std::string_view help,
                                 std::vector<double> bounds = metrics::LatencyBuckets()) {
  return metrics::Registry::Default()
      .AddHistogram(name, help, {}, std::move(bounds))
      .WithLabels({});
}

// How long the committer pauses to copy the last frames itself so that the WAL restarts.
metrics::Histogram& CatchUpPause() {
  static metrics::Histogram& h = NewHistogram(
      "glfm_sqlite_checkpoint_pause_seconds",
      "Commits paused while the SQLite committer copies the WAL's last frames into the "
      "database so that the WAL restarts.");
  return h;
}

// With synchronous=FULL: how long each fdatasync of the WAL takes (the disk's share of a
// write's latency), and how many writes each acknowledges (the group commit's batching).
metrics::Histogram& WalFsyncSeconds() {
  static metrics::Histogram& h =
      NewHistogram("glfm_sqlite_fsync_seconds",
                   "Duration of each successful fdatasync of the SQLite WAL (synchronous=FULL).");
  return h;
}
metrics::Histogram& WalFsyncWrites() {
  static metrics::Histogram& h =
      NewHistogram("glfm_sqlite_fsync_writes",
                   "Writes made durable by each fdatasync of the SQLite WAL (synchronous=FULL).",
                   {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  return h;
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

std::string_view ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string_view()
                      : std::string_view(reinterpret_cast<const char*>(p),
                                         static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

void BindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

// Resets a statement when it goes out of scope, so that bound views never dangle.
class Resetter {
 public:
  explicit Resetter(sqlite3_stmt* s) : s_(s) {}
  ~Resetter() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

PlacementRecord ReadPlacement(sqlite3_stmt* s) {
  PlacementRecord p;
  p.placement_id = std::string(ColumnText(s, 0));
  p.owner_node = std::string(ColumnText(s, 1));
  p.deadline = internal::FromNanos(sqlite3_column_int64(s, 2));
  p.request_json = std::string(ColumnText(s, 3));
  p.create_time = internal::FromNanos(sqlite3_column_int64(s, 4));
  if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
    p.outcome_json = std::string(ColumnText(s, 5));
    p.outcome_time = internal::FromNanos(sqlite3_column_int64(s, 6));
  }
  p.delivered = sqlite3_column_int(s, 7) != 0;
  return p;
}

class SqliteStore final : public internal::QueuedWriteStore {
 public:
  // From schema 5 on, an instance's document leaves out its id, the row's key: ~70 of ~400
  // bytes, so that more rows fit a 2 KiB page (fewer splits when new ones arrive).
  explicit SqliteStore(SqliteOptions options)
      : QueuedWriteStore(/*docs_with_id=*/options.target_schema_version < 5),
        options_(std::move(options)),
        queue_(static_cast<size_t>(options_.max_batch_ops)) {}

  ~SqliteStore() override {
    queue_.Stop();
    if (committer_.joinable()) {
      committer_.join();
    }
    syncer_.reset();  // drains into the completer
    completer_.reset();
    if (wal_fd_ >= 0) {
      close(wal_fd_);
    }
    {
      std::lock_guard lock(checkpoint_mu_);
      checkpoint_stop_ = true;
      checkpoint_cv_.notify_all();
    }
    if (checkpointer_.joinable()) {
      checkpointer_.join();
    }
    if (db_fd_ >= 0) {
      close(db_fd_);
    }
    checkpoint_db_.reset();
    write_stmts_ = {};
    readers_.clear();
  }

  Status Open() {
    const bool full = options_.synchronous == SqliteOptions::Synchronous::kFull;
    // The writer goes through the batched-WAL VFS (sqlite_wal_vfs.h) with synchronous=FULL,
    // so that each COMMIT writes its frames out in a few large writes, but it does not wait
    // for the fsync: with kFull the syncer thread fsyncs the WAL before anyone is
    // acknowledged (see CommitLoop), while the committer builds the next batch.
    // Before the VFS registration, which initializes SQLite (sqlite_page_cache.h).
    internal::InstallPageCache();
    GLFM_ASSIGN_OR_RETURN(const char* vfs, internal::BatchedWalVfsName());
    GLFM_ASSIGN_OR_RETURN(writer_, OpenConnection(SqliteOptions::Synchronous::kFull, vfs));
    GLFM_RETURN_IF_ERROR(Exec(writer_.get(),
                              ("PRAGMA cache_size=-" + std::to_string(kWriterCacheKiB)).c_str(),
                              "set the cache size"));
    GLFM_RETURN_IF_ERROR(Migrate());
    GLFM_RETURN_IF_ERROR(PrepareWriteStatements());
    GLFM_ASSIGN_OR_RETURN(page_size_, PageSize());
    checkpoint_pages_ = static_cast<int>(kCheckpointBytes / page_size_);
    if (full) {
      GLFM_RETURN_IF_ERROR(OpenWalForSync());
    }
    // Checkpoints run on their own connection and thread so that copying WAL pages into the
    // database (and fsyncing it) never stalls a commit; the hook replaces auto-checkpoint.
    // With synchronous=NORMAL or FULL a checkpoint fsyncs the WAL before it copies pages and
    // the database before the WAL may restart.
    GLFM_ASSIGN_OR_RETURN(checkpoint_db_, OpenConnection(options_.synchronous, vfs));
    db_fd_ = open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (db_fd_ < 0) {
      return UnavailableError("sqlite " + options_.path +
                              ": cannot open the database for fsync: " + std::strerror(errno));
    }
    sqlite3_wal_hook(writer_.get(), &SqliteStore::WalHook, this);
    checkpointer_ = std::thread([this] { CheckpointLoop(); });
    completer_ = std::make_unique<internal::BatchStage>(
        "glfm-sq-ack",
        [this](std::vector<internal::BatchStage::Batch>& batches) { CompleteBatches(batches); });
    if (full) {
      syncer_ = std::make_unique<internal::BatchStage>(
          "glfm-sq-sync",
          [this](std::vector<internal::BatchStage::Batch>& batches) { SyncBatches(batches); });
    }
    committer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "glfm-sq-commit");
      CommitLoop();
    });
    // With kFull the committer runs as SCHED_BATCH: a write queued for it wakes it without
    // preempting the thread that queued it, so on a busy core an HTTP I/O thread queues the
    // whole burst it read before the committer takes it, in one go. With the default policy
    // the committer took the first status report of each burst on its own, at the cost of
    // two context switches: `bench_service rpc` (glfm on one core) made 0.37 context switches
    // and 0.045 fsyncs a request, and 0.23 and 0.034 with this. Where a core is free it
    // changes nothing. With kNormal each batch commits at once and callers wait for that
    // commit alone: there the policy made bench_fleet's events -> callbacks slower (three
    // pairs: 19.5-21.8k/s against 22.1-25.2k/s), so the default stays. SCHED_BATCH needs no
    // privilege; if setting it fails, the default stays.
    if (full) {
      sched_param batch{};
      pthread_setschedparam(committer_.native_handle(), SCHED_BATCH, &batch);
    }
    return OkStatus();
  }

  std::string_view backend() const override { return "sqlite"; }

  internal::CommitQueue& write_queue() override { return queue_; }

  Result<StoredInstance> GetInstance(std::string_view id) override {
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    sqlite3_stmt* s = reader->get_instance.get();
    Result<StoredInstance> out = NotFoundError("instance " + std::string(id) + " not found");
    {
      // Reset before the reader goes back to the pool: another thread may take it at once.
      Resetter reset(s);
      BindText(s, 1, id);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) {
        out = internal::DecodeInstance(id, ColumnText(s, 0), sqlite3_column_int64(s, 1));
      } else if (rc != SQLITE_DONE) {
        out = Error(reader->db.get(), "get instance", rc);
      }
    }
    ReleaseReader(std::move(reader));
    return out;
  }

  Result<InstanceDocumentPage> ScanInstanceDocuments(std::string_view after_id,
                                                     int limit) override {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    Result<InstanceDocumentPage> out = ScanDocumentsWith(reader.get(), after_id, limit);
    ReleaseReader(std::move(reader));
    return out;
  }

  Result<PlacementRecord> GetPlacement(std::string_view placement_id) override {
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    sqlite3_stmt* s = reader->get_placement.get();
    Result<PlacementRecord> out =
        NotFoundError("placement " + std::string(placement_id) + " not found");
    {
      // Reset before the reader goes back to the pool: another thread may take it at once.
      Resetter reset(s);
      BindText(s, 1, placement_id);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) {
        out = ReadPlacement(s);
      } else if (rc != SQLITE_DONE) {
        out = Error(reader->db.get(), "get placement", rc);
      }
    }
    ReleaseReader(std::move(reader));
    return out;
  }

  Result<std::vector<Result<PlacementRecord>>> GetPlacements(
      const std::vector<std::string>& placement_ids) override {
    std::vector<Result<PlacementRecord>> out;
    out.reserve(placement_ids.size());
    for (const auto& id : placement_ids) {
      out.push_back(NotFoundError("placement " + id + " not found"));
    }
    if (placement_ids.empty()) {
      return out;
    }
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    sqlite3_stmt* s = reader->get_placements.get();
    Status st;
    // One statement (one read transaction) per kGetPlacementsChunk ids; unused parameters
    // stay NULL, which matches no id.
    for (size_t at = 0; at < placement_ids.size() && st.ok(); at += kGetPlacementsChunk) {
      size_t end = std::min(placement_ids.size(), at + kGetPlacementsChunk);
      Resetter reset(s);
      for (size_t i = at; i < end; ++i) {
        BindText(s, static_cast<int>(i - at + 1), placement_ids[i]);
      }
      int rc;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        std::string_view id = ColumnText(s, 0);
        for (size_t i = at; i < end; ++i) {
          if (placement_ids[i] == id) {
            out[i] = ReadPlacement(s);
          }
        }
      }
      if (rc != SQLITE_DONE) {
        st = Error(reader->db.get(), "get placements", rc);
      }
    }
    ReleaseReader(std::move(reader));
    GLFM_RETURN_IF_ERROR(st);
    return out;
  }

  Result<std::vector<PlacementRecord>> ListPendingPlacementsByOwner(std::string_view owner_node,
                                                                    int limit) override {
    return ListPlacements(&Reader::pending_owner, limit,
                          [&](sqlite3_stmt* s) { BindText(s, 1, owner_node); });
  }

  Result<std::vector<PlacementRecord>> ListPendingPlacementsDueBy(Timestamp t, int limit) override {
    return ListPlacements(&Reader::pending_due, limit,
                          [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 1, internal::ToNanos(t)); });
  }

  Result<std::vector<PlacementRecord>> ListUndeliveredOutcomes(std::string_view owner_node,
                                                               int limit) override {
    return ListPlacements(&Reader::undelivered, limit,
                          [&](sqlite3_stmt* s) { BindText(s, 1, owner_node); });
  }

  Result<std::vector<WebhookRecord>> ListWebhooks(std::string_view owner_node,
                                                  std::string_view after_id, int limit) override {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    sqlite3_stmt* s = reader->list_webhooks.get();
    std::vector<WebhookRecord> out;
    int rc;
    {
      Resetter reset(s);
      BindText(s, 1, owner_node);
      BindText(s, 2, after_id);
      sqlite3_bind_int(s, 3, limit);
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        WebhookRecord w;
        w.id = std::string(ColumnText(s, 0));
        w.owner_node = std::string(ColumnText(s, 1));
        w.url = std::string(ColumnText(s, 2));
        w.body = std::string(ColumnText(s, 3));
        w.create_time = internal::FromNanos(sqlite3_column_int64(s, 4));
        w.expire_time = internal::FromNanos(sqlite3_column_int64(s, 5));
        w.next_attempt = internal::FromNanos(sqlite3_column_int64(s, 6));
        w.attempts = sqlite3_column_int(s, 7);
        w.last_error = std::string(ColumnText(s, 8));
        out.push_back(std::move(w));
      }
    }
    Status st = rc == SQLITE_DONE ? OkStatus() : Error(reader->db.get(), "list webhooks", rc);
    ReleaseReader(std::move(reader));
    GLFM_RETURN_IF_ERROR(st);
    return out;
  }

  Result<std::unique_ptr<Subscription>> Subscribe(ChangeCallback callback,
                                                  ChangeKinds kinds) override {
    return feed_.Subscribe(std::move(callback), kinds);
  }

 private:
  struct Reader {
    Db db;
    Stmt get_instance, scan, get_placement, get_placements, pending_owner, pending_due, undelivered,
        list_webhooks;
  };

  struct WriteStatements {
    Stmt upsert, remove, remove_older, create_placement, record_outcome, placement_exists,
        mark_delivered;
    Stmt enqueue_webhook, reschedule_webhook, delete_webhook;
    Stmt adopt_outcomes, adopt_webhooks, delete_delivered;
  };

  Status Error(sqlite3* db, std::string_view what, int rc) const {
    std::string msg = "sqlite " + options_.path + ": " + std::string(what) + ": " +
                      (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
      case SQLITE_CANTOPEN:
      case SQLITE_IOERR:
        return UnavailableError(std::move(msg));
      case SQLITE_FULL:
        return ResourceExhaustedError(std::move(msg));
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return DataLossError(std::move(msg));
      case SQLITE_READONLY:
      case SQLITE_PERM:
        return FailedPreconditionError(std::move(msg));
      default:
        return InternalError(std::move(msg));
    }
  }

  Status Exec(sqlite3* db, const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      return Error(db, what, rc);
    }
    return OkStatus();
  }

  Result<Stmt> Prepare(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
      return Error(db, "prepare", rc);
    }
    return Stmt(s);
  }

  Result<Db> OpenConnection(SqliteOptions::Synchronous synchronous, const char* vfs = nullptr) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(options_.path.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
    Db db(raw);
    if (rc != SQLITE_OK) {
      return UnavailableError("sqlite " + options_.path + ": cannot open: " +
                              (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_busy_timeout(db.get(), static_cast<int>(options_.busy_timeout.count()));
    // The page size applies only when the file is created (kPageSize).
    std::string pragmas = "PRAGMA page_size=" + std::to_string(kPageSize) +
                          "; PRAGMA journal_mode=WAL; PRAGMA synchronous=";
    pragmas += synchronous == SqliteOptions::Synchronous::kFull ? "FULL" : "NORMAL";
    // After a checkpoint lets the WAL restart, the next commit truncates the file to this, so
    // a burst that grew it does not keep the disk space.
    pragmas += "; PRAGMA foreign_keys=OFF; PRAGMA journal_size_limit=" +
               std::to_string(kWalSizeLimitBytes) + ";";
    rc = sqlite3_exec(db.get(), pragmas.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      Status s = Error(db.get(), "open", rc);
      if (s.code() == StatusCode::kInternal) {
        return s;
      }
      return Status(s.code() == StatusCode::kDataLoss ? StatusCode::kFailedPrecondition
                                                      : StatusCode::kUnavailable,
                    s.message());
    }
    return db;
  }

  Status Migrate() {
    sqlite3* db = writer_.get();
    GLFM_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", "begin migration"));
    Status s = MigrateInTransaction(db);
    if (!s.ok()) {
      Exec(db, "ROLLBACK", "rollback migration").IgnoreError();
      return s;
    }
    return Exec(db, "COMMIT", "commit migration");
  }

  Status MigrateInTransaction(sqlite3* db) {
    GLFM_ASSIGN_OR_RETURN(Stmt version_stmt, Prepare(db, "PRAGMA user_version"));
    int rc = sqlite3_step(version_stmt.get());
    if (rc != SQLITE_ROW) {
      return Error(db, "read schema version", rc);
    }
    int current = sqlite3_column_int(version_stmt.get(), 0);
    version_stmt.reset();
    if (current > kSchemaVersion) {
      return FailedPreconditionError("sqlite " + options_.path + ": database schema version " +
                                     std::to_string(current) +
                                     " is newer than this glfm supports (" +
                                     std::to_string(kSchemaVersion) + "); upgrade glfm");
    }
    int target = std::min(options_.target_schema_version, kSchemaVersion);
    for (int v = current; v < target; ++v) {
      GLFM_RETURN_IF_ERROR(Exec(db, kMigrations[v], "migrate to version " + std::to_string(v + 1)));
      log::Info("store schema migrated",
                {{"backend", "sqlite"}, {"path", options_.path}, {"version", v + 1}});
    }
    if (target > current) {
      std::string sql = "PRAGMA user_version=" + std::to_string(target);
      GLFM_RETURN_IF_ERROR(Exec(db, sql.c_str(), "set schema version"));
    }
    return OkStatus();
  }

  Status PrepareWriteStatements() {
    sqlite3* db = writer_.get();
    GLFM_ASSIGN_OR_RETURN(write_stmts_.upsert,
                          Prepare(db,
                                  "INSERT INTO instances(id, doc, update_time) VALUES(?1, ?2, ?3) "
                                  "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, "
                                  "update_time = excluded.update_time"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.remove, Prepare(db, "DELETE FROM instances WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.remove_older,
                          Prepare(db, "DELETE FROM instances WHERE id = ?1 AND update_time < ?2"));
    if (options_.target_schema_version < 2) {
      return OkStatus();  // an old schema for an upgrade test: instances only
    }
    GLFM_ASSIGN_OR_RETURN(
        write_stmts_.create_placement,
        Prepare(db,
                "INSERT INTO placements(id, owner_node, deadline, request, create_time) "
                "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING"));
    // Not one UPDATE ... RETURNING owner_node: RETURNING gathers its rows in an ephemeral
    // table, whose page cache SQLite builds and tears down at every call (16% of the
    // committer's instructions in bench_fleet, callgrind). The only writer reads (the
    // owner and whether an outcome is there), then updates.
    GLFM_ASSIGN_OR_RETURN(write_stmts_.record_outcome,
                          Prepare(db,
                                  "UPDATE placements SET outcome = ?2, outcome_time = ?3 "
                                  "WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(
        write_stmts_.placement_exists,
        Prepare(db, "SELECT outcome IS NOT NULL, owner_node FROM placements WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.mark_delivered,
                          Prepare(db,
                                  "UPDATE placements SET delivered = 1 "
                                  "WHERE id = ?1 AND outcome IS NOT NULL"));
    // The conditions of placements_undelivered, so that it finds the rows.
    GLFM_ASSIGN_OR_RETURN(write_stmts_.adopt_outcomes,
                          Prepare(db,
                                  "UPDATE placements SET owner_node = ?1 "
                                  "WHERE outcome IS NOT NULL AND delivered = 0 "
                                  "AND outcome_time < ?2 AND owner_node <> ?1"));
    // An outcome is recorded after its placement was created: create_time < ?1 is implied,
    // and lets placements_create_time find the candidates (oldest first).
    GLFM_ASSIGN_OR_RETURN(write_stmts_.delete_delivered,
                          Prepare(db,
                                  "DELETE FROM placements WHERE rowid IN (SELECT rowid FROM "
                                  "placements WHERE create_time < ?1 AND outcome_time < ?1 "
                                  "AND delivered = 1 ORDER BY create_time LIMIT ?2)"));
    if (options_.target_schema_version < 3) {
      return OkStatus();  // an old schema for an upgrade test: no outbox
    }
    GLFM_ASSIGN_OR_RETURN(
        write_stmts_.enqueue_webhook,
        Prepare(db,
                "INSERT INTO webhooks(id, owner_node, url, body, create_time, expire_time, "
                "next_attempt, attempts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                "ON CONFLICT(id) DO NOTHING"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.reschedule_webhook,
                          Prepare(db,
                                  "UPDATE webhooks SET attempts = ?2, next_attempt = ?3, "
                                  "last_error = ?4 WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.delete_webhook,
                          Prepare(db, "DELETE FROM webhooks WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(write_stmts_.adopt_webhooks,
                          Prepare(db,
                                  "UPDATE webhooks SET owner_node = ?1 "
                                  "WHERE next_attempt < ?2 AND owner_node <> ?1"));
    return OkStatus();
  }

  // Returns the database's page size (set when the file was created).
  Result<int> PageSize() {
    GLFM_ASSIGN_OR_RETURN(Stmt s, Prepare(writer_.get(), "PRAGMA page_size"));
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) {
      return Error(writer_.get(), "read page size", rc);
    }
    return std::max(512, sqlite3_column_int(s.get(), 0));
  }

  // Returns -1 when placement `id` is not stored, 1 when it has an outcome, else 0; sets
  // `owner` (when given) to its owner node.
  Result<int> PlacementState(const std::string& id, std::string* owner = nullptr) {
    sqlite3_stmt* s = write_stmts_.placement_exists.get();
    Resetter reset(s);
    BindText(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      return -1;
    }
    if (rc != SQLITE_ROW) {
      return Error(writer_.get(), "read placement", rc);
    }
    if (owner != nullptr) {
      *owner = std::string(ColumnText(s, 1));
    }
    return sqlite3_column_int(s, 0);
  }

  // Steps write statement `s` to its end; returns how many rows it changed. Errors: as
  // Error, naming `what`.
  Result<int> StepWrite(sqlite3_stmt* s, const char* what) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
      return Error(writer_.get(), what, rc);
    }
    return sqlite3_changes(writer_.get());
  }

  // Upserts one instance document inside the open transaction.
  Status Upsert(std::string_view id, std::string_view doc, int64_t update_time_ns) {
    sqlite3_stmt* s = write_stmts_.upsert.get();
    Resetter reset(s);
    BindText(s, 1, id);
    BindText(s, 2, doc);
    sqlite3_bind_int64(s, 3, update_time_ns);
    return StepWrite(s, "upsert instance").status();
  }

  // Runs one op inside the open transaction. Logical outcomes go to op.status; the returned
  // status is a database failure that aborts the transaction.
  Status ExecOp(WriteOp& op) {
    op.ResetResult();
    switch (op.kind) {
      case WriteOp::Kind::kUpsert:
        return Upsert(op.id, op.text, op.time_ns);
      case WriteOp::Kind::kDelete: {
        sqlite3_stmt* s = (op.only_older ? write_stmts_.remove_older : write_stmts_.remove).get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        if (op.only_older) sqlite3_bind_int64(s, 2, op.time_ns);
        GLFM_ASSIGN_OR_RETURN(int deleted, StepWrite(s, "delete instance"));
        op.flag = deleted > 0;
        return OkStatus();
      }
      case WriteOp::Kind::kCreatePlacement: {
        sqlite3_stmt* s = write_stmts_.create_placement.get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        BindText(s, 2, op.owner_node);
        sqlite3_bind_int64(s, 3, op.deadline_ns);
        BindText(s, 4, op.text);
        sqlite3_bind_int64(s, 5, op.time_ns);
        GLFM_ASSIGN_OR_RETURN(int created, StepWrite(s, "create placement"));
        if (created == 0) {
          op.status = AlreadyExistsError("placement " + op.id + " already exists");
        }
        return OkStatus();
      }
      case WriteOp::Kind::kRecordOutcome: {
        std::string owner;
        GLFM_ASSIGN_OR_RETURN(int state, PlacementState(op.id, &owner));
        if (state != 0) {
          if (state < 0) {
            op.status = NotFoundError("placement " + op.id + " not found");
          }
          return OkStatus();  // the first outcome stays
        }
        {
          sqlite3_stmt* s = write_stmts_.record_outcome.get();
          Resetter reset(s);
          BindText(s, 1, op.id);
          BindText(s, 2, op.text);
          sqlite3_bind_int64(s, 3, op.time_ns);
          GLFM_RETURN_IF_ERROR(StepWrite(s, "record placement outcome").status());
        }
        op.flag = true;
        op.result_owner = std::move(owner);
        if (op.with_instance) {
          GLFM_RETURN_IF_ERROR(Upsert(op.instance_id, op.instance_doc, op.instance_time_ns));
        }
        return OkStatus();
      }
      case WriteOp::Kind::kMarkDelivered: {
        sqlite3_stmt* s = write_stmts_.mark_delivered.get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        GLFM_ASSIGN_OR_RETURN(int marked, StepWrite(s, "mark placement delivered"));
        if (marked == 0) {
          GLFM_ASSIGN_OR_RETURN(int state, PlacementState(op.id));
          op.status =
              state < 0
                  ? NotFoundError("placement " + op.id + " not found")
                  : FailedPreconditionError("placement " + op.id + " has no outcome to deliver");
        }
        return OkStatus();
      }
      case WriteOp::Kind::kEnqueueWebhook: {
        sqlite3_stmt* s = write_stmts_.enqueue_webhook.get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        BindText(s, 2, op.owner_node);
        BindText(s, 3, op.text);
        BindText(s, 4, op.text2);
        sqlite3_bind_int64(s, 5, op.time_ns);
        sqlite3_bind_int64(s, 6, op.deadline_ns);
        sqlite3_bind_int64(s, 7, op.time2_ns);
        sqlite3_bind_int64(s, 8, op.number);
        return StepWrite(s, "enqueue webhook").status();
      }
      case WriteOp::Kind::kRescheduleWebhook: {
        sqlite3_stmt* s = write_stmts_.reschedule_webhook.get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        sqlite3_bind_int64(s, 2, op.number);
        sqlite3_bind_int64(s, 3, op.time2_ns);
        BindText(s, 4, op.text);
        GLFM_ASSIGN_OR_RETURN(int rescheduled, StepWrite(s, "reschedule webhook"));
        if (rescheduled == 0) {
          op.status = NotFoundError("webhook " + op.id + " not found");
        }
        return OkStatus();
      }
      case WriteOp::Kind::kAdoptOrphans: {
        for (auto [stmt, count] :
             {std::pair{write_stmts_.adopt_outcomes.get(), &op.adopted_outcomes},
              std::pair{op.number != 0 ? write_stmts_.adopt_webhooks.get() : nullptr,
                        &op.adopted_webhooks}}) {
          if (stmt == nullptr) continue;  // webhooks not asked for, or an old schema: no outbox
          Resetter reset(stmt);
          BindText(stmt, 1, op.owner_node);
          sqlite3_bind_int64(stmt, 2, op.time_ns);
          GLFM_ASSIGN_OR_RETURN(*count, StepWrite(stmt, "adopt orphans"));
        }
        return OkStatus();
      }
      case WriteOp::Kind::kDeleteDelivered: {
        sqlite3_stmt* s = write_stmts_.delete_delivered.get();
        Resetter reset(s);
        sqlite3_bind_int64(s, 1, op.time_ns);
        sqlite3_bind_int64(s, 2, op.number);
        GLFM_ASSIGN_OR_RETURN(op.deleted, StepWrite(s, "delete delivered placements"));
        return OkStatus();
      }
      case WriteOp::Kind::kDeleteWebhook: {
        sqlite3_stmt* s = write_stmts_.delete_webhook.get();
        Resetter reset(s);
        BindText(s, 1, op.id);
        return StepWrite(s, "delete webhook").status();
      }
    }
    return InternalError("unknown write op");
  }

  Status CommitBatch(const std::vector<WriteRequest*>& batch) {
    sqlite3* db = writer_.get();
    // COMMIT writes the WAL out but leaves the fsync to the syncer (kFull) or to the next
    // checkpoint (kNormal).
    internal::DeferWalSyncScope defer_sync;
    GLFM_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", "begin"));
    for (WriteRequest* r : batch) {
      for (WriteOp& op : r->ops) {
        Status s = ExecOp(op);
        if (!s.ok()) {
          Exec(db, "ROLLBACK", "rollback").IgnoreError();
          return s;
        }
      }
    }
    Status s = Exec(db, "COMMIT", "commit");
    if (!s.ok()) {
      Exec(db, "ROLLBACK", "rollback").IgnoreError();
    }
    return s;
  }

  // The commit pipeline: the committer thread runs the queued writes in a transaction;
  // with kFull the syncer thread then fdatasyncs the WAL once for every transaction
  // committed since its last call; the completer thread publishes the change events and
  // wakes the callers. Every stage keeps commit order. A caller is woken only after its
  // transaction is durable; readers (other connections) may see a commit a moment before it
  // is, as they would see it before its caller returns.
  //
  // With kFull the committer keeps its transaction open while the syncer is busy, applying
  // each request as it comes, and commits when the syncer is free (ShouldCommit): one
  // transaction per fsync, so a page that many requests touch goes to the WAL once, not
  // once for each of several small transactions.
  void CommitLoop() {
    std::vector<WriteRequest*> taken;
    bool stopped = false;
    while (true) {
      if (open_.empty()) {
        if (stopped || !queue_.Take(taken)) {
          return;
        }
      } else {
        auto deadline = std::chrono::steady_clock::time_point::max();
        size_t wake_at = 1;
        if (stopped || ShouldCommit(deadline, wake_at)) {
          FinishTransaction();
          continue;
        }
        size_t room = static_cast<size_t>(options_.max_batch_ops) - open_ops_;
        if (!queue_.TakeUntil(taken, room, wake_at, deadline) && taken.empty()) {
          stopped = true;
          continue;
        }
      }
      for (WriteRequest* r : taken) {
        Apply(r);
      }
    }
  }

  // Runs `r`'s ops in the open transaction (beginning one when none is open). After a
  // database error the rest are only collected: FinishTransaction sorts them out.
  void Apply(WriteRequest* r) {
    if (open_.empty()) {
      open_base_ = applied_.load(std::memory_order_relaxed);
    }
    applied_.fetch_add(1, std::memory_order_relaxed);
    open_.push_back(r);
    open_ops_ += r->ops.size();
    if (!open_error_.ok()) {
      return;
    }
    sqlite3* db = writer_.get();
    if (!in_transaction_) {
      if (catch_up_wanted_.exchange(false, std::memory_order_relaxed)) {
        CatchUpCheckpoint();
      }
      open_error_ = Exec(db, "BEGIN IMMEDIATE", "begin");
      if (!open_error_.ok()) {
        return;
      }
      in_transaction_ = true;
    }
    for (WriteOp& op : r->ops) {
      open_error_ = ExecOp(op);
      if (!open_error_.ok()) {
        return;
      }
    }
  }

  // Returns whether the committer should commit its open transaction now; else sets
  // `deadline` to when to ask again (max: when something changes). kNormal: always, as there
  // is no fsync to wait for. kFull: not while the syncer is busy (the requests arriving
  // meanwhile join this transaction); once it is free, when as many requests are open as
  // were in flight when it finished (the callers it just acknowledged plus those waiting
  // here) or when half its last fsync has passed since (at most kMaxSyncLinger): without the
  // wait, callers that write in a loop split into two groups that take turns, each fsync
  // carrying half of them. The wait pays whenever the group comes back in time, and costs
  // little when not. When it returns false it also sets `wake_at`, how many new requests
  // are worth waking the committer for before then (CommitQueue::TakeUntil): kApplyBurst
  // while the syncer is busy, else the number still missing from the group.
  bool ShouldCommit(std::chrono::steady_clock::time_point& deadline, size_t& wake_at) {
    if (syncer_ == nullptr || !open_error_.ok() ||
        open_ops_ >= static_cast<size_t>(options_.max_batch_ops)) {
      return true;
    }
    std::lock_guard lock(round_mu_);
    if (batches_at_syncer_ > 0) {
      wake_at = kApplyBurst;
      return false;  // the syncer's Nudge wakes TakeUntil
    }
    if (round_.seq != seen_round_) {
      seen_round_ = round_.seq;
      // Only the requests applied before that fsync ended were waiting here; those applied
      // since are the acknowledged callers coming back, already counted in round_.requests.
      size_t waiting = round_.applied > open_base_ ? round_.applied - open_base_ : 0;
      want_ = round_.requests + std::min(waiting, open_.size());
      linger_until_ =
          round_.done + std::min<std::chrono::nanoseconds>(round_.took / 2, kMaxSyncLinger);
    }
    deadline = linger_until_;
    if (open_.size() >= want_ || std::chrono::steady_clock::now() >= linger_until_) {
      return true;
    }
    wake_at = want_ - open_.size();
    return false;
  }

  // Commits the open transaction and hands its requests on (syncer or completer). After a
  // database error it rolls back and commits each request on its own, so that one bad
  // request does not fail its neighbours.
  void FinishTransaction() {
    sqlite3* db = writer_.get();
    // After a failed fsync nothing can be trusted to be durable: fail without committing.
    Status failed = SyncFailure();
    Status s = failed.ok() ? open_error_ : failed;
    if (s.ok() && in_transaction_) {
      // COMMIT writes the WAL out but leaves the fsync to the syncer (kFull) or to the next
      // checkpoint (kNormal).
      internal::DeferWalSyncScope defer_sync;
      s = Exec(db, "COMMIT", "commit");
    }
    if (!s.ok() && in_transaction_) {
      Exec(db, "ROLLBACK", "rollback").IgnoreError();
    }
    in_transaction_ = false;
    if (!s.ok() && failed.ok() && open_.size() > 1) {
      for (WriteRequest* r : open_) {
        r->status = CommitBatch({r});
      }
    } else {
      for (WriteRequest* r : open_) {
        r->status = s;
      }
    }
    if (syncer_ != nullptr) {
      std::lock_guard lock(round_mu_);
      ++batches_at_syncer_;
    }
    (syncer_ != nullptr ? syncer_ : completer_)->Push(std::move(open_));
    open_ = {};
    open_ops_ = 0;
    open_error_ = OkStatus();
  }

  // Checkpoints, on the writer connection, the frames committed since the background
  // checkpoint's pass, so that the next transaction restarts the WAL. No transaction is open
  // here. The checkpoint fsyncs the WAL before it copies and the database after.
  void CatchUpCheckpoint() {
    auto start = std::chrono::steady_clock::now();
    internal::CheckpointIoScope checkpoint_io;
    int rc = sqlite3_wal_checkpoint_v2(writer_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                       nullptr);
    catch_up_pause_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      log::Warn("sqlite checkpoint failed",
                {{"path", options_.path}, {"error", sqlite3_errmsg(writer_.get())}});
    }
  }

  // Opens the WAL file a second time for the syncer: fdatasync flushes the file, whichever
  // descriptor names it. The WAL is never deleted or replaced while the writer connection is
  // open (a restart after a checkpoint rewrites it from the start), and this process alone
  // owns the database.
  Status OpenWalForSync() {
    std::string wal = options_.path + "-wal";
    wal_fd_ = open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) {
      return UnavailableError("sqlite " + options_.path +
                              ": cannot open the WAL for fsync: " + std::strerror(errno));
    }
    return OkStatus();
  }

  // Syncer stage: makes every batch in `batches` durable, hands them to the completer, then
  // tells the committer that it is free (ShouldCommit).
  void SyncBatches(std::vector<internal::BatchStage::Batch>& batches) {
    Status synced = SyncFailure();
    auto start = std::chrono::steady_clock::now();
    if (synced.ok() && (options_.wal_fdatasync_for_test ? options_.wal_fdatasync_for_test(wal_fd_)
                                                        : fdatasync(wal_fd_)) != 0) {
      const std::string error = std::strerror(errno);
      synced = UnavailableError("sqlite " + options_.path + ": fsync of the WAL failed (" + error +
                                "); the write may or may not be durable; reopen the store");
      // After a failed fsync the kernel may have dropped the dirty pages: nothing written
      // from now on could be trusted to be durable either.
      log::Error(
          "sqlite: fsync of the WAL failed; every write is refused until the store is "
          "reopened (glfm serve: restart it; /healthz fails meanwhile)",
          {{"path", options_.path}, {"error", error}});
      std::lock_guard lock(sync_failure_mu_);
      sync_failure_ = synced;
    }
    auto done = std::chrono::steady_clock::now();
    // Read before any caller of these batches is woken (below) and can come back.
    uint64_t applied = applied_.load(std::memory_order_relaxed);
    size_t requests = 0;
    bool waiters = false;
    for (auto& batch : batches) {
      requests += batch.size();
      for (WriteRequest* r : batch) {
        if (!synced.ok() && r->status.ok()) {
          r->status = synced;
        }
        waiters = waiters || !r->on_done;
      }
    }
    if (synced.ok()) {  // a failed fsync made nothing durable
      fsync_seconds_.Observe(std::chrono::duration<double>(done - start).count());
      fsync_writes_.Observe(static_cast<double>(requests));
    }
    {
      std::lock_guard lock(round_mu_);
      batches_at_syncer_ -= batches.size();
      round_.seq++;
      round_.requests = requests;
      round_.took = done - start;
      round_.done = done;
      round_.applied = applied;
    }
    queue_.Nudge();
    // Asynchronous callers (glfm's status reports) are completed here when the completer is
    // idle and no commit waits for this thread: their callbacks are short, and the hop to the
    // completer's thread cost a wake-up and a context switch every round. Blocked callers are
    // woken by the completer, so that waking many threads does not delay the next fsync; so
    // are the callbacks of a round with a commit already queued here (the committer may have
    // committed since the nudge), which this thread then fsyncs at once.
    bool next_queued;
    {
      std::lock_guard lock(round_mu_);
      next_queued = batches_at_syncer_ > 0;
    }
    if (waiters || next_queued || !completer_->RunHereIfIdle(batches)) {
      for (auto& batch : batches) {
        completer_->Push(std::move(batch));
      }
    }
  }

  Status SyncFailure() const {
    std::lock_guard lock(sync_failure_mu_);
    return sync_failure_;
  }

  Status Health() const override { return SyncFailure(); }

  // Completer stage: publishes the change events of each batch, in commit order, then wakes
  // its callers.
  void CompleteBatches(std::vector<internal::BatchStage::Batch>& batches) {
    bool publish = feed_.HasSubscribers();
    std::vector<ChangeEvent> events;
    for (auto& batch : batches) {
      if (publish) {
        for (WriteRequest* r : batch) {
          if (r->status.ok()) {
            for (const WriteOp& op : r->ops) {
              internal::AppendEvents(op, events);
            }
          }
        }
      }
    }
    feed_.Publish(std::move(events));
    for (auto& batch : batches) {
      internal::CommitQueue::Complete(batch);
    }
  }

  // Called by SQLite on the committer thread after each commit with the WAL's page count.
  static int WalHook(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    store->wal_bytes_.Set(static_cast<double>(pages) * store->page_size_);
    // Every commit that leaves checkpoint_pages_ or more in the WAL asks for a background
    // pass (the checkpointer takes one request for many). Asking only once per
    // checkpoint_pages_ of growth instead let the WAL grow past the mark whenever a reader
    // kept the catch-up from restarting it, and the next catch-up then paused the committer
    // for longer: bench_fleet's receive -> callback p99 went from ~5 to ~18 ms.
    // While a catch-up is owed, no new pass is asked for: a pass running when the committer
    // catches up makes the catch-up fail (SQLITE_BUSY), the WAL does not restart, and every
    // commit then starts another pass that copies only that commit's frames (bench_store's
    // 64 inserting writers: the WAL grew to ~200 MB between restarts, and the checkpointer
    // wrote as many pages to the database as the committer wrote to the WAL, with two fsyncs
    // a pass).
    if (pages >= store->checkpoint_pages_ &&
        !store->catch_up_wanted_.load(std::memory_order_relaxed)) {
      std::lock_guard lock(store->checkpoint_mu_);
      store->checkpoint_wanted_ = true;
      store->checkpoint_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void CheckpointLoop() {
    pthread_setname_np(pthread_self(), "glfm-sq-ckpt");
    std::unique_lock lock(checkpoint_mu_);
    while (true) {
      checkpoint_cv_.wait(lock, [&] { return checkpoint_stop_ || checkpoint_wanted_; });
      if (checkpoint_stop_) {
        return;
      }
      checkpoint_wanted_ = false;
      lock.unlock();
      // PASSIVE: copies what it can without blocking the committer or readers. It cannot
      // copy the frames committed meanwhile, and SQLite restarts the WAL from its beginning
      // only after a checkpoint that copied every frame: under a steady write load the WAL
      // would grow without end. So the committer copies that remainder itself, between two
      // batches (CatchUpCheckpoint) — a short pause, as the bulk is done here.
      // Passes until few frames are left for the committer: each pass copies the frames
      // committed while the last one ran, and a pass that found few new ones (and left few
      // uncopied) ends the series. One pass alone left the catch-up the frames committed
      // during it, ~600-3,000 on bench_fleet: catch-ups of 2-40 ms, and receive -> callback
      // p99 of ~14 ms.
      int rc = SQLITE_OK;
      int seen = 0;     // the WAL's frames when the last pass began
      int flushed = 0;  // the frames copied (all passes) when the database was last fsynced
      for (int pass = 0; pass < kMaxCheckpointPasses; ++pass) {
        int log_frames = 0;
        int copied = 0;
        {
          internal::CheckpointIoScope checkpoint_io;
          rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                         &log_frames, &copied);
        }
        // SQLite fsyncs the database only after a pass that copied the whole WAL, which
        // under a steady write load only the committer's catch-up does: left to it, that fsync
        // flushes every page the passes copied since the last restart (16+ MiB of scattered
        // pages; pauses of the committer of 35-200 ms in bench_store). Each pass flushes its
        // own pages here instead, so the catch-up flushes only the few it copies.
        if (rc == SQLITE_OK && copied > flushed) {
          if (fdatasync(db_fd_) != 0) {
            log::Warn("sqlite checkpoint: fsync of the database failed",
                      {{"path", options_.path}, {"error", std::strerror(errno)}});
          }
          flushed = copied;
        }
        int fresh = log_frames - seen;
        seen = log_frames;
        if (rc != SQLITE_OK ||
            (pass > 0 && fresh <= kCatchUpFrames && log_frames - copied <= kCatchUpFrames)) {
          break;
        }
      }
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log::Warn("sqlite checkpoint failed",
                  {{"path", options_.path}, {"error", sqlite3_errmsg(checkpoint_db_.get())}});
      }
      lock.lock();
      if (rc == SQLITE_OK) {
        // The requests of the commits made during the passes are answered by the catch-up.
        checkpoint_wanted_ = false;
        catch_up_wanted_.store(true, std::memory_order_relaxed);
      }
    }
  }

  Result<std::unique_ptr<Reader>> AcquireReader() {
    {
      std::lock_guard lock(readers_mu_);
      if (!readers_.empty()) {
        auto r = std::move(readers_.back());
        readers_.pop_back();
        return r;
      }
    }
    auto r = std::make_unique<Reader>();
    GLFM_ASSIGN_OR_RETURN(r->db, OpenConnection(options_.synchronous));
    sqlite3* db = r->db.get();
    GLFM_RETURN_IF_ERROR(Exec(db, ("PRAGMA mmap_size=" + std::to_string(kReaderMmapBytes)).c_str(),
                              "set mmap_size"));
    GLFM_ASSIGN_OR_RETURN(r->get_instance,
                          Prepare(db, "SELECT doc, update_time FROM instances WHERE id = ?1"));
    GLFM_ASSIGN_OR_RETURN(r->scan,
                          Prepare(db,
                                  "SELECT id, doc, update_time FROM instances WHERE id > ?1 "
                                  "ORDER BY id LIMIT ?2"));
    if (options_.target_schema_version >= 2) {
      std::string cols = kPlacementColumns;
      GLFM_ASSIGN_OR_RETURN(r->get_placement,
                            Prepare(db, "SELECT " + cols + " FROM placements WHERE id = ?1"));
      std::string params;
      for (size_t i = 1; i <= kGetPlacementsChunk; ++i) {
        params += (i == 1 ? "?" : ", ?") + std::to_string(i);
      }
      GLFM_ASSIGN_OR_RETURN(
          r->get_placements,
          Prepare(db, "SELECT " + cols + " FROM placements WHERE id IN (" + params + ")"));
      GLFM_ASSIGN_OR_RETURN(r->pending_owner,
                            Prepare(db, "SELECT " + cols +
                                            " FROM placements WHERE owner_node = ?1 AND "
                                            "outcome IS NULL ORDER BY deadline, id LIMIT ?9"));
      GLFM_ASSIGN_OR_RETURN(r->pending_due,
                            Prepare(db, "SELECT " + cols +
                                            " FROM placements WHERE outcome IS NULL AND "
                                            "deadline <= ?1 ORDER BY deadline, id LIMIT ?9"));
      GLFM_ASSIGN_OR_RETURN(
          r->undelivered,
          Prepare(db, "SELECT " + cols +
                          " FROM placements WHERE owner_node = ?1 AND outcome IS NOT NULL AND "
                          "delivered = 0 ORDER BY outcome_time, id LIMIT ?9"));
    }
    if (options_.target_schema_version >= 3) {
      GLFM_ASSIGN_OR_RETURN(
          r->list_webhooks,
          Prepare(db,
                  "SELECT id, owner_node, url, body, create_time, expire_time, next_attempt, "
                  "attempts, last_error FROM webhooks WHERE owner_node = ?1 AND id > ?2 "
                  "ORDER BY id LIMIT ?3"));
    }
    return r;
  }

  void ReleaseReader(std::unique_ptr<Reader> r) {
    std::lock_guard lock(readers_mu_);
    readers_.push_back(std::move(r));
  }

  // Copies the rows out (SQLite's buffers live only until the next step) into one buffer.
  Result<InstanceDocumentPage> ScanDocumentsWith(Reader* reader, std::string_view after_id,
                                                 int limit) {
    sqlite3_stmt* s = reader->scan.get();
    Resetter reset(s);
    BindText(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit + 1);
    InstanceDocumentPage page;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (static_cast<int>(page.rows.size()) == limit) {
        page.done = false;
        break;
      }
      page.Add(ColumnText(s, 0), ColumnText(s, 1), sqlite3_column_int64(s, 2));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return Error(reader->db.get(), "scan instances", rc);
    }
    if (!page.done && !page.rows.empty()) page.next_after_id = page.id(page.rows.size() - 1);
    return page;
  }

  template <typename Bind>
  Result<std::vector<PlacementRecord>> ListPlacements(Stmt Reader::*which, int limit,
                                                      const Bind& bind) {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(auto reader, AcquireReader());
    sqlite3_stmt* s = ((*reader).*which).get();
    std::vector<PlacementRecord> out;
    int rc;
    {
      Resetter reset(s);
      bind(s);
      sqlite3_bind_int(s, 9, limit);
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        out.push_back(ReadPlacement(s));
      }
    }
    Status st = rc == SQLITE_DONE ? OkStatus() : Error(reader->db.get(), "list placements", rc);
    ReleaseReader(std::move(reader));
    GLFM_RETURN_IF_ERROR(st);
    return out;
  }

  const SqliteOptions options_;
  internal::CommitQueue queue_;
  internal::ChangeFeed feed_;
  Db writer_;                    // used only by the committer thread after Open
  int checkpoint_pages_ = 4096;  // WAL pages that wake the checkpointer: kCheckpointBytes
  int page_size_ = 2048;
  // Registered with the store, so that both are on /metrics from the start.
  metrics::Gauge& wal_bytes_ = WalBytesGauge();
  metrics::Histogram& catch_up_pause_ = CatchUpPause();
  metrics::Histogram& fsync_seconds_ = WalFsyncSeconds();
  metrics::Histogram& fsync_writes_ = WalFsyncWrites();
  WriteStatements write_stmts_;
  int wal_fd_ = -1;  // kFull: the WAL, fdatasynced by the syncer thread
  int db_fd_ = -1;   // the database file, fdatasynced by the checkpointer after each pass
  mutable std::mutex sync_failure_mu_;
  Status sync_failure_;  // guarded by sync_failure_mu_; sticky once an fsync failed
  // The committer's open transaction (committer thread only).
  std::vector<WriteRequest*> open_;  // requests applied in it, in queue order
  size_t open_ops_ = 0;
  bool in_transaction_ = false;
  Status open_error_;        // the database error that spoilt it
  uint64_t seen_round_ = 0;  // the last sync round ShouldCommit saw
  // Requests the committer has applied, ever (read by the syncer), and that count when the
  // open transaction began.
  std::atomic<uint64_t> applied_{0};
  uint64_t open_base_ = 0;
  size_t want_ = 0;
  std::chrono::steady_clock::time_point linger_until_{};
  // What the syncer last did, for ShouldCommit.
  struct SyncRound {
    uint64_t seq = 0;
    size_t requests = 0;   // acknowledged by it
    uint64_t applied = 0;  // applied_ when its fsync ended
    std::chrono::nanoseconds took{0};
    std::chrono::steady_clock::time_point done{};
  };
  std::mutex round_mu_;
  size_t batches_at_syncer_ = 0;  // guarded by round_mu_: pushed, not yet fsynced
  SyncRound round_;               // guarded by round_mu_
  std::unique_ptr<internal::BatchStage> completer_;
  std::unique_ptr<internal::BatchStage> syncer_;  // kFull only
  std::thread committer_;
  Db checkpoint_db_;  // used only by the checkpointer thread after Open
  std::thread checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;  // guarded by checkpoint_mu_
  bool checkpoint_stop_ = false;    // guarded by checkpoint_mu_
  // Set by the checkpointer after a pass, taken by the committer.
  std::atomic<bool> catch_up_wanted_{false};
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Reader>> readers_;  // idle readers, guarded by readers_mu_
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  if (options.path.empty()) {
    return InvalidArgumentError("sqlite path must not be empty");
  }
  if (options.max_batch_ops < 1) {
    return InvalidArgumentError("sqlite max_batch_ops must be at least 1");
  }
  if (options.target_schema_version < 1) {
    return InvalidArgumentError("sqlite target_schema_version must be at least 1");
  }
  auto store = std::make_unique<SqliteStore>(options);
  GLFM_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace glfm::store
