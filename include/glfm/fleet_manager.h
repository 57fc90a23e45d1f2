// FleetManager: find or create GameLift game sessions for players.
//
// The C++ counterpart of Nakama's runtime.FleetManager as implemented by its GameLift fleet
// manager: Create places a new game session through a GameLift queue and reports the outcome
// through a callback; List/Get/Join/Update/Delete work on the index of live sessions.
//
// Thread-safety: every method may be called from any thread, concurrently. Methods block
// the calling thread on storage and, where noted, on GameLift; callbacks run on the fleet
// manager's own threads.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glfm/json.h"
#include "glfm/status.h"
#include "glfm/types.h"

namespace glfm {

// Per-call settings for Create; every field is optional.
struct CreateOptions {
  // The placement queue; default: the configured GL_PLACEMENT_QUEUE_NAME.
  std::string queue_name;
  // Locations (AWS regions) to try first, in order; default: the queue's own policy.
  std::vector<std::string> location_order;
  // How long to wait for an outcome before resolving the placement by asking GameLift;
  // default: the queue timeout plus a grace period.
  std::optional<std::chrono::milliseconds> deadline;
  // Opaque caller data (at most kMaxCreateContextBytes), stored durably with the placement
  // and handed back as CreateOutcome::context: how a host finds what an outcome belongs to
  // after a restart (glfm serve keeps the placement's webhook URL here).
  std::string context;
};

inline constexpr size_t kMaxCreateContextBytes = 8192;

// What is known of a placement: pending, or its outcome.
struct PlacementState {
  std::string placement_id;
  // When the Create was taken, and when it is resolved by asking GameLift if no event came.
  Timestamp create_time{};
  Timestamp deadline{};
  // Set once the outcome is recorded (by any node); its context is set too.
  std::optional<CreateOutcome> outcome;
  std::string context;

  bool pending() const { return !outcome.has_value(); }
};

// One page of List.
struct ListResult {
  std::vector<InstanceInfo> instances;
  // Empty when there is no further page; otherwise pass it back to List with the same query,
  // limit and order.
  std::string next_cursor;
};

class FleetManager {
 public:
  virtual ~FleetManager() = default;

  // Starts placing a game session for up to `max_players` players (1-200) and returns its
  // placement id at once; `callback` later receives the outcome exactly once (success,
  // timeout or error), even when placement events are lost.
  // `user_ids` (optional, unique) each get a player session; `latencies` guide the
  // location; `metadata` may hold GameSessionData (string), GameSessionName (string),
  // GameProperties (object of string -> string) and, under a user id, that player's
  // PlayerData string.
  // Errors: invalid-argument naming the field; unavailable when GameLift or the store
  // cannot be reached (nothing was placed).
  virtual Result<std::string> Create(int max_players, const std::vector<std::string>& user_ids,
                                     const std::vector<FleetUserLatency>& latencies,
                                     const Json& metadata, CreateCallback callback,
                                     const CreateOptions& options = {}) = 0;

  // Stops a pending placement; its callback reports an error with code cancelled.
  // Errors: not-found for an unknown placement id; failed-precondition when it already
  // has an outcome.
  virtual Status Cancel(std::string_view placement_id) = 0;

  // Returns what is known of a placement created by any node sharing this fleet manager's
  // store, including before a restart. Errors: not-found for an unknown placement id;
  // unavailable when the store cannot be reached.
  virtual Result<PlacementState> GetPlacement(std::string_view placement_id) = 0;

  // Lists live game sessions matching `query` (Nakama storage-index syntax; empty lists
  // everything), at most `limit` (1-10000), in `order` (fields, "-" for descending; default
  // emptiest first, then newest), continuing from `cursor`. Never calls GameLift.
  // Errors: invalid-argument for a bad query, limit, order or a cursor from another query.
  virtual Result<ListResult> List(std::string_view query, int limit, std::string_view cursor,
                                  const std::vector<std::string>& order = {}) = 0;

  // Returns a game session by ARN, refreshed from GameLift. A terminated session is returned
  // with its status and removed from the index.
  // Errors: not-found; unavailable when GameLift cannot be reached.
  virtual Result<InstanceInfo> Get(std::string_view id) = 0;

  // Reserves a player session for each of `user_ids` on game session `id`; `metadata` maps a
  // user id to its PlayerData. Errors: resource-exhausted when the session is full,
  // failed-precondition when it does not accept players, not-found, invalid-argument.
  virtual Result<JoinInfo> Join(std::string_view id, const std::vector<std::string>& user_ids,
                                const std::map<std::string, std::string>& metadata) = 0;

  // Records a game server's report: the player count when given, and each of the metadata
  // keys present (GameSessionData, GameSessionName, GameProperties) overwritten. Durable
  // when it returns. Errors: invalid-argument, not-found.
  virtual Status Update(std::string_view id, std::optional<int> player_count,
                        const Json& metadata) = 0;

  // Starts Update without blocking the calling thread when this fleet manager can do so:
  // then returns true and later calls `done` once with what Update would have returned (on a
  // fleet-manager or store thread; `done` must be quick). Returns false without calling
  // `done` when the update needs blocking work first (a store read, a GameLift look-up, the
  // session busy with a blocking call); call Update then. The default never can.
  virtual bool TryUpdateAsync(std::string_view id, std::optional<int> player_count,
                              const Json& metadata, std::function<void(Status)> done) {
    (void)id, (void)player_count, (void)metadata, (void)done;
    return false;
  }

  // Forgets a game session (it terminated). Idempotent: deleting an unknown id is OK.
  virtual Status Delete(std::string_view id) = 0;
};

}  // namespace glfm
