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
#include "server/events.h"
#include "server/router.h"
#include "server/webhooks.h"

namespace glfm::server {

struct ApiOptions {
  // The server key of the status RPCs. Required.
  std::string http_key;
  // Bearer keys of /v1; empty: /v1 is open (local mode).
  std::vector<std::string> api_keys;
  int workers = 8;
  // The longest ?wait= a placement long poll may ask for.
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};
  // Webhook deliveries (not owned; null: a Create with webhook_url is failed-precondition).
  WebhookDispatcher* webhooks = nullptr;
  // Where outcomes of placements without a webhook_url of their own go; empty: nowhere.
  std::string default_webhook_url;
  // The stream of GET /v1/events (not owned; null: the route answers unimplemented).
  EventHub* events = nullptr;
  // The OpenAPI 3 document served at GET /v1/openapi.json.
  std::string_view openapi_json;
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
  // Sets the webhook dispatcher; before SetFleet.
  void SetWebhooks(WebhookDispatcher* webhooks);

  // Adds /v2/rpc/{id} (GET, POST) and the /v1 routes.
  void AddRoutes(Router& router);

  // Records a placement outcome (the Create callback and the fleet's OutcomeListener):
  // answers the long polls waiting for it, publishes it on the event stream and, when the
  // placement has a webhook (its own or the default), enqueues the delivery durably before
  // returning (so the fleet marks the outcome delivered only after that).
  void OnOutcome(const CreateOutcome& outcome);

  // Records an outcome that another node recorded (the store's change feed): answers the
  // long polls waiting for it and publishes it; its owner sends the webhook.
  void OnForeignOutcome(const CreateOutcome& outcome);

  // True when a long poll here may be waiting for placement `id` (it is known pending).
  bool WantsOutcome(std::string_view id) const;

  // After the store's change feed reconnected: an outcome recorded while it was down never
  // came through it. Reads each placement still pending here from the store and records
  // (as OnForeignOutcome) those that have an outcome now. Call it on the feed's thread.
  void RefreshPending();

  // Answers every parked long poll with the placement's current state; later long polls
  // answer at once. Idempotent.
  void StopWaiting();

  // StopWaiting, then finishes the queued work and joins the workers. Idempotent.
  void Shutdown();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Returns the JSON of a placement's state as GET /v1/placements/{id} answers it (also the
// body of its webhook and its `placement` event); `outcome` null means pending.
std::string PlacementStateJson(std::string_view placement_id, const CreateOutcome* outcome);

// Returns the OpenAPI 3 document of the HTTP API (docs/openapi.json, built in).
std::string_view OpenApiDocument();

// Returns the Nakama error answer of a status RPC:
// {"code":N,"error":{"Message":"...","Code":N},"message":"..."} with grpc-gateway's status.
HttpResponse NakamaRpcError(const Status& status);
// Returns the Nakama error answer of the RPC transport (auth, unknown RPC, body):
// {"code":N,"error":"...","message":"..."}.
HttpResponse NakamaTransportError(const Status& status);

}  // namespace glfm::server
