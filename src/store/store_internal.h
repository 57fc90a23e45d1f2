// Internals shared by the store backends: input validation, the instance document codec,
// the group-commit queue and the in-process change-feed dispatcher. Not part of the store's
// public interface (store.h).
//
// Thread-safety: the free functions are pure. CommitQueue and ChangeFeed are safe to use
// from any thread; see each class.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "glfm/status.h"
#include "glfm/types.h"
#include "store/store.h"

namespace glfm::store::internal {

// Nanoseconds since the Unix epoch, the column type of every timestamp.
int64_t ToNanos(Timestamp t);
Timestamp FromNanos(int64_t ns);

// Returns OK when `id` is a usable instance id: non-empty, at most 2048 bytes, no control
// characters. Errors: invalid-argument naming `field`.
Status ValidateInstanceId(std::string_view id, std::string_view field = "instance id");
// Returns OK for 1-48 characters of [A-Za-z0-9-]. Errors: invalid-argument.
Status ValidatePlacementId(std::string_view id, std::string_view field = "placement_id");
// Returns OK for a placement that CreatePlacement may store. Errors: invalid-argument naming
// the field.
Status ValidateNewPlacement(const PlacementRecord& placement);
// Returns OK for a webhook id: 1-128 bytes, no control characters. Errors: invalid-argument
// naming `field`.
Status ValidateWebhookId(std::string_view id, std::string_view field = "webhook id");
// Returns OK for a delivery EnqueueWebhooks may store. Errors: invalid-argument naming
// `field` and what is wrong.
Status ValidateWebhook(const WebhookRecord& webhook, std::string_view field);
// Returns OK for 1..100000. Errors: invalid-argument naming the limit.
Status ValidateLimit(int limit);

// Encodes an instance as the stored JSON document (glfm/codec.h, Nakama's field names);
// without its "id" when `with_id` is false (the SQLite store's: the id is the row's key).
std::string EncodeInstance(const InstanceInfo& info, bool with_id = true);
// Decodes a stored document, with or without its "id": the instance's id is `id`, the row's
// key. Errors: data-loss naming `id` and what is wrong.
Result<StoredInstance> DecodeInstance(std::string_view id, std::string_view doc,
                                      int64_t update_time_ns);

// One write inside a WriteRequest; a backend fills in the results.
struct WriteOp {
  enum class Kind {
    kUpsert,
    kDelete,
    kCreatePlacement,
    kRecordOutcome,
    kMarkDelivered,
    kEnqueueWebhook,
    kRescheduleWebhook,
    kDeleteWebhook,
    kAdoptOrphans,  // owner_node: the adopting node; time_ns: the cutoff; number: 1 = webhooks too
    kDeleteDelivered,  // time_ns: the cutoff; number: the limit
  };
  Kind kind = Kind::kUpsert;
  std::string id;  // instance, placement or webhook id
  // Instance document, request JSON or outcome JSON; webhook: url (enqueue) or last error
  // (reschedule).
  std::string text;
  int64_t time_ns = 0;  // update time, create time or outcome time
  std::string owner_node;
  int64_t deadline_ns = 0;  // placement deadline; webhook expire time
  // Webhooks only: the body (enqueue), next attempt and attempts (enqueue, reschedule).
  std::string text2;
  int64_t time2_ns = 0;
  int64_t number = 0;
  // Record outcome only: an instance to upsert in the same transaction when the outcome wins.
  bool with_instance = false;
  std::string instance_id;
  std::string instance_doc;
  int64_t instance_time_ns = 0;
  // Delete only: remove the instance only when its stored update time is before time_ns.
  bool only_older = false;

  // Results.
  Status status;             // per-op logical outcome (already-exists, not-found, ...)
  bool flag = false;         // delete: existed; record outcome: won
  std::string result_owner;  // record outcome: the placement's owner (for the event)
  int64_t adopted_outcomes = 0, adopted_webhooks = 0;  // adopt orphans
  int64_t deleted = 0;                                 // delete delivered placements

  void ResetResult() {
    status = OkStatus();
    flag = false;
    result_owner.clear();
    adopted_outcomes = adopted_webhooks = 0;
    deleted = 0;
  }
};

// What a caller blocks on until its request is done: one per thread, reused for every
// request. The caller sleeps on a futex word shared by all callers, with `bit` as its
// FUTEX_WAIT_BITSET mask, so that Complete wakes a whole batch with one system call (bits
// go to callers in submission order, kWakeGroup callers each, round the 32 bits: a batch
// holds consecutive callers, so few callers of other batches share its bits and wake for
// nothing). Complete touches `done` last: after that the caller may return, and reuse it.
struct Waiter {
  static constexpr uint32_t kPending = 0, kSleeping = 1, kDone = 2;
  std::atomic<uint32_t> done{kPending};
  uint32_t bit = 1;  // set by Submit
};

// A caller's unit of writes: committed atomically, acknowledged when durable.
struct WriteRequest {
  std::vector<WriteOp> ops;
  Status status;  // transaction-level failure; op statuses are meaningful only when OK
  // Set by Submit: the calling thread's waiter.
  std::shared_ptr<Waiter> waiter;
  // Set by SubmitAsync instead of a waiter: called by Complete with the request, which it
  // then owns (and deletes).
  std::function<void(WriteRequest*)> on_done;
};

// Appends the change events a committed op produced.
void AppendEvents(const WriteOp& op, std::vector<ChangeEvent>& events);

// The group-commit queue: callers Submit and block; one or more committer threads Take
// batches of requests, commit each batch in one transaction and Complete it.
class CommitQueue {
 public:
  explicit CommitQueue(size_t max_batch_ops) : max_batch_ops_(max_batch_ops) {}

  // Enqueues `request` and blocks until a committer completes it. Errors: unavailable when
  // the queue is stopped.
  Status Submit(WriteRequest& request);

  // Enqueues `request` and returns at once; `on_done` (required) is later called with the
  // completed request — on the thread that completes its batch, or here with status
  // unavailable when the queue is stopped — and owns it from then on. Requests commit in the
  // order they were queued (Submit and SubmitAsync alike) with one committer.
  void SubmitAsync(std::unique_ptr<WriteRequest> request,
                   std::function<void(WriteRequest*)> on_done);

  // Blocks until requests are queued or Stop; moves up to max_batch_ops ops' worth (at least
  // one request) into `batch`. Returns false when stopped and empty.
  bool Take(std::vector<WriteRequest*>& batch);

  // As Take, but waits until `min_requests` (at least 1) are queued, `deadline` passes or
  // Nudge is called, and returns with `batch` empty when nothing was queued; takes at most
  // `max_ops` ops' worth (at least one request). For a committer that keeps a transaction
  // open while it waits for a later stage: while it waits, Submit wakes it only once
  // `min_requests` are queued, so a burst of callers costs it one wake-up, not one each.
  // Returns false when stopped and empty.
  bool TakeUntil(std::vector<WriteRequest*>& batch, size_t max_ops, size_t min_requests,
                 std::chrono::steady_clock::time_point deadline);

  // Makes a waiting TakeUntil (or the next one) return at once.
  void Nudge();

  // Wakes the callers of every request in `batch` (their fields must be filled in), all with
  // one system call. After this the requests must not be touched: their callers may have
  // returned.
  static void Complete(const std::vector<WriteRequest*>& batch);

  // Stops accepting requests; Take drains what is queued, then returns false.
  void Stop();

 private:
  const size_t max_batch_ops_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<WriteRequest*> queue_;  // guarded by mu_
  bool stopped_ = false;             // guarded by mu_
  bool nudged_ = false;              // guarded by mu_
  // How many queued requests wake the committer: TakeUntil's min_requests while it waits,
  // else 1. Guarded by mu_.
  size_t wake_at_ = 1;
};

// One stage of a backend's commit pipeline: a thread that runs `fn` on the batches handed
// to it, in the order they came, each time on everything queued so far (so a stage that
// fsyncs covers all of them with one call). Push is safe from any thread; the destructor
// runs what is queued, then joins.
class BatchStage {
 public:
  using Batch = std::vector<WriteRequest*>;
  using Fn = std::function<void(std::vector<Batch>& batches)>;
  // `name` names the thread (at most 15 characters; top -H, perf).
  BatchStage(const char* name, Fn fn);
  ~BatchStage();
  BatchStage(const BatchStage&) = delete;
  BatchStage& operator=(const BatchStage&) = delete;

  void Push(Batch batch);

  // Runs the stage's function on `batches` on the calling thread when nothing is queued for
  // or running on the stage's own thread, so that order is kept; returns false, touching
  // nothing, otherwise. Saves a thread hop (a wake-up and a context switch) for a stage
  // that is idle anyway. Not for a stage that pushes to itself.
  bool RunHereIfIdle(std::vector<Batch>& batches);

 private:
  void Run();

  const char* const name_;
  const Fn fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Batch> queue_;  // guarded by mu_
  bool stop_ = false;         // guarded by mu_
  bool busy_ = false;         // fn_ is running (here or in RunHereIfIdle); guarded by mu_
  std::thread thread_;
};

// In-process change-feed dispatcher: Publish queues events; one thread delivers them to
// every subscriber in order.
class ChangeFeed {
 public:
  ChangeFeed();
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Queues the events of `events` some subscriber wants (kResync: any subscriber), in order;
  // returns at once, taking no lock, when there are none.
  void Publish(std::vector<ChangeEvent> events);
  // Returns true when at least one subscription is live.
  bool HasSubscribers();
  // Registers `callback` for events of `kinds`; the returned handle unsubscribes when
  // destroyed.
  std::unique_ptr<Subscription> Subscribe(ChangeCallback callback,
                                          ChangeKinds kinds = kAllChangeKinds);

 private:
  struct Entry {
    ChangeCallback callback;
    ChangeKinds kinds = kAllChangeKinds;
    std::mutex call_mu;  // held while the callback runs
    bool active = true;  // guarded by call_mu
  };
  // Sets wanted_ from entries_ (mu_ held).
  void UpdateWanted();
  class Handle;
  void Run();
  void Unsubscribe(uint64_t id);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChangeEvent> events_;                      // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Entry>> entries_;  // guarded by mu_
  // The union of the entries' kinds, and kResync while any: written under mu_, read by
  // Publish without it (an event published as a subscription starts may miss it, as one
  // committed just before would).
  std::atomic<ChangeKinds> wanted_{0};
  uint64_t next_id_ = 1;  // guarded by mu_
  bool stop_ = false;     // guarded by mu_
  std::thread thread_;
};

// PostgreSQL NOTIFY payloads: one line per event, "U\tid", "D\tid", "C\towner\tid",
// "O\towner\tid"; ids and owners never hold tabs or newlines (validated on write).
void AppendEventLine(const ChangeEvent& event, std::string& out);
std::vector<ChangeEvent> ParseEventLines(std::string_view payload);

// The write half of Store, the same for both backends: each call validates its input, turns
// it into a WriteRequest and hands that to the backend's group-commit queue, then reads the
// results back. A backend derives from this and supplies its queue and the read half.
class QueuedWriteStore : public Store {
 public:
  // The backend's ScanInstanceDocuments, decoded.
  Result<InstancePage> ScanInstances(std::string_view after_id, int limit) final;
  Status UpsertInstance(const InstanceInfo& info, Timestamp update_time) override;
  Status UpsertInstances(const std::vector<InstanceWrite>& writes) override;
  Result<bool> DeleteInstance(std::string_view id) override;
  Result<std::vector<std::string>> DeleteInstancesOlderThan(const std::vector<std::string>& ids,
                                                            Timestamp older_than) override;
  Status CreatePlacement(const PlacementRecord& placement) override;
  Result<bool> RecordPlacementOutcome(std::string_view placement_id, std::string_view outcome_json,
                                      Timestamp outcome_time) override;
  Result<std::vector<Result<bool>>> RecordPlacementOutcomes(
      const std::vector<OutcomeWrite>& writes) override;
  Status MarkPlacementDelivered(std::string_view placement_id) override;
  Status MarkPlacementsDelivered(const std::vector<std::string>& placement_ids) override;
  Result<Adopted> AdoptOrphans(std::string_view node, Timestamp before, bool webhooks) override;
  Result<int> DeleteDeliveredPlacements(Timestamp before, int limit) override;
  Status EnqueueWebhooks(const std::vector<WebhookRecord>& webhooks) override;
  Status RescheduleWebhook(std::string_view id, int attempts, Timestamp next_attempt,
                           std::string_view last_error) override;
  Status DeleteWebhooks(const std::vector<std::string>& ids) override;
  void UpsertInstanceAsync(const InstanceInfo& info, Timestamp update_time,
                           std::function<void(Status)> done) override;
  void EnqueueWebhooksAsync(const std::vector<WebhookRecord>& webhooks,
                            std::function<void(Status)> done) override;

 protected:
  // `docs_with_id`: whether stored instance documents repeat the id (EncodeInstance).
  explicit QueuedWriteStore(bool docs_with_id) : docs_with_id_(docs_with_id) {}

  // Returns the queue the backend's committer threads take from.
  virtual CommitQueue& write_queue() = 0;

 private:
  void FillUpsert(WriteOp& op, const InstanceInfo& info, Timestamp update_time) const;

  const bool docs_with_id_;
  // Validates and fills one webhook op. Errors: as EnqueueWebhooks.
  static Status FillWebhook(WriteOp& op, const WebhookRecord& w, const std::string& field);
  // Queues `r` without waiting; `done` gets the transaction's error, else the first op's.
  void SubmitAsync(std::unique_ptr<WriteRequest> r, std::function<void(Status)> done);
  // Submits a one-op request; returns the transaction's error, else the op's.
  Status SubmitOne(WriteRequest& r);
};

}  // namespace glfm::store::internal
