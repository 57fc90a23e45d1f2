// InstanceIndex: the in-memory, queryable index of live game sessions (InstanceInfo).
//
// The fleet core upserts an instance whenever it learns of one (placement events, Get,
// status RPCs, reconciliation) and deletes it when it ends; List answers from Query. The
// query language is Nakama's storage-index syntax (index/query.h, docs/queries.md) over this
// document per instance:
//
//   value.id, value.status, value.player_count, value.create_time,
//   value.connection_info.{ip_address, dns_name, port}, value.metadata.<path>
//   create_time, update_time (top level)
//
// Strings and booleans (`T`/`F`) are keywords matched whole and case-sensitively; numbers are
// numbers; create_time/update_time (and value.create_time) are dates; array elements are
// indexed each under the array's path; nested objects flatten to dotted paths. The README's
// camelCase spellings (value.playerCount, value.connectionInfo.ipAddress, ...) are aliases.
//
// Results come in an explicit order (default: value.player_count ascending, then create_time
// descending — emptiest first, then newest), ties broken by id, with an opaque keyset cursor.
// Paging with a cursor over an unchanged set never skips or repeats an instance. When the
// set changes between pages no instance is repeated: the cursor remembers the index's change
// sequence at the first page, and later pages leave out instances whose sort position (or,
// for orders other than the default, any field) changed after it, or that arrived after it.
//
// Storage: each instance is kept compactly (its keywords interned once per field, its
// metadata encoded against those keywords), and Query and Get build the InstanceInfo they
// return from it; a returned shared_ptr<const InstanceInfo> is the caller's own copy, equal
// to what was upserted (with later player counts), and stays valid after the index changes.
// At a million sessions the index holds about 440 bytes per session (bench/bench_index.cc,
// docs/queries.md).
//
// Concurrency: every method may be called from any thread; typically many readers (List)
// run while RPC and event threads upsert. Two std::shared_mutex guard the index: the main
// lock, and an id lock for the id table and the documents' allocations.
// - Query, Get and size hold the main lock shared: any number of readers run in parallel.
// - Upsert, UpsertMany and Delete hold both locks exclusively; they do no I/O. UpsertMany
//   holds them for the whole batch (readers see all of a batch or none of it); a batch that
//   brings 50k new keywords and instances or more sorts them on one helper thread, which
//   ends before UpsertMany returns.
// - SetPlayerCount, the hot path, applies its update at once under the main lock when no
//   updates are queued and the lock is free (a try, never a wait). Otherwise it finds the
//   instance holding only the id lock shared, so readers neither delay it nor are delayed by
//   it, and queues the new count under a small mutex of its own. The queue is applied,
//   exclusively and in arrival order, by the next Query or Get before it reads, by Upsert,
//   UpsertMany and Delete before they change anything, and by SetPlayerCount itself once
//   4096 are queued.
// Every read therefore sees every update that returned before the read began.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glfm/status.h"
#include "glfm/types.h"

namespace glfm::index {

struct IndexOptions {
  // The most instances the index holds. Upserting a new id into a full index fails with
  // resource-exhausted and changes nothing; updating an id already present always works.
  // GameLift's default quota is far below this. Values above 2^31 count as 2^31 (slots are
  // 32-bit).
  size_t max_entries = 1'000'000;
  // Tuning: how many instances a default-order query with a must wildcard, regex or fuzzy
  // clause examines before it finds its candidates through the keyword dictionary instead.
  size_t walk_budget = 20'000;
  // Tuning: a must wildcard, regex or fuzzy clause whose keywords lie in a range of at most
  // this many distinct keywords of its field's sorted dictionary (a literal prefix such as
  // `session-12*`) takes its candidates from that range before anything else.
  size_t dictionary_range_budget = 1024;
  // Tuning: the default order keeps most instances in a base sorted once, with a bitmap per
  // player count, and the rest (new or re-keyed since) in a B-tree; the two are merged when
  // the B-tree holds more than max(this, a quarter of the base).
  size_t order_overlay_min = 4096;
};

// One field of an order: `value.player_count` ascending, `-create_time` descending.
struct OrderField {
  std::string field;  // canonical name
  bool descending = false;

  friend bool operator==(const OrderField&, const OrderField&) = default;
};

// Parses an order list ("value.player_count", "-create_time"); an empty list is the default
// order. Errors: invalid-argument naming an empty or malformed entry.
Result<std::vector<OrderField>> ParseOrder(const std::vector<std::string>& order);

// The default order: value.player_count, -create_time.
const std::vector<OrderField>& DefaultOrder();

// One instance for UpsertMany: the instance and when it last changed.
struct IndexEntry {
  InstanceInfo info;
  Timestamp update_time{};
};

// One instance for UpsertViews, as views of what the caller holds: an InstanceInfo's fields,
// with its metadata as a tape (common/json_tape.h) instead of a Json tree. The start-up load
// decodes stored documents into these (store::DecodeInstanceViews) without building a tree.
struct IndexEntryView {
  std::string_view id;
  std::string_view status;
  std::string_view ip_address;
  std::string_view dns_name;
  int port = 0;
  int player_count = 0;
  Timestamp create_time{};
  Timestamp update_time{};
  std::string_view metadata_tape;  // the tape of an InstanceInfo::metadata
};

// Returns the view of `info`, last changed at `update_time`, whose metadata has the tape
// `metadata_tape`.
IndexEntryView ViewOf(const InstanceInfo& info, Timestamp update_time,
                      std::string_view metadata_tape);

struct QueryResult {
  std::vector<std::shared_ptr<const InstanceInfo>> instances;
  // Empty when there is nothing after this page.
  std::string cursor;
};

class InstanceIndex {
 public:
  static constexpr int kMaxLimit = 10000;

  explicit InstanceIndex(IndexOptions options = {});
  ~InstanceIndex();
  InstanceIndex(const InstanceIndex&) = delete;
  InstanceIndex& operator=(const InstanceIndex&) = delete;

  // Inserts or replaces the instance with `info.id`, last changed at `update_time`.
  // Errors: invalid-argument for an empty id; resource-exhausted when the id is new and the
  // index already holds max_entries instances.
  Status Upsert(const InstanceInfo& info, Timestamp update_time);

  // Upserts every entry, in order (a later entry with the same id wins), under one exclusive
  // lock, sorting the new keys once: the fast way to fill the index at start-up. Errors, which
  // leave the index unchanged: invalid-argument naming the first entry with an empty id;
  // resource-exhausted when the new ids would take the index past max_entries.
  Status UpsertMany(std::span<const IndexEntry> entries);
  // UpsertMany of views; the same errors.
  Status UpsertViews(std::span<const IndexEntryView> entries);

  // Sets the player count of instance `id` (the hot path of join/leave reports), keeping the
  // rest. Errors: not-found when no instance has `id`.
  Status SetPlayerCount(std::string_view id, int player_count, Timestamp update_time);

  // Removes the instance with `id`; returns whether it was present.
  bool Delete(std::string_view id);

  // Returns the instance with `id`, or nullptr.
  std::shared_ptr<const InstanceInfo> Get(std::string_view id) const;

  // Returns how many instances the index holds.
  size_t size() const;

  // Returns up to `limit` instances matching `query` in `order` (empty = default), starting
  // after `cursor` (empty = the first page). Errors: invalid-argument for a query that does
  // not parse (naming position and token), a limit outside 1..10000, a bad order, or a
  // cursor that is malformed or was issued for a different query, limit or order.
  Result<QueryResult> Query(std::string_view query, int limit, std::string_view cursor = {},
                            const std::vector<std::string>& order = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace glfm::index
