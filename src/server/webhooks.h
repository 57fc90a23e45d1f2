// WebhookDispatcher: delivers placement outcomes to HTTP endpoints, durably (glfm serve's
// webhooks, docs/http-api.md "Webhooks").
//
// Enqueue queues the delivery for the store's outbox (in commit order, without waiting); once
// it is durable a dispatcher thread POSTs it, retrying with exponential backoff (and jitter) until
// the receiver answers 2xx or the delivery is older than max_age, and removes it from the outbox
// either way. At start the dispatcher loads this node's outbox, so a restart loses nothing;
// a delivery in flight when glfm stops is sent again after the restart (at least once: the
// X-Glfm-Webhook-Id header lets a receiver drop repeats).
//
// Every request is signed: `X-Glfm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the secret>`. A URL of the Nakama RPC form (a path with /v2/rpc/) gets
// the body as a JSON string literal unless its query has `unwrap`, which is what Nakama
// expects from a server-to-server RPC call.
//
// Thread-safety: Enqueue and stats from any thread; Stop from the controlling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "aws/http_transport.h"
#include "glfm/status.h"
#include "glfm/types.h"
#include "store/store.h"

namespace glfm::server {

struct WebhookOptions {
  // This node's name: the owner of the outbox rows it writes and delivers. Required.
  std::string node_id;
  // The HMAC-SHA256 key of X-Glfm-Signature. Required.
  std::string secret;
  // A delivery not acknowledged within this long after it was enqueued is given up.
  std::chrono::milliseconds max_age{std::chrono::hours(24)};
  // Backoff after the first failed attempt, doubling up to max_backoff.
  std::chrono::milliseconds min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  // Time limit of one attempt.
  std::chrono::milliseconds attempt_timeout{std::chrono::seconds(10)};
  // Most attempts in flight at once.
  int max_in_flight = 64;
  // The clock of next-attempt and expiry times; default the system clock.
  std::function<Timestamp()> now;
  // How requests go out; default a libcurl transport of the dispatcher's own (TLS verified).
  aws::HttpTransport* transport = nullptr;
};

struct WebhookStats {
  uint64_t enqueued = 0;
  uint64_t delivered = 0;
  uint64_t failed_attempts = 0;
  uint64_t expired = 0;
  uint64_t pending = 0;  // in the outbox now (this node's)
};

// Returns "t=<t>,v1=<hex>" for `body` signed at unix time `t` with `secret`.
std::string WebhookSignature(std::string_view secret, int64_t t, std::string_view body);

// Returns OK for a URL a webhook may be sent to: http:// or https:// with a host.
// Errors: invalid-argument naming `field` and what is wrong.
Status ValidateWebhookUrl(std::string_view url, std::string_view field);

class WebhookDispatcher {
 public:
  // Loads this node's outbox from `store` (not owned; must outlive the dispatcher) and starts
  // delivering. Errors: invalid-argument for a missing node id or secret or a bad option; the
  // store's errors.
  static Result<std::unique_ptr<WebhookDispatcher>> Start(WebhookOptions options,
                                                          store::Store* store);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Adds the delivery of `body` to `url` under `id` (one delivery per id: enqueueing an id
  // again, even after a restart, changes nothing) and returns without waiting for the store:
  // the outbox row is queued in the store's commit order, so every store write queued after
  // this call returns commits after it (glfm serve relies on this: the fleet manager's
  // delivered mark for the outcome comes later). Delivery starts once the row is durable; a
  // row the store fails to write is logged and delivered from memory anyway.
  // Errors: invalid-argument for a bad id or URL (nothing queued).
  Status Enqueue(std::string_view id, std::string_view url, std::string body);

  WebhookStats stats() const;

  // Loads the outbox rows of this node that are not in memory yet: those handed over from
  // another node (Store::AdoptOrphans). Errors: the store's.
  Status Reload();

  // Stops delivering; attempts in flight are abandoned (they stay in the outbox). Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit WebhookDispatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace glfm::server
