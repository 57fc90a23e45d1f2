// GameLiftFleetManager (see fleet_manager_impl.h and docs/fleet.md).
#include "fleet/fleet_manager_impl.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/heap.h"
#include "common/id_locks.h"
#include "common/log.h"
#include "common/metrics.h"
#include "glfm/codec.h"

namespace glfm::fleet {
namespace {

using gamelift::GameSession;
using gamelift::GameSessionPlacement;

// When the ReceiveMessage answer that this receiver thread is handling arrived.
thread_local std::chrono::steady_clock::time_point t_received{};
constexpr size_t kDeliveredMemory = 200000;
// Delivered marks per MarkPlacementsDelivered call of the marker thread.
constexpr size_t kMarkBatch = 500;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string Base36(uint64_t v) {
  static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v % 36]);
    v /= 36;
  } while (v != 0);
  return s;
}

Json PropertiesToJson(const std::vector<gamelift::GameProperty>& props) {
  Json j = Json::MakeObject();
  for (const auto& p : props) j[p.key] = p.value;
  return j;
}

std::vector<gamelift::GameProperty> PropertiesFromJson(const Json& j) {
  std::vector<gamelift::GameProperty> out;
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.as_object()) {
    if (v.is_string()) out.push_back({k, v.as_string()});
  }
  return out;
}

// Checks the metadata keys the fleet manager understands; `path` names the argument.
Status ValidateKnownMetadata(const Json& metadata, std::string_view path) {
  std::string p(path);
  if (const Json* d = metadata.Find(kGameSessionDataKey); d != nullptr) {
    if (!d->is_string()) return InvalidArgumentError(p + ".GameSessionData must be a string");
    if (d->as_string().size() > gamelift::kMaxGameSessionDataLength) {
      return InvalidArgumentError(p + ".GameSessionData must be at most 4096 characters");
    }
  }
  if (const Json* n = metadata.Find(kGameSessionNameKey); n != nullptr) {
    if (!n->is_string()) return InvalidArgumentError(p + ".GameSessionName must be a string");
    if (n->as_string().size() > gamelift::kMaxNameLength) {
      return InvalidArgumentError(p + ".GameSessionName must be at most 1024 characters");
    }
  }
  if (const Json* g = metadata.Find(kGamePropertiesKey); g != nullptr) {
    if (!g->is_object()) {
      return InvalidArgumentError(p + ".GameProperties must be an object of strings");
    }
    if (g->as_object().size() > gamelift::kMaxGameProperties) {
      return InvalidArgumentError(p + ".GameProperties must have at most 16 entries");
    }
    for (const auto& [k, v] : g->as_object()) {
      if (k.empty() || k.size() > gamelift::kMaxGamePropertyKeyLength) {
        return InvalidArgumentError(p + ".GameProperties key \"" + k +
                                    "\" must be 1-32 characters");
      }
      if (!v.is_string()) {
        return InvalidArgumentError(p + ".GameProperties." + k + " must be a string, got " +
                                    std::string(v.TypeName()));
      }
      if (v.as_string().size() > gamelift::kMaxGamePropertyValueLength) {
        return InvalidArgumentError(p + ".GameProperties." + k + " must be at most 96 characters");
      }
    }
  }
  return OkStatus();
}

// The instance metadata a request or game session carries: the three known keys only.
Json InstanceMetadataFrom(const Json& metadata) {
  Json out = Json::MakeObject();
  if (!metadata.is_object()) return out;
  for (const char* key : {kGameSessionDataKey, kGameSessionNameKey, kGamePropertiesKey}) {
    if (const Json* v = metadata.Find(key); v != nullptr) out[key] = *v;
  }
  return out;
}

InstanceInfo InstanceFromGameSession(const GameSession& gs, const Json* stored_metadata) {
  InstanceInfo info;
  info.id = gs.game_session_id;
  info.connection_info = {gs.ip_address, gs.dns_name, gs.port};
  info.create_time = gs.creation_time;
  info.player_count = gs.current_player_session_count;
  info.status = gs.status;
  info.metadata = stored_metadata != nullptr && stored_metadata->is_object() ? *stored_metadata
                                                                             : Json::MakeObject();
  if (!gs.game_session_data.empty()) info.metadata[kGameSessionDataKey] = gs.game_session_data;
  if (!gs.name.empty()) info.metadata[kGameSessionNameKey] = gs.name;
  if (!gs.game_properties.empty()) {
    info.metadata[kGamePropertiesKey] = PropertiesToJson(gs.game_properties);
  }
  return info;
}

// The stored form of an outcome: {"code", "instance" (when set), "max_players", "message",
// "metadata", "sessions", "status"}. Written directly, keys in sorted order as Json dumps
// them; a receiver encodes one per event, and the tree it replaced (a copy of the metadata
// with the event body among it) cost more than the rest of the outcome's handling.
std::string EncodeOutcome(const CreateOutcome& o, int max_players) {
  char num[24];
  std::string out;
  out.reserve(320 + o.error.message().size());
  out += "{\"code\":";
  out.append(num, std::to_chars(num, num + sizeof num, o.error.raw_code()).ptr);
  if (o.instance_info) {
    out += ",\"instance\":";
    AppendJson(out, *o.instance_info);
  }
  out += ",\"max_players\":";
  out.append(num, std::to_chars(num, num + sizeof num, max_players).ptr);
  out += ",\"message\":";
  AppendJsonString(out, o.error.message());
  out += ",\"metadata\":";
  o.metadata.DumpTo(out);
  out += ",\"sessions\":[";
  for (size_t i = 0; i < o.session_info.size(); ++i) {
    if (i != 0) {
      out += ',';
    }
    AppendJson(out, o.session_info[i]);
  }
  out += "],\"status\":";
  AppendJsonString(out, CreateStatusName(o.status));
  out += '}';
  return out;
}

Result<CreateOutcome> DecodeOutcome(std::string_view placement_id, std::string_view text,
                                    int* max_players) {
  GLFM_ASSIGN_OR_RETURN(Json j, Json::Parse(text));
  CreateOutcome o;
  o.placement_id = std::string(placement_id);
  const Json* status = j.Find("status");
  std::string s = status != nullptr && status->is_string() ? status->as_string() : "error";
  o.status = s == "success"   ? CreateStatus::kSuccess
             : s == "timeout" ? CreateStatus::kTimeout
                              : CreateStatus::kError;
  const Json* code = j.Find("code");
  const Json* message = j.Find("message");
  if (code != nullptr && code->is_integer() && code->as_int64() != 0) {
    o.error = Status(static_cast<StatusCode>(code->as_int64()),
                     message != nullptr && message->is_string() ? message->as_string() : "");
  }
  if (const Json* inst = j.Find("instance"); inst != nullptr) {
    GLFM_ASSIGN_OR_RETURN(InstanceInfo info, InstanceInfoFromJson(*inst, "instance"));
    o.instance_info = std::move(info);
  }
  if (const Json* ss = j.Find("sessions"); ss != nullptr && ss->is_array()) {
    for (const Json& e : ss->as_array()) {
      GLFM_ASSIGN_OR_RETURN(SessionInfo si, SessionInfoFromJson(e, "sessions"));
      o.session_info.push_back(std::move(si));
    }
  }
  if (const Json* m = j.Find("metadata"); m != nullptr && m->is_object()) o.metadata = *m;
  if (max_players != nullptr) {
    const Json* mp = j.Find("max_players");
    *max_players = mp != nullptr && mp->is_integer() ? static_cast<int>(mp->as_int64()) : 0;
  }
  return o;
}

struct PendingRequest {
  int max_players = 0;
  Json metadata = Json::MakeObject();
  std::string context;  // CreateOptions::context
};

PendingRequest DecodeRequest(std::string_view text) {
  PendingRequest r;
  auto j = Json::Parse(text);
  if (!j.ok() || !j->is_object()) return r;
  if (const Json* mp = j->Find("max_players"); mp != nullptr && mp->is_integer()) {
    r.max_players = static_cast<int>(mp->as_int64());
  }
  if (const Json* m = j->Find("metadata"); m != nullptr && m->is_object()) r.metadata = *m;
  if (const Json* c = j->Find("context"); c != nullptr && c->is_string())
    r.context = c->as_string();
  return r;
}

// Fills the index from the store, one UpsertViews (one lock, keys sorted once) per page. A
// thread of its own reads and decodes the pages up to kAhead pages ahead, into spans and
// metadata tapes (store::DecodeInstanceViews), while this one indexes them (1M sessions of
// `bench_service list`: ready in ~1.9 s against ~3.2 s, docs/operations.md). No Json tree
// crosses: trees built on one core and walked and freed on the other made both threads ~50%
// slower (tcmalloc's central free lists, remote cache lines). The heap grows in huge pages
// meanwhile, and only meanwhile, populated ahead on another core (see common/heap.h). Logs
// progress every kProgressEvery sessions, and the total with the time it took.
Status LoadIndex(store::Store& store, index::InstanceIndex& index) {
  constexpr int kPageSize = 1000;
  constexpr size_t kProgressEvery = 500000;
  constexpr size_t kAhead = 4;  // pages decoded and not yet indexed
  const auto start = std::chrono::steady_clock::now();
  BulkHeapGrowth bulk;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<store::InstanceViewPage> ready;  // guarded by mu
  Status read_status;                         // guarded by mu
  bool read_done = false, stop = false;       // guarded by mu
  // The reader reads and decodes; the loading thread only indexes. What crosses between them
  // is flat (spans and metadata tapes), written once on one core and read once on the other.
  auto read_pages = [&] {
    std::string after;
    for (;;) {
      Result<store::InstanceDocumentPage> raw = store.ScanInstanceDocuments(after, kPageSize);
      store::InstanceViewPage page;
      Status st = raw.ok() ? store::DecodeInstanceViews(*raw, page) : raw.status();
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return ready.size() < kAhead || stop; });
      if (stop) return;
      if (!st.ok()) {
        read_status = st;
        read_done = true;
        cv.notify_all();
        return;
      }
      bool done = raw->done;
      if (!done) after = std::move(raw->next_after_id);
      ready.push_back(std::move(page));
      read_done = done;
      cv.notify_all();
      if (done) return;
    }
  };
  std::thread reader;
  try {
    reader = std::thread([&] {
      pthread_setname_np(pthread_self(), "glfm-load");
      read_pages();
    });
  } catch (const std::system_error& e) {
    return ResourceExhaustedError(std::string("cannot start the thread that reads the store: ") +
                                  e.what());
  }
  Status st;
  size_t loaded = 0;
  std::vector<index::IndexEntryView> entries;
  while (st.ok()) {
    store::InstanceViewPage page;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !ready.empty() || read_done; });
      if (ready.empty()) {
        st = read_status;
        break;
      }
      page = std::move(ready.front());
      ready.pop_front();
    }
    cv.notify_all();
    entries.clear();
    for (const store::InstanceViewPage::Row& r : page.rows) {
      entries.push_back({.id = page.str(r.id),
                         .status = page.str(r.status),
                         .ip_address = page.str(r.ip_address),
                         .dns_name = page.str(r.dns_name),
                         .port = r.port,
                         .player_count = r.player_count,
                         .create_time = r.create_time,
                         .update_time = r.update_time,
                         .metadata_tape = page.str(r.metadata_tape)});
    }
    st = index.UpsertViews(entries);
    size_t before = loaded;
    loaded += entries.size();
    if (loaded / kProgressEvery != before / kProgressEvery) {
      log::Info("fleet: loading the index", {{"sessions", loaded}});
    }
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  reader.join();
  GLFM_RETURN_IF_ERROR(st);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start);
  log::Info("fleet: index loaded", {{"sessions", loaded}, {"duration_ms", ms.count()}});
  return OkStatus();
}

}  // namespace

struct GameLiftFleetManager::Impl {
  FleetOptions o;
  store::Store* store = nullptr;
  index::InstanceIndex* index = nullptr;
  gamelift::GameLiftClient* gl = nullptr;
  gamelift::SqsClient* sqs = nullptr;
  OutcomeListener listener;
  std::string id_prefix;
  std::atomic<uint64_t> seq{0};

  std::mutex mu;  // callbacks, delivered, applying, next_check, max_players
  // A Create of this process whose outcome is not handed over yet: its callback, and what a
  // receiver needs of its request to build the outcome without reading the placement.
  struct LocalCreate {
    CreateCallback callback;
    int max_players = 0;
    Json instance_metadata;  // InstanceMetadataFrom(request metadata)
  };
  std::unordered_map<std::string, LocalCreate> callbacks;
  std::unordered_set<std::string> delivered;
  std::deque<std::string> delivered_fifo;
  std::unordered_set<std::string> applying;
  std::unordered_map<std::string, std::pair<Timestamp, std::chrono::milliseconds>> next_check;
  std::unordered_map<std::string, int> max_players;

  IdLocks id_locks;  // one game session's read-modify-writes at a time

  std::mutex lookup_mu;
  std::unordered_map<std::string, std::shared_future<Result<GameSession>>> lookups;

  std::mutex upd_mu;
  std::condition_variable upd_cv;
  std::map<std::string, Json> upd_pending;  // id -> GameProperties to send
  int upd_running = 0;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  bool receivers_started = false;
  std::vector<std::thread> threads;

  // Delivered marks of the receivers, written off their critical path by `marker` (started
  // with the receivers, stopped after them so that it drains every queued mark).
  std::mutex mark_mu;
  std::condition_variable mark_cv;
  std::vector<std::string> mark_queue;
  bool mark_stopping = false;
  std::thread marker;

  // DeleteMessageBatch calls of the receivers, sent by `deleters` (one per receiver, started
  // and stopped with them; Stop drains the queue) so that a receiver's next ReceiveMessage
  // does not wait for the last one's delete. Each batch is queued only after its outcomes
  // are durable.
  std::mutex del_mu;
  std::condition_variable del_cv;
  std::deque<std::vector<gamelift::BatchEntry>> del_queue;
  bool del_stopping = false;
  std::vector<std::thread> deleters;
  std::unique_ptr<store::Subscription> subscription;

  // One FleetStats counter, mirrored to a Prometheus counter of the default registry.
  struct Stat {
    std::atomic<uint64_t> v{0};
    metrics::Counter* m = nullptr;
    void operator++(int) { *this += 1; }
    void operator+=(uint64_t n) {
      v.fetch_add(n, std::memory_order_relaxed);
      if (m != nullptr) m->Inc(n);
    }
    operator uint64_t() const { return v.load(std::memory_order_relaxed); }  // NOLINT
  };
  struct Counters {
    Stat events_received, events_applied, events_duplicate, events_unparseable, events_foreign,
        messages_deleted, resolved_by_deadline, callbacks, listener_calls,
        update_game_session_calls, reconcile_removed, adopted_outcomes, adopted_webhooks,
        placements_pruned;
  } c;
  metrics::Histogram* receive_to_callback = nullptr;

  void RegisterMetrics() {
    auto& reg = metrics::Registry::Default();
    auto& events = reg.AddCounter("glfm_fleet_events_total",
                                  "Placement-event messages by what became of them.", {"result"});
    c.events_received.m = &events.WithLabels({"received"});
    c.events_applied.m = &events.WithLabels({"applied"});
    c.events_duplicate.m = &events.WithLabels({"duplicate"});
    c.events_unparseable.m = &events.WithLabels({"unparseable"});
    c.events_foreign.m = &events.WithLabels({"foreign"});
    c.messages_deleted.m = &events.WithLabels({"deleted"});
    auto& delivered_to = reg.AddCounter("glfm_fleet_outcomes_delivered_total",
                                        "Create outcomes handed over, by receiver.", {"to"});
    c.callbacks.m = &delivered_to.WithLabels({"callback"});
    c.listener_calls.m = &delivered_to.WithLabels({"listener"});
    c.resolved_by_deadline.m =
        &reg.AddCounter("glfm_fleet_resolved_by_deadline_total",
                        "Placements resolved by DescribeGameSessionPlacement at their deadline.")
             .WithLabels({});
    c.update_game_session_calls.m =
        &reg.AddCounter("glfm_fleet_update_game_session_calls_total",
                        "UpdateGameSession calls sent for GameProperties changes.")
             .WithLabels({});
    c.reconcile_removed.m = &reg.AddCounter("glfm_fleet_reconcile_removed_total",
                                            "Stored sessions removed by reconciliation.")
                                 .WithLabels({});
    auto& adopted = reg.AddCounter("glfm_fleet_adopted_total",
                                   "Outcomes and webhooks taken over from other nodes.", {"what"});
    c.adopted_outcomes.m = &adopted.WithLabels({"outcomes"});
    c.adopted_webhooks.m = &adopted.WithLabels({"webhooks"});
    c.placements_pruned.m =
        &reg.AddCounter("glfm_fleet_placements_pruned_total",
                        "Placements deleted a retention period after their outcome was delivered.")
             .WithLabels({});
    receive_to_callback = &reg.AddHistogram("glfm_fleet_receive_to_callback_seconds",
                                            "From a ReceiveMessage answer to the Create callback.")
                               .WithLabels({});
  }

  Timestamp Now() const { return o.now ? o.now() : Clock::now(); }

  bool Stopping() {
    std::lock_guard lock(stop_mu);
    return stopping;
  }
  // Waits up to `d` or until Stop; returns true when stopping.
  bool WaitStop(std::chrono::milliseconds d) {
    std::unique_lock lock(stop_mu);
    return stop_cv.wait_for(lock, d, [&] { return stopping; });
  }

  IdLocks::Guard LockId(std::string_view id) { return id_locks.Lock(id); }

  // Updates queued by TryUpdateAsync and not yet durable, by session: the state the next
  // update of that session builds on.
  struct PendingUpdate {
    uint64_t seq = 0;
    std::shared_ptr<const InstanceInfo> info;
  };
  std::mutex pending_mu;
  std::unordered_map<std::string, PendingUpdate> pending;  // guarded by pending_mu
  uint64_t pending_seq = 0;                                // guarded by pending_mu
  int async_in_flight = 0;  // updates queued and not yet completed; guarded by pending_mu
  std::condition_variable pending_cv;  // async_in_flight reached 0

  // The newest state of a session this node knows without blocking, when it is the store's
  // only writer: an update still in flight, else the index. Null otherwise (read the store).
  std::shared_ptr<const InstanceInfo> CurrentInstance(const std::string& id) {
    if (!o.single_writer) return nullptr;
    {
      std::lock_guard pl(pending_mu);
      auto it = pending.find(id);
      if (it != pending.end()) return it->second.info;
    }
    return index->Get(id);
  }

  // The session's maximum players when known (0 otherwise).
  int KnownMax(const std::string& id) {
    std::lock_guard lock(mu);
    auto it = max_players.find(id);
    return it == max_players.end() ? 0 : it->second;
  }

  void RememberMax(const std::string& id, int max) {
    if (max <= 0) return;
    std::lock_guard lock(mu);
    max_players[id] = max;
  }

  // Takes a session that is gone out of the index and drops what this node remembers of it
  // (one max_players entry per session ever seen otherwise: a slow leak over months of
  // placements). Every path that removes a session from the index goes through here.
  void Unindex(const std::string& id) {
    index->Delete(id);
    std::lock_guard lock(mu);
    max_players.erase(id);
  }

  // ---- delivery ----

  // Hands `out` to its Create callback when this process holds it, else to the listener;
  // then marks it delivered. Exactly once per placement per process; the store's delivered
  // flag covers restarts.
  void Deliver(const CreateOutcome& out) {
    if (Handover(out)) MarkDelivered(out.placement_id);
  }

  void MarkDelivered(const std::string& placement_id) {
    Status s = store->MarkPlacementDelivered(placement_id);
    if (!s.ok()) {
      log::Warn("fleet: marking an outcome delivered failed",
                {{"placement_id", placement_id}, {"error", s.ToString()}});
    }
  }

  // Queues delivered marks for the marker thread.
  void QueueMarks(std::vector<std::string> ids) {
    if (ids.empty()) return;
    {
      std::lock_guard lock(mark_mu);
      for (auto& id : ids) mark_queue.push_back(std::move(id));
    }
    mark_cv.notify_one();
  }

  // Writes queued delivered marks until stopped with an empty queue: everything queued at a
  // time in one MarkPlacementsDelivered transaction per kMarkBatch ids.
  void MarkLoop() {
    for (;;) {
      std::vector<std::string> ids;
      {
        std::unique_lock lock(mark_mu);
        mark_cv.wait(lock, [&] { return mark_stopping || !mark_queue.empty(); });
        if (mark_queue.empty()) return;  // stopping and drained
        ids.swap(mark_queue);
      }
      for (size_t at = 0; at < ids.size(); at += kMarkBatch) {
        std::vector<std::string> chunk(
            std::make_move_iterator(ids.begin() + static_cast<std::ptrdiff_t>(at)),
            std::make_move_iterator(
                ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + kMarkBatch))));
        Status s = store->MarkPlacementsDelivered(chunk);
        if (!s.ok()) {
          log::Warn("fleet: marking outcomes delivered failed",
                    {{"placements", static_cast<int64_t>(chunk.size())}, {"error", s.ToString()}});
        }
      }
    }
  }

  // Hands `out` over (see Deliver); returns whether it did, so that the caller marks it.
  bool Handover(const CreateOutcome& out) {
    CreateCallback cb;
    {
      std::lock_guard lock(mu);
      if (!delivered.insert(out.placement_id).second) return false;
      delivered_fifo.push_back(out.placement_id);
      if (delivered_fifo.size() > kDeliveredMemory) {
        delivered.erase(delivered_fifo.front());
        delivered_fifo.pop_front();
      }
      auto it = callbacks.find(out.placement_id);
      if (it != callbacks.end()) {
        cb = std::move(it->second.callback);
        callbacks.erase(it);
      }
    }
    if (cb) {
      cb(out);
      c.callbacks++;
      if (t_received != std::chrono::steady_clock::time_point{}) {
        auto d = std::chrono::steady_clock::now() - t_received;
        receive_to_callback->Observe(std::chrono::duration<double>(d).count());
        if (o.on_event_latency) o.on_event_latency(d);
      }
    } else {
      auto p = store->GetPlacement(out.placement_id);
      if (p.ok() && p->delivered) return false;
      std::string context = p.ok() ? DecodeRequest(p->request_json).context : std::string();
      if (listener && context.empty()) {
        listener(out);
      } else if (listener) {
        CreateOutcome with_context = out;
        with_context.context = std::move(context);
        listener(with_context);
      }
      c.listener_calls++;
    }
    return true;
  }

  // Makes sure a successful outcome's instance is in the store and index.
  Status EnsureInstance(const CreateOutcome& out, int max) {
    if (!out.instance_info) return OkStatus();
    const InstanceInfo& info = *out.instance_info;
    RememberMax(info.id, max);
    auto stored = store->GetInstance(info.id);
    if (stored.ok()) {
      return index->Upsert(stored->info, stored->update_time);
    }
    if (stored.status().code() != StatusCode::kNotFound) return stored.status();
    Timestamp now = Now();
    GLFM_RETURN_IF_ERROR(store->UpsertInstance(info, now));
    return index->Upsert(info, now);
  }

  // Delivers a recorded outcome of a placement this node owns, unless delivered already.
  Status DeliverStored(const store::PlacementRecord& p) {
    if (!p.outcome_json || p.delivered || p.owner_node != o.node_id) return OkStatus();
    {
      std::lock_guard lock(mu);
      if (delivered.count(p.placement_id) != 0 || applying.count(p.placement_id) != 0) {
        return OkStatus();
      }
    }
    int max = 0;
    GLFM_ASSIGN_OR_RETURN(CreateOutcome out, DecodeOutcome(p.placement_id, *p.outcome_json, &max));
    GLFM_RETURN_IF_ERROR(EnsureInstance(out, max));
    Deliver(out);
    return OkStatus();
  }

  // Records `out` as the outcome of `p` (first writer wins); the winner writes the instance;
  // the owner delivers. Returns whether this call's outcome won.
  Result<bool> Apply(const store::PlacementRecord& p, const CreateOutcome& out, int max) {
    {
      std::lock_guard lock(mu);
      applying.insert(p.placement_id);
    }
    struct Done {
      Impl* self;
      const std::string& id;
      ~Done() {
        std::lock_guard lock(self->mu);
        self->applying.erase(id);
      }
    } done{this, p.placement_id};
    GLFM_ASSIGN_OR_RETURN(
        bool won, store->RecordPlacementOutcome(p.placement_id, EncodeOutcome(out, max), Now()));
    if (won) {
      GLFM_RETURN_IF_ERROR(EnsureInstance(out, max));
      if (p.owner_node == o.node_id) Deliver(out);
      return true;
    }
    // Lost: an earlier outcome stands; deliver that one if it still needs delivering.
    GLFM_ASSIGN_OR_RETURN(store::PlacementRecord now_p, store->GetPlacement(p.placement_id));
    {
      std::lock_guard lock(mu);
      applying.erase(p.placement_id);
    }
    GLFM_RETURN_IF_ERROR(DeliverStored(now_p));
    return false;
  }

  // ---- events ----

  // Builds the outcome an event tells of; `instance_metadata` is what the request's metadata
  // gives the instance (InstanceMetadataFrom).
  CreateOutcome OutcomeFromEvent(const PlacementEvent& ev, const Json& instance_metadata,
                                 std::string_view body) {
    CreateOutcome out;
    out.placement_id = ev.placement_id;
    out.metadata[kEventKey] = std::string(body);
    if (ev.type == "PlacementFulfilled") {
      out.status = CreateStatus::kSuccess;
      InstanceInfo info;
      info.id = ev.game_session_arn;
      info.connection_info = {ev.ip_address, ev.dns_name, ev.port};
      info.create_time = ev.end_time != Timestamp{} ? ev.end_time : Now();
      info.player_count = static_cast<int>(ev.placed_player_sessions.size());
      info.status = "ACTIVE";
      info.metadata = instance_metadata;
      out.instance_info = std::move(info);
      for (const auto& s : ev.placed_player_sessions) out.session_info.push_back(s);
    } else if (ev.type == "PlacementTimedOut") {
      out.status = CreateStatus::kTimeout;
      out.error = DeadlineExceededError("placement " + ev.placement_id + " timed out");
    } else if (ev.type == "PlacementCancelled") {
      out.status = CreateStatus::kError;
      out.error = CancelledError("placement " + ev.placement_id + " was cancelled");
    } else {
      out.status = CreateStatus::kError;
      out.error = UnknownError("placement " + ev.placement_id + " failed" +
                               (ev.error_message.empty() ? "" : ": " + ev.error_message));
    }
    return out;
  }

  // Handles one receive's messages: decodes them, reads their placements in one GetPlacements
  // call, decides each, then records the outcomes with the winners' instances (one
  // RecordPlacementOutcomes transaction); the delivered marks are queued for the marker thread
  // (the outcome is durable before the callback, so the messages can go before the marks).
  // Appends the deletable messages.
  void HandleBatch(const std::vector<gamelift::SqsMessage>& msgs,
                   std::vector<gamelift::BatchEntry>& deletes) {
    struct Work {
      size_t msg = 0;
      store::PlacementRecord p;
      CreateOutcome out;
      int max = 0;
      bool won = false;
      Status err;
    };
    std::vector<Work> work;
    std::vector<std::pair<size_t, size_t>> same_batch_dups;  // (msg, work index)
    auto deletable = [&](size_t i) {
      deletes.push_back({std::to_string(i), msgs[i].receipt_handle, 0});
    };
    // Decode every message. An event of a Create this process still holds needs no read:
    // the request is in memory, and the outcome write tells whether the placement is still
    // pending. The other events' placements are read in one call.
    struct Decoded {
      size_t msg = 0;
      PlacementEvent ev;
      bool local = false;  // a LocalCreate of this process
      int max_players = 0;
      Json instance_metadata;
      size_t read = 0;  // index in `ids` when !local
    };
    std::vector<Decoded> events;
    std::vector<std::string> ids;
    for (size_t i = 0; i < msgs.size(); ++i) {
      const auto& m = msgs[i];
      c.events_received++;
      auto ev = ParsePlacementEvent(m.body);
      if (!ev.ok()) {
        c.events_unparseable++;
        log::Warn("fleet: unparseable placement-events message",
                  {{"message_id", m.message_id}, {"error", ev.status().message()}});
        if (o.delete_unparseable) deletable(i);
        continue;
      }
      if (ev->type != "PlacementFulfilled" && ev->type != "PlacementTimedOut" &&
          ev->type != "PlacementCancelled" && ev->type != "PlacementFailed") {
        deletable(i);  // a non-terminal event: nothing to do
        continue;
      }
      Decoded d;
      d.msg = i;
      d.ev = std::move(ev).value();
      events.push_back(std::move(d));
    }
    {
      std::lock_guard lock(mu);
      for (auto& d : events) {
        auto it = callbacks.find(d.ev.placement_id);
        if (it != callbacks.end()) {
          d.local = true;
          d.max_players = it->second.max_players;
          d.instance_metadata = it->second.instance_metadata;
        }
      }
    }
    for (auto& d : events) {
      if (!d.local) {
        d.read = ids.size();
        ids.push_back(d.ev.placement_id);
      }
    }
    Result<std::vector<Result<store::PlacementRecord>>> placements =
        std::vector<Result<store::PlacementRecord>>();
    if (!ids.empty()) placements = store->GetPlacements(ids);
    for (auto& d : events) {
      const size_t i = d.msg;
      const auto& m = msgs[i];
      const PlacementEvent& ev = d.ev;
      auto dup = std::find_if(work.begin(), work.end(),
                              [&](const Work& w) { return w.p.placement_id == ev.placement_id; });
      if (dup != work.end()) {
        c.events_duplicate++;
        same_batch_dups.emplace_back(i, dup - work.begin());
        continue;
      }
      Work w;
      w.msg = i;
      if (d.local) {
        // Pending as far as this process knows; if an outcome is recorded meanwhile, the
        // write loses and the stored outcome is delivered instead (as for any lost race).
        w.p.placement_id = ev.placement_id;
        w.p.owner_node = o.node_id;
        w.out = OutcomeFromEvent(ev, d.instance_metadata, m.body);
        w.max = d.max_players;
        work.push_back(std::move(w));
        continue;
      }
      Result<store::PlacementRecord> p =
          placements.ok() ? std::move((*placements)[d.read]) : placements.status();
      if (!p.ok()) {
        if (p.status().code() == StatusCode::kNotFound) {
          c.events_foreign++;
          log::Warn("fleet: event for a placement this store does not know",
                    {{"message_id", m.message_id}, {"placement_id", ev.placement_id}});
          if (o.delete_unparseable) deletable(i);
        } else {
          log::Warn("fleet: reading a placement failed",
                    {{"placement_id", ev.placement_id}, {"error", p.status().ToString()}});
        }
        continue;  // not deleted: comes back after the visibility timeout
      }
      if (!p->pending()) {
        c.events_duplicate++;
        if (DeliverStored(*p).ok()) deletable(i);
        continue;
      }
      PendingRequest req = DecodeRequest(p->request_json);
      w.out = OutcomeFromEvent(ev, InstanceMetadataFrom(req.metadata), m.body);
      w.max = req.max_players;
      w.p = std::move(p).value();
      work.push_back(std::move(w));
    }
    if (work.empty()) {
      for (auto [msg, wi] : same_batch_dups) deletable(msg);
      return;
    }
    {
      std::lock_guard lock(mu);
      for (const auto& w : work) applying.insert(w.p.placement_id);
    }
    // 1. Outcomes, first writer wins, each winner's instance in the same transaction: when
    // this returns, a winner's outcome and instance are durable together.
    Timestamp now = Now();
    std::vector<store::OutcomeWrite> outcomes;
    outcomes.reserve(work.size());
    for (const auto& w : work) {
      store::OutcomeWrite ow{w.p.placement_id, EncodeOutcome(w.out, w.max), now};
      if (w.out.instance_info) ow.instance = store::InstanceWrite{*w.out.instance_info, now};
      outcomes.push_back(std::move(ow));
    }
    auto recorded = store->RecordPlacementOutcomes(outcomes);
    for (size_t k = 0; k < work.size(); ++k) {
      Work& w = work[k];
      if (!recorded.ok()) {
        w.err = recorded.status();
      } else if ((*recorded)[k].ok()) {
        w.won = *(*recorded)[k];
      } else {
        w.err = (*recorded)[k].status();
      }
    }
    // 2. The winners' instances into the index.
    for (const auto& w : work) {
      if (!w.won || !w.err.ok() || !w.out.instance_info) continue;
      RememberMax(w.out.instance_info->id, w.max);
      index->Upsert(*w.out.instance_info, now).IgnoreError();
    }
    // 3. Hand over this node's outcomes, then queue their delivered marks.
    std::vector<std::string> marks;
    for (const auto& w : work) {
      if (w.won && w.err.ok() && w.p.owner_node == o.node_id && Handover(w.out)) {
        marks.push_back(w.p.placement_id);
      }
    }
    QueueMarks(std::move(marks));
    {
      std::lock_guard lock(mu);
      for (const auto& w : work) applying.erase(w.p.placement_id);
    }
    // Lost races: an earlier outcome stands; deliver it if it still needs delivering.
    for (auto& w : work) {
      if (!w.err.ok()) {
        log::Warn("fleet: recording a placement outcome failed",
                  {{"placement_id", w.p.placement_id}, {"error", w.err.ToString()}});
        continue;
      }
      if (w.won) {
        c.events_applied++;
      } else {
        c.events_duplicate++;
        auto now_p = store->GetPlacement(w.p.placement_id);
        if (!now_p.ok() || !DeliverStored(*now_p).ok()) {
          w.err = UnavailableError("delivery of a stored outcome failed");
          continue;
        }
      }
      deletable(w.msg);
    }
    for (auto [msg, wi] : same_batch_dups) {
      if (work[wi].err.ok()) deletable(msg);
    }
  }

  void ReceiveLoop() {
    std::chrono::milliseconds backoff(100);
    while (!Stopping()) {
      gamelift::ReceiveMessageRequest r;
      r.queue_url = o.events_queue_url;
      r.max_number_of_messages = gamelift::kSqsMaxMessagesPerReceive;
      r.wait_time_seconds = o.receive_wait_seconds;
      r.visibility_timeout = o.visibility_timeout_seconds;
      auto msgs = sqs->ReceiveMessage(r);
      if (!msgs.ok()) {
        if (Stopping()) break;
        log::Warn("fleet: ReceiveMessage failed", {{"error", msgs.status().ToString()}});
        if (WaitStop(backoff)) break;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      t_received = std::chrono::steady_clock::now();
      std::vector<gamelift::BatchEntry> entries;
      HandleBatch(*msgs, entries);
      t_received = {};
      if (entries.empty()) continue;
      {
        std::lock_guard lock(del_mu);
        del_queue.push_back(std::move(entries));
      }
      del_cv.notify_one();
    }
  }

  // Sends queued DeleteMessageBatch calls until stopped with an empty queue.
  void DeleteLoop() {
    for (;;) {
      std::vector<gamelift::BatchEntry> entries;
      {
        std::unique_lock lock(del_mu);
        del_cv.wait(lock, [&] { return del_stopping || !del_queue.empty(); });
        if (del_queue.empty()) return;  // stopping and drained
        entries = std::move(del_queue.front());
        del_queue.pop_front();
      }
      auto del = sqs->DeleteMessageBatch(o.events_queue_url, entries);
      if (!del.ok()) {
        log::Warn("fleet: DeleteMessageBatch failed", {{"error", del.status().ToString()}});
      } else {
        c.messages_deleted += del->successful.size();
        for (const auto& f : del->failed) {
          log::Warn("fleet: deleting a message failed", {{"code", f.code}, {"error", f.message}});
        }
      }
    }
  }

  // ---- deadlines ----

  CreateOutcome OutcomeFromPlacement(const GameSessionPlacement& gp, const PendingRequest& req) {
    CreateOutcome out;
    out.placement_id = gp.placement_id;
    if (gp.status == "FULFILLED") {
      out.status = CreateStatus::kSuccess;
      InstanceInfo info;
      info.id = gp.game_session_arn.empty() ? gp.game_session_id : gp.game_session_arn;
      info.connection_info = {gp.ip_address, gp.dns_name, gp.port};
      info.create_time = gp.end_time.value_or(Now());
      info.player_count = static_cast<int>(gp.placed_player_sessions.size());
      info.status = "ACTIVE";
      info.metadata = InstanceMetadataFrom(req.metadata);
      out.instance_info = std::move(info);
      for (const auto& s : gp.placed_player_sessions) {
        out.session_info.push_back({s.player_id, s.player_session_id});
      }
    } else if (gp.status == "CANCELLED") {
      out.error = CancelledError("placement " + gp.placement_id + " was cancelled");
    } else if (gp.status == "FAILED") {
      out.error = UnknownError("placement " + gp.placement_id + " failed");
    } else {  // TIMED_OUT, or still PENDING at its deadline
      out.status = CreateStatus::kTimeout;
      out.error = DeadlineExceededError("placement " + gp.placement_id + " timed out");
    }
    return out;
  }

  int ResolveDue() {
    Timestamp now = Now();
    auto due = store->ListPendingPlacementsDueBy(now, 1000);
    if (!due.ok()) {
      log::Warn("fleet: listing overdue placements failed", {{"error", due.status().ToString()}});
      return 0;
    }
    int resolved = 0;
    for (const auto& p : *due) {
      if (Stopping()) break;
      {
        std::lock_guard lock(mu);
        auto& [when, delay] = next_check[p.placement_id];
        if (when > now) continue;  // backing off, or another thread is resolving it
        when = Timestamp::max();   // claimed until this look-up ends
      }
      auto gp = gl->DescribeGameSessionPlacement(p.placement_id);
      GameSessionPlacement placement;
      if (gp.ok()) {
        placement = std::move(gp).value();
        if (placement.status == "PENDING") {
          // Past the caller's deadline: stop it so that it cannot be fulfilled later.
          auto stopped = gl->StopGameSessionPlacement(p.placement_id);
          if (stopped.ok() && stopped->status != "CANCELLED") placement = std::move(*stopped);
        }
      } else if (gp.status().code() == StatusCode::kNotFound) {
        placement.placement_id = p.placement_id;
        placement.status = "FAILED";
      } else {
        std::lock_guard lock(mu);
        auto& [when, delay] = next_check[p.placement_id];
        delay =
            delay.count() == 0 ? o.resolve_backoff_min : std::min(delay * 2, o.resolve_backoff_max);
        when = now + delay;
        log::Warn("fleet: DescribeGameSessionPlacement failed; backing off",
                  {{"placement_id", p.placement_id}, {"error", gp.status().ToString()}});
        continue;
      }
      {
        std::lock_guard lock(mu);
        next_check.erase(p.placement_id);
      }
      placement.placement_id = p.placement_id;
      PendingRequest req = DecodeRequest(p.request_json);
      auto won = Apply(p, OutcomeFromPlacement(placement, req), req.max_players);
      if (won.ok() && *won) {
        resolved++;
        c.resolved_by_deadline++;
      }
    }
    return resolved;
  }

  void DeadlineLoop() {
    Timestamp next_adopt = Now() + AdoptEvery();
    Timestamp next_prune = Now() + PruneEvery();
    while (!WaitStop(o.deadline_tick)) {
      ResolveDue();
      if (Now() >= next_adopt) {
        if (AdoptOrphans() > 0) DeliverUndelivered();
        next_adopt = Now() + AdoptEvery();
      }
      if (o.placement_retention.count() > 0 && Now() >= next_prune) {
        PruneDelivered();
        next_prune = Now() + PruneEvery();
      }
    }
  }

  std::chrono::milliseconds AdoptEvery() const {
    return std::min<std::chrono::milliseconds>(o.adopt_after / 4, std::chrono::minutes(1));
  }
  std::chrono::milliseconds PruneEvery() const {
    return std::min<std::chrono::milliseconds>(o.placement_retention / 4, std::chrono::minutes(1));
  }

  // Deletes placements delivered more than placement_retention ago: a group a transaction
  // (other writers wait for one group at most), up to kPrunePerPass a pass so that deadlines
  // are not held up by a backlog (the first pass after an upgrade); the rest goes next pass.
  static constexpr int kPruneGroup = 1000;
  static constexpr int kPrunePerPass = 20 * kPruneGroup;
  void PruneDelivered() {
    const Timestamp before = Now() - o.placement_retention;
    int pruned = 0;
    while (pruned < kPrunePerPass && !Stopping()) {
      auto deleted = store->DeleteDeliveredPlacements(before, kPruneGroup);
      if (!deleted.ok()) {
        log::Warn("fleet: deleting placements delivered long ago failed",
                  {{"error", deleted.status().ToString()}});
        break;
      }
      pruned += *deleted;
      c.placements_pruned += static_cast<uint64_t>(*deleted);
      if (*deleted < kPruneGroup) break;
    }
    if (pruned > 0) {
      log::Info(
          "fleet: deleted placements delivered long ago",
          {{"placements", pruned},
           {"older_than_s",
            std::chrono::duration_cast<std::chrono::seconds>(o.placement_retention).count()}});
    }
  }

  // Takes over the outcomes and webhooks other nodes left undone for adopt_after; returns
  // how many outcomes, which the caller delivers (DeliverUndelivered).
  int AdoptOrphans() {
    if (o.adopt_after.count() <= 0) return 0;
    auto adopted = store->AdoptOrphans(o.node_id, Now() - o.adopt_after,
                                       /*webhooks=*/static_cast<bool>(o.on_adopted_webhooks));
    if (!adopted.ok()) {
      log::Warn("fleet: adopting other nodes' leftovers failed",
                {{"error", adopted.status().ToString()}});
      return 0;
    }
    if (adopted->outcomes == 0 && adopted->webhooks == 0) return 0;
    log::Warn("fleet: adopted what other nodes left undone",
              {{"outcomes", adopted->outcomes},
               {"webhooks", adopted->webhooks},
               {"older_than_s",
                std::chrono::duration_cast<std::chrono::seconds>(o.adopt_after).count()}});
    c.adopted_outcomes += static_cast<uint64_t>(adopted->outcomes);
    c.adopted_webhooks += static_cast<uint64_t>(adopted->webhooks);
    if (adopted->webhooks > 0 && o.on_adopted_webhooks) o.on_adopted_webhooks();
    return adopted->outcomes;
  }

  void ReconcileLoop() {
    while (!WaitStop(o.reconcile_interval)) {
      Status s = Reconcile();
      if (!s.ok()) log::Warn("fleet: reconcile failed", {{"error", s.ToString()}});
    }
  }

  // ---- GameLift look-ups (coalesced) ----

  Result<GameSession> LookupGameSession(const std::string& id) {
    std::shared_future<Result<GameSession>> fut;
    std::promise<Result<GameSession>> promise;
    bool leader = false;
    {
      std::lock_guard lock(lookup_mu);
      auto it = lookups.find(id);
      if (it != lookups.end()) {
        fut = it->second;
      } else {
        fut = promise.get_future().share();
        lookups.emplace(id, fut);
        leader = true;
      }
    }
    if (leader) {
      gamelift::GameSessionsFilter f;
      f.game_session_id = id;
      auto page = gl->DescribeGameSessions(f);
      Result<GameSession> r = NotFoundError("game session " + id + " not found");
      if (!page.ok()) {
        r = page.status();
      } else if (!page->items.empty()) {
        r = page->items.front();
        RememberMax(id, page->items.front().maximum_player_session_count);
      }
      promise.set_value(std::move(r));
      std::lock_guard lock(lookup_mu);
      lookups.erase(id);
    }
    return fut.get();
  }

  // ---- asynchronous UpdateGameSession ----

  void EnqueuePropertyUpdate(const std::string& id, Json props) {
    std::lock_guard lock(upd_mu);
    upd_pending[id] = std::move(props);
    upd_cv.notify_all();
  }

  void UpdateLoop() {
    std::unique_lock lock(upd_mu);
    for (;;) {
      upd_cv.wait(lock, [&] { return !upd_pending.empty() || Stopping(); });
      if (Stopping()) return;
      auto it = upd_pending.begin();
      std::string id = it->first;
      Json props = std::move(it->second);
      upd_pending.erase(it);
      upd_running++;
      lock.unlock();
      for (int attempt = 1; attempt <= o.update_attempts; ++attempt) {
        gamelift::UpdateGameSessionRequest r;
        r.game_session_id = id;
        r.game_properties = PropertiesFromJson(props);
        c.update_game_session_calls++;
        auto res = gl->UpdateGameSession(r);
        if (res.ok()) break;
        StatusCode code = res.status().code();
        log::Warn("fleet: UpdateGameSession failed",
                  {{"id", id}, {"attempt", attempt}, {"error", res.status().ToString()}});
        if (code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument) break;
        {
          std::lock_guard l2(upd_mu);
          if (upd_pending.count(id) != 0) break;  // a newer value supersedes this one
        }
        if (WaitStop(o.update_retry_delay * attempt)) break;
      }
      lock.lock();
      upd_running--;
      upd_cv.notify_all();
    }
  }

  // ---- reconcile ----

  Status Reconcile() {
    if (o.alias_id.empty() && o.fleet_ids.empty()) return OkStatus();
    Timestamp sync_start = Now();
    std::vector<GameSession> all;
    gamelift::GameSessionsFilter f;
    f.status_filter = "ACTIVE";
    if (!o.alias_id.empty()) {
      f.alias_id = o.alias_id;
      GLFM_ASSIGN_OR_RETURN(all, gl->DescribeAllGameSessions(f));
    } else {
      for (const auto& fleet : o.fleet_ids) {
        f.fleet_id = fleet;
        GLFM_ASSIGN_OR_RETURN(auto some, gl->DescribeAllGameSessions(f));
        all.insert(all.end(), some.begin(), some.end());
      }
    }
    // One scan of the store serves both halves (one read per 1,000 stored sessions, not one
    // per live session): a stored session GameLift listed is compared with GameLift's answer,
    // one it did not list is gone, and a listed one the scan did not meet is new.
    std::unordered_map<std::string_view, size_t> live;  // id -> its place in `all`
    std::vector<bool> met(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      RememberMax(all[i].game_session_id, all[i].maximum_player_session_count);
      // Listed twice (two pages or fleets): the first counts.
      if (!live.emplace(all[i].game_session_id, i).second) met[i] = true;
    }
    std::vector<store::InstanceWrite> writes;
    auto compare = [&](const GameSession& gs, const store::StoredInstance* stored) {
      if (stored != nullptr && stored->update_time >= sync_start) return;  // newer than the sync
      InstanceInfo info =
          InstanceFromGameSession(gs, stored != nullptr ? &stored->info.metadata : nullptr);
      if (stored != nullptr) info.player_count = stored->info.player_count;  // the server's
      // Unchanged: not written again (a large fleet would rewrite every row each pass, and on
      // PostgreSQL every other node would re-read each one from the change feed).
      if (stored != nullptr && info == stored->info) return;
      writes.push_back({std::move(info), Now()});
    };
    std::string after;
    std::vector<std::string> gone;
    for (;;) {
      GLFM_ASSIGN_OR_RETURN(store::InstancePage page, store->ScanInstances(after, 1000));
      for (const auto& si : page.instances) {
        auto it = live.find(si.info.id);
        if (it != live.end()) {
          met[it->second] = true;
          compare(all[it->second], &si);
        } else if (si.update_time < sync_start) {
          gone.push_back(si.info.id);
        }
      }
      if (page.done) break;
      after = page.next_after_id;
    }
    for (size_t i = 0; i < all.size(); ++i) {
      if (!met[i]) compare(all[i], nullptr);
    }
    if (!writes.empty()) {
      GLFM_RETURN_IF_ERROR(store->UpsertInstances(writes));
      for (const auto& w : writes) index->Upsert(w.info, w.update_time).IgnoreError();
    }
    // Deleted a group at a time, each only when still older than the sync's start: a status
    // report or placement that wrote one of them since the scan keeps it.
    constexpr size_t kChunk = 20 * store::Store::kDeleteGroup;
    size_t removed = 0;
    for (size_t start = 0; start < gone.size(); start += kChunk) {
      std::vector<std::string> chunk(
          std::make_move_iterator(gone.begin() + static_cast<std::ptrdiff_t>(start)),
          std::make_move_iterator(
              gone.begin() + static_cast<std::ptrdiff_t>(std::min(gone.size(), start + kChunk))));
      GLFM_ASSIGN_OR_RETURN(std::vector<std::string> deleted,
                            store->DeleteInstancesOlderThan(chunk, sync_start));
      for (const auto& id : deleted) Unindex(id);
      removed += deleted.size();
      c.reconcile_removed += deleted.size();
      // Progress of a long removal, every 100,000.
      size_t done = std::min(gone.size(), start + kChunk);
      if (gone.size() > kChunk && (done % (10 * kChunk) == 0 || done == gone.size())) {
        log::Info("fleet: reconcile removing", {{"done", done}, {"of", gone.size()}});
      }
    }
    log::Info("fleet: reconciled", {{"active", all.size()}, {"removed", removed}});
    return OkStatus();
  }

  // ---- change feed ----

  void OnChange(const store::ChangeEvent& e) {
    using Kind = store::ChangeEvent::Kind;
    if (e.kind == Kind::kPlacementOutcome && e.owner_node == o.node_id) {
      {
        std::lock_guard lock(mu);
        if (delivered.count(e.id) != 0 || applying.count(e.id) != 0) return;
      }
      auto p = store->GetPlacement(e.id);
      if (p.ok()) DeliverStored(*p).IgnoreError();
    } else if (o.mirror_instance_changes && e.kind == Kind::kInstanceUpserted) {
      auto si = store->GetInstance(e.id);
      if (si.ok()) index->Upsert(si->info, si->update_time).IgnoreError();
    } else if (o.mirror_instance_changes && e.kind == Kind::kInstanceDeleted) {
      Unindex(e.id);
    } else if (e.kind == Kind::kResync) {
      // The feed was down: outcomes other nodes recorded for this node's placements then
      // never came through it. Deliver them now rather than leave them for adoption.
      if (uint64_t n = DeliverUndelivered(); n > 0) {
        log::Info("fleet: delivered outcomes recorded while the store's change feed was down",
                  {{"outcomes", static_cast<int64_t>(n)}});
      }
    }
  }

  // Delivers this node's recorded, undelivered outcomes; returns how many it handed over.
  uint64_t DeliverUndelivered() {
    const uint64_t start = c.listener_calls + c.callbacks;
    for (;;) {
      auto undelivered = store->ListUndeliveredOutcomes(o.node_id, 500);
      if (!undelivered.ok() || undelivered->empty()) break;
      uint64_t before = c.listener_calls + c.callbacks;
      for (const auto& p : *undelivered) {
        Status s = DeliverStored(p);
        if (!s.ok()) {
          log::Warn("fleet: delivering a stored outcome failed",
                    {{"placement_id", p.placement_id}, {"error", s.ToString()}});
        }
      }
      if (c.listener_calls + c.callbacks == before) break;  // no progress
    }
    return c.listener_calls + c.callbacks - start;
  }
};

GameLiftFleetManager::GameLiftFleetManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GameLiftFleetManager::~GameLiftFleetManager() { Stop(); }

std::string GameLiftFleetManager::OwnerOfPlacementId(std::string_view placement_id) {
  size_t dash = placement_id.find('-');
  if (dash == std::string_view::npos || dash == 0) return "";
  return std::string(placement_id.substr(0, dash));
}

Result<std::unique_ptr<GameLiftFleetManager>> GameLiftFleetManager::Start(
    FleetOptions options, store::Store* store, index::InstanceIndex* index,
    gamelift::GameLiftClient* gl, gamelift::SqsClient* sqs, OutcomeListener listener) {
  if (options.node_id.empty() || options.node_id.size() > 12 ||
      !std::all_of(options.node_id.begin(), options.node_id.end(), IsIdChar)) {
    return InvalidArgumentError("node_id must be 1-12 characters of [A-Za-z0-9]");
  }
  if (options.queue_name.empty()) return InvalidArgumentError("queue_name is required");
  if (store == nullptr || index == nullptr || gl == nullptr) {
    return InvalidArgumentError("store, index and gamelift are required");
  }
  if (!options.events_queue_url.empty() && sqs == nullptr) {
    return InvalidArgumentError("events_queue_url needs an SQS client");
  }
  if (options.receivers < 0) return InvalidArgumentError("receivers must be >= 0");
  if (options.receive_wait_seconds < 0 ||
      options.receive_wait_seconds > gamelift::kSqsMaxWaitSeconds) {
    return InvalidArgumentError("receive_wait_seconds must be 0-20");
  }
  if (options.deadline_tick.count() <= 0) {
    return InvalidArgumentError("deadline_tick must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  impl->store = store;
  impl->index = index;
  impl->gl = gl;
  impl->sqs = sqs;
  impl->listener = std::move(listener);
  {
    std::random_device rd;
    std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%012llx",
                  static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
    impl->id_prefix = impl->o.node_id + "-" + buf + "-";
  }
  Impl* self = impl.get();
  self->RegisterMetrics();
  // The index mirrors the store.
  GLFM_RETURN_IF_ERROR(LoadIndex(*store, *index));
  // OnChange's kinds only: without mirroring, every instance write (each status report) would
  // wake the feed's thread for nothing. The only writer records every outcome itself and
  // delivers it there: it needs no outcome events either.
  using Kind = store::ChangeEvent::Kind;
  store::ChangeKinds kinds = 0;
  if (!self->o.single_writer) kinds |= store::ChangeKindBit(Kind::kPlacementOutcome);
  if (self->o.mirror_instance_changes) {
    kinds |= store::ChangeKindBit(Kind::kInstanceUpserted) |
             store::ChangeKindBit(Kind::kInstanceDeleted);
  }
  if (kinds != 0) {
    GLFM_ASSIGN_OR_RETURN(
        impl->subscription,
        store->Subscribe([self](const store::ChangeEvent& e) { self->OnChange(e); }, kinds));
  }
  std::unique_ptr<GameLiftFleetManager> fm(new GameLiftFleetManager(std::move(impl)));
  // Outcomes other nodes left undone become this node's, and are delivered with those a
  // crash of this node left.
  self->AdoptOrphans();
  self->DeliverUndelivered();
  if (self->o.reconcile_at_start) {
    Status s = self->Reconcile();
    if (!s.ok()) log::Warn("fleet: reconcile at start failed", {{"error", s.ToString()}});
  }
  if (!self->o.defer_receivers) fm->StartReceivers();
  self->threads.emplace_back([self] { self->DeadlineLoop(); });
  self->threads.emplace_back([self] { self->UpdateLoop(); });
  if (self->o.reconcile_interval.count() > 0 &&
      (!self->o.alias_id.empty() || !self->o.fleet_ids.empty())) {
    self->threads.emplace_back([self] { self->ReconcileLoop(); });
  }
  log::Info("fleet: started", {{"node", self->o.node_id}, {"receivers", self->o.receivers}});
  return fm;
}

void GameLiftFleetManager::StartReceivers() {
  Impl& m = *impl_;
  std::lock_guard lock(m.stop_mu);
  if (m.stopping || m.receivers_started || m.o.events_queue_url.empty()) return;
  m.receivers_started = true;
  m.marker = std::thread([&m] { m.MarkLoop(); });
  for (int i = 0; i < m.o.receivers; ++i) {
    m.deleters.emplace_back([&m] { m.DeleteLoop(); });
    m.threads.emplace_back([&m] { m.ReceiveLoop(); });
  }
}

void GameLiftFleetManager::Stop() {
  {
    std::lock_guard lock(impl_->stop_mu);
    if (impl_->stopping && impl_->threads.empty()) return;
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  {
    std::lock_guard lock(impl_->upd_mu);
    impl_->upd_cv.notify_all();
  }
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  {
    // Updates already queued in the store finish (the store keeps committing).
    std::unique_lock lock(impl_->pending_mu);
    impl_->pending_cv.wait(lock, [&] { return impl_->async_in_flight == 0; });
  }
  {
    std::lock_guard lock(impl_->del_mu);
    impl_->del_stopping = true;
  }
  impl_->del_cv.notify_all();
  for (auto& t : impl_->deleters) t.join();
  impl_->deleters.clear();
  {
    std::lock_guard lock(impl_->mark_mu);
    impl_->mark_stopping = true;
  }
  impl_->mark_cv.notify_all();
  if (impl_->marker.joinable()) impl_->marker.join();
  impl_->subscription.reset();
}

Result<std::string> GameLiftFleetManager::Create(int max_players,
                                                 const std::vector<std::string>& user_ids,
                                                 const std::vector<FleetUserLatency>& latencies,
                                                 const Json& metadata, CreateCallback callback,
                                                 const CreateOptions& options) {
  Impl& m = *impl_;
  if (max_players < 1 || max_players > 200) {
    return InvalidArgumentError("max_players must be 1-200, got " + std::to_string(max_players));
  }
  if (user_ids.size() > gamelift::kMaxPlayerIdsPerCall) {
    return InvalidArgumentError("user_ids must hold at most 25 players");
  }
  if (static_cast<int>(user_ids.size()) > max_players) {
    return InvalidArgumentError("user_ids must hold at most max_players players");
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < user_ids.size(); ++i) {
    if (user_ids[i].empty()) {
      return InvalidArgumentError("user_ids[" + std::to_string(i) + "] is empty");
    }
    if (user_ids[i].size() > gamelift::kMaxPlayerIdLength) {
      return InvalidArgumentError("user_ids[" + std::to_string(i) +
                                  "] must be at most 1024 characters");
    }
    if (!seen.insert(user_ids[i]).second) {
      return InvalidArgumentError("user_ids[" + std::to_string(i) + "] repeats \"" + user_ids[i] +
                                  "\"");
    }
  }
  for (size_t i = 0; i < latencies.size(); ++i) {
    const auto& l = latencies[i];
    std::string p = "latencies[" + std::to_string(i) + "]";
    if (l.user_id.empty()) return InvalidArgumentError(p + ".user_id is empty");
    if (l.region.empty()) return InvalidArgumentError(p + ".region is empty");
    if (!(l.latency_ms >= 0)) return InvalidArgumentError(p + ".latency_ms must be >= 0");
  }
  if (!metadata.is_null() && !metadata.is_object()) {
    return InvalidArgumentError("metadata must be an object");
  }
  Json md = metadata.is_object() ? metadata : Json::MakeObject();
  GLFM_RETURN_IF_ERROR(ValidateKnownMetadata(md, "metadata"));
  std::map<std::string, std::string> player_data;
  for (const auto& uid : user_ids) {
    const Json* d = md.Find(uid);
    if (d == nullptr) continue;
    if (!d->is_string()) {
      return InvalidArgumentError("metadata." + uid + " (PlayerData) must be a string");
    }
    if (d->as_string().size() > gamelift::kMaxPlayerDataLength) {
      return InvalidArgumentError("metadata." + uid +
                                  " (PlayerData) must be at most 2048 characters");
    }
    player_data[uid] = d->as_string();
  }
  for (size_t i = 0; i < options.location_order.size(); ++i) {
    if (options.location_order[i].empty()) {
      return InvalidArgumentError("options.location_order[" + std::to_string(i) + "] is empty");
    }
  }
  if (options.deadline && options.deadline->count() <= 0) {
    return InvalidArgumentError("options.deadline must be positive");
  }
  if (!callback) return InvalidArgumentError("callback is required");
  if (options.context.size() > kMaxCreateContextBytes) {
    return InvalidArgumentError("options.context must be at most " +
                                std::to_string(kMaxCreateContextBytes) + " bytes, got " +
                                std::to_string(options.context.size()));
  }
  if (!options.context.empty()) {
    callback = [cb = std::move(callback), context = options.context](const CreateOutcome& out) {
      CreateOutcome with_context = out;
      with_context.context = context;
      cb(with_context);
    };
  }

  std::string placement_id = m.id_prefix + Base36(++m.seq);
  std::string queue = options.queue_name.empty() ? m.o.queue_name : options.queue_name;

  gamelift::StartGameSessionPlacementRequest r;
  r.placement_id = placement_id;
  r.game_session_queue_name = queue;
  r.maximum_player_session_count = max_players;
  if (const Json* n = md.Find(kGameSessionNameKey)) r.game_session_name = n->as_string();
  if (const Json* d = md.Find(kGameSessionDataKey)) r.game_session_data = d->as_string();
  if (const Json* g = md.Find(kGamePropertiesKey)) r.game_properties = PropertiesFromJson(*g);
  for (const auto& l : latencies) r.player_latencies.push_back({l.user_id, l.region, l.latency_ms});
  for (const auto& uid : user_ids) {
    auto it = player_data.find(uid);
    r.desired_player_sessions.push_back({uid, it == player_data.end() ? "" : it->second});
  }
  r.location_order = options.location_order;
  GLFM_RETURN_IF_ERROR(gamelift::ValidateStartGameSessionPlacement(r));

  Json req = Json::MakeObject();
  req["max_players"] = max_players;
  Json ids = Json::MakeArray();
  for (const auto& u : user_ids) ids.as_array().push_back(u);
  req["user_ids"] = std::move(ids);
  req["metadata"] = md;
  req["queue"] = queue;
  if (!options.context.empty()) req["context"] = options.context;

  Timestamp now = m.Now();
  store::PlacementRecord rec;
  rec.placement_id = placement_id;
  rec.owner_node = m.o.node_id;
  rec.deadline = now + options.deadline.value_or(m.o.queue_timeout + m.o.deadline_grace);
  rec.request_json = req.Dump();
  rec.create_time = now;
  {
    std::lock_guard lock(m.mu);
    m.callbacks.emplace(placement_id, Impl::LocalCreate{std::move(callback), max_players,
                                                        InstanceMetadataFrom(md)});
  }
  auto forget = [&] {
    std::lock_guard lock(m.mu);
    m.callbacks.erase(placement_id);
  };
  Status s = m.store->CreatePlacement(rec);
  if (!s.ok()) {
    forget();
    return s;
  }
  auto started = m.gl->StartGameSessionPlacement(r);
  if (!started.ok()) {
    // An attempt whose answer was lost (a timeout, a cut connection) may have started the
    // placement all the same, and a retry then finds its id taken. The id is this call's
    // own: if GameLift knows it, the placement runs, and its event or deadline ends it.
    if (auto known = m.gl->DescribeGameSessionPlacement(placement_id); known.ok()) {
      log::Warn("fleet: StartGameSessionPlacement failed, but the placement exists; it goes on",
                {{"placement_id", placement_id},
                 {"status", known->status},
                 {"error", started.status().ToString()}});
      return placement_id;
    }
    // Nothing was placed: close the placement so that no one resolves it later, and keep
    // the change feed from handing this outcome to the listener.
    bool held_back;
    {
      std::lock_guard lock(m.mu);
      m.callbacks.erase(placement_id);
      held_back = m.delivered.insert(placement_id).second;
      if (held_back) m.delivered_fifo.push_back(placement_id);
    }
    CreateOutcome out;
    out.placement_id = placement_id;
    out.error = started.status();
    auto closed =
        m.store->RecordPlacementOutcome(placement_id, EncodeOutcome(out, max_players), m.Now());
    if (closed.ok() && !*closed) {
      // Its event came first (while the attempts went on, GameLift no longer answering): the
      // placement ran after all. Its outcome goes out as any other; the close above may have
      // held it back.
      if (held_back) {
        std::lock_guard lock(m.mu);
        m.delivered.erase(placement_id);
      }
      auto p = m.store->GetPlacement(placement_id);
      if (p.ok()) m.DeliverStored(*p).IgnoreError();
      return placement_id;
    }
    if (closed.ok()) {
      m.store->MarkPlacementDelivered(placement_id).IgnoreError();
    }
    return started.status();
  }
  return placement_id;
}

Status GameLiftFleetManager::Cancel(std::string_view placement_id) {
  Impl& m = *impl_;
  GLFM_ASSIGN_OR_RETURN(store::PlacementRecord p, m.store->GetPlacement(placement_id));
  if (!p.pending()) {
    return FailedPreconditionError("placement " + p.placement_id + " already has an outcome");
  }
  GLFM_ASSIGN_OR_RETURN(GameSessionPlacement gp, m.gl->StopGameSessionPlacement(p.placement_id));
  if (gp.status != "CANCELLED") {
    return FailedPreconditionError("placement " + p.placement_id + " is " + gp.status +
                                   ", not pending");
  }
  PendingRequest req = DecodeRequest(p.request_json);
  // The cancellation event may have recorded the outcome first; cancelled either way.
  return m.Apply(p, m.OutcomeFromPlacement(gp, req), req.max_players).status();
}

Result<PlacementState> GameLiftFleetManager::GetPlacement(std::string_view placement_id) {
  GLFM_ASSIGN_OR_RETURN(store::PlacementRecord p, impl_->store->GetPlacement(placement_id));
  PlacementState out;
  out.placement_id = p.placement_id;
  out.create_time = p.create_time;
  out.deadline = p.deadline;
  out.context = DecodeRequest(p.request_json).context;
  if (p.outcome_json) {
    auto decoded = DecodeOutcome(p.placement_id, *p.outcome_json, nullptr);
    if (!decoded.ok()) {
      return DataLossError("placement " + p.placement_id +
                           ": stored outcome does not decode: " + decoded.status().message());
    }
    decoded->context = out.context;
    out.outcome = std::move(*decoded);
  }
  return out;
}

Result<ListResult> GameLiftFleetManager::List(std::string_view query, int limit,
                                              std::string_view cursor,
                                              const std::vector<std::string>& order) {
  GLFM_ASSIGN_OR_RETURN(index::QueryResult r, impl_->index->Query(query, limit, cursor, order));
  ListResult out;
  out.instances.reserve(r.instances.size());
  for (const auto& i : r.instances) out.instances.push_back(*i);
  out.next_cursor = std::move(r.cursor);
  return out;
}

Result<InstanceInfo> GameLiftFleetManager::Get(std::string_view id_view) {
  Impl& m = *impl_;
  std::string id(id_view);
  if (id.empty()) return InvalidArgumentError("id is empty");
  auto gs = m.LookupGameSession(id);
  if (!gs.ok()) {
    if (gs.status().code() == StatusCode::kNotFound) {
      Delete(id).IgnoreError();
      return NotFoundError("game session " + id + " not found");
    }
    return gs.status();
  }
  auto lock = m.LockId(id);
  auto stored = m.store->GetInstance(id);
  InstanceInfo info = InstanceFromGameSession(*gs, stored.ok() ? &stored->info.metadata : nullptr);
  if (info.status == "ACTIVE") {
    Timestamp now = m.Now();
    GLFM_RETURN_IF_ERROR(m.store->UpsertInstance(info, now));
    m.index->Upsert(info, now).IgnoreError();
  } else if (info.status == "TERMINATED" || info.status == "TERMINATING" ||
             info.status == "ERROR") {
    GLFM_RETURN_IF_ERROR(m.store->DeleteInstance(id).status());
    m.Unindex(id);
  }
  return info;
}

Result<JoinInfo> GameLiftFleetManager::Join(std::string_view id_view,
                                            const std::vector<std::string>& user_ids,
                                            const std::map<std::string, std::string>& metadata) {
  Impl& m = *impl_;
  std::string id(id_view);
  if (id.empty()) return InvalidArgumentError("id is empty");
  if (user_ids.empty()) return InvalidArgumentError("user_ids is empty");
  std::set<std::string_view> seen;
  for (size_t i = 0; i < user_ids.size(); ++i) {
    if (user_ids[i].empty()) {
      return InvalidArgumentError("user_ids[" + std::to_string(i) + "] is empty");
    }
    if (!seen.insert(user_ids[i]).second) {
      return InvalidArgumentError("user_ids[" + std::to_string(i) + "] repeats \"" + user_ids[i] +
                                  "\"");
    }
  }
  for (const auto& [k, v] : metadata) {
    if (seen.count(k) == 0) {
      return InvalidArgumentError("metadata key \"" + k + "\" is not one of user_ids");
    }
    if (v.size() > gamelift::kMaxPlayerDataLength) {
      return InvalidArgumentError("metadata." + k +
                                  " (PlayerData) must be at most 2048 characters");
    }
  }
  JoinInfo out;
  Status failure;
  for (size_t start = 0; start < user_ids.size(); start += gamelift::kMaxPlayerIdsPerCall) {
    size_t end = std::min(user_ids.size(), start + gamelift::kMaxPlayerIdsPerCall);
    std::vector<std::string> batch(user_ids.begin() + start, user_ids.begin() + end);
    std::map<std::string, std::string> data;
    for (const auto& u : batch) {
      auto it = metadata.find(u);
      if (it != metadata.end()) data[u] = it->second;
    }
    auto r = m.gl->CreatePlayerSessions(id, batch, data);
    if (!r.ok()) {
      failure = r.status();
      break;
    }
    for (const auto& ps : *r) out.session_info.push_back({ps.player_id, ps.player_session_id});
  }
  if (out.session_info.empty()) return failure;
  // Add the new sessions to the count, atomically with other Joins and Updates.
  {
    auto lock = m.LockId(id);
    std::shared_ptr<const InstanceInfo> current = m.CurrentInstance(id);
    auto stored = current != nullptr
                      ? Result<store::StoredInstance>(store::StoredInstance{*current, {}})
                      : m.store->GetInstance(id);
    InstanceInfo info;
    if (stored.ok()) {
      info = stored->info;
      info.player_count += static_cast<int>(out.session_info.size());
    } else if (stored.status().code() == StatusCode::kNotFound) {
      auto gs = m.LookupGameSession(id);  // already counts the new sessions
      if (gs.ok()) info = InstanceFromGameSession(*gs, nullptr);
    } else {
      return stored.status();
    }
    if (!info.id.empty()) {
      Timestamp now = m.Now();
      GLFM_RETURN_IF_ERROR(m.store->UpsertInstance(info, now));
      m.index->Upsert(info, now).IgnoreError();
    }
    out.instance_info = std::move(info);
  }
  if (!failure.ok()) {
    std::string who;
    for (const auto& s : out.session_info) {
      who += (who.empty() ? "" : ", ") + s.user_id + "=" + s.session_id;
    }
    return Status(failure.code(), failure.message() + "; player sessions were created for: " + who);
  }
  return out;
}

namespace {

// Checks an Update's arguments. Errors: invalid-argument naming the field.
Status ValidateUpdate(std::string_view id, std::optional<int> player_count, const Json& metadata) {
  if (id.empty()) return InvalidArgumentError("id is empty");
  if (player_count && *player_count < 0) {
    return InvalidArgumentError("player_count must be >= 0, got " + std::to_string(*player_count));
  }
  if (!metadata.is_null() && !metadata.is_object()) {
    return InvalidArgumentError("metadata must be an object");
  }
  if (metadata.is_object()) GLFM_RETURN_IF_ERROR(ValidateKnownMetadata(metadata, "metadata"));
  return OkStatus();
}

// Applies an Update's changes to `info`; `max` is the session's maximum (0: unknown).
// Sets `props_changed` when GameProperties changed and, when given, `metadata_changed` when
// any metadata key did. Errors: invalid-argument for a count over the maximum.
Status ApplyUpdate(InstanceInfo& info, std::optional<int> player_count, int max,
                   const Json& metadata, bool& props_changed, bool* metadata_changed = nullptr) {
  if (player_count) {
    if (max > 0 && *player_count > max) {
      return InvalidArgumentError("player_count must be at most the session's maximum " +
                                  std::to_string(max) + ", got " + std::to_string(*player_count));
    }
    info.player_count = *player_count;
  }
  props_changed = false;
  bool any_changed = false;
  if (metadata.is_object()) {
    if (!info.metadata.is_object()) info.metadata = Json::MakeObject();
    for (const auto& [k, v] : metadata.as_object()) {
      const Json* old = info.metadata.Find(k);
      bool changed = old == nullptr || !(*old == v);
      any_changed = any_changed || changed;
      if (k == kGamePropertiesKey) props_changed = changed;
      if (changed) info.metadata[k] = v;
    }
  }
  if (metadata_changed != nullptr) *metadata_changed = any_changed;
  return OkStatus();
}

}  // namespace

Status GameLiftFleetManager::Update(std::string_view id_view, std::optional<int> player_count,
                                    const Json& metadata) {
  Impl& m = *impl_;
  std::string id(id_view);
  GLFM_RETURN_IF_ERROR(ValidateUpdate(id, player_count, metadata));

  auto lock = m.LockId(id);
  InstanceInfo info;
  std::shared_ptr<const InstanceInfo> current = m.CurrentInstance(id);
  Result<store::StoredInstance> stored =
      current != nullptr ? Result<store::StoredInstance>(store::StoredInstance{*current, {}})
                         : m.store->GetInstance(id);
  if (stored.ok()) {
    info = std::move(stored->info);
  } else if (stored.status().code() == StatusCode::kNotFound) {
    // Looked up with the session's lock held: concurrent Updates of this id wait and then
    // find it stored, so GameLift is asked once.
    GLFM_ASSIGN_OR_RETURN(GameSession gs, m.LookupGameSession(id));
    info = InstanceFromGameSession(gs, nullptr);
  } else {
    return stored.status();
  }
  int max = player_count ? m.KnownMax(id) : 0;
  if (player_count && max == 0) {
    auto gs = m.LookupGameSession(id);
    if (gs.ok()) max = gs->maximum_player_session_count;
  }
  bool props_changed = false;
  GLFM_RETURN_IF_ERROR(ApplyUpdate(info, player_count, max, metadata, props_changed));
  Timestamp now = m.Now();
  GLFM_RETURN_IF_ERROR(m.store->UpsertInstance(info, now));
  GLFM_RETURN_IF_ERROR(m.index->Upsert(info, now));
  lock.unlock();
  if (props_changed) m.EnqueuePropertyUpdate(id, *info.metadata.Find(kGamePropertiesKey));
  return OkStatus();
}

bool GameLiftFleetManager::TryUpdateAsync(std::string_view id_view, std::optional<int> player_count,
                                          const Json& metadata, std::function<void(Status)> done) {
  Impl& m = *impl_;
  if (!m.o.single_writer) return false;
  std::string id(id_view);
  if (Status s = ValidateUpdate(id, player_count, metadata); !s.ok()) {
    done(s);
    return true;
  }
  // Never wait here: a session locked by a blocking call (a Join, a look-up) goes the slow way.
  auto lock = m.id_locks.TryLock(id);
  if (!lock.held()) return false;
  std::shared_ptr<const InstanceInfo> current = m.CurrentInstance(id);
  int max = player_count ? m.KnownMax(id) : 0;
  if (current == nullptr || (player_count && max == 0)) return false;
  auto info = std::make_shared<InstanceInfo>(*current);
  bool props_changed = false;
  bool metadata_changed = false;
  if (Status s = ApplyUpdate(*info, player_count, max, metadata, props_changed, &metadata_changed);
      !s.ok()) {
    done(s);
    return true;
  }
  uint64_t seq;
  {
    std::lock_guard pl(m.pending_mu);
    seq = ++m.pending_seq;
    m.pending[id] = {seq, info};
    m.async_in_flight++;
  }
  Timestamp now = m.Now();
  // The completion runs on the store's completion thread, in commit order; it takes no
  // session lock (a blocking Update may hold it while it waits for its own, later commit).
  m.store->UpsertInstanceAsync(
      *info, now,
      [&m, id, seq, info, now, props_changed, metadata_changed, done = std::move(done)](Status s) {
        {
          std::lock_guard pl(m.pending_mu);
          auto it = m.pending.find(id);
          if (it != m.pending.end() && it->second.seq == seq) m.pending.erase(it);
        }
        if (s.ok() && !metadata_changed) {
          // A player-count report, the common case: the index's cheap path.
          s = m.index->SetPlayerCount(id, info->player_count, now);
          if (s.code() == StatusCode::kNotFound) s = m.index->Upsert(*info, now);
        } else if (s.ok()) {
          s = m.index->Upsert(*info, now);
        }
        if (s.ok() && props_changed) {
          m.EnqueuePropertyUpdate(id, *info->metadata.Find(kGamePropertiesKey));
        }
        done(s);
        // Last: Stop waits for this, and the fleet manager may be destroyed right after.
        std::lock_guard pl(m.pending_mu);
        if (--m.async_in_flight == 0) m.pending_cv.notify_all();
      });
  return true;
}

Status GameLiftFleetManager::Delete(std::string_view id) {
  Impl& m = *impl_;
  if (id.empty()) return InvalidArgumentError("id is empty");
  auto lock = m.LockId(id);
  GLFM_RETURN_IF_ERROR(m.store->DeleteInstance(id).status());
  m.Unindex(std::string(id));
  return OkStatus();
}

Status GameLiftFleetManager::Reconcile() { return impl_->Reconcile(); }

int GameLiftFleetManager::ResolveDue() { return impl_->ResolveDue(); }

void GameLiftFleetManager::WaitForUpdates() {
  std::unique_lock lock(impl_->upd_mu);
  impl_->upd_cv.wait(lock, [&] { return impl_->upd_pending.empty() && impl_->upd_running == 0; });
}

FleetStats GameLiftFleetManager::stats() const {
  const auto& c = impl_->c;
  FleetStats s;
  s.events_received = c.events_received;
  s.events_applied = c.events_applied;
  s.events_duplicate = c.events_duplicate;
  s.events_unparseable = c.events_unparseable;
  s.events_foreign = c.events_foreign;
  s.messages_deleted = c.messages_deleted;
  s.resolved_by_deadline = c.resolved_by_deadline;
  s.callbacks = c.callbacks;
  s.listener_calls = c.listener_calls;
  s.update_game_session_calls = c.update_game_session_calls;
  s.reconcile_removed = c.reconcile_removed;
  s.adopted_outcomes = c.adopted_outcomes;
  s.adopted_webhooks = c.adopted_webhooks;
  s.placements_pruned = c.placements_pruned;
  {
    std::lock_guard lock(impl_->mu);
    s.sessions_remembered = impl_->max_players.size();
  }
  return s;
}

}  // namespace glfm::fleet
