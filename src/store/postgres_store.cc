#include "store/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.h"
#include "store/store_internal.h"

namespace glfm::store {
namespace {

using internal::WriteOp;
using internal::WriteRequest;

constexpr char kChannel[] = "glfm_changes";
// NOTIFY payloads must stay under 8000 bytes.
constexpr size_t kMaxNotifyPayload = 7000;
// pg_advisory_xact_lock key serialising migrations across nodes ("glfm").
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(1735157357)";

// Versioned migrations: kMigrations[i] takes the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 1: instances, keyed and scanned by id in byte order.
    "CREATE TABLE glfm_instances ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  doc text NOT NULL,"
    "  update_time bigint NOT NULL)",
    // 2: placements and the indexes their listings use.
    "CREATE TABLE glfm_placements ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  owner_node text NOT NULL,"
    "  deadline bigint NOT NULL,"
    "  request text NOT NULL,"
    "  create_time bigint NOT NULL,"
    "  outcome text,"
    "  outcome_time bigint,"
    "  delivered boolean NOT NULL DEFAULT false);"
    "CREATE INDEX glfm_placements_pending_owner ON glfm_placements (owner_node, deadline)"
    "  WHERE outcome IS NULL;"
    "CREATE INDEX glfm_placements_pending_deadline ON glfm_placements (deadline)"
    "  WHERE outcome IS NULL;"
    "CREATE INDEX glfm_placements_undelivered ON glfm_placements (owner_node, outcome_time)"
    "  WHERE outcome IS NOT NULL AND NOT delivered",
    // 3: the webhook outbox of glfm serve, listed by owner.
    "CREATE TABLE glfm_webhooks ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  owner_node text NOT NULL,"
    "  url text NOT NULL,"
    "  body text NOT NULL,"
    "  create_time bigint NOT NULL,"
    "  expire_time bigint NOT NULL,"
    "  next_attempt bigint NOT NULL,"
    "  attempts integer NOT NULL,"
    "  last_error text NOT NULL DEFAULT '');"
    "CREATE INDEX glfm_webhooks_owner ON glfm_webhooks (owner_node, id)",
    // 4: placements by age, for deleting those delivered long ago (fleet.placement_retention).
    "CREATE INDEX glfm_placements_create_time ON glfm_placements (create_time)",
    // 5: nothing changes here (SQLite's instance documents leave out the id from 5 on; the
    // two backends share one version number).
    "SELECT 1",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

constexpr char kPlacementColumns[] =
    "id, owner_node, deadline, request, create_time, outcome, outcome_time, delivered";

struct Prepared {
  const char* name;
  std::string sql;
  int min_version;
};

const std::vector<Prepared>& PreparedStatements() {
  static const std::vector<Prepared> statements = [] {
    std::string cols = kPlacementColumns;
    return std::vector<Prepared>{
        {"upsert_many",
         "INSERT INTO glfm_instances (id, doc, update_time) "
         "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) "
         "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, update_time = EXCLUDED.update_time",
         1},
        {"delete_many", "DELETE FROM glfm_instances WHERE id = ANY($1::text[]) RETURNING id", 1},
        {"delete_many_older",
         "DELETE FROM glfm_instances WHERE id = ANY($1::text[]) AND update_time < $2 RETURNING id",
         1},
        {"get_instance", "SELECT doc, update_time FROM glfm_instances WHERE id = $1", 1},
        {"scan",
         "SELECT id, doc, update_time FROM glfm_instances WHERE id > $1 ORDER BY id LIMIT $2", 1},
        {"notify", "SELECT pg_notify('glfm_changes', $1)", 1},
        {"create_placement",
         "INSERT INTO glfm_placements (id, owner_node, deadline, request, create_time) "
         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING 1",
         2},
        // Returns the owner when this call stored the outcome, and whether the placement
        // exists (the sub-select sees the row as it was before the update).
        {"record_outcome",
         "WITH u AS (UPDATE glfm_placements SET outcome = $2, outcome_time = $3 "
         "WHERE id = $1 AND outcome IS NULL RETURNING owner_node) "
         "SELECT (SELECT owner_node FROM u), EXISTS (SELECT 1 FROM glfm_placements WHERE id = $1)",
         2},
        // record_outcome, and the instance upserted only when this call stored the outcome.
        {"record_outcome_instance",
         "WITH u AS (UPDATE glfm_placements SET outcome = $2, outcome_time = $3 "
         "WHERE id = $1 AND outcome IS NULL RETURNING owner_node), "
         "i AS (INSERT INTO glfm_instances (id, doc, update_time) "
         "SELECT $4::text, $5::text, $6::bigint FROM u "
         "ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, update_time = EXCLUDED.update_time) "
         "SELECT (SELECT owner_node FROM u), EXISTS (SELECT 1 FROM glfm_placements WHERE id = $1)",
         2},
        {"mark_delivered",
         "WITH u AS (UPDATE glfm_placements SET delivered = true "
         "WHERE id = $1 AND outcome IS NOT NULL RETURNING 1) "
         "SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM glfm_placements WHERE id = $1)",
         2},
        // The conditions of glfm_placements_undelivered, so that it finds the rows.
        {"adopt_outcomes",
         "UPDATE glfm_placements SET owner_node = $1 WHERE outcome IS NOT NULL AND NOT delivered "
         "AND outcome_time < $2 AND owner_node <> $1",
         2},
        // An outcome is recorded after its placement was created: create_time < $1 is implied,
        // and lets glfm_placements_create_time find the candidates (oldest first).
        {"delete_delivered",
         "DELETE FROM glfm_placements WHERE id IN (SELECT id FROM glfm_placements "
         "WHERE create_time < $1 AND outcome_time < $1 AND delivered "
         "ORDER BY create_time LIMIT $2)",
         4},
        {"adopt_webhooks",
         "UPDATE glfm_webhooks SET owner_node = $1 WHERE next_attempt < $2 AND owner_node <> $1",
         3},
        {"get_placement", "SELECT " + cols + " FROM glfm_placements WHERE id = $1", 2},
        {"get_placements", "SELECT " + cols + " FROM glfm_placements WHERE id = ANY($1::text[])",
         2},
        {"pending_owner",
         "SELECT " + cols +
             " FROM glfm_placements WHERE owner_node = $1 AND outcome IS NULL "
             "ORDER BY deadline, id LIMIT $2",
         2},
        {"pending_due",
         "SELECT " + cols +
             " FROM glfm_placements WHERE outcome IS NULL AND deadline <= $1 "
             "ORDER BY deadline, id LIMIT $2",
         2},
        {"undelivered",
         "SELECT " + cols +
             " FROM glfm_placements WHERE owner_node = $1 AND outcome IS NOT NULL AND "
             "NOT delivered ORDER BY outcome_time, id LIMIT $2",
         2},
        {"enqueue_webhook",
         "INSERT INTO glfm_webhooks (id, owner_node, url, body, create_time, expire_time, "
         "next_attempt, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
         "ON CONFLICT (id) DO NOTHING",
         3},
        {"reschedule_webhook",
         "UPDATE glfm_webhooks SET attempts = $2, next_attempt = $3, last_error = $4 "
         "WHERE id = $1 RETURNING 1",
         3},
        {"delete_webhooks", "DELETE FROM glfm_webhooks WHERE id = ANY($1::text[])", 3},
        {"list_webhooks",
         "SELECT id, owner_node, url, body, create_time, expire_time, next_attempt, attempts, "
         "last_error FROM glfm_webhooks WHERE owner_node = $1 AND id > $2 ORDER BY id LIMIT $3",
         3},
    };
  }();
  return statements;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, ConnDeleter>;

int64_t ParseInt64(const char* s) {
  int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

std::string_view Value(PGresult* r, int row, int col) {
  return std::string_view(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

PlacementRecord ReadPlacement(PGresult* r, int row) {
  PlacementRecord p;
  p.placement_id = std::string(Value(r, row, 0));
  p.owner_node = std::string(Value(r, row, 1));
  p.deadline = internal::FromNanos(ParseInt64(PQgetvalue(r, row, 2)));
  p.request_json = std::string(Value(r, row, 3));
  p.create_time = internal::FromNanos(ParseInt64(PQgetvalue(r, row, 4)));
  if (!PQgetisnull(r, row, 5)) {
    p.outcome_json = std::string(Value(r, row, 5));
    p.outcome_time = internal::FromNanos(ParseInt64(PQgetvalue(r, row, 6)));
  }
  p.delivered = PQgetvalue(r, row, 7)[0] == 't';
  return p;
}

// Returns false when an idle connection must not be used: a terminated backend sends its
// error and closes the socket, which shows as readable input. An idle pool connection (it
// never LISTENs) expects nothing, so any input counts as closed; at worst a stray notice
// costs a reconnect. One poll(2) with no wait.
bool Healthy(PGconn* c) {
  if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
    return false;
  }
  pollfd fd = {PQsocket(c), POLLIN, 0};
  return poll(&fd, 1, 0) == 0;
}

// Appends `s` as one quoted element of a PostgreSQL array literal.
void AppendArrayElement(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
}

// One statement of a pipelined transaction and what to do with its result.
struct Step {
  const char* prepared = nullptr;  // a prepared statement name, or
  const char* sql = nullptr;       // a parameterless command
  std::vector<std::string> params;
  std::function<void(PGresult*)> on_result;
};

class PostgresStore final : public internal::QueuedWriteStore {
 public:
  // Documents keep the id (unlike SQLite's, schema 5): during a rolling upgrade, nodes
  // still running an older glfm read what the upgraded ones write.
  explicit PostgresStore(PostgresOptions options)
      : QueuedWriteStore(/*docs_with_id=*/true),
        options_(std::move(options)),
        queue_(static_cast<size_t>(options_.max_batch_ops)) {}

  ~PostgresStore() override {
    queue_.Stop();
    for (auto& t : committers_) {
      t.join();
    }
    StopListener();
  }

  Status Open() {
    GLFM_RETURN_IF_ERROR(ParseConnInfo());
    GLFM_ASSIGN_OR_RETURN(PgConn conn, Connect(/*prepare=*/false));
    GLFM_RETURN_IF_ERROR(Migrate(conn.get()));
    GLFM_RETURN_IF_ERROR(PrepareAll(conn.get()));
    idle_readers_.push_back(std::move(conn));
    open_readers_ = 1;
    for (int i = 0; i < options_.commit_connections; ++i) {
      committers_.emplace_back([this] { CommitLoop(); });
    }
    return OkStatus();
  }

  std::string_view backend() const override { return "postgres"; }

  internal::CommitQueue& write_queue() override { return queue_; }

  Result<StoredInstance> GetInstance(std::string_view id) override {
    GLFM_ASSIGN_OR_RETURN(PgResult r, Read("get_instance", {std::string(id)}, "get instance"));
    if (PQntuples(r.get()) == 0) {
      return NotFoundError("instance " + std::string(id) + " not found");
    }
    return internal::DecodeInstance(id, Value(r.get(), 0, 0),
                                    ParseInt64(PQgetvalue(r.get(), 0, 1)));
  }

  Result<InstanceDocumentPage> ScanInstanceDocuments(std::string_view after_id,
                                                     int limit) override {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(
        PgResult r,
        Read("scan", {std::string(after_id), std::to_string(limit + 1)}, "scan instances"));
    int rows = PQntuples(r.get());
    InstanceDocumentPage page;
    page.done = rows <= limit;
    int n = std::min(rows, limit);
    for (int i = 0; i < n; ++i) {
      page.Add(Value(r.get(), i, 0), Value(r.get(), i, 1), ParseInt64(PQgetvalue(r.get(), i, 2)));
    }
    if (!page.done && n > 0) page.next_after_id = page.id(page.rows.size() - 1);
    return page;
  }

  Result<PlacementRecord> GetPlacement(std::string_view placement_id) override {
    GLFM_ASSIGN_OR_RETURN(PgResult r,
                          Read("get_placement", {std::string(placement_id)}, "get placement"));
    if (PQntuples(r.get()) == 0) {
      return NotFoundError("placement " + std::string(placement_id) + " not found");
    }
    return ReadPlacement(r.get(), 0);
  }

  Result<std::vector<Result<PlacementRecord>>> GetPlacements(
      const std::vector<std::string>& placement_ids) override {
    std::vector<Result<PlacementRecord>> out;
    out.reserve(placement_ids.size());
    std::unordered_map<std::string_view, std::vector<size_t>> where;
    std::string ids = "{";
    for (size_t i = 0; i < placement_ids.size(); ++i) {
      out.push_back(NotFoundError("placement " + placement_ids[i] + " not found"));
      auto& at = where[placement_ids[i]];
      if (at.empty()) {
        if (ids.size() > 1) {
          ids += ',';
        }
        AppendArrayElement(ids, placement_ids[i]);
      }
      at.push_back(i);
    }
    ids += '}';
    if (placement_ids.empty()) {
      return out;
    }
    GLFM_ASSIGN_OR_RETURN(PgResult r, Read("get_placements", {ids}, "get placements"));
    for (int row = 0; row < PQntuples(r.get()); ++row) {
      auto it = where.find(Value(r.get(), row, 0));
      if (it == where.end()) {
        continue;
      }
      PlacementRecord p = ReadPlacement(r.get(), row);
      for (size_t i : it->second) {
        out[i] = p;
      }
    }
    return out;
  }

  Result<std::vector<PlacementRecord>> ListPendingPlacementsByOwner(std::string_view owner_node,
                                                                    int limit) override {
    return ListPlacements("pending_owner", std::string(owner_node), limit);
  }

  Result<std::vector<PlacementRecord>> ListPendingPlacementsDueBy(Timestamp t, int limit) override {
    return ListPlacements("pending_due", std::to_string(internal::ToNanos(t)), limit);
  }

  Result<std::vector<PlacementRecord>> ListUndeliveredOutcomes(std::string_view owner_node,
                                                               int limit) override {
    return ListPlacements("undelivered", std::string(owner_node), limit);
  }

  Result<std::vector<WebhookRecord>> ListWebhooks(std::string_view owner_node,
                                                  std::string_view after_id, int limit) override {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(
        PgResult r, Read("list_webhooks",
                         {std::string(owner_node), std::string(after_id), std::to_string(limit)},
                         "list webhooks"));
    std::vector<WebhookRecord> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      WebhookRecord w;
      w.id = std::string(Value(r.get(), i, 0));
      w.owner_node = std::string(Value(r.get(), i, 1));
      w.url = std::string(Value(r.get(), i, 2));
      w.body = std::string(Value(r.get(), i, 3));
      w.create_time = internal::FromNanos(ParseInt64(PQgetvalue(r.get(), i, 4)));
      w.expire_time = internal::FromNanos(ParseInt64(PQgetvalue(r.get(), i, 5)));
      w.next_attempt = internal::FromNanos(ParseInt64(PQgetvalue(r.get(), i, 6)));
      w.attempts = static_cast<int>(ParseInt64(PQgetvalue(r.get(), i, 7)));
      w.last_error = std::string(Value(r.get(), i, 8));
      out.push_back(std::move(w));
    }
    return out;
  }

  Result<std::unique_ptr<Subscription>> Subscribe(ChangeCallback callback,
                                                  ChangeKinds kinds) override {
    GLFM_RETURN_IF_ERROR(StartListener());
    return feed_.Subscribe(std::move(callback), kinds);
  }

 private:
  // --- connection handling ---

  Status ParseConnInfo() {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(options_.conninfo.c_str(), &err);
    if (opts == nullptr) {
      if (err != nullptr) {
        PQfreemem(err);
      }
      // libpq's message may quote the string, password included: never repeat it.
      return InvalidArgumentError("postgres connection string does not parse");
    }
    std::string host, hostaddr, port, dbname, user;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (o->val == nullptr) {
        continue;
      }
      std::string_view k = o->keyword;
      if (k == "host") {
        host = o->val;
      } else if (k == "hostaddr") {
        hostaddr = o->val;
      } else if (k == "port") {
        port = o->val;
      } else if (k == "dbname") {
        dbname = o->val;
      } else if (k == "user") {
        user = o->val;
      } else if (k == "password") {
        password_ = o->val;
      }
    }
    PQconninfoFree(opts);
    if (host.empty()) {
      host = hostaddr.empty() ? "localhost" : hostaddr;
    }
    address_ = host + ":" + (port.empty() ? "5432" : port) + "/" +
               (dbname.empty() ? (user.empty() ? "postgres" : user) : dbname);
    return OkStatus();
  }

  // Removes the password from a libpq message (defence in depth: libpq does not echo it).
  std::string Scrub(std::string in) const {
    // One line: libpq's multi-line messages become space-separated.
    std::string msg;
    for (char ch : in) {
      if (ch == '\n' || ch == '\t') {
        if (!msg.empty() && msg.back() != ' ') {
          msg += ' ';
        }
      } else {
        msg += ch;
      }
    }
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
      msg.pop_back();
    }
    if (password_.size() >= 1) {
      for (size_t at; (at = msg.find(password_)) != std::string::npos;) {
        msg.replace(at, password_.size(), "***");
      }
    }
    return msg;
  }

  Status ConnError(PGconn* c, std::string_view what) const {
    return UnavailableError("postgres " + address_ + ": " + std::string(what) + ": " +
                            Scrub(c != nullptr ? PQerrorMessage(c) : "out of memory"));
  }

  // Maps a failed result to the most specific code.
  Status ResultError(PGconn* c, PGresult* r, std::string_view what) const {
    if (PQstatus(c) == CONNECTION_BAD || r == nullptr) {
      return ConnError(c, what);
    }
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string sqlstate = state != nullptr ? state : "";
    std::string msg = "postgres " + address_ + ": " + std::string(what) + ": " +
                      Scrub(PQresultErrorMessage(r)) +
                      (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")");
    std::string_view cls =
        std::string_view(sqlstate).substr(0, std::min<size_t>(2, sqlstate.size()));
    if (cls == "08" || sqlstate.starts_with("57P")) {
      return UnavailableError(std::move(msg));
    }
    if (cls == "53") {
      return ResourceExhaustedError(std::move(msg));
    }
    if (cls == "40") {
      return AbortedError(std::move(msg));
    }
    if (cls == "22") {
      return InvalidArgumentError(std::move(msg));
    }
    if (sqlstate == "42P01") {
      return FailedPreconditionError(std::move(msg));
    }
    return InternalError(std::move(msg));
  }

  Result<PgConn> Connect(bool prepare) {
    std::string timeout = std::to_string(std::max<int64_t>(1, options_.connect_timeout.count()));
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "glfm", options_.conninfo.c_str(), nullptr};
    PgConn conn(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
    if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
      return ConnError(conn.get(), "cannot connect");
    }
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    if (prepare) {
      GLFM_RETURN_IF_ERROR(PrepareAll(conn.get()));
    }
    return conn;
  }

  Status PrepareAll(PGconn* c) {
    for (const Prepared& p : PreparedStatements()) {
      if (p.min_version > options_.target_schema_version) {
        continue;
      }
      PgResult r(PQprepare(c, p.name, p.sql.c_str(), 0, nullptr));
      if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        return ResultError(c, r.get(), std::string("prepare ") + p.name);
      }
    }
    return OkStatus();
  }

  Status ExecSimple(PGconn* c, const std::string& sql, std::string_view what,
                    PgResult* out = nullptr) {
    PgResult r(PQexec(c, sql.c_str()));
    ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return ResultError(c, r.get(), what);
    }
    if (out != nullptr) {
      *out = std::move(r);
    }
    return OkStatus();
  }

  Status Migrate(PGconn* c) {
    GLFM_RETURN_IF_ERROR(ExecSimple(c, "BEGIN", "begin migration"));
    Status s = MigrateInTransaction(c);
    if (!s.ok()) {
      ExecSimple(c, "ROLLBACK", "rollback migration").IgnoreError();
      return s;
    }
    return ExecSimple(c, "COMMIT", "commit migration");
  }

  Status MigrateInTransaction(PGconn* c) {
    GLFM_RETURN_IF_ERROR(ExecSimple(c, kMigrationLock, "lock migrations"));
    GLFM_RETURN_IF_ERROR(ExecSimple(c,
                                    "CREATE TABLE IF NOT EXISTS glfm_schema_migrations ("
                                    "  version integer PRIMARY KEY,"
                                    "  applied_at timestamptz NOT NULL DEFAULT now())",
                                    "create glfm_schema_migrations"));
    PgResult r;
    GLFM_RETURN_IF_ERROR(ExecSimple(c,
                                    "SELECT coalesce(max(version), 0) FROM glfm_schema_migrations",
                                    "read schema version", &r));
    int current = static_cast<int>(ParseInt64(PQgetvalue(r.get(), 0, 0)));
    if (current > kSchemaVersion) {
      return FailedPreconditionError("postgres " + address_ + ": database schema version " +
                                     std::to_string(current) +
                                     " is newer than this glfm supports (" +
                                     std::to_string(kSchemaVersion) + "); upgrade glfm");
    }
    int target = std::min(options_.target_schema_version, kSchemaVersion);
    for (int v = current; v < target; ++v) {
      std::string what = "migrate to version " + std::to_string(v + 1);
      GLFM_RETURN_IF_ERROR(ExecSimple(c, kMigrations[v], what));
      GLFM_RETURN_IF_ERROR(ExecSimple(
          c, "INSERT INTO glfm_schema_migrations (version) VALUES (" + std::to_string(v + 1) + ")",
          what));
      log::Info("store schema migrated",
                {{"backend", "postgres"}, {"address", address_}, {"version", v + 1}});
    }
    return OkStatus();
  }

  // --- reads ---

  Result<PgConn> AcquireReader() {
    {
      std::unique_lock lock(readers_mu_);
      readers_cv_.wait(lock, [&] {
        return !idle_readers_.empty() || open_readers_ < options_.read_connections;
      });
      while (!idle_readers_.empty()) {
        PgConn c = std::move(idle_readers_.back());
        idle_readers_.pop_back();
        if (Healthy(c.get())) {
          return c;
        }
        --open_readers_;  // closed while idle (server restart, terminated backend)
      }
      ++open_readers_;
    }
    auto c = Connect(/*prepare=*/true);
    if (!c.ok()) {
      std::lock_guard lock(readers_mu_);
      --open_readers_;
      readers_cv_.notify_one();
    }
    return c;
  }

  void ReleaseReader(PgConn c) {
    std::lock_guard lock(readers_mu_);
    if (PQstatus(c.get()) == CONNECTION_OK && PQtransactionStatus(c.get()) == PQTRANS_IDLE) {
      idle_readers_.push_back(std::move(c));
    } else {
      --open_readers_;  // broken: a fresh one connects on demand
    }
    readers_cv_.notify_one();
  }

  Result<PgResult> Read(const char* statement, const std::vector<std::string>& params,
                        std::string_view what) {
    GLFM_ASSIGN_OR_RETURN(PgConn c, AcquireReader());
    std::vector<const char*> values;
    for (const auto& p : params) {
      values.push_back(p.c_str());
    }
    PgResult r(PQexecPrepared(c.get(), statement, static_cast<int>(values.size()), values.data(),
                              nullptr, nullptr, 0));
    Result<PgResult> out = InternalError("unset");
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      out = ResultError(c.get(), r.get(), what);
    } else {
      out = std::move(r);
    }
    ReleaseReader(std::move(c));
    return out;
  }

  Result<std::vector<PlacementRecord>> ListPlacements(const char* statement, std::string arg,
                                                      int limit) {
    GLFM_RETURN_IF_ERROR(internal::ValidateLimit(limit));
    GLFM_ASSIGN_OR_RETURN(
        PgResult r, Read(statement, {std::move(arg), std::to_string(limit)}, "list placements"));
    std::vector<PlacementRecord> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      out.push_back(ReadPlacement(r.get(), i));
    }
    return out;
  }

  // --- writes ---

  // Sends `steps` as one pipeline and runs each step's handler on its result. Returns the
  // first failure. On failure, and on success unless `in_transaction`, the connection is
  // left idle (an open transaction is rolled back).
  Status RunPipeline(PGconn* c, std::vector<Step>& steps, bool in_transaction = false) {
    if (PQenterPipelineMode(c) != 1) {
      return ConnError(c, "enter pipeline mode");
    }
    Status status;
    size_t sent = 0;
    for (Step& s : steps) {
      std::vector<const char*> values;
      for (const auto& p : s.params) {
        values.push_back(p.c_str());
      }
      int ok = s.prepared != nullptr
                   ? PQsendQueryPrepared(c, s.prepared, static_cast<int>(values.size()),
                                         values.data(), nullptr, nullptr, 0)
                   : PQsendQueryParams(c, s.sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
      if (ok != 1) {
        status = ConnError(c, "send");
        break;
      }
      ++sent;
    }
    if (PQpipelineSync(c) != 1) {
      PQexitPipelineMode(c);
      return ConnError(c, "sync");
    }
    for (size_t i = 0; i < sent; ++i) {
      PgResult r(PQgetResult(c));
      if (r == nullptr) {
        return ConnError(c, "read result");
      }
      ExecStatusType st = PQresultStatus(r.get());
      if (st == PGRES_PIPELINE_ABORTED) {
        // skipped after an earlier failure
      } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (status.ok()) {
          status = ResultError(c, r.get(), "commit");
        }
      } else if (status.ok() && steps[i].on_result) {
        steps[i].on_result(r.get());
      }
      PgResult end(PQgetResult(c));  // nullptr ends this query's results
    }
    for (;;) {
      PgResult r(PQgetResult(c));
      if (r == nullptr) {
        if (PQstatus(c) == CONNECTION_BAD) {
          return ConnError(c, "read sync");
        }
        continue;
      }
      if (PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC) {
        break;
      }
    }
    PQexitPipelineMode(c);
    if (PQtransactionStatus(c) != PQTRANS_IDLE && (!status.ok() || !in_transaction)) {
      PgResult r(PQexec(c, "ROLLBACK"));
    }
    return status;
  }

  static Step Command(const char* sql) {
    Step s;
    s.sql = sql;
    return s;
  }

  // Appends NOTIFY steps announcing `events`, each payload under the size limit.
  static void AppendNotifies(const std::vector<ChangeEvent>& events, std::vector<Step>& steps) {
    std::string payload;
    auto flush = [&] {
      if (!payload.empty()) {
        Step s;
        s.prepared = "notify";
        s.params.push_back(std::move(payload));
        steps.push_back(std::move(s));
        payload.clear();
      }
    };
    for (const ChangeEvent& e : events) {
      size_t before = payload.size();
      internal::AppendEventLine(e, payload);
      if (payload.size() > kMaxNotifyPayload && before > 0) {
        std::string line = payload.substr(before);
        payload.resize(before);
        flush();
        payload = std::move(line);
      }
    }
    flush();
  }

  // Adds the statements for `ops` to `steps`, merging runs of upserts and of deletes.
  void AddOpSteps(std::vector<WriteOp*>& ops, std::vector<Step>& steps) {
    size_t i = 0;
    while (i < ops.size()) {
      WriteOp::Kind kind = ops[i]->kind;
      if (kind == WriteOp::Kind::kUpsert || kind == WriteOp::Kind::kDelete) {
        // Deletes merge only with deletes of the same condition.
        auto same = [&](const WriteOp* op) {
          return op->kind == kind && op->only_older == ops[i]->only_older &&
                 (!op->only_older || op->time_ns == ops[i]->time_ns);
        };
        size_t j = i;
        while (j < ops.size() && same(ops[j])) {
          ++j;
        }
        // One statement for the run: the last write of an id wins, rows locked in id order
        // (a consistent order keeps concurrent batches from deadlocking).
        std::map<std::string_view, WriteOp*> last;
        for (size_t k = i; k < j; ++k) {
          last[ops[k]->id] = ops[k];
        }
        Step s;
        std::string ids = "{", docs = "{", times = "{";
        bool first = true;
        for (auto& [id, op] : last) {
          if (!first) {
            ids += ',';
            docs += ',';
            times += ',';
          }
          first = false;
          AppendArrayElement(ids, id);
          if (kind == WriteOp::Kind::kUpsert) {
            AppendArrayElement(docs, op->text);
            times += std::to_string(op->time_ns);
          }
        }
        ids += '}';
        docs += '}';
        times += '}';
        if (kind == WriteOp::Kind::kUpsert) {
          s.prepared = "upsert_many";
          s.params = {std::move(ids), std::move(docs), std::move(times)};
        } else {
          s.prepared = ops[i]->only_older ? "delete_many_older" : "delete_many";
          s.params = {std::move(ids)};
          if (ops[i]->only_older) s.params.push_back(std::to_string(ops[i]->time_ns));
          std::vector<WriteOp*> run(ops.begin() + static_cast<std::ptrdiff_t>(i),
                                    ops.begin() + static_cast<std::ptrdiff_t>(j));
          s.on_result = [run](PGresult* r) {
            std::unordered_map<std::string_view, bool> existed;
            for (int row = 0; row < PQntuples(r); ++row) {
              existed[Value(r, row, 0)] = true;
            }
            for (WriteOp* op : run) {
              op->flag = existed.erase(op->id) > 0;  // only the first delete of an id removed it
            }
          };
        }
        steps.push_back(std::move(s));
        i = j;
        continue;
      }
      WriteOp* op = ops[i];
      Step s;
      switch (kind) {
        case WriteOp::Kind::kCreatePlacement:
          s.prepared = "create_placement";
          s.params = {op->id, op->owner_node, std::to_string(op->deadline_ns), op->text,
                      std::to_string(op->time_ns)};
          s.on_result = [op](PGresult* r) {
            if (PQntuples(r) == 0) {
              op->status = AlreadyExistsError("placement " + op->id + " already exists");
            }
          };
          break;
        case WriteOp::Kind::kRecordOutcome:
          s.prepared = "record_outcome";
          s.params = {op->id, op->text, std::to_string(op->time_ns)};
          if (op->with_instance) {
            s.prepared = "record_outcome_instance";
            s.params.push_back(op->instance_id);
            s.params.push_back(op->instance_doc);
            s.params.push_back(std::to_string(op->instance_time_ns));
          }
          s.on_result = [op](PGresult* r) {
            if (!PQgetisnull(r, 0, 0)) {
              op->flag = true;
              op->result_owner = std::string(Value(r, 0, 0));
            } else if (PQgetvalue(r, 0, 1)[0] != 't') {
              op->status = NotFoundError("placement " + op->id + " not found");
            }
          };
          break;
        case WriteOp::Kind::kMarkDelivered:
          s.prepared = "mark_delivered";
          s.params = {op->id};
          s.on_result = [op](PGresult* r) {
            if (PQgetvalue(r, 0, 0)[0] == 't') {
              return;
            }
            op->status =
                PQgetvalue(r, 0, 1)[0] == 't'
                    ? FailedPreconditionError("placement " + op->id + " has no outcome to deliver")
                    : NotFoundError("placement " + op->id + " not found");
          };
          break;
        case WriteOp::Kind::kEnqueueWebhook:
          s.prepared = "enqueue_webhook";
          s.params = {op->id,
                      op->owner_node,
                      op->text,
                      op->text2,
                      std::to_string(op->time_ns),
                      std::to_string(op->deadline_ns),
                      std::to_string(op->time2_ns),
                      std::to_string(op->number)};
          break;
        case WriteOp::Kind::kRescheduleWebhook:
          s.prepared = "reschedule_webhook";
          s.params = {op->id, std::to_string(op->number), std::to_string(op->time2_ns), op->text};
          s.on_result = [op](PGresult* r) {
            if (PQntuples(r) == 0) {
              op->status = NotFoundError("webhook " + op->id + " not found");
            }
          };
          break;
        case WriteOp::Kind::kAdoptOrphans: {
          s.prepared = "adopt_outcomes";
          s.params = {op->owner_node, std::to_string(op->time_ns)};
          s.on_result = [op](PGresult* r) { op->adopted_outcomes = std::atoi(PQcmdTuples(r)); };
          if (op->number == 0) break;  // no webhooks
          steps.push_back(std::move(s));
          s = Step{};
          s.prepared = "adopt_webhooks";
          s.params = {op->owner_node, std::to_string(op->time_ns)};
          s.on_result = [op](PGresult* r) { op->adopted_webhooks = std::atoi(PQcmdTuples(r)); };
          break;
        }
        case WriteOp::Kind::kDeleteDelivered:
          s.prepared = "delete_delivered";
          s.params = {std::to_string(op->time_ns), std::to_string(op->number)};
          s.on_result = [op](PGresult* r) { op->deleted = std::atoi(PQcmdTuples(r)); };
          break;
        case WriteOp::Kind::kDeleteWebhook: {
          s.prepared = "delete_webhooks";
          std::string ids = "{";
          AppendArrayElement(ids, op->id);
          ids += '}';
          s.params = {std::move(ids)};
          break;
        }
        default:
          break;
      }
      steps.push_back(std::move(s));
      ++i;
    }
  }

  // Commits the requests of `batch` in one transaction; fills op results and `events`.
  Status CommitBatch(PGconn* c, const std::vector<WriteRequest*>& batch,
                     std::vector<ChangeEvent>& events) {
    std::vector<WriteOp*> ops;
    bool only_upserts = true;
    for (WriteRequest* r : batch) {
      for (WriteOp& op : r->ops) {
        op.ResetResult();
        ops.push_back(&op);
        only_upserts = only_upserts && op.kind == WriteOp::Kind::kUpsert;
      }
    }
    events.clear();
    std::vector<Step> steps;
    steps.push_back(Command("BEGIN"));
    AddOpSteps(ops, steps);
    if (only_upserts) {
      // The events are known before the statements run: one round trip.
      for (WriteOp* op : ops) {
        internal::AppendEvents(*op, events);
      }
      if (options_.notify_changes) {
        AppendNotifies(events, steps);
      }
      steps.push_back(Command("COMMIT"));
      return RunPipeline(c, steps);
    }
    GLFM_RETURN_IF_ERROR(RunPipeline(c, steps, /*in_transaction=*/true));
    for (WriteOp* op : ops) {
      internal::AppendEvents(*op, events);
    }
    steps.clear();
    if (options_.notify_changes) {
      AppendNotifies(events, steps);
    }
    steps.push_back(Command("COMMIT"));
    return RunPipeline(c, steps);
  }

  // Commits `batch`, retrying deadlocks and serialisation failures a few times.
  Status CommitWithRetry(PgConn& conn, const std::vector<WriteRequest*>& batch,
                         std::vector<ChangeEvent>& events) {
    Status s;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!Healthy(conn.get())) {
        conn.reset();
        auto c = Connect(/*prepare=*/true);
        if (!c.ok()) {
          return c.status();
        }
        conn = std::move(*c);
      }
      s = CommitBatch(conn.get(), batch, events);
      if (s.code() == StatusCode::kUnavailable) {
        conn.reset();  // a broken or confused connection is never reused
      }
      if (s.code() != StatusCode::kAborted) {
        return s;
      }
    }
    return s;
  }

  void CommitLoop() {
    PgConn conn;
    std::vector<WriteRequest*> batch;
    std::vector<ChangeEvent> events;
    while (queue_.Take(batch)) {
      Status s = CommitWithRetry(conn, batch, events);
      if (!s.ok() && batch.size() > 1 && s.code() != StatusCode::kUnavailable) {
        // One bad request must not fail its neighbours: commit each on its own.
        for (WriteRequest* r : batch) {
          r->status = CommitWithRetry(conn, {r}, events);
        }
      } else {
        for (WriteRequest* r : batch) {
          r->status = s;
        }
      }
      queue_.Complete(batch);
    }
  }

  // --- change feed ---

  Status StartListener() {
    std::lock_guard lock(listener_mu_);
    if (listener_.joinable()) {
      return OkStatus();
    }
    GLFM_ASSIGN_OR_RETURN(PgConn conn, Connect(/*prepare=*/false));
    GLFM_RETURN_IF_ERROR(ExecSimple(conn.get(), std::string("LISTEN ") + kChannel, "listen"));
    if (pipe(wake_) != 0) {
      return InternalError("postgres listener: pipe failed");
    }
    listener_ = std::thread([this, c = std::move(conn)]() mutable { ListenLoop(std::move(c)); });
    return OkStatus();
  }

  void StopListener() {
    std::lock_guard lock(listener_mu_);
    if (!listener_.joinable()) {
      return;
    }
    {
      std::lock_guard stop_lock(stop_mu_);
      stop_ = true;
      stop_cv_.notify_all();
    }
    char b = 1;
    [[maybe_unused]] ssize_t n = write(wake_[1], &b, 1);
    listener_.join();
    close(wake_[0]);
    close(wake_[1]);
  }

  bool Stopping() {
    std::lock_guard lock(stop_mu_);
    return stop_;
  }

  void ListenLoop(PgConn conn) {
    std::chrono::milliseconds backoff(100);
    while (!Stopping()) {
      if (conn == nullptr) {
        auto c = Connect(/*prepare=*/false);
        Status s =
            c.ok() ? ExecSimple(c->get(), std::string("LISTEN ") + kChannel, "listen") : c.status();
        if (!s.ok()) {
          log::Warn("store change feed cannot listen", {{"error", s.message()}});
          std::unique_lock lock(stop_mu_);
          stop_cv_.wait_for(lock, backoff, [&] { return stop_; });
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
          continue;
        }
        conn = std::move(*c);
        log::Info("store change feed is listening again");  // it starts connected
        backoff = std::chrono::milliseconds(100);
        // Changes made while disconnected were not heard.
        feed_.Publish({ChangeEvent{ChangeEvent::Kind::kResync, "", ""}});
      }
      pollfd fds[2] = {{PQsocket(conn.get()), POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        continue;
      }
      if (fds[1].revents != 0) {
        continue;  // woken to stop
      }
      if (PQconsumeInput(conn.get()) != 1) {
        log::Warn("store change feed lost its connection",
                  {{"error", ConnError(conn.get(), "listen").message()}});
        conn.reset();
        continue;
      }
      std::vector<ChangeEvent> events;
      while (PGnotify* n = PQnotifies(conn.get())) {
        auto parsed = internal::ParseEventLines(n->extra);
        events.insert(events.end(), std::make_move_iterator(parsed.begin()),
                      std::make_move_iterator(parsed.end()));
        PQfreemem(n);
      }
      feed_.Publish(std::move(events));
    }
  }

  const PostgresOptions options_;
  std::string address_;   // host:port/dbname, for messages
  std::string password_;  // only to scrub messages
  internal::CommitQueue queue_;
  internal::ChangeFeed feed_;
  std::vector<std::thread> committers_;

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<PgConn> idle_readers_;  // guarded by readers_mu_
  int open_readers_ = 0;              // guarded by readers_mu_

  std::mutex listener_mu_;  // serialises Start/StopListener
  std::thread listener_;
  int wake_[2] = {-1, -1};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  if (options.conninfo.empty()) {
    return InvalidArgumentError("postgres conninfo must not be empty");
  }
  if (options.commit_connections < 1 || options.read_connections < 1) {
    return InvalidArgumentError("postgres commit_connections and read_connections must be >= 1");
  }
  if (options.max_batch_ops < 1) {
    return InvalidArgumentError("postgres max_batch_ops must be at least 1");
  }
  if (options.target_schema_version < 1) {
    return InvalidArgumentError("postgres target_schema_version must be at least 1");
  }
  auto store = std::make_unique<PostgresStore>(options);
  GLFM_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace glfm::store
