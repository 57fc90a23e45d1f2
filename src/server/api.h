// Api: the HTTP faces of a FleetManager — the Nakama-compatible game-server status RPCs
// (/v2/rpc/update_instance_info, /v2/rpc/delete_instance_info) and the /v1 JSON API
// (placements with long-poll, instances). docs/http-api.md describes every route.
//
// No handler blocks an IO thread: fleet calls run on the Api's worker pool and answer through
// the Responder; a long poll parks its Responder until the outcome or its wait ends.
//
// Thread-safety: AddRoutes before the router serves; OnOutcome from any thread; Shutdown from
// the controlling thread (answers parked long polls, then joins the workers).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "glfm/fleet_manager.h"
#include "server/router.h"

namespace glfm::server {

struct ApiOptions {
  // The server key of the status RPCs. Required.
  std::string http_key;
  // Bearer keys of /v1; empty: /v1 is open (local mode).
  std::vector<std::string> api_keys;
  int workers = 8;
  // The longest ?wait= a placement long poll may ask for.
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};
};

class Api {
 public:
  // `fleet` is not owned and must outlive the Api.
  Api(FleetManager* fleet, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Sets the fleet manager (when it starts after the Api); before any request is served.
  void SetFleet(FleetManager* fleet);

  // Adds /v2/rpc/{id} (GET, POST) and the /v1 routes.
  void AddRoutes(Router& router);

  // Records a placement outcome (the Create callback and the fleet's OutcomeListener) and
  // answers the long polls waiting for it.
  void OnOutcome(const CreateOutcome& outcome);

  // Answers every parked long poll with the placement's current state; later long polls
  // answer at once. Idempotent.
  void StopWaiting();

  // StopWaiting, then finishes the queued work and joins the workers. Idempotent.
  void Shutdown();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Returns the Nakama error answer of a status RPC:
// {"code":N,"error":{"Message":"...","Code":N},"message":"..."} with grpc-gateway's status.
HttpResponse NakamaRpcError(const Status& status);
// Returns the Nakama error answer of the RPC transport (auth, unknown RPC, body):
// {"code":N,"error":"...","message":"..."}.
HttpResponse NakamaTransportError(const Status& status);

}  // namespace glfm::server
