// App: everything `glfm serve` runs, wired from a Config — store (SQLite under the data dir by
// default, or PostgreSQL) → instance index (rebuilt from the store) → AWS clients →
// GameLiftFleetManager → HTTP routes (operational, /v2/rpc status RPCs, /v1 API).
//
// Local mode (no AWS settings): the emulator runs in-process on a loopback port with its
// default world, the AWS clients point at it with placeholder credentials, and the status-RPC
// key is config.auth.http_key or one generated once and kept in <data_dir>/local_http_key.
//
// Thread-safety: Start, Shutdown and the accessors from one controlling thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "glfm/status.h"

namespace glfm::server {

class App {
 public:
  // Starts everything. Errors: the first part that cannot start (store, AWS settings, the
  // emulator, the fleet manager, the listen address), named in the message.
  static Result<std::unique_ptr<App>> Start(const config::Config& config);
  ~App();

  // "http://HOST:PORT" of the API.
  std::string url() const;
  uint16_t port() const;
  // The emulator's "http://HOST:PORT" in local mode, else "".
  std::string emulator_url() const;
  // The server key of the status RPCs.
  const std::string& http_key() const;
  // The start-up banner lines (URLs; the local key in local mode).
  std::string Banner() const;

  // Stops receiving from SQS and accepting requests, lets in-flight requests finish for up to
  // `grace`, answers parked long polls, then stops the fleet manager, the store and the
  // emulator. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);

  struct State;

 private:
  explicit App(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace glfm::server
