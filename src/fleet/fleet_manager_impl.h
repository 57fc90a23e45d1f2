// GameLiftFleetManager: the glfm::FleetManager over the instance index, the durable store and
// GameLift/SQS (docs/fleet.md describes the flow and every thread).
//
// Create stores the pending placement (owner node, deadline, request) before it sends
// StartGameSessionPlacement; placement events from SQS (SNS-enveloped or raw) record the
// outcome once in the store (first writer wins), write the instance to store and index, and
// then deliver the outcome exactly once on the owning node: to the Create callback when this
// process still holds it, otherwise to the OutcomeListener. A deadline resolver asks GameLift
// (DescribeGameSessionPlacement) about placements with no outcome by their deadline, so every
// Create ends even when events are lost. A reconciler mirrors GameLift's ACTIVE sessions.
//
// Thread-safety: every public method may be called from any thread, concurrently. Callbacks
// and the listener run on fleet-manager threads (event receivers, deadline resolver, change
// feed) and must not block for long; they may call back into the fleet manager.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gamelift/gamelift.h"
#include "gamelift/sqs.h"
#include "glfm/fleet_manager.h"
#include "index/index.h"
#include "store/store.h"

namespace glfm::fleet {

// Receives outcomes that have no live Create callback in this process (the Create was taken
// before a restart). Called once per placement owned by this node.
using OutcomeListener = std::function<void(const CreateOutcome& outcome)>;

struct FleetOptions {
  // This node's name: 1-12 of [A-Za-z0-9]; the prefix of every placement id it creates.
  std::string node_id = "node1";
  // The default placement queue (GL_PLACEMENT_QUEUE_NAME). Required.
  std::string queue_name;
  // What Reconcile mirrors: the alias (GL_AWS_ALIAS_ID), else each of the fleets. Both empty:
  // no reconciliation.
  std::string alias_id;
  std::vector<std::string> fleet_ids;
  // The SQS queue of placement events (GL_PLACEMENT_EVENTS_SQS_URL); empty: no receivers
  // (outcomes then come from the deadline resolver only).
  std::string events_queue_url;
  int receivers = 2;                    // concurrent long-poll receivers
  bool defer_receivers = false;         // true: receivers start at StartReceivers()
  int receive_wait_seconds = 20;        // long-poll wait, 0-20
  int visibility_timeout_seconds = -1;  // -1: the queue's
  // Unparseable and foreign messages: deleted (true) or left for the queue's dead-letter
  // redrive (false).
  bool delete_unparseable = true;
  // The placement queue's timeout; a Create's default deadline is this plus the grace.
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(600)};
  std::chrono::milliseconds deadline_grace{std::chrono::seconds(30)};
  // How often the deadline resolver looks for overdue placements.
  std::chrono::milliseconds deadline_tick{std::chrono::seconds(1)};
  // Backoff of DescribeGameSessionPlacement for one placement after a failed look-up
  // (throttling): doubles from the first value up to the second.
  std::chrono::milliseconds resolve_backoff_min{std::chrono::seconds(1)};
  std::chrono::milliseconds resolve_backoff_max{std::chrono::seconds(60)};
  // Periodic reconciliation; zero disables the timer (Reconcile still runs at Start when
  // reconcile_at_start).
  std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};
  bool reconcile_at_start = true;
  // Adoption of what other nodes left undone: outcomes undelivered and webhooks overdue for
  // longer than this are taken over by this node (Store::AdoptOrphans), at start and then
  // every min(adopt_after / 4, 1 min); their owner is gone for good or came back under another
  // name. Zero: never.
  std::chrono::milliseconds adopt_after{std::chrono::minutes(10)};
  // Called after webhooks were adopted (glfm serve: its dispatcher loads them). Unset: this
  // node sends no webhooks and adopts none.
  std::function<void()> on_adopted_webhooks;
  // Placements whose outcome was delivered longer ago than this are deleted
  // (Store::DeleteDeliveredPlacements), every min(placement_retention / 4, 1 min) on the
  // deadline thread, kPruneGroup a transaction and at most kPrunePerPass a pass; afterwards
  // Store::GetPlacement answers not-found for them. Pending placements and undelivered
  // outcomes are never deleted. Zero: kept for ever.
  std::chrono::milliseconds placement_retention{std::chrono::hours(24)};
  // Retries of one asynchronous UpdateGameSession (GameProperties) before it is dropped.
  int update_attempts = 5;
  std::chrono::milliseconds update_retry_delay{std::chrono::milliseconds(500)};
  // Follow instance changes of other nodes through the store's change feed (PostgreSQL with
  // several nodes). Off by default: one node is the only writer of its index.
  bool mirror_instance_changes = false;
  // This node is the only writer of the store (SQLite): Update reads the instance it changes
  // from the index (which then always matches the store) instead of the store, and the
  // change feed's outcome events are not followed (this node records and delivers each
  // outcome itself).
  bool single_writer = false;
  // Called with the time from an event's ReceiveMessage answer to its Create callback
  // returning (metrics, bench_fleet); runs on the receiver thread.
  std::function<void(std::chrono::nanoseconds)> on_event_latency;
  // The clock of deadlines and of sync's "older than the start"; default system clock.
  std::function<Timestamp()> now;
};

// Counters, for tests and metrics.
struct FleetStats {
  uint64_t events_received = 0;     // messages received
  uint64_t events_applied = 0;      // outcomes this node recorded from events
  uint64_t events_duplicate = 0;    // events whose placement already had an outcome
  uint64_t events_unparseable = 0;  // not JSON / not an event
  uint64_t events_foreign = 0;      // events of placements this store does not know
  uint64_t messages_deleted = 0;
  uint64_t resolved_by_deadline = 0;
  uint64_t adopted_outcomes = 0;  // taken over from other nodes (AdoptOrphans)
  uint64_t adopted_webhooks = 0;
  uint64_t placements_pruned = 0;    // delivered long ago and deleted (placement_retention)
  uint64_t sessions_remembered = 0;  // sessions whose maximum players this node keeps
  uint64_t callbacks = 0;            // outcomes handed to Create callbacks
  uint64_t listener_calls = 0;       // outcomes handed to the listener
  uint64_t update_game_session_calls = 0;
  uint64_t reconcile_removed = 0;
};

class GameLiftFleetManager final : public FleetManager {
 public:
  // Starts the fleet manager: loads the index from the store, delivers this node's recorded
  // but undelivered outcomes to `listener`, reconciles (when configured) and starts the
  // receivers, the deadline resolver, the update worker and the reconcile timer. Nothing
  // passed is owned; all must outlive the fleet manager. Errors: invalid-argument naming a
  // bad option; the store's errors.
  static Result<std::unique_ptr<GameLiftFleetManager>> Start(
      FleetOptions options, store::Store* store, index::InstanceIndex* index,
      gamelift::GameLiftClient* gamelift, gamelift::SqsClient* sqs, OutcomeListener listener);

  ~GameLiftFleetManager() override;

  // Stops every thread (a receiver in a long poll returns when its poll does). Pending Create
  // callbacks are dropped without a call: their outcomes stay in the store for the next
  // start. Idempotent.
  void Stop();

  Result<std::string> Create(int max_players, const std::vector<std::string>& user_ids,
                             const std::vector<FleetUserLatency>& latencies, const Json& metadata,
                             CreateCallback callback, const CreateOptions& options = {}) override;
  Status Cancel(std::string_view placement_id) override;
  Result<PlacementState> GetPlacement(std::string_view placement_id) override;
  Result<ListResult> List(std::string_view query, int limit, std::string_view cursor,
                          const std::vector<std::string>& order = {}) override;
  Result<InstanceInfo> Get(std::string_view id) override;
  Result<JoinInfo> Join(std::string_view id, const std::vector<std::string>& user_ids,
                        const std::map<std::string, std::string>& metadata) override;
  Status Update(std::string_view id, std::optional<int> player_count,
                const Json& metadata) override;
  // Takes the fast path when `single_writer` is set and the session is in the index with a
  // known maximum and not locked by a blocking call: the new state is computed from the index
  // (or the latest update still in flight), the store write is queued, and `done` runs on the
  // store's completion thread once it is durable, after the index has the new state. Updates
  // of one session commit in the order they were queued.
  bool TryUpdateAsync(std::string_view id, std::optional<int> player_count, const Json& metadata,
                      std::function<void(Status)> done) override;
  Status Delete(std::string_view id) override;

  // Starts the receivers when options.defer_receivers held them back. Idempotent.
  void StartReceivers();

  // Mirrors GameLift's ACTIVE game sessions: collects every page first, upserts them, then
  // removes stored sessions missing from the whole set and last written before the start.
  // Errors: GameLift's (nothing is removed then); the store's.
  Status Reconcile();

  // Resolves every placement whose deadline has passed (what the resolver thread does each
  // tick); returns how many got an outcome.
  int ResolveDue();

  // Blocks until no asynchronous UpdateGameSession is queued or running (tests).
  void WaitForUpdates();

  FleetStats stats() const;

  // Returns the owning node encoded in a placement id ("" when malformed).
  static std::string OwnerOfPlacementId(std::string_view placement_id);

  struct Impl;

 private:
  explicit GameLiftFleetManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A decoded GameLift Queue Placement Event.
struct PlacementEvent {
  std::string type;  // PlacementFulfilled, PlacementTimedOut, PlacementCancelled, PlacementFailed
  std::string placement_id;
  std::string game_session_arn;
  std::string ip_address;
  std::string dns_name;
  int port = 0;
  std::string region;
  Timestamp start_time{};
  Timestamp end_time{};
  std::vector<SessionInfo> placed_player_sessions;  // user id, player session id
  std::string error_message;                        // PlacementFailed: the reason, if any
  std::string raw;                                  // the event JSON (without envelope)
};

// Decodes an SQS message body: an SNS Notification envelope whose Message is the event, or
// the raw event. Tolerates port as string or number, an empty dnsName and extra fields.
// Errors: invalid-argument describing why the body is not a placement event.
Result<PlacementEvent> ParsePlacementEvent(std::string_view body);

}  // namespace glfm::fleet
