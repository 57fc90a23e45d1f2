// Emulator: a local Amazon GameLift + SQS + SNS that the official AWS SDKs and CLIs accept
// with an endpoint override. One HTTP endpoint serves:
//   - GameLift, AWS JSON 1.1 (`X-Amz-Target: GameLift.<Op>`);
//   - SQS, AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`) and the Query protocol
//     (form-encoded `Action=<Op>`, XML replies);
//   - SNS, Query protocol (topics, subscriptions, Publish);
//   - an admin API under /_emulator/ (faults, capacity, terminate, player accept/expire,
//     request log, manual clock). See docs/emulator.md.
//
// Time: every state transition is driven by Clock. With the system clock a background
// thread fires transitions when due; with a ManualClock tests call AdvanceClock (or POST
// /_emulator/clock/advance) and the due transitions run before it returns.
//
// Threads: the HttpServer's IO threads run handlers (never blocking: long polls park their
// Responder); one timer thread fires due work. All state sits behind one mutex; Responders
// are called with it released.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "emulator/world.h"
#include "glfm/status.h"
#include "server/http_server.h"

namespace glfm::emulator {

// Milliseconds since the Unix epoch.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() = 0;
};

// A clock that moves only when told to. Starts at `start_ms`.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1767225600000) : now_(start_ms) {}
  int64_t NowMs() override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

// Verifies an AWS request's signature (SigV4: the verifier reads the Authorization header,
// its SignedHeaders and the body from `request`); returns OK to accept it. Any error is
// answered as the service's auth error with the status message: GameLift 400
// UnauthorizedException, SQS/SNS 403 SignatureDoesNotMatch. Empty (the default) accepts any
// credentials. The SigV4 verifier (src/aws/sigv4.h) plugs in here. Called on IO threads,
// concurrently: it must be thread-safe and must not block.
using SignatureVerifier = std::function<Status(const server::HttpRequest& request)>;

struct EmulatorOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  int io_threads = 2;
  World world = DefaultWorld();
  // nullptr: the system clock. Not owned; must outlive the emulator.
  Clock* clock = nullptr;
  SignatureVerifier verify_signature;  // empty: accept any credentials
  // Request log entries kept (oldest dropped first).
  size_t request_log_capacity = 100000;
};

// One AWS call as the emulator saw it.
struct RequestLogEntry {
  int64_t time_ms = 0;
  std::string service;    // "gamelift", "sqs", "sns"
  std::string operation;  // "UpdateGameSession"
  std::string protocol;   // "json" or "query"
  int http_status = 0;
  std::string error_code;  // "" on success
  std::string request_body;
};

class Emulator {
 public:
  // Starts serving. Errors: invalid-argument for a bad world; unavailable when the address
  // cannot be bound.
  static Result<std::unique_ptr<Emulator>> Start(EmulatorOptions options);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // "http://HOST:PORT".
  std::string url() const;
  uint16_t port() const;

  // Answers pending long polls, stops the timer thread and the server. Idempotent.
  void Stop();

  // Runs every transition due at the clock's current time (after a ManualClock moved).
  void RunDueWork();
  // Advances a ManualClock by `ms` and runs what became due. Errors: failed-precondition
  // when the emulator runs on the system clock.
  Status AdvanceClock(int64_t ms);

  // Returns a copy of the request log, oldest first; ClearRequestLog empties it.
  std::vector<RequestLogEntry> RequestLog() const;
  void ClearRequestLog();
  // Requests a latency fault holds now (not yet handled, so not yet in the request log).
  size_t HeldRequests() const;

  // Replaces the fault settings (and reseeds). Thread-safe.
  void SetFaults(const Faults& faults);

  class Impl;

 private:
  explicit Emulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs `glfm emulator --listen HOST:PORT [--world FILE] [--log-requests]` until SIGINT or
// SIGTERM: prints `listening on http://HOST:PORT` (first line on stdout), serves, then stops.
// argv[0] is the subcommand name. Returns the process exit code (2 for bad usage).
int RunEmulatorCommand(int argc, char** argv);

}  // namespace glfm::emulator
