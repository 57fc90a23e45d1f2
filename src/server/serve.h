// Service: what `glfm serve` runs — the HTTP server on the configured address with the
// router, the operational routes and any routes other modules add.
//
// Routes it always has:
//   GET  /healthz   200 {"status":"ok"} while the process serves and every liveness check
//                   passes, else 503 with {"code":14,"message":"unhealthy: <check>: <why>; ..."}
//                   (the process cannot recover by itself: restart it)
//   GET  /readyz    200 {"status":"ready"} when every liveness and readiness check passes,
//                   else 503 with {"code":14,"message":"not ready: <check>: <why>; ..."}; 503
//                   once shutting down
//   GET  /metrics   Prometheus text 0.0.4 of metrics::Registry::Default()
//   POST /v1/validate/instance_info
//                   parses the body as an InstanceInfo (glfm/codec.h); 204 when valid, else
//                   400 {"code":3,"message":"player_count: expected an integer, got string"}.
//                   A dry run for clients, and the JSON-POST route of bench_http_vs_nginx.
//
// Thread-safety: Start, Shutdown and the accessors from one controlling thread;
// AddReadinessCheck and AddLivenessCheck from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "glfm/status.h"
#include "server/router.h"

namespace glfm::server {

// Returns glfm's version ("0.1.0").
std::string_view Version();

// The IO threads `server.io_threads: 0` means: one per CPU the process may run on (its CPU
// affinity, as taskset or a cpuset leaves it), else one per CPU of the machine.
int DefaultIoThreads();

class Service {
 public:
  using ReadinessChecks = std::vector<std::pair<std::string, std::function<Status()>>>;

  // Starts serving `config.server` with the operational routes plus the ones `add_routes`
  // adds (called once, before the server accepts), and /readyz running `checks` from the first
  // request on. Errors: as HttpServer::Start.
  static Result<std::unique_ptr<Service>> Start(const config::Config& config,
                                                const std::function<void(Router&)>& add_routes = {},
                                                ReadinessChecks checks = {});
  ~Service();

  uint16_t port() const;
  // "http://HOST:PORT" with the bound port.
  std::string url() const;

  // Adds a check that /readyz runs on every call; it must be cheap and must not block
  // (e.g. read an atomic flag). A non-OK status makes /readyz answer 503 with its message.
  void AddReadinessCheck(std::string name, std::function<Status()> check);

  // Adds a check that /healthz (and /readyz) run on every call, for a failure the process
  // cannot recover from by itself (a restart can); cheap and non-blocking, as above. A
  // non-OK status makes /healthz answer 503 with its message.
  void AddLivenessCheck(std::string name, std::function<Status()> check);

  // Makes /readyz answer 503, stops accepting, lets in-flight requests finish for up to
  // `grace`, then stops. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  struct State;
  explicit Service(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Runs `glfm serve` until SIGINT or SIGTERM: configures logging, creates the data directory,
// starts the App (server/app.h; after the store and AWS set-up lines it logs "listening on
// http://HOST:PORT", and prints the banner on stdout), then shuts down gracefully. Returns the
// process exit code: 0 after a clean shutdown, 1 when it cannot start. Blocks SIGINT and SIGTERM in
// the calling thread (and so in every thread it starts).
int RunServe(const config::Config& config);

}  // namespace glfm::server
