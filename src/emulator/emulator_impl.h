// Emulator internals shared by emulator.cc (routing, admin, timers), gamelift_ops.cc and
// sqs_ops.cc. Not for use outside src/emulator/.
//
// Thread-safety: every member below `mu_` is guarded by it; methods named *Locked expect it
// held. Responders never run under `mu_`: they go to an Outbox flushed after unlocking.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "emulator/emulator.h"
#include "emulator/search_expression.h"
#include "glfm/json.h"

namespace glfm::emulator {

// An AWS error as it goes on the wire. (AWS error codes are strings the clients match on,
// so they travel as such rather than as a glfm::Status.)
struct AwsError {
  int http_status = 400;
  std::string code;        // "NotFoundException", "QueueDoesNotExist"
  std::string query_code;  // SQS/SNS Query code: "AWS.SimpleQueueService.NonExistentQueue"
  bool sender = true;      // Query <Type>Sender</Type> vs Receiver
  std::string message;
};

// The result of one operation: a JSON-protocol-shaped output, an error, or (ReceiveMessage
// only) parked as a long poll whose Responder was kept.
struct OpResult {
  Json body = Json::MakeObject();
  std::optional<AwsError> error;
  bool parked = false;
  // When set (JSON protocol only), the answer's body as text, written by the operation itself
  // instead of `body` (ReceiveMessage: a tree per message cost more than the rest of it).
  std::string json_text;
};

inline OpResult Fail(AwsError error) {
  OpResult r;
  r.error = std::move(error);
  return r;
}

inline OpResult Fail(int status, std::string code, std::string message, std::string query_code = "",
                     bool sender = true) {
  OpResult r;
  r.error = AwsError{status, std::move(code), std::move(query_code), sender, std::move(message)};
  return r;
}

// What every call is answered while the emulator stops.
inline OpResult Stopping() {
  return Fail(503, "ServiceUnavailable", "emulator is stopping", "ServiceUnavailable", false);
}

// Returns the string member `key` of `in`, or "".
inline std::string Str(const Json& in, const char* key) {
  const Json* v = in.Find(key);
  return v != nullptr && v->is_string() ? v->as_string() : std::string();
}

// Reads an integer member (a JSON number, or a numeric string as the Query protocol sends); absent
// → `fallback`; present but not a number (or numeric string) → nullopt.
inline std::optional<int64_t> Int(const Json& in, const char* key, int64_t fallback) {
  const Json* v = in.Find(key);
  if (v == nullptr || v->is_null()) {
    return fallback;
  }
  if (v->is_number()) {
    return v->as_int64();
  }
  if (v->is_string()) {
    char* end = nullptr;
    long long n = std::strtoll(v->as_string().c_str(), &end, 10);
    if (!v->as_string().empty() && end != nullptr && *end == '\0') {
      return n;
    }
  }
  return std::nullopt;
}

using Outbox = std::vector<std::pair<server::Responder, server::HttpResponse>>;

enum class Wire { kJson, kQuery };

struct PlayerLatency {
  std::string player_id;
  std::string region;
  double ms = 0;
};

struct Placement {
  std::string id;
  std::string queue;
  std::string status = "PENDING";
  std::vector<std::pair<std::string, std::string>> properties;
  int max_players = 0;
  std::string name;
  std::string data;
  std::vector<PlayerLatency> latencies;
  std::vector<std::pair<std::string, std::string>> desired;  // player id, player data
  std::vector<std::string> location_order;                   // override
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t deadline_ms = 0;
  std::string game_session_arn;
  std::string location;
  std::vector<std::pair<std::string, std::string>> placed;  // player id, player session id
};

struct LocationState {
  std::string fleet_id;
  LocationSpec spec;
  int in_use = 0;
  uint64_t next = 0;
};

struct GameSession {
  std::string arn;
  std::string fleet_id;
  std::string location;
  std::string name;
  std::string data;
  std::vector<std::pair<std::string, std::string>> properties;
  int max_players = 0;
  std::string status = "ACTIVATING";
  std::string status_reason;
  int64_t creation_ms = 0;
  int64_t termination_ms = 0;
  std::string ip;
  std::string dns;
  int port = 0;
  std::string policy = "ACCEPT_ALL";
  std::string protection = "NoProtection";
  std::string placement_id;  // "" when not created by a placement
  std::vector<std::string> player_sessions;
  int64_t order = 0;  // creation sequence, the default listing order
};

struct PlayerSession {
  std::string id;
  std::string player_id;
  std::string game_session_arn;
  std::string fleet_id;
  std::string status = "RESERVED";
  int64_t creation_ms = 0;
  int64_t termination_ms = 0;
  std::string player_data;
};

struct SqsMessage {
  std::string id;
  std::string body;
  std::string md5;
  int64_t sent_ms = 0;
  int64_t first_receive_ms = 0;
  int receive_count = 0;
  int64_t visible_at_ms = 0;
  std::string receipt;  // current receipt handle ("" before the first receive)
};

struct ReceiveRequest {
  int max_messages = 1;
  int visibility_seconds = -1;  // -1: the queue's
  std::vector<std::string> attributes;
  Wire wire = Wire::kJson;
  std::string request_id;
};

struct Waiter {
  uint64_t id = 0;
  std::string queue;
  ReceiveRequest request;
  server::Responder respond;
};

// A request held by a latency fault, handled when its timer fires.
struct HeldRequest {
  std::string service;
  std::string op;
  Wire wire = Wire::kJson;
  Json input;
  std::string request_id;
  std::string body;
  server::Responder respond;
};

struct SqsQueue {
  SqsQueueSpec spec;
  std::string url;
  std::string arn;
  int64_t created_ms = 0;
  std::map<uint64_t, SqsMessage> messages;  // by arrival sequence
  uint64_t next_seq = 1;
  std::deque<uint64_t> waiters;  // Waiter ids, oldest first
};

struct Subscription {
  std::string arn;
  std::string topic;
  std::string queue;  // SQS queue name
  bool raw = false;
};

enum class TimerKind {
  kPlacementAttempt,
  kPlacementTimeout,
  kActivate,
  kPlayerAccept,
  kPlayerTimeout,
  kPollDeadline,
  kQueueWake,
  kDelayedEvent,
  kFlushHeld,
  kHeldRequest,
};

struct Timer {
  int64_t due_ms;
  uint64_t seq;
  TimerKind kind;
  std::string key;
  uint64_t number = 0;
  bool operator>(const Timer& o) const {
    return due_ms != o.due_ms ? due_ms > o.due_ms : seq > o.seq;
  }
};

class Emulator::Impl {
 public:
  explicit Impl(EmulatorOptions options);
  ~Impl();

  Status Start();
  void Stop();
  std::string url() const { return server_ ? server_->url() : ""; }
  uint16_t port() const { return server_ ? server_->port() : 0; }
  void RunDueWork();
  Status AdvanceClock(int64_t ms);
  std::vector<RequestLogEntry> RequestLog() const;
  void ClearRequestLog();
  size_t HeldRequests() const;
  void SetFaults(const Faults& faults);

 private:
  friend class Emulator;
  // The clock's time, or while a timer fires, its due time: a chain of delays (placement,
  // then activation) adds up the same however far a ManualClock jumps at once.
  int64_t Now() { return firing_now_ >= 0 ? firing_now_ : clock_->NowMs(); }

  // emulator.cc: routing, protocols, admin, timers.
  void Handle(server::HttpRequest&& request, server::Responder respond);
  void HandleAdmin(const server::HttpRequest& request, server::Responder respond);
  server::HttpResponse Render(const std::string& service, const std::string& op, Wire wire,
                              const OpResult& r, const std::string& request_id);
  void Log(const std::string& service, const std::string& op, Wire wire, const OpResult& r,
           const std::string& body);
  // The faults configured for `op` (its own, else "*"), or nullptr.
  const OperationFaults* OperationFaultsLocked(const std::string& op) const;
  std::optional<AwsError> InjectedFaultLocked(const std::string& service, const std::string& op);
  // The latency fault's hold for `op`, or 0.
  int64_t InjectedLatencyLocked(const std::string& op);
  // Handles a parsed AWS request; returns its answer, or nothing when SQS parked it (a long
  // poll answers through `respond` later).
  std::optional<server::HttpResponse> HandleAwsLocked(HeldRequest& r, Outbox& out);
  void ScheduleLocked(int64_t due_ms, TimerKind kind, std::string key, uint64_t number = 0);
  void RunDueLocked(Outbox& out);
  void FireLocked(const Timer& t, Outbox& out);
  void TimerLoop();
  static void Flush(Outbox& out);
  bool Roll(double percent);  // seeded: true with the given probability

  // gamelift_ops.cc
  OpResult GameLiftLocked(const std::string& op, const Json& in, Outbox& out);
  OpResult StartPlacementLocked(const Json& in);
  OpResult DescribePlacementLocked(const Json& in);
  OpResult StopPlacementLocked(const Json& in, Outbox& out);
  OpResult DescribeGameSessionsLocked(const Json& in);
  OpResult SearchGameSessionsLocked(const Json& in);
  OpResult UpdateGameSessionLocked(const Json& in);
  OpResult CreatePlayerSessionsLocked(const Json& in, bool single);
  OpResult DescribePlayerSessionsLocked(const Json& in);
  OpResult DescribeAliasLocked(const Json& in);
  OpResult DescribeQueuesLocked(const Json& in);
  void TryPlaceLocked(const std::string& placement_id, Outbox& out);
  void RetryWaitingPlacementsLocked(Outbox& out);
  void ActivateLocked(const std::string& arn, Outbox& out);
  void FinishPlacementLocked(Placement& p, const std::string& status, Outbox& out);
  Status TerminateGameSessionLocked(const std::string& arn, Outbox& out);
  Json PlacementJson(const Placement& p) const;
  Json GameSessionJson(const GameSession& g) const;
  Json PlayerSessionJson(const PlayerSession& s) const;
  std::vector<std::string> ResolveFleetsLocked(const std::string& fleet_or_alias) const;
  int CountPlayersLocked(const GameSession& g) const;
  // Returns a SearchGameSessions operand's value for `g` (monostate when absent).
  SearchValue SearchFieldLocked(const GameSession& g, const std::string& operand) const;
  void EmitPlacementEventLocked(const Placement& p, Outbox& out);

  // sqs_ops.cc
  OpResult SqsLocked(const std::string& op, const Json& in, Wire wire, const std::string& rid,
                     server::Responder& respond, Outbox& out);
  OpResult SnsLocked(const std::string& op, const Json& in, Outbox& out);
  SqsQueue* QueueByUrlLocked(const Json& in, OpResult& err);
  void EnqueueLocked(SqsQueue& q, std::string body, int delay_seconds, Outbox& out,
                     std::string id = "");
  void ServeWaitersLocked(SqsQueue& q, Outbox& out);
  // Takes up to r.max_messages visible messages (making them invisible for the visibility
  // timeout) and returns them; the pointers live until the queue next changes.
  std::vector<const SqsMessage*> TakeMessagesLocked(SqsQueue& q, const ReceiveRequest& r,
                                                    Outbox& out);
  // Fills a ReceiveMessage answer with `messages` (none: no Messages member).
  static void ReceiveResult(const std::vector<const SqsMessage*>& messages, const ReceiveRequest& r,
                            OpResult& result);
  void PublishLocked(const std::string& topic_name, const std::string& message,
                     const std::string& subject, Outbox& out);
  void DeliverEventLocked(const std::string& topic, const std::string& event, Outbox& out);
  void SqsCreateQueueLocked(const SqsQueueSpec& spec);

 public:
  // Renders an SQS/SNS Query (XML) reply; also used by tests through Render.
  static std::string QueryXml(const std::string& service, const std::string& op, const Json& body,
                              const std::string& request_id);

 private:
  EmulatorOptions options_;
  std::unique_ptr<Clock> owned_clock_;
  Clock* clock_ = nullptr;
  std::unique_ptr<server::HttpServer> server_;
  std::thread timer_thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_pending_ = false;
  int64_t firing_now_ = -1;  // the timer thread was notified and has not run yet
  World world_;
  std::mt19937_64 rng_;
  uint64_t id_state_ = 0;
  uint64_t timer_seq_ = 0;
  uint64_t next_waiter_ = 1;
  int64_t game_session_order_ = 0;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::map<std::string, Placement> placements_;
  std::set<std::string> waiting_placements_;        // PENDING and out of capacity
  std::map<std::string, LocationState> locations_;  // key: fleet_id + "/" + location
  std::unordered_map<std::string, GameSession> game_sessions_;
  std::vector<std::string> game_session_list_;  // arns in creation order
  std::unordered_map<std::string, PlayerSession> player_sessions_;
  std::map<std::string, SqsQueue> queues_;
  std::map<uint64_t, Waiter> waiters_;
  std::map<std::string, std::vector<Subscription>> topics_;        // by topic name
  std::optional<std::pair<std::string, std::string>> held_event_;  // topic, event (reorder)
  std::map<uint64_t, std::pair<std::string, std::string>> delayed_events_;
  uint64_t next_delayed_ = 1;
  std::map<uint64_t, HeldRequest> held_requests_;  // by number, until their timer fires
  uint64_t next_held_ = 1;
  std::deque<RequestLogEntry> log_;
};

}  // namespace glfm::emulator
