// Emulator: routing of AWS protocols, the admin API, timers and the command-line entry point.
#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "emulator/emulator_impl.h"
#include "emulator/sigv4_verifier.h"
#include "emulator/wire.h"

namespace glfm::emulator {
namespace {

class SystemClock : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

bool IsSnsAction(const std::string& a) {
  static const std::set<std::string> kSns = {"CreateTopic",
                                             "DeleteTopic",
                                             "ListTopics",
                                             "GetTopicAttributes",
                                             "Subscribe",
                                             "Unsubscribe",
                                             "ListSubscriptions",
                                             "ListSubscriptionsByTopic",
                                             "Publish",
                                             "GetSubscriptionAttributes",
                                             "SetSubscriptionAttributes",
                                             "SetTopicAttributes"};
  return kSns.count(a) > 0;
}

// Returns the service named in a SigV4 credential scope (".../us-east-1/sqs/aws4_request").
std::string ServiceFromAuthorization(const std::string* auth) {
  if (auth == nullptr) {
    return "";
  }
  size_t end = auth->find("/aws4_request");
  if (end == std::string::npos) {
    return "";
  }
  size_t start = auth->rfind('/', end - 1);
  if (start == std::string::npos) {
    return "";
  }
  return auth->substr(start + 1, end - start - 1);
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Converts Query-protocol parameters into the JSON-protocol input shape the operations read:
// `AttributeName.1` → AttributeNames[0]; `Attribute.1.Name/Value` and SNS
// `Attributes.entry.1.key/value` → Attributes{}; `XRequestEntry.1.Field` → Entries[0].Field.
Json FormToJson(const std::map<std::string, std::string>& form) {
  Json out = Json::MakeObject();
  std::map<std::string, std::map<int, std::string>> lists;
  std::map<int, std::pair<std::string, std::string>> attrs;
  std::map<int, Json> entries;
  for (const auto& [k, v] : form) {
    std::vector<std::string> parts;
    size_t pos = 0;
    while (true) {
      size_t dot = k.find('.', pos);
      parts.push_back(k.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos));
      if (dot == std::string::npos) {
        break;
      }
      pos = dot + 1;
    }
    if (parts.size() == 1) {
      out[k] = Json(v);
    } else if (parts.size() == 2 && AllDigits(parts[1])) {
      lists[parts[0] + "s"][std::stoi(parts[1])] = v;
    } else if (parts.size() == 3 && parts[0] == "Attribute" && AllDigits(parts[1])) {
      auto& a = attrs[std::stoi(parts[1])];
      (parts[2] == "Name" ? a.first : a.second) = v;
    } else if (parts.size() == 4 && parts[0] == "Attributes" && parts[1] == "entry" &&
               AllDigits(parts[2])) {
      auto& a = attrs[std::stoi(parts[2])];
      (parts[3] == "key" ? a.first : a.second) = v;
    } else if (parts.size() == 3 && parts[0].size() > 12 &&
               parts[0].compare(parts[0].size() - 12, 12, "RequestEntry") == 0 &&
               AllDigits(parts[1])) {
      Json& e = entries[std::stoi(parts[1])];
      if (e.is_null()) {
        e = Json::MakeObject();
      }
      e[parts[2]] = Json(v);
    }
  }
  for (auto& [name, items] : lists) {
    Json arr = Json::MakeArray();
    for (auto& [i, v] : items) {
      arr.as_array().push_back(Json(v));
    }
    out[name] = std::move(arr);
  }
  if (!attrs.empty()) {
    Json m = Json::MakeObject();
    for (auto& [i, kv] : attrs) {
      m[kv.first] = Json(kv.second);
    }
    out["Attributes"] = std::move(m);
  }
  if (!entries.empty()) {
    Json arr = Json::MakeArray();
    for (auto& [i, e] : entries) {
      arr.as_array().push_back(std::move(e));
    }
    out["Entries"] = std::move(arr);
  }
  return out;
}

std::string ScalarText(const Json& v) {
  if (v.is_string()) {
    return v.as_string();
  }
  if (v.is_bool()) {
    return v.as_bool() ? "true" : "false";
  }
  return v.Dump();
}

// Name of the XML element for each item of a JSON list in an SQS Query reply (SQS flattens
// its lists: <Message>...</Message><Message>...</Message>).
std::string SqsItemName(const std::string& op, const std::string& key) {
  if (key == "Messages") {
    return "Message";
  }
  if (key == "QueueUrls") {
    return "QueueUrl";
  }
  if (key == "Failed") {
    return "BatchResultErrorEntry";
  }
  if (key == "Successful") {
    return op + "ResultEntry";
  }
  return key;
}

void AppendSqsXml(std::string& x, const std::string& op, const Json& obj) {
  for (const auto& [k, v] : obj.as_object()) {
    if (k == "Attributes" && v.is_object()) {
      for (const auto& [ak, av] : v.as_object()) {
        x += "<Attribute><Name>";
        AppendXmlEscaped(x, ak);
        x += "</Name><Value>";
        AppendXmlEscaped(x, ScalarText(av));
        x += "</Value></Attribute>";
      }
    } else if (v.is_array()) {
      std::string item = SqsItemName(op, k);
      for (const auto& e : v.as_array()) {
        x += "<" + item + ">";
        if (e.is_object()) {
          AppendSqsXml(x, op, e);
        } else {
          AppendXmlEscaped(x, ScalarText(e));
        }
        x += "</" + item + ">";
      }
    } else if (v.is_object()) {
      x += "<" + k + ">";
      AppendSqsXml(x, op, v);
      x += "</" + k + ">";
    } else {
      x += "<" + k + ">";
      AppendXmlEscaped(x, ScalarText(v));
      x += "</" + k + ">";
    }
  }
}

// SNS Query lists are wrapped (<Topics><member>...</member></Topics>), maps are
// <entry><key/><value/></entry>.
void AppendSnsXml(std::string& x, const Json& obj) {
  for (const auto& [k, v] : obj.as_object()) {
    x += "<" + k + ">";
    if (k == "Attributes" && v.is_object()) {
      for (const auto& [ak, av] : v.as_object()) {
        x += "<entry><key>";
        AppendXmlEscaped(x, ak);
        x += "</key><value>";
        AppendXmlEscaped(x, ScalarText(av));
        x += "</value></entry>";
      }
    } else if (v.is_array()) {
      for (const auto& e : v.as_array()) {
        x += "<member>";
        if (e.is_object()) {
          AppendSnsXml(x, e);
        } else {
          AppendXmlEscaped(x, ScalarText(e));
        }
        x += "</member>";
      }
    } else if (v.is_object()) {
      AppendSnsXml(x, v);
    } else {
      AppendXmlEscaped(x, ScalarText(v));
    }
    x += "</" + k + ">";
  }
}

constexpr const char* kSqsNs = "http://queue.amazonaws.com/doc/2012-11-05/";
constexpr const char* kSnsNs = "http://sns.amazonaws.com/doc/2010-03-31/";

server::HttpResponse AdminJson(int status, const Json& body) {
  return server::HttpResponse::Json(status, body.Dump());
}

server::HttpResponse AdminError(int status, const std::string& message) {
  Json j = Json::MakeObject();
  j["error"] = Json(message);
  return AdminJson(status, j);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Lifecycle

Emulator::Impl::Impl(EmulatorOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) {
    owned_clock_ = std::make_unique<SystemClock>();
    clock_ = owned_clock_.get();
  } else {
    clock_ = options_.clock;
  }
  world_ = options_.world;
  rng_.seed(world_.faults.seed);
  id_state_ = world_.faults.seed * 0x9E3779B97F4A7C15ULL + 1;
}

Emulator::Impl::~Impl() { Stop(); }

Status Emulator::Impl::Start() {
  GLFM_RETURN_IF_ERROR(ValidateWorld(world_));
  server::HttpServerOptions so;
  so.host = options_.host;
  so.port = options_.port;
  so.io_threads = options_.io_threads;
  so.max_body_bytes = 1024 * 1024;
  auto server =
      server::HttpServer::Start(so, [this](server::HttpRequest&& req, server::Responder respond) {
        Handle(std::move(req), std::move(respond));
      });
  if (!server.ok()) {
    return server.status();
  }
  server_ = std::move(server).value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = Now();
    for (const auto& f : world_.fleets) {
      for (const auto& l : f.locations) {
        LocationState& s = locations_[f.id + "/" + l.name];
        s.fleet_id = f.id;
        s.spec = l;
      }
    }
    for (const auto& q : world_.queues) {
      SqsCreateQueueLocked(q);
      queues_[q.name].created_ms = now;
    }
    for (const auto& t : world_.topics) {
      auto& subs = topics_[t.name];
      for (const auto& s : t.subscriptions) {
        subs.push_back({"arn:aws:sns:" + world_.region + ":" + world_.account + ":" + t.name + ":" +
                            UuidFrom(id_state_),
                        t.name, s.queue, s.raw});
      }
    }
  }
  timer_thread_ = std::thread([this] { TimerLoop(); });
  return OkStatus();
}

void Emulator::Impl::Stop() {
  Outbox out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
    // Long polls end now with no messages, as SQS answers when its wait ends.
    for (auto& [id, w] : waiters_) {
      OpResult r;
      r.body = Json::MakeObject();
      out.emplace_back(std::move(w.respond),
                       Render("sqs", "ReceiveMessage", w.request.wire, r, w.request.request_id));
    }
    waiters_.clear();
    // Held requests end now, unhandled, as the stopping emulator answers any request.
    for (auto& [n, h] : held_requests_) {
      out.emplace_back(std::move(h.respond),
                       Render(h.service, h.op, h.wire, Stopping(), h.request_id));
    }
    held_requests_.clear();
  }
  cv_.notify_all();
  Flush(out);
  if (timer_thread_.joinable()) {
    timer_thread_.join();
  }
  if (server_) {
    server_->Shutdown(std::chrono::milliseconds(2000));
  }
}

void Emulator::Impl::Flush(Outbox& out) {
  for (auto& [respond, response] : out) {
    respond(std::move(response));
  }
  out.clear();
}

bool Emulator::Impl::Roll(double percent) {
  if (percent <= 0) {
    return false;
  }
  if (percent >= 100) {
    return true;
  }
  std::uniform_real_distribution<double> d(0.0, 100.0);
  return d(rng_) < percent;
}

// ---------------------------------------------------------------------------------------
// Timers

void Emulator::Impl::ScheduleLocked(int64_t due_ms, TimerKind kind, std::string key,
                                    uint64_t number) {
  bool earliest = timers_.empty() || due_ms < timers_.top().due_ms;
  timers_.push(Timer{due_ms, timer_seq_++, kind, std::move(key), number});
  // One wake-up per timer-thread cycle is enough: it re-reads the heap when it wakes.
  if (earliest && !wake_pending_) {
    wake_pending_ = true;
    cv_.notify_one();
  }
}

void Emulator::Impl::RunDueLocked(Outbox& out) {
  int64_t now = Now();
  while (!timers_.empty() && timers_.top().due_ms <= now) {
    Timer t = timers_.top();
    timers_.pop();
    firing_now_ = t.due_ms;
    FireLocked(t, out);
    firing_now_ = -1;
  }
}

void Emulator::Impl::RunDueWork() {
  Outbox out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RunDueLocked(out);
  }
  Flush(out);
}

Status Emulator::Impl::AdvanceClock(int64_t ms) {
  auto* manual = dynamic_cast<ManualClock*>(clock_);
  if (manual == nullptr) {
    return FailedPreconditionError("the emulator runs on the system clock; it cannot advance");
  }
  if (ms < 0) {
    return InvalidArgumentError("ms must not be negative");
  }
  manual->Advance(ms);
  RunDueWork();
  return OkStatus();
}

void Emulator::Impl::TimerLoop() {
  const bool manual = dynamic_cast<ManualClock*>(clock_) != nullptr;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_pending_ = false;
    Outbox out;
    RunDueLocked(out);
    if (!out.empty()) {
      lock.unlock();
      Flush(out);
      lock.lock();
      continue;
    }
    if (timers_.empty() || manual) {
      // A manual clock moves only through AdvanceClock, which runs the due work itself;
      // this thread picks up work scheduled as due right now.
      cv_.wait_for(lock, std::chrono::milliseconds(manual ? 20 : 1000));
    } else {
      int64_t wait = std::min<int64_t>(timers_.top().due_ms - Now(), 1000);
      if (wait > 0) {
        cv_.wait_for(lock, std::chrono::milliseconds(wait));
      }
    }
  }
}

void Emulator::Impl::FireLocked(const Timer& t, Outbox& out) {
  switch (t.kind) {
    case TimerKind::kPlacementAttempt: {
      auto it = placements_.find(t.key);
      if (it != placements_.end() && it->second.status == "PENDING" &&
          Roll(world_.faults.placement_fail_percent)) {
        FinishPlacementLocked(it->second, "FAILED", out);  // injected: GameLift gave up
        break;
      }
      TryPlaceLocked(t.key, out);
      break;
    }
    case TimerKind::kPlacementTimeout: {
      auto it = placements_.find(t.key);
      if (it != placements_.end() && it->second.status == "PENDING" &&
          it->second.game_session_arn.empty()) {
        waiting_placements_.erase(t.key);
        FinishPlacementLocked(it->second, "TIMED_OUT", out);
      }
      break;
    }
    case TimerKind::kActivate:
      ActivateLocked(t.key, out);
      break;
    case TimerKind::kPlayerAccept: {
      auto it = player_sessions_.find(t.key);
      if (it != player_sessions_.end() && it->second.status == "RESERVED") {
        it->second.status = "ACTIVE";
      }
      break;
    }
    case TimerKind::kPlayerTimeout: {
      auto it = player_sessions_.find(t.key);
      if (it != player_sessions_.end() && it->second.status == "RESERVED") {
        it->second.status = "TIMEDOUT";
        it->second.termination_ms = Now();
      }
      break;
    }
    case TimerKind::kPollDeadline: {
      auto it = waiters_.find(t.number);
      if (it != waiters_.end()) {
        auto qit = queues_.find(it->second.queue);
        if (qit != queues_.end()) {
          auto& w = qit->second.waiters;
          w.erase(std::remove(w.begin(), w.end(), t.number), w.end());
        }
        OpResult r;
        out.emplace_back(std::move(it->second.respond),
                         Render("sqs", "ReceiveMessage", it->second.request.wire, r,
                                it->second.request.request_id));
        waiters_.erase(it);
      }
      break;
    }
    case TimerKind::kQueueWake: {
      auto it = queues_.find(t.key);
      if (it != queues_.end()) {
        ServeWaitersLocked(it->second, out);
      }
      break;
    }
    case TimerKind::kDelayedEvent: {
      auto it = delayed_events_.find(t.number);
      if (it != delayed_events_.end()) {
        auto ev = std::move(it->second);
        delayed_events_.erase(it);
        DeliverEventLocked(ev.first, ev.second, out);
      }
      break;
    }
    case TimerKind::kFlushHeld:
      if (held_event_ && held_event_->second == t.key) {
        auto ev = std::move(*held_event_);
        held_event_.reset();
        DeliverEventLocked(ev.first, ev.second, out);
      }
      break;
    case TimerKind::kHeldRequest: {
      auto it = held_requests_.find(t.number);
      if (it != held_requests_.end()) {
        HeldRequest h = std::move(it->second);
        held_requests_.erase(it);
        if (auto response = HandleAwsLocked(h, out)) {
          out.emplace_back(std::move(h.respond), std::move(*response));
        }
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Requests

const OperationFaults* Emulator::Impl::OperationFaultsLocked(const std::string& op) const {
  const auto& ops = world_.faults.operations;
  auto it = ops.find(op);
  if (it == ops.end()) {
    it = ops.find("*");
  }
  return it == ops.end() ? nullptr : &it->second;
}

int64_t Emulator::Impl::InjectedLatencyLocked(const std::string& op) {
  const OperationFaults* f = OperationFaultsLocked(op);
  if (f == nullptr || f->latency_ms <= 0) return 0;
  return Roll(f->latency_percent) ? f->latency_ms : 0;
}

std::optional<AwsError> Emulator::Impl::InjectedFaultLocked(const std::string& service,
                                                            const std::string& op) {
  const OperationFaults* f = OperationFaultsLocked(op);
  if (f == nullptr) {
    return std::nullopt;
  }
  if (Roll(f->throttle_percent)) {
    if (service == "gamelift") {
      return AwsError{400, "ThrottlingException", "", true, "Rate exceeded"};
    }
    return AwsError{400, "RequestThrottled", "RequestThrottled", true, "Rate exceeded"};
  }
  if (Roll(f->error_percent)) {
    if (service == "gamelift") {
      return AwsError{500, "InternalServiceException", "", false,
                      "injected fault: internal service error"};
    }
    return AwsError{500, "InternalError", "InternalError", false, "injected fault: internal error"};
  }
  return std::nullopt;
}

void Emulator::Impl::Log(const std::string& service, const std::string& op, Wire wire,
                         const OpResult& r, const std::string& body) {
  RequestLogEntry e;
  e.time_ms = Now();
  e.service = service;
  e.operation = op;
  e.protocol = wire == Wire::kJson ? "json" : "query";
  e.http_status = r.error ? r.error->http_status : 200;
  e.error_code = r.error ? (r.error->query_code.empty() ? r.error->code : r.error->query_code) : "";
  e.request_body = body.size() > 4096 ? body.substr(0, 4096) : body;
  log_.push_back(std::move(e));
  while (log_.size() > options_.request_log_capacity) {
    log_.pop_front();
  }
}

std::string Emulator::Impl::QueryXml(const std::string& service, const std::string& op,
                                     const Json& body, const std::string& request_id) {
  std::string x = "<?xml version=\"1.0\"?>";
  x += "<" + op + "Response xmlns=\"" + (service == "sns" ? kSnsNs : kSqsNs) + "\">";
  // Operations without an output shape answer with no <OpResult> element; the others always
  // carry one, even empty (botocore's Query parser looks it up).
  static const std::set<std::string> kNoResult = {
      "DeleteMessage",     "ChangeMessageVisibility",   "PurgeQueue",  "SetQueueAttributes",
      "DeleteQueue",       "SetSubscriptionAttributes", "Unsubscribe", "DeleteTopic",
      "SetTopicAttributes"};
  if (!kNoResult.count(op)) {
    x += "<" + op + "Result>";
    if (service == "sns") {
      AppendSnsXml(x, body);
    } else {
      AppendSqsXml(x, op, body);
    }
    x += "</" + op + "Result>";
  }
  x += "<ResponseMetadata><RequestId>" + request_id + "</RequestId></ResponseMetadata>";
  x += "</" + op + "Response>";
  return x;
}

server::HttpResponse Emulator::Impl::Render(const std::string& service, const std::string& op,
                                            Wire wire, const OpResult& r,
                                            const std::string& request_id) {
  server::HttpResponse resp;
  resp.headers.emplace_back("x-amzn-RequestId", request_id);
  if (wire == Wire::kQuery) {
    resp.content_type = "text/xml";
    if (r.error) {
      const AwsError& e = *r.error;
      resp.status = e.http_status;
      std::string x = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"";
      x += service == "sns" ? kSnsNs : kSqsNs;
      x += "\"><Error><Type>";
      x += e.sender ? "Sender" : "Receiver";
      x += "</Type><Code>";
      AppendXmlEscaped(x, e.query_code.empty() ? e.code : e.query_code);
      x += "</Code><Message>";
      AppendXmlEscaped(x, e.message);
      x += "</Message><Detail/></Error><RequestId>" + request_id + "</RequestId></ErrorResponse>";
      resp.body = std::move(x);
    } else {
      resp.body = QueryXml(service, op, r.body, request_id);
    }
    return resp;
  }
  resp.content_type =
      service == "gamelift" ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0";
  if (r.error) {
    const AwsError& e = *r.error;
    resp.status = e.http_status;
    std::string type = service == "sqs" ? "com.amazonaws.sqs#" + e.code : e.code;
    std::string b = "{\"__type\":";
    AppendJsonString(b, type);
    b += ",\"message\":";
    AppendJsonString(b, e.message);
    b += "}";
    resp.body = std::move(b);
    if (service == "sqs") {
      resp.headers.emplace_back(
          "x-amzn-query-error",
          (e.query_code.empty() ? e.code : e.query_code) + (e.sender ? ";Sender" : ";Receiver"));
    }
  } else if (!r.json_text.empty()) {
    resp.body = r.json_text;
  } else {
    resp.body = r.body.Dump();
  }
  return resp;
}

void Emulator::Impl::Handle(server::HttpRequest&& req, server::Responder respond) {
  if (req.path.rfind("/_emulator/", 0) == 0) {
    HandleAdmin(req, std::move(respond));
    return;
  }
  std::string service, op;
  Wire wire = Wire::kJson;
  Json input;
  if (const std::string* target = req.Header("x-amz-target")) {
    size_t dot = target->find('.');
    std::string prefix = target->substr(0, dot);
    op = dot == std::string::npos ? "" : target->substr(dot + 1);
    if (prefix == "GameLift") {
      service = "gamelift";
    } else if (prefix == "AmazonSQS") {
      service = "sqs";
    } else {
      respond(server::HttpResponse::Json(
          400, "{\"__type\":\"UnknownOperationException\",\"message\":\"unknown target " + *target +
                   "\"}"));
      return;
    }
    auto parsed = Json::Parse(req.body.empty() ? std::string_view("{}") : req.body);
    if (!parsed.ok() || !parsed->is_object()) {
      OpResult r =
          Fail(400, service == "gamelift" ? "InvalidRequestException" : "InvalidParameterValue",
               "request body is not a JSON object", "InvalidParameterValue");
      respond(Render(service, op, wire, r, req.request_id));
      return;
    }
    input = std::move(parsed).value();
  } else if (req.method == "POST" || !req.query.empty()) {
    wire = Wire::kQuery;
    auto form = ParseForm(req.body);
    auto query = ParseForm(req.query);
    if (!form.ok() || !query.ok()) {
      respond(server::HttpResponse::Text(400, "malformed form body"));
      return;
    }
    for (auto& [k, v] : *query) {
      form->emplace(k, v);
    }
    auto action = form->find("Action");
    if (action == form->end()) {
      respond(server::HttpResponse::Text(400, "missing Action"));
      return;
    }
    op = action->second;
    std::string scope = ServiceFromAuthorization(req.Header("authorization"));
    service = scope == "sns" || scope == "sqs" ? scope : (IsSnsAction(op) ? "sns" : "sqs");
    input = FormToJson(*form);
    if (service == "sqs" && !input.Find("QueueUrl") && req.path.size() > 1) {
      input["QueueUrl"] = Json(server_->url() + req.path);
    }
  } else {
    respond(server::HttpResponse::Json(200, "{\"service\":\"glfm emulator\"}"));
    return;
  }

  if (options_.verify_signature) {
    Status s = options_.verify_signature(req);
    if (!s.ok()) {
      OpResult r = service == "gamelift"
                       ? Fail(400, "UnauthorizedException", s.message())
                       : Fail(403, "SignatureDoesNotMatch", s.message(), "SignatureDoesNotMatch");
      respond(Render(service, op, wire, r, req.request_id));
      return;
    }
  }

  Outbox out;
  std::optional<server::HttpResponse> response;
  HeldRequest held{.service = std::move(service),
                   .op = std::move(op),
                   .wire = wire,
                   .input = std::move(input),
                   .request_id = req.request_id,
                   .body = std::move(req.body),
                   .respond = std::move(respond)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      response = Render(held.service, held.op, wire, Stopping(), held.request_id);
    } else if (int64_t hold = InjectedLatencyLocked(held.op); hold > 0) {
      uint64_t n = next_held_++;
      held_requests_.emplace(n, std::move(held));
      ScheduleLocked(Now() + hold, TimerKind::kHeldRequest, "", n);
      return;
    } else {
      RunDueLocked(out);
      response = HandleAwsLocked(held, out);
    }
  }
  Flush(out);
  if (response) {
    held.respond(std::move(*response));
  }
}

std::optional<server::HttpResponse> Emulator::Impl::HandleAwsLocked(HeldRequest& h, Outbox& out) {
  OpResult r;
  if (auto fault = InjectedFaultLocked(h.service, h.op)) {
    r.error = *fault;
  } else if (h.service == "gamelift") {
    r = GameLiftLocked(h.op, h.input, out);
  } else if (h.service == "sqs") {
    r = SqsLocked(h.op, h.input, h.wire, h.request_id, h.respond, out);
  } else {
    r = SnsLocked(h.op, h.input, out);
  }
  Log(h.service, h.op, h.wire, r, h.body);
  if (r.parked) return std::nullopt;
  return Render(h.service, h.op, h.wire, r, h.request_id);
}

// ---------------------------------------------------------------------------------------
// Admin API (docs/emulator.md)

void Emulator::Impl::HandleAdmin(const server::HttpRequest& req, server::Responder respond) {
  const std::string path = req.path.substr(std::strlen("/_emulator"));
  Json body = Json::MakeObject();
  if (!req.body.empty() && path != "/faults") {
    auto parsed = Json::Parse(req.body);
    if (!parsed.ok() || !parsed->is_object()) {
      respond(AdminError(400, "body must be a JSON object"));
      return;
    }
    body = std::move(parsed).value();
  }
  auto str = [&body](const char* k) {
    const Json* v = body.Find(k);
    return v != nullptr && v->is_string() ? v->as_string() : std::string();
  };
  if (path == "/health") {
    respond(AdminJson(200, Json(Json::Object{{"status", Json("ok")}})));
    return;
  }
  if (path == "/clock/advance" && req.method == "POST") {
    const Json* ms = body.Find("ms");
    Status s = AdvanceClock(ms != nullptr && ms->is_number() ? ms->as_int64() : 0);
    respond(s.ok() ? AdminJson(200, Json::MakeObject()) : AdminError(409, s.message()));
    return;
  }
  if (path == "/run-due" && req.method == "POST") {
    RunDueWork();
    respond(AdminJson(200, Json::MakeObject()));
    return;
  }
  if (path == "/faults" && req.method == "POST") {
    auto f = ParseFaultsYaml(req.body);
    if (!f.ok()) {
      respond(AdminError(400, f.status().message()));
      return;
    }
    SetFaults(*f);
    respond(AdminJson(200, Json::MakeObject()));
    return;
  }
  if (path == "/requests") {
    if (req.method == "DELETE") {
      ClearRequestLog();
      respond(AdminJson(200, Json::MakeObject()));
      return;
    }
    auto op = req.QueryParam("operation");
    auto service = req.QueryParam("service");
    Json list = Json::MakeArray();
    for (const auto& e : RequestLog()) {
      if ((op && *op != e.operation) || (service && *service != e.service)) {
        continue;
      }
      Json j = Json::MakeObject();
      j["time_ms"] = Json(e.time_ms);
      j["service"] = Json(e.service);
      j["operation"] = Json(e.operation);
      j["protocol"] = Json(e.protocol);
      j["status"] = Json(e.http_status);
      j["error"] = Json(e.error_code);
      j["body"] = Json(e.request_body);
      list.as_array().push_back(std::move(j));
    }
    respond(AdminJson(200, Json(Json::Object{{"requests", std::move(list)}})));
    return;
  }
  if (req.method != "POST") {
    respond(AdminError(404, "no admin endpoint " + req.method + " " + req.path));
    return;
  }
  Outbox out;
  server::HttpResponse resp = AdminJson(200, Json::MakeObject());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (path == "/capacity") {
      auto it = locations_.find(str("fleet") + "/" + str("location"));
      const Json* cap = body.Find("capacity");
      if (it == locations_.end()) {
        resp = AdminError(404,
                          "fleet location " + str("fleet") + "/" + str("location") + " not found");
      } else if (cap == nullptr || !cap->is_number() || cap->as_int64() < 0) {
        resp = AdminError(400, "capacity must be a number >= 0");
      } else {
        it->second.spec.capacity = static_cast<int>(cap->as_int64());
        RetryWaitingPlacementsLocked(out);
      }
    } else if (path == "/game-sessions/terminate") {
      Status s = TerminateGameSessionLocked(str("GameSessionId"), out);
      if (!s.ok()) {
        resp = AdminError(404, s.message());
      }
    } else if (path == "/player-sessions/accept" || path == "/player-sessions/complete") {
      bool accept = path == "/player-sessions/accept";
      auto it = player_sessions_.find(str("PlayerSessionId"));
      if (it == player_sessions_.end()) {
        resp = AdminError(404, "player session " + str("PlayerSessionId") + " not found");
      } else if (accept && it->second.status != "RESERVED") {
        resp = AdminError(
            409, "player session " + it->first + " is " + it->second.status + ", not RESERVED");
      } else if (!accept && it->second.status != "ACTIVE" && it->second.status != "RESERVED") {
        resp = AdminError(409, "player session " + it->first + " is " + it->second.status);
      } else {
        it->second.status = accept ? "ACTIVE" : "COMPLETED";
        if (!accept) {
          it->second.termination_ms = Now();
        }
        resp = AdminJson(200, PlayerSessionJson(it->second));
      }
    } else if (path == "/player-sessions/expire") {
      std::string gs = str("GameSessionId");
      int n = 0;
      for (auto& [id, ps] : player_sessions_) {
        if (ps.status == "RESERVED" && (gs.empty() || ps.game_session_arn == gs)) {
          ps.status = "TIMEDOUT";
          ps.termination_ms = Now();
          ++n;
        }
      }
      resp = AdminJson(200, Json(Json::Object{{"expired", Json(n)}}));
    } else {
      resp = AdminError(404, "no admin endpoint POST " + req.path);
    }
  }
  Flush(out);
  respond(std::move(resp));
}

std::vector<RequestLogEntry> Emulator::Impl::RequestLog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {log_.begin(), log_.end()};
}

void Emulator::Impl::ClearRequestLog() {
  std::lock_guard<std::mutex> lock(mu_);
  log_.clear();
}

size_t Emulator::Impl::HeldRequests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_requests_.size();
}

void Emulator::Impl::SetFaults(const Faults& faults) {
  std::lock_guard<std::mutex> lock(mu_);
  world_.faults = faults;
  rng_.seed(faults.seed);
}

// ---------------------------------------------------------------------------------------
// Public API

Emulator::Emulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Emulator::~Emulator() { Stop(); }

Result<std::unique_ptr<Emulator>> Emulator::Start(EmulatorOptions options) {
  if (!options.verify_signature && !options.world.signing_keys.empty()) {
    options.verify_signature = MakeSigV4Verifier(options.world.signing_keys);
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  GLFM_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Emulator>(new Emulator(std::move(impl)));
}

std::string Emulator::url() const { return impl_->url(); }
uint16_t Emulator::port() const { return impl_->port(); }
void Emulator::Stop() { impl_->Stop(); }
void Emulator::RunDueWork() { impl_->RunDueWork(); }
Status Emulator::AdvanceClock(int64_t ms) { return impl_->AdvanceClock(ms); }
std::vector<RequestLogEntry> Emulator::RequestLog() const { return impl_->RequestLog(); }
void Emulator::ClearRequestLog() { impl_->ClearRequestLog(); }
size_t Emulator::HeldRequests() const { return impl_->HeldRequests(); }
void Emulator::SetFaults(const Faults& faults) { impl_->SetFaults(faults); }

int RunEmulatorCommand(int argc, char** argv) {
  std::string listen = "127.0.0.1:4566";
  std::string world_file;
  bool manual_clock = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (a == "--world" && i + 1 < argc) {
      world_file = argv[++i];
    } else if (a == "--manual-clock") {
      manual_clock = true;
    } else {
      std::fprintf(stderr,
                   "usage: glfm emulator [--listen HOST:PORT] [--world FILE] [--manual-clock]\n");
      return 2;
    }
  }
  EmulatorOptions opts;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "glfm emulator: --listen wants HOST:PORT, not %s\n", listen.c_str());
    return 2;
  }
  opts.host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port < 0 || port > 65535 || !AllDigits(listen.substr(colon + 1))) {
    std::fprintf(stderr, "glfm emulator: bad port in --listen %s\n", listen.c_str());
    return 2;
  }
  opts.port = static_cast<uint16_t>(port);
  if (!world_file.empty()) {
    auto w = LoadWorldFile(world_file);
    if (!w.ok()) {
      std::fprintf(stderr, "glfm emulator: %s\n", w.status().ToString().c_str());
      return 2;
    }
    opts.world = std::move(w).value();
  }
  ManualClock clock;
  if (manual_clock) {
    opts.clock = &clock;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto emulator = Emulator::Start(std::move(opts));
  if (!emulator.ok()) {
    std::fprintf(stderr, "glfm emulator: %s\n", emulator.status().ToString().c_str());
    return 1;
  }
  std::printf("listening on %s\n", (*emulator)->url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*emulator)->Stop();
  return 0;
}

}  // namespace glfm::emulator
