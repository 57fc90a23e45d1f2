// The durable store: the source of truth for live instances and for placements (pending
// Creates and their outcomes), with a change feed that lets other glfm nodes follow.
//
// Two backends implement the same interface and pass the same conformance suite
// (store_conformance.cc):
//   - SQLite (sqlite_store.h), the default: one file, WAL, one process owns it;
//   - PostgreSQL 15 (postgres_store.h): several glfm nodes share one database.
//
// Durability: every write returns only after the transaction that holds it is durable
// (committed and, for SQLite with synchronous=FULL and for PostgreSQL, fsynced). Concurrent
// writers are batched into one transaction (group commit); a caller is acknowledged only
// after its batch is durable. On SQLite a reader may see a write a moment before it is
// fsynced (as it may before its writer returns). A write that returns an error may or may
// not have been applied when the error is unavailable (the connection broke mid-commit);
// every write is idempotent or reports what happened (RecordPlacementOutcome), so retrying
// is safe.
//
// Thread-safety: a Store is safe to use from any number of threads at once. Change-feed
// callbacks run on one store-owned thread, one event at a time, in commit order per node;
// a callback may call any Store method (including writes) and may destroy its own
// Subscription. Destroying a Store while calls are in flight on other threads is a bug;
// destroy every Subscription before the Store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glfm/status.h"
#include "glfm/types.h"

namespace glfm::store {

// The newest schema version this binary knows. Opening a database whose schema is newer
// fails with failed-precondition naming both versions.
inline constexpr int kSchemaVersion = 5;

// An instance as stored: the InstanceInfo plus when glfm last wrote it.
struct StoredInstance {
  InstanceInfo info;
  Timestamp update_time{};

  friend bool operator==(const StoredInstance&, const StoredInstance&) = default;
};

// One page of ScanInstanceDocuments: the stored rows as they are, ids and documents back to
// back in one buffer, not decoded yet (DecodeInstanceDocuments or DecodeInstanceViews does
// that).
struct InstanceDocumentPage {
  struct Row {
    size_t at = 0, id_size = 0, doc_size = 0;
    int64_t update_time_ns = 0;
  };
  std::string storage;
  std::vector<Row> rows;
  // Pass as `after_id` for the next page; meaningful only when !done.
  std::string next_after_id;
  // True when no instance sorts after this page.
  bool done = true;

  void Add(std::string_view id, std::string_view doc, int64_t update_time_ns) {
    rows.push_back({storage.size(), id.size(), doc.size(), update_time_ns});
    storage.append(id).append(doc);
  }
  std::string_view id(size_t i) const {
    return std::string_view(storage).substr(rows[i].at, rows[i].id_size);
  }
  std::string_view doc(size_t i) const {
    return std::string_view(storage).substr(rows[i].at + rows[i].id_size, rows[i].doc_size);
  }
};

// Decodes every row of `page` into `out` (resized to match), as ScanInstances would have.
// Errors: data-loss naming the first id whose document does not decode.
Status DecodeInstanceDocuments(const InstanceDocumentPage& page, std::vector<StoredInstance>& out);

// The rows of an InstanceDocumentPage decoded for the start-up load without a Json tree:
// each instance's strings are spans of `bytes`, its metadata a tape (common/json_tape.h).
// A tree of maps per document costs more to build and free than indexing the document does.
struct InstanceViewPage {
  struct Span {
    size_t at = 0, size = 0;
  };
  struct Row {
    Span id, status, ip_address, dns_name, metadata_tape;
    int port = 0;
    int player_count = 0;
    Timestamp create_time{};
    Timestamp update_time{};
  };
  std::string bytes;
  std::vector<Row> rows;

  std::string_view str(Span s) const { return std::string_view(bytes).substr(s.at, s.size); }
};

// Decodes every row of `page` into `out` (cleared first): what DecodeInstanceDocuments
// returns, as spans and tapes. Errors: as DecodeInstanceDocuments.
Status DecodeInstanceViews(const InstanceDocumentPage& page, InstanceViewPage& out);

// One page of ScanInstances, ordered by id (byte order).
struct InstancePage {
  std::vector<StoredInstance> instances;
  // Pass as `after_id` for the next page; meaningful only when !done.
  std::string next_after_id;
  // True when no instance sorts after this page.
  bool done = true;
};

// A placement: a Create that GameLift is placing. Created pending by the node that took the
// Create (its owner); its outcome is recorded once, by whichever node learns it first; the
// owner then delivers the outcome to the caller and marks it delivered.
struct PlacementRecord {
  std::string placement_id;  // 1-48 characters of [A-Za-z0-9-], never reused
  std::string owner_node;    // the node holding the caller's callback
  Timestamp deadline{};      // when the placement counts as timed out
  std::string request_json;  // the Create request, as the fleet core encoded it
  Timestamp create_time{};
  // Set once the outcome is recorded.
  std::optional<std::string> outcome_json;
  Timestamp outcome_time{};  // meaningful when outcome_json is set
  bool delivered = false;

  bool pending() const { return !outcome_json.has_value(); }
  friend bool operator==(const PlacementRecord&, const PlacementRecord&) = default;
};

// A webhook delivery owed by a node (the outbox of glfm serve): POST `body` to `url` until the
// receiver answers 2xx or `expire_time` passes. Kept until the owner deletes it.
struct WebhookRecord {
  std::string id;          // 1-128 characters, no control characters (a placement id)
  std::string owner_node;  // the node that delivers it
  std::string url;
  std::string body;
  Timestamp create_time{};
  Timestamp expire_time{};   // given up after this
  Timestamp next_attempt{};  // not before this
  int attempts = 0;          // failed attempts so far
  std::string last_error;    // why the last attempt failed

  friend bool operator==(const WebhookRecord&, const WebhookRecord&) = default;
};

// Returns OK for a delivery EnqueueWebhooks accepts. Errors: invalid-argument naming
// `field`.<member> and what is wrong.
Status ValidateWebhookRecord(const WebhookRecord& webhook, std::string_view field);

// What changed. Events name ids only: a follower reads the current value with Get*.
struct ChangeEvent {
  enum class Kind {
    kInstanceUpserted,
    kInstanceDeleted,
    kPlacementCreated,
    kPlacementOutcome,  // an outcome was recorded; owner_node says whose it is
    // The feed may have lost events (the PostgreSQL listener reconnected): a follower should
    // reload what it mirrors. Carries no id.
    kResync,
  };
  Kind kind = Kind::kResync;
  std::string id;          // instance id or placement id
  std::string owner_node;  // for placement events

  friend bool operator==(const ChangeEvent&, const ChangeEvent&) = default;
};

// Returns "instance_upserted", "instance_deleted", "placement_created", "placement_outcome"
// or "resync".
std::string_view ChangeKindName(ChangeEvent::Kind kind);

using ChangeCallback = std::function<void(const ChangeEvent& event)>;

// The kinds of change a subscriber wants: a bit per ChangeEvent::Kind. kResync reaches every
// subscriber whatever it asked for.
using ChangeKinds = uint32_t;
constexpr ChangeKinds ChangeKindBit(ChangeEvent::Kind kind) {
  return ChangeKinds{1} << static_cast<int>(kind);
}
inline constexpr ChangeKinds kAllChangeKinds = ~ChangeKinds{0};

// A live registration on the change feed; destroying it unsubscribes. After the destructor
// returns the callback is not running and will not run again (unless the destructor runs
// inside that very callback, where it only prevents later calls).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// One instance write for UpsertInstances.
struct InstanceWrite {
  InstanceInfo info;
  Timestamp update_time{};
};

// One outcome for RecordPlacementOutcomes.
struct OutcomeWrite {
  std::string placement_id;
  std::string outcome_json;
  Timestamp outcome_time{};
  // When set, upserted in the same transaction if and only if this outcome wins: the game
  // session a fulfilled placement created becomes durable together with its outcome.
  std::optional<InstanceWrite> instance = std::nullopt;
};

class Store {
 public:
  virtual ~Store() = default;

  // Returns "sqlite" or "postgres".
  virtual std::string_view backend() const = 0;

  // Returns OK while the store can take writes, else the error that makes it refuse every
  // write until it is reopened (SQLite after a failed fsync: the kernel may have dropped the
  // pages it could not write, so nothing written since can be called durable). Transient
  // errors (an unreachable PostgreSQL, a full disk) do not count: they end by themselves.
  // Cheap; any thread. `glfm serve` fails /healthz with it, so that the process is restarted.
  virtual Status Health() const { return OkStatus(); }

  // --- instances ---

  // Inserts or replaces the instance `info.id`, stamping `update_time`. The last committed
  // write wins. Errors: invalid-argument for an empty id or one with control characters;
  // unavailable when the database cannot be reached; internal for other database errors.
  virtual Status UpsertInstance(const InstanceInfo& info, Timestamp update_time) = 0;

  // Starts UpsertInstance and returns at once: `done` later receives what UpsertInstance
  // would have returned, once the write is durable or has failed. It runs on a store thread
  // (or at once on this one for invalid input or a closed store) and must be quick: it must
  // not call the store's blocking methods. Writes queued in an order commit in that order
  // (SQLite; PostgreSQL with one commit connection, the default).
  virtual void UpsertInstanceAsync(const InstanceInfo& info, Timestamp update_time,
                                   std::function<void(Status)> done) = 0;

  // Upserts every instance in one transaction (all or nothing); for bulk loads and sync.
  // Errors: as UpsertInstance; invalid-argument names the index of the bad entry.
  virtual Status UpsertInstances(const std::vector<InstanceWrite>& writes) = 0;

  // Deletes the instance `id`. Returns true when it existed. Errors: invalid-argument for an
  // empty id; unavailable; internal.
  virtual Result<bool> DeleteInstance(std::string_view id) = 0;

  // Deletes each instance of `ids` whose stored update time is before `older_than`; one
  // written at or after it, or missing, is left alone (reconciliation removes what GameLift
  // no longer lists, and must not remove a write that came in meanwhile). Commits up to
  // kDeleteGroup ids a transaction, each group atomically: after a failure, earlier groups
  // stay deleted. Returns the ids deleted, in the order given. Errors: invalid-argument
  // naming the index of a bad id (nothing deleted); unavailable; internal.
  static constexpr size_t kDeleteGroup = 500;
  virtual Result<std::vector<std::string>> DeleteInstancesOlderThan(
      const std::vector<std::string>& ids, Timestamp older_than) = 0;

  // Returns the instance `id`. Errors: not-found naming the id; data-loss when the stored
  // document does not decode; unavailable; internal.
  virtual Result<StoredInstance> GetInstance(std::string_view id) = 0;

  // Returns up to `limit` (1..100000) instances whose id sorts after `after_id` ("" for the
  // first page), in id order. Errors: invalid-argument for a bad limit; data-loss naming the
  // id whose document does not decode; unavailable; internal.
  virtual Result<InstancePage> ScanInstances(std::string_view after_id, int limit) = 0;

  // ScanInstances without the decoding: the same rows, to be decoded by
  // DecodeInstanceDocuments or DecodeInstanceViews, on whichever thread suits (the start-up
  // load decodes on its reader thread). Errors: as ScanInstances, less data-loss.
  virtual Result<InstanceDocumentPage> ScanInstanceDocuments(std::string_view after_id,
                                                             int limit) = 0;

  // --- placements ---

  // Records a new pending placement (outcome, delivered and outcome_time are ignored).
  // Errors: invalid-argument for a malformed placement id (1-48 of [A-Za-z0-9-]), an empty
  // owner node or request; already-exists when the id was used before; unavailable; internal.
  virtual Status CreatePlacement(const PlacementRecord& placement) = 0;

  // Records the outcome of `placement_id` unless one is recorded already: returns true when
  // this call's outcome was stored (it won), false when an earlier outcome stands (it lost;
  // nothing changed). Errors: not-found when no such placement exists; invalid-argument for
  // an empty outcome; unavailable; internal.
  virtual Result<bool> RecordPlacementOutcome(std::string_view placement_id,
                                              std::string_view outcome_json,
                                              Timestamp outcome_time) = 0;

  // Records each outcome as RecordPlacementOutcome would, all in one transaction, and upserts
  // the `instance` of each entry that wins (as UpsertInstance would, in that transaction).
  // Returns, per entry in order, whether it won, or not-found when no such placement exists.
  // Errors (for the whole call, nothing recorded): invalid-argument naming the index of a
  // malformed entry; unavailable; internal.
  virtual Result<std::vector<Result<bool>>> RecordPlacementOutcomes(
      const std::vector<OutcomeWrite>& writes) = 0;

  // Returns the placement. Errors: not-found naming the id; unavailable; internal.
  virtual Result<PlacementRecord> GetPlacement(std::string_view placement_id) = 0;

  // Returns, per id in order, what GetPlacement would (the record, or not-found naming the
  // id), in far fewer round trips: for a caller that needs many placements at once (a
  // receiver with a batch of events). An id may appear more than once. Errors (for the whole
  // call): unavailable; internal.
  virtual Result<std::vector<Result<PlacementRecord>>> GetPlacements(
      const std::vector<std::string>& placement_ids) = 0;

  // Returns up to `limit` pending placements owned by `owner_node`, oldest deadline first.
  virtual Result<std::vector<PlacementRecord>> ListPendingPlacementsByOwner(
      std::string_view owner_node, int limit) = 0;

  // Returns up to `limit` pending placements of any owner whose deadline is at or before
  // `t`, oldest deadline first: the ones to time out.
  virtual Result<std::vector<PlacementRecord>> ListPendingPlacementsDueBy(Timestamp t,
                                                                          int limit) = 0;

  // Returns up to `limit` placements owned by `owner_node` whose outcome is recorded but not
  // yet delivered, oldest outcome first.
  virtual Result<std::vector<PlacementRecord>> ListUndeliveredOutcomes(std::string_view owner_node,
                                                                       int limit) = 0;

  // Marks the outcome of `placement_id` delivered (idempotent). Errors: not-found; failed-
  // precondition when no outcome is recorded yet; unavailable; internal.
  virtual Status MarkPlacementDelivered(std::string_view placement_id) = 0;

  // Marks every placement of `placement_ids` delivered in one transaction (idempotent), for
  // callers that deliver many outcomes at once. An id that cannot be marked does not stop the
  // others. Errors: invalid-argument naming the index of a malformed id (nothing is marked);
  // the first per-id error in order, as MarkPlacementDelivered's (not-found, failed-
  // precondition; the other ids are marked); unavailable; internal.
  virtual Status MarkPlacementsDelivered(const std::vector<std::string>& placement_ids) = 0;

  // What AdoptOrphans handed over.
  struct Adopted {
    int outcomes = 0;
    int webhooks = 0;
  };
  // Hands `node` what other nodes left undone for longer than a live node would: outcomes
  // recorded before `before` and still undelivered (a live owner delivers at once), and, when
  // `webhooks` (a node that sends none must not take them), webhooks due before `before` (a
  // live owner attempts them when due). Their owner is gone for good, or came back under
  // another name. In one transaction; `node`'s own rows are untouched. Errors:
  // invalid-argument for an empty or malformed node; unavailable; internal.
  virtual Result<Adopted> AdoptOrphans(std::string_view node, Timestamp before, bool webhooks) = 0;

  // Deletes up to `limit` placements whose outcome was recorded before `before` and has been
  // delivered, oldest first, in one transaction; returns how many it deleted. A pending
  // placement or an undelivered outcome is never deleted. Afterwards GetPlacement answers
  // not-found for them. Errors: invalid-argument for a limit outside 1..100000 (nothing is
  // deleted); unavailable; internal.
  virtual Result<int> DeleteDeliveredPlacements(Timestamp before, int limit) = 0;

  // --- webhook outbox ---

  // Adds deliveries to the outbox, all in one transaction. An id already in the outbox keeps
  // its row (so enqueueing again after a restart is harmless). Errors: invalid-argument naming
  // the index and field of a malformed entry (nothing is added); unavailable; internal.
  virtual Status EnqueueWebhooks(const std::vector<WebhookRecord>& webhooks) = 0;

  // Starts EnqueueWebhooks and returns at once; `done` later receives its result, as
  // UpsertInstanceAsync's does (same thread rules). Queued in order with every other write:
  // a write queued after this call commits after these deliveries (one committer).
  virtual void EnqueueWebhooksAsync(const std::vector<WebhookRecord>& webhooks,
                                    std::function<void(Status)> done) = 0;

  // Returns up to `limit` (1..100000) deliveries of `owner_node` whose id sorts after
  // `after_id` ("" for the first page), in id order. Errors: invalid-argument for a bad
  // limit; unavailable; internal.
  virtual Result<std::vector<WebhookRecord>> ListWebhooks(std::string_view owner_node,
                                                          std::string_view after_id, int limit) = 0;

  // Records a failed attempt of delivery `id`: the attempts so far, when to try next and why
  // it failed. Errors: not-found when `id` is not in the outbox; invalid-argument for a
  // malformed id or negative attempts; unavailable; internal.
  virtual Status RescheduleWebhook(std::string_view id, int attempts, Timestamp next_attempt,
                                   std::string_view last_error) = 0;

  // Removes deliveries (delivered or given up) in one transaction; ids not in the outbox are
  // ignored. Errors: invalid-argument naming the index of a malformed id (nothing is
  // removed); unavailable; internal.
  virtual Status DeleteWebhooks(const std::vector<std::string>& ids) = 0;

  // --- change feed ---

  // Registers `callback` for every change of `kinds` committed from now on — by this node
  // and, for PostgreSQL, by every node sharing the database. Changes nobody asked for are
  // not queued: a subscriber that wants outcomes only costs nothing per instance write.
  // Errors: unavailable when the feed cannot start.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(ChangeCallback callback,
                                                          ChangeKinds kinds) = 0;
  Result<std::unique_ptr<Subscription>> Subscribe(ChangeCallback callback) {
    return Subscribe(std::move(callback), kAllChangeKinds);
  }
};

}  // namespace glfm::store
