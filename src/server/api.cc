#include "server/api.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/ascii.h"
#include "common/log.h"
#include "common/metrics.h"
#include "config/config.h"
#include "glfm/codec.h"
#include "glfm/json.h"

namespace glfm::server {
namespace {

// Compares without an early exit on the first differing byte.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string_view PlacementStatusName(const CreateOutcome& o) {
  if (o.status == CreateStatus::kSuccess) return "success";
  if (o.status == CreateStatus::kTimeout) return "timeout";
  if (o.error.code() == StatusCode::kCancelled) return "cancelled";
  return "error";
}

Json PlacementJson(std::string_view id, const CreateOutcome* o) {
  Json j = Json::MakeObject();
  j["placement_id"] = Json(id);
  if (o == nullptr) {
    j["status"] = Json("pending");
    j["instance_info"] = Json();
    j["session_info"] = Json::MakeArray();
    j["error"] = Json();
    return j;
  }
  j["status"] = Json(PlacementStatusName(*o));
  j["instance_info"] = o->instance_info ? ToJson(*o->instance_info) : Json();
  Json sessions = Json::MakeArray();
  for (const auto& s : o->session_info) sessions.as_array().push_back(ToJson(s));
  j["session_info"] = std::move(sessions);
  if (o->error.ok()) {
    j["error"] = Json();
  } else {
    Json e = Json::MakeObject();
    e["code"] = Json(static_cast<int>(o->error.code()));
    e["message"] = Json(o->error.message());
    j["error"] = std::move(e);
  }
  return j;
}

// The webhook URL a placement's context holds ("" when none).
std::string WebhookUrlOf(const std::string& context) {
  if (context.empty()) return "";
  auto j = Json::Parse(context);
  if (!j.ok() || !j->is_object()) return "";
  const Json* u = j->Find("webhook_url");
  return u != nullptr && u->is_string() ? u->as_string() : "";
}

// How many resolved placements the Api remembers for GET without asking the store.
constexpr size_t kRememberedOutcomes = 10000;

Result<Json> ParseObjectBody(std::string_view body) {
  if (body.empty()) return InvalidArgumentError("body: expected a JSON object, got nothing");
  GLFM_ASSIGN_OR_RETURN(Json j, Json::Parse(body));
  if (!j.is_object()) {
    return InvalidArgumentError("body: expected a JSON object, got " + std::string(j.TypeName()));
  }
  return j;
}

Result<std::vector<std::string>> StringList(const Json& obj, std::string_view field) {
  std::vector<std::string> out;
  const Json* v = obj.Find(field);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) {
    return InvalidArgumentError(std::string(field) + ": expected an array of strings, got " +
                                std::string(v->TypeName()));
  }
  for (size_t i = 0; i < v->as_array().size(); ++i) {
    const Json& e = v->as_array()[i];
    if (!e.is_string()) {
      return InvalidArgumentError(std::string(field) + "[" + std::to_string(i) +
                                  "]: expected a string, got " + std::string(e.TypeName()));
    }
    out.push_back(e.as_string());
  }
  return out;
}

Result<std::optional<int>> OptionalInt(const Json& obj, std::string_view field) {
  const Json* v = obj.Find(field);
  if (v == nullptr || v->is_null()) return std::optional<int>();
  if (!v->is_integer()) {
    return InvalidArgumentError(std::string(field) + ": expected an integer, got " +
                                std::string(v->is_number() ? "a fraction" : v->TypeName()));
  }
  int64_t n = v->as_int64();
  if (n < 0 || n > 1000000) {
    return InvalidArgumentError(std::string(field) + ": out of range: " + std::to_string(n));
  }
  return std::optional<int>(static_cast<int>(n));
}

// Parses ?wait=: seconds ("10", "2.5") or a duration ("30s", "500ms").
Result<std::chrono::milliseconds> ParseWait(const std::string& text) {
  char* end = nullptr;
  double secs = std::strtod(text.c_str(), &end);
  if (!text.empty() && end == text.c_str() + text.size()) {
    if (secs < 0) return InvalidArgumentError("wait: must not be negative");
    return std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
  }
  auto d = config::ParseDuration(text);
  if (!d.ok()) return InvalidArgumentError("wait: expected seconds or a duration like 30s");
  return *d;
}

metrics::Family<metrics::Counter>& RpcCounter() {
  static auto& f = metrics::Registry::Default().AddCounter(
      "glfm_rpc_requests_total", "Status RPCs (update/delete_instance_info) run, by result.",
      {"rpc", "code"});
  return f;
}

metrics::Family<metrics::Counter>& PlacementCounter() {
  static auto& f = metrics::Registry::Default().AddCounter(
      "glfm_placements_total", "Placement outcomes seen by this process, by outcome.", {"outcome"});
  return f;
}

HttpResponse JsonOk(int code, const Json& j) { return HttpResponse::Json(code, j.Dump()); }

}  // namespace

std::string PlacementStateJson(std::string_view placement_id, const CreateOutcome* outcome) {
  return PlacementJson(placement_id, outcome).Dump();
}

HttpResponse NakamaRpcError(const Status& status) {
  int code = static_cast<int>(status.code());
  Json err = Json::MakeObject();
  err["Message"] = Json(status.message());
  err["Code"] = Json(code);
  Json j = Json::MakeObject();
  j["code"] = Json(code);
  j["error"] = std::move(err);
  j["message"] = Json(status.message());
  return HttpResponse::Json(HttpStatusForCode(status.code()), j.Dump());
}

HttpResponse NakamaTransportError(const Status& status) {
  Json j = Json::MakeObject();
  j["code"] = Json(static_cast<int>(status.code()));
  j["error"] = Json(status.message());
  j["message"] = Json(status.message());
  return HttpResponse::Json(HttpStatusForCode(status.code()), j.Dump());
}

constexpr char kStarting[] = "glfm is starting; try again shortly";

struct Api::State {
  // Null until glfm serve has wired the fleet manager (the HTTP server listens first); the
  // routes answer unavailable until then.
  std::atomic<FleetManager*> fleet{nullptr};
  FleetManager* Fleet() const { return fleet.load(std::memory_order_acquire); }
  ApiOptions options;

  // Worker pool.
  std::mutex mu;
  std::condition_variable work_cv;
  std::deque<std::function<void()>> work;  // guarded by mu
  bool stopping = false;                   // guarded by mu
  std::vector<std::thread> workers;

  // Placements this process created or was told about; nullopt while pending.
  std::mutex pmu;
  std::condition_variable timer_cv;
  // Pending placements created here, and the last kRememberedOutcomes outcomes (oldest first
  // in `resolved`); older ones are read from the store.
  std::map<std::string, std::optional<CreateOutcome>, std::less<>> placements;  // pmu
  std::deque<std::string> resolved;                                             // pmu
  struct Waiter {
    std::string id;
    Responder respond;
  };
  using Waiters = std::multimap<std::chrono::steady_clock::time_point, Waiter>;
  Waiters waiters;                                                        // pmu
  std::unordered_multimap<std::string, Waiters::iterator> waiters_by_id;  // pmu
  bool timer_stopping = false;                                            // pmu
  std::thread timer;

  void Submit(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      work.push_back(std::move(f));
    }
    work_cv.notify_one();
  }

  void WorkerLoop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lock(mu);
        work_cv.wait(lock, [&] { return stopping || !work.empty(); });
        if (work.empty()) return;
        f = std::move(work.front());
        work.pop_front();
      }
      f();
    }
  }

  // Answers waiters whose wait ended, with the placement's current state.
  void TimerLoop() {
    std::unique_lock<std::mutex> lock(pmu);
    while (!timer_stopping) {
      auto now = std::chrono::steady_clock::now();
      std::vector<Waiter> due;
      while (!waiters.empty() && waiters.begin()->first <= now) {
        auto first = waiters.begin();
        auto [b, e] = waiters_by_id.equal_range(first->second.id);
        for (auto w = b; w != e; ++w) {
          if (w->second == first) {
            waiters_by_id.erase(w);
            break;
          }
        }
        due.push_back(std::move(first->second));
        waiters.erase(first);
      }
      if (!due.empty()) {
        std::vector<std::string> bodies;
        for (const auto& w : due) bodies.push_back(StateJsonLocked(w.id).Dump());
        lock.unlock();
        for (size_t i = 0; i < due.size(); ++i) {
          due[i].respond(HttpResponse::Json(200, std::move(bodies[i])));
        }
        lock.lock();
        continue;
      }
      if (waiters.empty()) {
        timer_cv.wait(lock);
      } else {
        // A copy: the entry may be erased (by OnOutcome) while this waits.
        const auto deadline = waiters.begin()->first;
        timer_cv.wait_until(lock, deadline);
      }
    }
  }

  // Answers a GET of placement `id` known here, or parks it until `deadline` (pmu held).
  // Returns false when the placement is not known here.
  bool AnswerOrPark(const std::string& id, std::chrono::steady_clock::time_point deadline,
                    Responder& respond) {
    auto it = placements.find(id);
    if (it == placements.end()) return false;
    if (it->second.has_value() || deadline <= std::chrono::steady_clock::now() || timer_stopping) {
      respond(HttpResponse::Json(200, StateJsonLocked(id).Dump()));
      return true;
    }
    auto w = waiters.emplace(deadline, Waiter{id, std::move(respond)});
    waiters_by_id.emplace(id, w);
    timer_cv.notify_one();
    return true;
  }

  Json StateJsonLocked(std::string_view id) {
    auto it = placements.find(id);
    const CreateOutcome* o = (it != placements.end() && it->second) ? &*it->second : nullptr;
    return PlacementJson(id, o);
  }

  // Queues the webhook of `outcome`, if it has one. The outbox write is queued in the store
  // ahead of the delivered mark the fleet manager queues after this returns, so an outcome
  // is never marked delivered without its webhook in the outbox (docs/http-api.md).
  void EnqueueWebhook(const CreateOutcome& outcome, const std::string& body) {
    if (options.webhooks == nullptr) return;
    std::string url = WebhookUrlOf(outcome.context);
    if (url.empty()) url = options.default_webhook_url;
    if (url.empty()) return;
    Status s = options.webhooks->Enqueue(outcome.placement_id, url, body);
    if (!s.ok()) {
      log::Error("webhooks: a placement's webhook was refused",
                 {{"placement_id", outcome.placement_id}, {"error", s.ToString()}});
    }
  }

  void OnOutcome(const CreateOutcome& outcome) {
    PlacementCounter().WithLabels({PlacementStatusName(outcome)}).Inc();
    std::string body = PlacementJson(outcome.placement_id, &outcome).Dump();
    Record(outcome, body);
    EnqueueWebhook(outcome, body);
  }

  // An outcome another node recorded (from the store's change feed): answers the long polls
  // here and tells the event stream; the owner node sends its webhook.
  void OnForeignOutcome(const CreateOutcome& outcome) {
    Record(outcome, PlacementJson(outcome.placement_id, &outcome).Dump());
  }

  bool WantsOutcome(std::string_view id) {
    std::lock_guard<std::mutex> lock(pmu);
    auto it = placements.find(id);
    return it != placements.end() && !it->second.has_value();
  }

  void RefreshPending() {
    FleetManager* fleet = Fleet();
    if (fleet == nullptr) return;
    std::vector<std::string> pending;
    {
      std::lock_guard<std::mutex> lock(pmu);
      for (const auto& [id, outcome] : placements) {
        if (!outcome) pending.push_back(id);
      }
    }
    size_t found = 0;
    for (const auto& id : pending) {
      auto p = fleet->GetPlacement(id);
      if (p.ok() && p->outcome) {
        OnForeignOutcome(*p->outcome);
        ++found;
      }
    }
    if (found > 0) {
      log::Info("api: outcomes recorded while the store's change feed was down",
                {{"pending", static_cast<int64_t>(pending.size())},
                 {"outcomes", static_cast<int64_t>(found)}});
    }
  }

  // Makes the outcome what GET answers, then tells the long polls and the event stream (so
  // that a client reacting to either reads the same state).
  void Record(const CreateOutcome& outcome, const std::string& body) {
    std::vector<Responder> ready;
    {
      std::lock_guard<std::mutex> lock(pmu);
      auto [it, added] = placements.insert_or_assign(outcome.placement_id, outcome);
      (void)it;
      (void)added;
      resolved.push_back(outcome.placement_id);
      while (resolved.size() > kRememberedOutcomes) {
        placements.erase(resolved.front());
        resolved.pop_front();
      }
      auto [first, last] = waiters_by_id.equal_range(outcome.placement_id);
      for (auto w = first; w != last; ++w) {
        ready.push_back(std::move(w->second->second.respond));
        waiters.erase(w->second);
      }
      waiters_by_id.erase(first, last);
    }
    for (auto& r : ready) r(HttpResponse::Json(200, body));
    if (options.events != nullptr) options.events->Publish("placement", body);
  }

  // Checks the Bearer key of a /v1 request; an error answer when it fails.
  std::optional<HttpResponse> CheckApiKey(const HttpRequest& req) const {
    if (options.api_keys.empty()) return std::nullopt;
    const std::string* auth = req.Header("authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (auth == nullptr || auth->size() <= kBearer.size() ||
        std::string_view(*auth).substr(0, kBearer.size()) != kBearer) {
      return ErrorResponse(UnauthenticatedError("API key required (Authorization: Bearer KEY)"));
    }
    std::string_view given = std::string_view(*auth).substr(kBearer.size());
    bool ok = false;
    for (const auto& k : options.api_keys) ok |= ConstantTimeEquals(given, k);
    if (!ok) return ErrorResponse(UnauthenticatedError("API key invalid"));
    return std::nullopt;
  }

  // Checks the server key of a status RPC; a Nakama error answer when it fails.
  std::optional<HttpResponse> CheckHttpKey(const HttpRequest& req) const {
    if (auto key = req.QueryParam("http_key")) {
      if (ConstantTimeEquals(*key, options.http_key)) return std::nullopt;
      return NakamaTransportError(UnauthenticatedError("HTTP key invalid"));
    }
    const std::string* auth = req.Header("authorization");
    if (auth != nullptr && !auth->empty()) {
      constexpr std::string_view kBasic = "Basic ";
      if (auth->size() > kBasic.size() &&
          ToLowerAscii(std::string_view(*auth).substr(0, kBasic.size())) == "basic ") {
        auto decoded = Base64Decode(std::string_view(*auth).substr(kBasic.size()));
        if (!decoded) return NakamaTransportError(UnauthenticatedError("Auth token invalid"));
        std::string user = decoded->substr(0, decoded->find(':'));
        if (ConstantTimeEquals(user, options.http_key)) return std::nullopt;
        return NakamaTransportError(UnauthenticatedError("HTTP key invalid"));
      }
      // Player session tokens are never accepted here.
      return NakamaTransportError(UnauthenticatedError("Auth token invalid"));
    }
    return NakamaTransportError(UnauthenticatedError("Auth token or HTTP key required"));
  }

  // A status RPC's payload, parsed.
  struct RpcCall {
    std::string rpc;  // update_instance_info or delete_instance_info
    std::string id;
    std::optional<int> count;
    Json metadata = Json::MakeObject();
  };

  // Parses an RPC's payload. Errors: invalid-argument naming what is wrong.
  static Result<RpcCall> ParseRpc(const std::string& rpc, const std::string& payload) {
    auto parsed = Json::Parse(payload);
    if (!parsed.ok()) {
      return InvalidArgumentError("payload: not valid JSON: " + parsed.status().message());
    }
    if (!parsed->is_object()) {
      return InvalidArgumentError("payload: expected a JSON object, got " +
                                  std::string(parsed->TypeName()));
    }
    RpcCall call;
    call.rpc = rpc;
    const Json* id = parsed->Find("id");
    if (id == nullptr || !id->is_string() || id->as_string().empty()) {
      return InvalidArgumentError("id: required, a game session ARN");
    }
    call.id = id->as_string();
    if (rpc == "delete_instance_info") return call;
    for (std::string_view field : {"player_count", "playerCount"}) {
      if (call.count) break;
      GLFM_ASSIGN_OR_RETURN(call.count, OptionalInt(*parsed, field));
    }
    if (const Json* md = parsed->Find("metadata"); md != nullptr && !md->is_null()) {
      if (!md->is_object()) {
        return InvalidArgumentError("metadata: expected an object, got " +
                                    std::string(md->TypeName()));
      }
      call.metadata = *md;
    }
    return call;
  }

  // Runs a parsed RPC on the calling (worker) thread.
  Status RunRpc(const RpcCall& call) {
    if (call.rpc == "delete_instance_info") return Fleet()->Delete(call.id);
    return Fleet()->Update(call.id, call.count, call.metadata);
  }

  // Answers an RPC: Nakama's error form, or its (empty) result in the form the request asked.
  static void FinishRpc(const std::string& rpc, const Status& s, bool unwrap,
                        const Responder& respond) {
    RpcCounter().WithLabels({rpc, StatusCodeName(s.code())}).Inc();
    if (!s.ok()) return respond(NakamaRpcError(s));
    respond(HttpResponse::Json(200, unwrap ? std::string() : std::string(R"({"payload":""})")));
  }

  void HandleRpc(HttpRequest&& req, const PathParams& params, Responder respond) {
    if (auto denied = CheckHttpKey(req)) return respond(std::move(*denied));
    std::string rpc = ToLowerAscii(*params.Get("id"));
    if (rpc != "update_instance_info" && rpc != "delete_instance_info") {
      return respond(NakamaTransportError(NotFoundError("RPC function not found")));
    }
    if (Fleet() == nullptr) {
      return respond(NakamaTransportError(UnavailableError(kStarting)));
    }
    bool unwrap = req.HasQueryParam("unwrap");
    std::string payload;
    if (req.body.empty()) {
      payload = req.QueryParam("payload").value_or("");
    } else if (unwrap) {
      payload = std::move(req.body);
    } else {
      auto s = Json::Parse(req.body);
      if (!s.ok() || !s->is_string()) {
        return respond(NakamaTransportError(InvalidArgumentError(
            "Unable to unmarshal payload: the body must be a JSON string unless ?unwrap is set")));
      }
      payload = s->as_string();
    }
    auto call = ParseRpc(rpc, payload);
    if (!call.ok()) return FinishRpc(rpc, call.status(), unwrap, respond);
    // The common case — a player count or metadata report for a session this node knows —
    // runs right here: the store write is queued without blocking, and the answer goes out
    // when its group commit is durable.
    if (call->rpc == "update_instance_info" &&
        Fleet()->TryUpdateAsync(
            call->id, call->count, call->metadata,
            [rpc, unwrap, respond](Status s) { FinishRpc(rpc, s, unwrap, respond); })) {
      return;
    }
    Submit([this, call = std::move(*call), unwrap, respond = std::move(respond)] {
      FinishRpc(call.rpc, RunRpc(call), unwrap, respond);
    });
  }

  Status ParseCreate(const Json& body, int& max_players, std::vector<std::string>& users,
                     std::vector<FleetUserLatency>& latencies, Json& metadata,
                     CreateOptions& create_options) {
    GLFM_ASSIGN_OR_RETURN(std::optional<int> mp, OptionalInt(body, "max_players"));
    if (!mp) return InvalidArgumentError("max_players: required, 1-200");
    max_players = *mp;
    GLFM_ASSIGN_OR_RETURN(users, StringList(body, "user_ids"));
    if (const Json* l = body.Find("latencies"); l != nullptr && !l->is_null()) {
      if (!l->is_array()) return InvalidArgumentError("latencies: expected an array");
      for (size_t i = 0; i < l->as_array().size(); ++i) {
        GLFM_ASSIGN_OR_RETURN(
            FleetUserLatency lat,
            FleetUserLatencyFromJson(l->as_array()[i], "latencies[" + std::to_string(i) + "]"));
        latencies.push_back(std::move(lat));
      }
    }
    metadata = Json::MakeObject();
    if (const Json* md = body.Find("metadata"); md != nullptr && !md->is_null()) {
      if (!md->is_object()) return InvalidArgumentError("metadata: expected an object");
      metadata = *md;
    }
    if (const Json* w = body.Find("webhook_url"); w != nullptr && !w->is_null()) {
      if (!w->is_string()) {
        return InvalidArgumentError("webhook_url: expected a string, got " +
                                    std::string(w->TypeName()));
      }
      GLFM_RETURN_IF_ERROR(ValidateWebhookUrl(w->as_string(), "webhook_url"));
      if (options.webhooks == nullptr) {
        return FailedPreconditionError(
            "webhook_url: webhooks are off on this server (set webhook.secret)");
      }
      Json context = Json::MakeObject();
      context["webhook_url"] = Json(w->as_string());
      create_options.context = context.Dump();
    }
    for (const auto& [key, value] : body.as_object()) {
      if (key != "max_players" && key != "user_ids" && key != "latencies" && key != "metadata" &&
          key != "webhook_url") {
        return InvalidArgumentError(key +
                                    ": unknown field (expected max_players, user_ids, "
                                    "latencies, metadata, webhook_url)");
      }
    }
    return OkStatus();
  }

  void AddRoutes(Router& r, const std::shared_ptr<State>& self) {
    State* st = self.get();
    auto rpc = [st](HttpRequest&& req, PathParams p, Responder respond) {
      st->HandleRpc(std::move(req), p, std::move(respond));
    };
    r.Add("POST", "/v2/rpc/{id}", rpc);
    r.Add("GET", "/v2/rpc/{id}", rpc);

    // Wraps a /v1 handler with the API key check.
    auto v1 = [st](auto f) {
      return [st, f](HttpRequest&& req, PathParams p, Responder respond) {
        if (auto denied = st->CheckApiKey(req)) return respond(std::move(*denied));
        if (st->Fleet() == nullptr) return respond(ErrorResponse(UnavailableError(kStarting)));
        f(std::move(req), std::move(p), std::move(respond));
      };
    };

    r.Add("POST", "/v1/placements", v1([st](HttpRequest&& req, PathParams, Responder respond) {
            auto body = ParseObjectBody(req.body);
            if (!body.ok()) return respond(ErrorResponse(body.status()));
            int max_players = 0;
            std::vector<std::string> users;
            std::vector<FleetUserLatency> latencies;
            Json metadata;
            CreateOptions co;
            Status s = st->ParseCreate(*body, max_players, users, latencies, metadata, co);
            if (!s.ok()) return respond(ErrorResponse(s));
            st->Submit([st, max_players, users = std::move(users), latencies = std::move(latencies),
                        metadata = std::move(metadata), co = std::move(co),
                        respond = std::move(respond)] {
              auto id = st->Fleet()->Create(
                  max_players, users, latencies, metadata,
                  [st](const CreateOutcome& o) { st->OnOutcome(o); }, co);
              if (!id.ok()) return respond(ErrorResponse(id.status()));
              {
                std::lock_guard<std::mutex> lock(st->pmu);
                st->placements.emplace(*id, std::nullopt);  // keeps an outcome already here
              }
              Json j = Json::MakeObject();
              j["placement_id"] = Json(*id);
              respond(JsonOk(202, j));
            });
          }));

    r.Add("GET", "/v1/placements/{id}",
          v1([st](HttpRequest&& req, PathParams p, Responder respond) {
            std::string id = *p.Get("id");
            std::chrono::milliseconds wait{0};
            if (auto w = req.QueryParam("wait")) {
              auto parsed = ParseWait(*w);
              if (!parsed.ok()) return respond(ErrorResponse(parsed.status()));
              wait = std::min(*parsed, st->options.max_wait);
            }
            auto deadline = std::chrono::steady_clock::now() + wait;
            {
              std::unique_lock<std::mutex> lock(st->pmu);
              if (st->AnswerOrPark(id, deadline, respond)) return;
            }
            // Not created here since the start (another node's, or from before a restart):
            // the store knows.
            st->Submit([st, id = std::move(id), deadline, respond = std::move(respond)]() mutable {
              auto state = st->Fleet()->GetPlacement(id);
              if (!state.ok()) return respond(ErrorResponse(state.status()));
              std::unique_lock<std::mutex> lock(st->pmu);
              if (st->placements.find(id) == st->placements.end()) {
                if (!state->pending()) {
                  std::string body = PlacementJson(id, &*state->outcome).Dump();
                  lock.unlock();
                  return respond(HttpResponse::Json(200, std::move(body)));
                }
                // Known pending from now on: OnOutcome (the change feed or the listener)
                // answers the wait.
                st->placements.emplace(id, std::nullopt);
              }
              st->AnswerOrPark(id, deadline, respond);
            });
          }));

    r.Add("DELETE", "/v1/placements/{id}", v1([st](HttpRequest&&, PathParams p, Responder respond) {
            st->Submit([st, id = *p.Get("id"), respond = std::move(respond)] {
              Status s = st->Fleet()->Cancel(id);
              if (!s.ok()) return respond(ErrorResponse(s));
              Json j = Json::MakeObject();
              j["placement_id"] = Json(id);
              respond(JsonOk(202, j));
            });
          }));

    r.Add("GET", "/v1/instances", v1([st](HttpRequest&& req, PathParams, Responder respond) {
            int limit = 100;
            if (auto l = req.QueryParam("limit")) {
              char* end = nullptr;
              long v = std::strtol(l->c_str(), &end, 10);
              if (l->empty() || end != l->c_str() + l->size() || v < 1 || v > 10000) {
                return respond(
                    ErrorResponse(InvalidArgumentError("limit: expected an integer 1-10000")));
              }
              limit = static_cast<int>(v);
            }
            std::vector<std::string> order;
            if (auto o = req.QueryParam("order"); o && !o->empty()) {
              size_t start = 0;
              while (start <= o->size()) {
                size_t comma = o->find(',', start);
                if (comma == std::string::npos) comma = o->size();
                if (comma > start) order.push_back(o->substr(start, comma - start));
                start = comma + 1;
              }
            }
            std::string query = req.QueryParam("query").value_or("");
            std::string cursor = req.QueryParam("cursor").value_or("");
            // The index is in memory: List never calls GameLift nor the store.
            auto page = st->Fleet()->List(query, limit, cursor, order);
            if (!page.ok()) return respond(ErrorResponse(page.status()));
            Json j = Json::MakeObject();
            Json list = Json::MakeArray();
            for (const auto& i : page->instances) list.as_array().push_back(ToJson(i));
            j["instances"] = std::move(list);
            j["next_cursor"] = Json(page->next_cursor);
            respond(JsonOk(200, j));
          }));

    r.Add("GET", "/v1/instances/{id}", v1([st](HttpRequest&&, PathParams p, Responder respond) {
            st->Submit([st, id = *p.Get("id"), respond = std::move(respond)] {
              auto info = st->Fleet()->Get(id);
              if (!info.ok()) return respond(ErrorResponse(info.status()));
              respond(JsonOk(200, ToJson(*info)));
            });
          }));

    r.Add("DELETE", "/v1/instances/{id}", v1([st](HttpRequest&&, PathParams p, Responder respond) {
            st->Submit([st, id = *p.Get("id"), respond = std::move(respond)] {
              Status s = st->Fleet()->Delete(id);
              if (!s.ok()) return respond(ErrorResponse(s));
              respond(HttpResponse::Json(204, ""));
            });
          }));

    r.Add("POST", "/v1/instances/{id}/join",
          v1([st](HttpRequest&& req, PathParams p, Responder respond) {
            auto body = ParseObjectBody(req.body);
            if (!body.ok()) return respond(ErrorResponse(body.status()));
            auto users = StringList(*body, "user_ids");
            if (!users.ok()) return respond(ErrorResponse(users.status()));
            std::map<std::string, std::string> md;
            if (const Json* m = body->Find("metadata"); m != nullptr && !m->is_null()) {
              if (!m->is_object()) {
                return respond(ErrorResponse(InvalidArgumentError(
                    "metadata: expected an object of user id -> player data string")));
              }
              for (const auto& [k, v] : m->as_object()) {
                if (!v.is_string()) {
                  return respond(
                      ErrorResponse(InvalidArgumentError("metadata." + k + ": expected a string")));
                }
                md[k] = v.as_string();
              }
            }
            st->Submit([st, id = *p.Get("id"), users = std::move(*users), md = std::move(md),
                        respond = std::move(respond)] {
              auto join = st->Fleet()->Join(id, users, md);
              if (!join.ok()) return respond(ErrorResponse(join.status()));
              respond(JsonOk(200, ToJson(*join)));
            });
          }));

    r.Add("PATCH", "/v1/instances/{id}",
          v1([st](HttpRequest&& req, PathParams p, Responder respond) {
            auto body = ParseObjectBody(req.body);
            if (!body.ok()) return respond(ErrorResponse(body.status()));
            auto count = OptionalInt(*body, "player_count");
            if (!count.ok()) return respond(ErrorResponse(count.status()));
            Json md = Json::MakeObject();
            if (const Json* m = body->Find("metadata"); m != nullptr && !m->is_null()) {
              if (!m->is_object()) {
                return respond(ErrorResponse(InvalidArgumentError("metadata: expected an object")));
              }
              md = *m;
            }
            auto answer = [](const Responder& respond, const Status& s) {
              respond(s.ok() ? HttpResponse::Json(204, "") : ErrorResponse(s));
            };
            if (st->Fleet()->TryUpdateAsync(*p.Get("id"), *count, md,
                                            [respond, answer](Status s) { answer(respond, s); })) {
              return;
            }
            st->Submit([st, id = *p.Get("id"), count = *count, md = std::move(md),
                        respond = std::move(respond),
                        answer] { answer(respond, st->Fleet()->Update(id, count, md)); });
          }));

    r.Add(
        "GET", "/v1/events", v1([st](HttpRequest&& req, PathParams, Responder respond) {
          if (st->options.events == nullptr) {
            return respond(ErrorResponse(UnimplementedError("the event stream is off")));
          }
          std::set<std::string> types;
          if (auto t = req.QueryParam("types"); t && !t->empty()) {
            size_t start = 0;
            while (start <= t->size()) {
              size_t comma = t->find(',', start);
              if (comma == std::string::npos) comma = t->size();
              std::string type = t->substr(start, comma - start);
              if (type != "placement" && type != "instance") {
                return respond(ErrorResponse(InvalidArgumentError(
                    "types: unknown event type \"" + type + "\" (expected placement, instance)")));
              }
              types.insert(type);
              types.insert("resync");
              start = comma + 1;
            }
          }
          std::optional<uint64_t> last;
          const std::string* header = req.Header("last-event-id");
          std::optional<std::string> text = header != nullptr ? std::optional<std::string>(*header)
                                                              : req.QueryParam("last_event_id");
          if (text && !text->empty()) {
            char* end = nullptr;
            unsigned long long v = std::strtoull(text->c_str(), &end, 10);
            if (end != text->c_str() + text->size() || (*text)[0] == '-') {
              return respond(ErrorResponse(
                  InvalidArgumentError("Last-Event-ID: expected an event id (a number)")));
            }
            last = v;
          }
          HttpResponse res;
          res.content_type = "text/event-stream";
          res.headers.emplace_back("Cache-Control", "no-cache");
          res.headers.emplace_back("X-Accel-Buffering", "no");
          res.body = "retry: 2000\n\n";
          EventHub* hub = st->options.events;
          res.on_stream = [hub, types = std::move(types),
                           last](std::shared_ptr<ResponseStream> stream) mutable {
            hub->Attach(std::move(stream), std::move(types), last);
          };
          respond(std::move(res));
        }));

    // The API's description; public, like the routes' shapes in docs/.
    r.Add("GET", "/v1/openapi.json", [st](HttpRequest&&, PathParams, Responder respond) {
      respond(HttpResponse::Json(
          200, std::string(st->options.openapi_json.empty() ? OpenApiDocument()
                                                            : st->options.openapi_json)));
    });
  }
};

Api::Api(FleetManager* fleet, ApiOptions options) : state_(std::make_shared<State>()) {
  state_->fleet = fleet;
  state_->options = std::move(options);
  int n = std::max(1, state_->options.workers);
  for (int i = 0; i < n; ++i) {
    state_->workers.emplace_back([st = state_.get()] { st->WorkerLoop(); });
  }
  state_->timer = std::thread([st = state_.get()] { st->TimerLoop(); });
}

Api::~Api() { Shutdown(); }

void Api::AddRoutes(Router& router) { state_->AddRoutes(router, state_); }

void Api::OnOutcome(const CreateOutcome& outcome) { state_->OnOutcome(outcome); }

void Api::OnForeignOutcome(const CreateOutcome& outcome) { state_->OnForeignOutcome(outcome); }

bool Api::WantsOutcome(std::string_view id) const { return state_->WantsOutcome(id); }

void Api::RefreshPending() { state_->RefreshPending(); }

void Api::SetWebhooks(WebhookDispatcher* webhooks) { state_->options.webhooks = webhooks; }

void Api::SetFleet(FleetManager* fleet) { state_->fleet.store(fleet, std::memory_order_release); }

void Api::StopWaiting() {
  State* st = state_.get();
  std::vector<State::Waiter> parked;
  std::vector<std::string> bodies;
  {
    std::lock_guard<std::mutex> lock(st->pmu);
    if (st->timer_stopping) return;
    st->timer_stopping = true;
    for (auto& [t, w] : st->waiters) {
      bodies.push_back(st->StateJsonLocked(w.id).Dump());
      parked.push_back(std::move(w));
    }
    st->waiters.clear();
    st->waiters_by_id.clear();
  }
  st->timer_cv.notify_all();
  for (size_t i = 0; i < parked.size(); ++i) {
    parked[i].respond(HttpResponse::Json(200, std::move(bodies[i])));
  }
}

void Api::Shutdown() {
  StopWaiting();
  State* st = state_.get();
  if (st->timer.joinable()) st->timer.join();
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->stopping = true;
  }
  st->work_cv.notify_all();
  for (auto& t : st->workers) {
    if (t.joinable()) t.join();
  }
}

}  // namespace glfm::server
