#include "store/store_internal.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <utility>

#include "common/check.h"
#include "common/codec_internal.h"
#include "common/json_dom.h"
#include "common/json_tape.h"
#include "common/metrics.h"
#include "glfm/codec.h"
#include "glfm/json.h"

namespace glfm::store {

std::string_view ChangeKindName(ChangeEvent::Kind kind) {
  switch (kind) {
    case ChangeEvent::Kind::kInstanceUpserted:
      return "instance_upserted";
    case ChangeEvent::Kind::kInstanceDeleted:
      return "instance_deleted";
    case ChangeEvent::Kind::kPlacementCreated:
      return "placement_created";
    case ChangeEvent::Kind::kPlacementOutcome:
      return "placement_outcome";
    case ChangeEvent::Kind::kResync:
      return "resync";
  }
  return "resync";
}

namespace internal {

int64_t ToNanos(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Timestamp FromNanos(int64_t ns) {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(std::chrono::nanoseconds(ns)));
}

namespace {
bool HasControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}
}  // namespace

Status ValidateInstanceId(std::string_view id, std::string_view field) {
  if (id.empty()) {
    return InvalidArgumentError(std::string(field) + " must not be empty");
  }
  if (id.size() > 2048) {
    return InvalidArgumentError(std::string(field) + " is longer than 2048 bytes");
  }
  if (HasControl(id)) {
    return InvalidArgumentError(std::string(field) + " must not contain control characters");
  }
  return OkStatus();
}

Status ValidatePlacementId(std::string_view id, std::string_view field) {
  if (id.empty() || id.size() > 48) {
    return InvalidArgumentError(std::string(field) + " must be 1-48 characters, got " +
                                std::to_string(id.size()));
  }
  for (char c : id) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return InvalidArgumentError(std::string(field) + " \"" + std::string(id) +
                                  "\" may hold only [A-Za-z0-9-]");
    }
  }
  return OkStatus();
}

Status ValidateNewPlacement(const PlacementRecord& placement) {
  GLFM_RETURN_IF_ERROR(ValidatePlacementId(placement.placement_id));
  GLFM_RETURN_IF_ERROR(ValidateInstanceId(placement.owner_node, "owner_node"));
  if (placement.request_json.empty()) {
    return InvalidArgumentError("request_json of placement " + placement.placement_id +
                                " must not be empty");
  }
  return OkStatus();
}

Status ValidateWebhookId(std::string_view id, std::string_view field) {
  if (id.empty() || id.size() > 128) {
    return InvalidArgumentError(std::string(field) + " must be 1-128 bytes, got " +
                                std::to_string(id.size()));
  }
  if (HasControl(id)) {
    return InvalidArgumentError(std::string(field) + " must not contain control characters");
  }
  return OkStatus();
}

Status ValidateWebhook(const WebhookRecord& webhook, std::string_view field) {
  std::string f(field);
  GLFM_RETURN_IF_ERROR(ValidateWebhookId(webhook.id, f + ".id"));
  GLFM_RETURN_IF_ERROR(ValidateInstanceId(webhook.owner_node, f + ".owner_node"));
  if (webhook.url.empty()) {
    return InvalidArgumentError(f + ".url must not be empty");
  }
  if (webhook.attempts < 0) {
    return InvalidArgumentError(f + ".attempts must not be negative");
  }
  return OkStatus();
}

Status ValidateLimit(int limit) {
  if (limit < 1 || limit > 100000) {
    return InvalidArgumentError("limit must be 1..100000, got " + std::to_string(limit));
  }
  return OkStatus();
}

std::string EncodeInstance(const InstanceInfo& info, bool with_id) {
  // Written directly rather than through ToJson(info).Dump() (a tree of maps, built and torn
  // down for every write), byte for byte the same (store_internal_test checks the two agree).
  std::string out;
  out.reserve(192 + (with_id ? info.id.size() : 0));
  glfm::internal::AppendInstanceJson(out, info, with_id);
  return out;
}

namespace {

// Decodes a document of the shape EncodeInstance writes, straight from simdjson's DOM, into
// `out` (InfoOut or ViewOut below). Returns false for anything else (a null, a number that is
// not an int64, a type that does not fit, an out-of-range port or count, a bad timestamp,
// invalid JSON), so that the general decoder reports it with its exact message; for what it
// accepts the result is the general decoder's.
template <typename Out>
bool DecodeInstanceFast(std::string_view doc, Out& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(doc.data(), doc.size()).get(root) != simdjson::SUCCESS) {
    return false;
  }
  auto get_int = [](simdjson::dom::element e, int& v) {
    int64_t i;
    if (e.get_int64().get(i) != simdjson::SUCCESS || i < INT32_MIN || i > INT32_MAX) {
      return false;
    }
    v = static_cast<int>(i);
    return true;
  };
  auto get_string = [](simdjson::dom::element e, std::string_view& v) {
    return e.get_string().get(v) == simdjson::SUCCESS;
  };
  for (simdjson::dom::key_value_pair kv : root) {
    std::string_view key = kv.key;
    bool ok = true;
    if (key == "id") {
      // The caller's id counts (the row's key); documents before schema 5 repeat it.
      ok = kv.value.is_string();
    } else if (key == "status") {
      std::string_view status;
      ok = get_string(kv.value, status);
      if (ok) out.status(status);
    } else if (key == "player_count") {
      int count = 0;
      ok = get_int(kv.value, count);
      if (ok) out.player_count(count);
    } else if (key == "create_time") {
      std::string_view t;
      ok = kv.value.get_string().get(t) == simdjson::SUCCESS;
      if (ok && !t.empty()) {
        auto parsed = ParseRfc3339(t);
        ok = parsed.ok();
        if (ok) {
          out.create_time(*parsed);
        }
      } else if (ok) {
        out.create_time(Timestamp{});
      }
    } else if (key == "connection_info") {
      simdjson::dom::object c;
      if (kv.value.get_object().get(c) != simdjson::SUCCESS) {
        return false;
      }
      std::string_view ip, dns;
      int port = 0;
      for (simdjson::dom::key_value_pair f : c) {
        if (f.key == "ip_address") {
          ok = ok && get_string(f.value, ip);
        } else if (f.key == "dns_name") {
          ok = ok && get_string(f.value, dns);
        } else if (f.key == "port") {
          ok = ok && get_int(f.value, port) && port >= 0 && port <= 65535;
        }
      }
      if (ok) out.connection_info(ip, dns, port);
    } else if (key == "metadata") {
      ok = kv.value.is_object();
      if (ok) {
        out.metadata(kv.value);
      }
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

// DecodeInstanceFast into an InstanceInfo.
struct InfoOut {
  InstanceInfo& info;
  void status(std::string_view s) { info.status.assign(s); }
  void player_count(int n) { info.player_count = n; }
  void create_time(Timestamp t) { info.create_time = t; }
  void connection_info(std::string_view ip, std::string_view dns, int port) {
    info.connection_info.ip_address.assign(ip);
    info.connection_info.dns_name.assign(dns);
    info.connection_info.port = port;
  }
  void metadata(simdjson::dom::element e) { info.metadata = glfm::internal::JsonFromDom(e); }
};

// DecodeInstanceFast into a row of an InstanceViewPage.
struct ViewOut {
  InstanceViewPage& page;
  InstanceViewPage::Row& row;
  InstanceViewPage::Span Put(std::string_view s) {
    InstanceViewPage::Span span{page.bytes.size(), s.size()};
    page.bytes.append(s);
    return span;
  }
  void status(std::string_view s) { row.status = Put(s); }
  void player_count(int n) { row.player_count = n; }
  void create_time(Timestamp t) { row.create_time = t; }
  void connection_info(std::string_view ip, std::string_view dns, int port) {
    row.ip_address = Put(ip);
    row.dns_name = Put(dns);
    row.port = port;
  }
  void metadata(simdjson::dom::element e) {
    size_t at = page.bytes.size();
    glfm::internal::AppendDomTape(e, page.bytes);
    row.metadata_tape = {at, page.bytes.size() - at};
  }
  void metadata_tape_of(const Json& metadata) {
    size_t at = page.bytes.size();
    glfm::internal::AppendJsonTape(metadata, page.bytes);
    row.metadata_tape = {at, page.bytes.size() - at};
  }
};

// Decodes into `out` (which must be default-constructed). Errors: as DecodeInstance.
Status DecodeInstanceInto(std::string_view id, std::string_view doc, int64_t update_time_ns,
                          StoredInstance& out) {
  out.update_time = FromNanos(update_time_ns);
  InfoOut fast{out.info};
  if (DecodeInstanceFast(doc, fast)) {
    out.info.id.assign(id);
    return OkStatus();
  }
  auto json = Json::Parse(doc);
  if (!json.ok()) {
    return DataLossError("stored instance " + std::string(id) +
                         " does not parse: " + json.status().message());
  }
  auto info = InstanceInfoFromJson(*json);
  if (!info.ok()) {
    return DataLossError("stored instance " + std::string(id) +
                         " does not decode: " + info.status().message());
  }
  out.info = std::move(*info);
  out.info.id.assign(id);
  return OkStatus();
}

// Decodes one row into a new row of `out`. Errors: as DecodeInstanceInto.
Status DecodeInstanceView(std::string_view id, std::string_view doc, int64_t update_time_ns,
                          InstanceViewPage& out) {
  InstanceViewPage::Row& row = out.rows.emplace_back();
  ViewOut view{out, row};
  row.id = view.Put(id);
  row.update_time = FromNanos(update_time_ns);
  if (DecodeInstanceFast(doc, view)) {
    if (row.metadata_tape.size == 0) view.metadata_tape_of(Json::MakeObject());
    return OkStatus();
  }
  // What the fast decoder does not take, the general one decodes (or names what is wrong).
  StoredInstance si;
  Status st = DecodeInstanceInto(id, doc, update_time_ns, si);
  if (!st.ok()) {
    out.rows.pop_back();
    return st;
  }
  InstanceViewPage::Span id_span = row.id;
  row = InstanceViewPage::Row{};
  row.id = id_span;
  row.update_time = si.update_time;
  const InstanceInfo& info = si.info;
  view.status(info.status);
  view.player_count(info.player_count);
  view.create_time(info.create_time);
  view.connection_info(info.connection_info.ip_address, info.connection_info.dns_name,
                       info.connection_info.port);
  view.metadata_tape_of(info.metadata);
  return OkStatus();
}

}  // namespace

Result<StoredInstance> DecodeInstance(std::string_view id, std::string_view doc,
                                      int64_t update_time_ns) {
  StoredInstance out;
  GLFM_RETURN_IF_ERROR(DecodeInstanceInto(id, doc, update_time_ns, out));
  return out;
}

void AppendEvents(const WriteOp& op, std::vector<ChangeEvent>& events) {
  if (!op.status.ok()) {
    return;
  }
  switch (op.kind) {
    case WriteOp::Kind::kUpsert:
      events.push_back({ChangeEvent::Kind::kInstanceUpserted, op.id, ""});
      break;
    case WriteOp::Kind::kDelete:
      if (op.flag) {
        events.push_back({ChangeEvent::Kind::kInstanceDeleted, op.id, ""});
      }
      break;
    case WriteOp::Kind::kCreatePlacement:
      events.push_back({ChangeEvent::Kind::kPlacementCreated, op.id, op.owner_node});
      break;
    case WriteOp::Kind::kRecordOutcome:
      if (op.flag) {
        events.push_back({ChangeEvent::Kind::kPlacementOutcome, op.id, op.result_owner});
        if (op.with_instance) {
          events.push_back({ChangeEvent::Kind::kInstanceUpserted, op.instance_id, ""});
        }
      }
      break;
    case WriteOp::Kind::kMarkDelivered:
    case WriteOp::Kind::kEnqueueWebhook:
    case WriteOp::Kind::kRescheduleWebhook:
    case WriteOp::Kind::kDeleteWebhook:
    case WriteOp::Kind::kAdoptOrphans:
    case WriteOp::Kind::kDeleteDelivered:
      break;
  }
}

// --- CommitQueue ---

namespace {

// Callers sleep on one futex word shared by every queue, each with a bit of its own
// (Waiter). A raw futex rather than std::atomic::wait, whose spin phase calls sched_yield:
// with dozens of callers on two cores those yields cost more than the sleep they avoid. A
// word shared by every queue in the process, never freed: Complete may still wake it after
// the last caller returned and the store is gone.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free);
std::atomic<uint32_t> g_wake_word{0};
std::atomic<uint64_t> g_wake_seq{0};
// Consecutive callers that share a bit of the wake mask.
constexpr uint64_t kWakeGroup = 4;

// Sleeps while g_wake_word holds `expected`, unless a wake names a bit of `bits`.
void FutexWaitBits(uint32_t expected, uint32_t bits) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake_word), FUTEX_WAIT_BITSET_PRIVATE, expected,
          nullptr, nullptr, bits);
}

// Wakes every sleeper whose bits meet `bits`.
void FutexWakeBits(uint32_t bits) {
  g_wake_word.fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake_word), FUTEX_WAKE_BITSET_PRIVATE, INT_MAX,
          nullptr, nullptr, bits);
}

const std::shared_ptr<Waiter>& ThreadWaiter() {
  thread_local const std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  return waiter;
}
}  // namespace

// From a caller's submit to its acknowledgement: what a durable write costs the caller.
static metrics::Histogram& CommitLatency() {
  static metrics::Histogram& h =
      metrics::Registry::Default()
          .AddHistogram("glfm_store_commit_seconds",
                        "From a store write being submitted to its batch being durable "
                        "(group commit included).")
          .WithLabels({});
  return h;
}

Status CommitQueue::Submit(WriteRequest& request) {
  metrics::Histogram& commit_latency = CommitLatency();
  auto started = std::chrono::steady_clock::now();
  request.waiter = ThreadWaiter();
  Waiter& w = *request.waiter;
  w.done.store(Waiter::kPending, std::memory_order_relaxed);
  w.bit = 1u << (g_wake_seq.fetch_add(1, std::memory_order_relaxed) / kWakeGroup % 32);
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) {
      return UnavailableError("store is closed");
    }
    queue_.push_back(&request);
    wake = queue_.size() >= wake_at_;
  }
  if (wake) {
    work_cv_.notify_one();
  }
  // kPending -> kSleeping tells Complete that a wake is needed. The wake word is read before
  // `done`: Complete sets `done` before it changes the word, so a wake that comes between
  // the two reads makes the futex wait return at once. A wake meant for others only makes
  // this wait look again.
  while (true) {
    uint32_t word = g_wake_word.load(std::memory_order_seq_cst);
    uint32_t v = w.done.load(std::memory_order_seq_cst);
    if (v == Waiter::kDone) {
      break;
    }
    if (v == Waiter::kPending &&
        !w.done.compare_exchange_strong(v, Waiter::kSleeping, std::memory_order_seq_cst)) {
      continue;  // done meanwhile
    }
    FutexWaitBits(word, w.bit);
  }
  commit_latency.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return OkStatus();
}

bool CommitQueue::Take(std::vector<WriteRequest*>& batch) {
  batch.clear();
  std::unique_lock lock(mu_);
  work_cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
  size_t ops = 0;
  while (!queue_.empty() && (batch.empty() || ops + queue_.front()->ops.size() <= max_batch_ops_)) {
    ops += queue_.front()->ops.size();
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  // Another committer may take what is left while this one commits.
  if (!queue_.empty()) {
    work_cv_.notify_one();
  }
  return !batch.empty();
}

bool CommitQueue::TakeUntil(std::vector<WriteRequest*>& batch, size_t max_ops, size_t min_requests,
                            std::chrono::steady_clock::time_point deadline) {
  batch.clear();
  std::unique_lock lock(mu_);
  wake_at_ = std::max<size_t>(min_requests, 1);
  work_cv_.wait_until(lock, deadline,
                      [&] { return stopped_ || nudged_ || queue_.size() >= wake_at_; });
  wake_at_ = 1;
  nudged_ = false;
  size_t ops = 0;
  while (!queue_.empty() && (batch.empty() || ops + queue_.front()->ops.size() <= max_ops)) {
    ops += queue_.front()->ops.size();
    batch.push_back(queue_.front());
    queue_.pop_front();
  }
  return !batch.empty() || !stopped_;
}

void CommitQueue::Nudge() {
  {
    std::lock_guard lock(mu_);
    nudged_ = true;
  }
  work_cv_.notify_all();
}

void CommitQueue::SubmitAsync(std::unique_ptr<WriteRequest> request,
                              std::function<void(WriteRequest*)> on_done) {
  request->on_done = std::move(on_done);
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!stopped_) {
      queue_.push_back(request.release());
      wake = queue_.size() >= wake_at_;
    }
  }
  if (request != nullptr) {  // stopped: not queued
    request->status = UnavailableError("store is closed");
    WriteRequest* r = request.release();
    auto done = std::move(r->on_done);
    done(r);
    return;
  }
  if (wake) {
    work_cv_.notify_one();
  }
}

void CommitQueue::Complete(const std::vector<WriteRequest*>& batch) {
  uint32_t sleeping = 0;  // the bits of the callers that sleep
  for (WriteRequest* r : batch) {
    if (r->on_done) {
      auto done = std::move(r->on_done);
      done(r);  // owns the request from here on
      continue;
    }
    Waiter& w = *r->waiter;
    uint32_t bit = w.bit;
    // The last touch: the caller may return (and destroy the request) from here on.
    if (w.done.exchange(Waiter::kDone, std::memory_order_seq_cst) == Waiter::kSleeping) {
      sleeping |= bit;
    }
  }
  if (sleeping != 0) {
    FutexWakeBits(sleeping);
  }
}

void CommitQueue::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  work_cv_.notify_all();
}

// --- BatchStage ---

BatchStage::BatchStage(const char* name, Fn fn)
    : name_(name), fn_(std::move(fn)), thread_([this] { Run(); }) {}

BatchStage::~BatchStage() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void BatchStage::Push(Batch batch) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(batch));
  }
  cv_.notify_one();
}

bool BatchStage::RunHereIfIdle(std::vector<Batch>& batches) {
  {
    std::lock_guard lock(mu_);
    if (busy_ || !queue_.empty()) {
      return false;
    }
    busy_ = true;
  }
  fn_(batches);
  bool queued;
  {
    std::lock_guard lock(mu_);
    busy_ = false;
    queued = !queue_.empty() || stop_;
  }
  if (queued) {
    cv_.notify_one();  // Push found the stage busy and its thread waits for it
  }
  return true;
}

void BatchStage::Run() {
  pthread_setname_np(pthread_self(), name_);
  std::vector<Batch> batches;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return !busy_ && (stop_ || !queue_.empty()); });
    if (queue_.empty()) {
      return;  // stopped and drained
    }
    batches.swap(queue_);
    busy_ = true;
    lock.unlock();
    fn_(batches);
    batches.clear();
    lock.lock();
    busy_ = false;
  }
}

// --- ChangeFeed ---

class ChangeFeed::Handle : public Subscription {
 public:
  Handle(ChangeFeed* feed, uint64_t id) : feed_(feed), id_(id) {}
  ~Handle() override { feed_->Unsubscribe(id_); }

 private:
  ChangeFeed* feed_;
  uint64_t id_;
};

ChangeFeed::ChangeFeed() : thread_([this] { Run(); }) {}

ChangeFeed::~ChangeFeed() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

void ChangeFeed::Publish(std::vector<ChangeEvent> events) {
  const ChangeKinds wanted = wanted_.load(std::memory_order_acquire);
  std::erase_if(events,
                [&](const ChangeEvent& e) { return (wanted & ChangeKindBit(e.kind)) == 0; });
  if (events.empty()) {
    return;
  }
  std::lock_guard lock(mu_);
  if (entries_.empty()) {
    return;
  }
  for (auto& e : events) {
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

bool ChangeFeed::HasSubscribers() { return wanted_.load(std::memory_order_acquire) != 0; }

void ChangeFeed::UpdateWanted() {
  ChangeKinds wanted = 0;
  for (const auto& [id, entry] : entries_) wanted |= entry->kinds;  // each holds kResync
  wanted_.store(wanted, std::memory_order_release);
}

std::unique_ptr<Subscription> ChangeFeed::Subscribe(ChangeCallback callback, ChangeKinds kinds) {
  auto entry = std::make_shared<Entry>();
  entry->callback = std::move(callback);
  entry->kinds = kinds | ChangeKindBit(ChangeEvent::Kind::kResync);
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  entries_[id] = std::move(entry);
  UpdateWanted();
  return std::make_unique<Handle>(this, id);
}

void ChangeFeed::Unsubscribe(uint64_t id) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return;
    }
    entry = std::move(it->second);
    entries_.erase(it);
    UpdateWanted();
  }
  if (std::this_thread::get_id() == thread_.get_id()) {
    // Inside a callback on the dispatcher thread, which may hold call_mu of this very entry.
    entry->active = false;
    return;
  }
  std::lock_guard call_lock(entry->call_mu);  // waits for a running call to finish
  entry->active = false;
}

void ChangeFeed::Run() {
  std::vector<std::shared_ptr<Entry>> targets;
  std::deque<ChangeEvent> events;
  while (true) {
    {
      // Everything queued at once: one wake-up (and one lock) per Publish, not per event.
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !events_.empty(); });
      if (stop_) {
        return;
      }
      events.swap(events_);
      targets.clear();
      for (auto& [id, entry] : entries_) {
        targets.push_back(entry);
      }
    }
    for (const ChangeEvent& event : events) {
      for (auto& entry : targets) {
        if ((entry->kinds & ChangeKindBit(event.kind)) == 0) continue;
        std::unique_lock call_lock(entry->call_mu);
        if (entry->active) {
          entry->callback(event);
        }
      }
    }
    events.clear();
    targets.clear();
  }
}

// --- NOTIFY payloads ---

void AppendEventLine(const ChangeEvent& event, std::string& out) {
  switch (event.kind) {
    case ChangeEvent::Kind::kInstanceUpserted:
      out += "U\t";
      break;
    case ChangeEvent::Kind::kInstanceDeleted:
      out += "D\t";
      break;
    case ChangeEvent::Kind::kPlacementCreated:
      out += "C\t";
      out += event.owner_node;
      out += '\t';
      break;
    case ChangeEvent::Kind::kPlacementOutcome:
      out += "O\t";
      out += event.owner_node;
      out += '\t';
      break;
    case ChangeEvent::Kind::kResync:
      out += "R\t";
      break;
  }
  out += event.id;
  out += '\n';
}

std::vector<ChangeEvent> ParseEventLines(std::string_view payload) {
  std::vector<ChangeEvent> out;
  while (!payload.empty()) {
    size_t nl = payload.find('\n');
    std::string_view line = payload.substr(0, nl);
    payload.remove_prefix(nl == std::string_view::npos ? payload.size() : nl + 1);
    if (line.size() < 2 || line[1] != '\t') {
      continue;
    }
    char tag = line[0];
    line.remove_prefix(2);
    ChangeEvent e;
    if (tag == 'U' || tag == 'D' || tag == 'R') {
      e.kind = tag == 'U'   ? ChangeEvent::Kind::kInstanceUpserted
               : tag == 'D' ? ChangeEvent::Kind::kInstanceDeleted
                            : ChangeEvent::Kind::kResync;
      e.id = std::string(line);
    } else if (tag == 'C' || tag == 'O') {
      size_t tab = line.find('\t');
      if (tab == std::string_view::npos) {
        continue;
      }
      e.kind =
          tag == 'C' ? ChangeEvent::Kind::kPlacementCreated : ChangeEvent::Kind::kPlacementOutcome;
      e.owner_node = std::string(line.substr(0, tab));
      e.id = std::string(line.substr(tab + 1));
    } else {
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Status QueuedWriteStore::UpsertInstance(const InstanceInfo& info, Timestamp update_time) {
  GLFM_RETURN_IF_ERROR(ValidateInstanceId(info.id));
  WriteRequest r;
  r.ops.resize(1);
  FillUpsert(r.ops[0], info, update_time);
  return SubmitOne(r);
}

Status QueuedWriteStore::UpsertInstances(const std::vector<InstanceWrite>& writes) {
  if (writes.empty()) {
    return OkStatus();
  }
  WriteRequest r;
  r.ops.resize(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    GLFM_RETURN_IF_ERROR(
        ValidateInstanceId(writes[i].info.id, "writes[" + std::to_string(i) + "].id"));
    FillUpsert(r.ops[i], writes[i].info, writes[i].update_time);
  }
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  return r.status;
}

Result<bool> QueuedWriteStore::DeleteInstance(std::string_view id) {
  GLFM_RETURN_IF_ERROR(ValidateInstanceId(id));
  WriteRequest r;
  r.ops.resize(1);
  r.ops[0].kind = WriteOp::Kind::kDelete;
  r.ops[0].id = std::string(id);
  GLFM_RETURN_IF_ERROR(SubmitOne(r));
  return r.ops[0].flag;
}

Result<std::vector<std::string>> QueuedWriteStore::DeleteInstancesOlderThan(
    const std::vector<std::string>& ids, Timestamp older_than) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ValidateInstanceId(ids[i]).ok()) {  // the field's name only for the error
      return ValidateInstanceId(ids[i], "ids[" + std::to_string(i) + "]");
    }
  }
  std::vector<std::string> deleted;
  int64_t cutoff = ToNanos(older_than);
  for (size_t start = 0; start < ids.size(); start += kDeleteGroup) {
    WriteRequest r;
    r.ops.resize(std::min(kDeleteGroup, ids.size() - start));
    for (size_t k = 0; k < r.ops.size(); ++k) {
      WriteOp& op = r.ops[k];
      op.kind = WriteOp::Kind::kDelete;
      op.id = ids[start + k];
      op.only_older = true;
      op.time_ns = cutoff;
    }
    GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
    GLFM_RETURN_IF_ERROR(r.status);
    for (const WriteOp& op : r.ops) {
      if (op.flag) deleted.push_back(op.id);
    }
  }
  return deleted;
}

Result<Store::Adopted> QueuedWriteStore::AdoptOrphans(std::string_view node, Timestamp before,
                                                      bool webhooks) {
  GLFM_RETURN_IF_ERROR(ValidateInstanceId(node, "node"));
  WriteRequest r;
  r.ops.resize(1);
  r.ops[0].kind = WriteOp::Kind::kAdoptOrphans;
  r.ops[0].owner_node = std::string(node);
  r.ops[0].time_ns = ToNanos(before);
  r.ops[0].number = webhooks ? 1 : 0;
  GLFM_RETURN_IF_ERROR(SubmitOne(r));
  return Adopted{static_cast<int>(r.ops[0].adopted_outcomes),
                 static_cast<int>(r.ops[0].adopted_webhooks)};
}

Result<int> QueuedWriteStore::DeleteDeliveredPlacements(Timestamp before, int limit) {
  GLFM_RETURN_IF_ERROR(ValidateLimit(limit));
  WriteRequest r;
  r.ops.resize(1);
  r.ops[0].kind = WriteOp::Kind::kDeleteDelivered;
  r.ops[0].time_ns = ToNanos(before);
  r.ops[0].number = limit;
  GLFM_RETURN_IF_ERROR(SubmitOne(r));
  return static_cast<int>(r.ops[0].deleted);
}

Status QueuedWriteStore::CreatePlacement(const PlacementRecord& placement) {
  GLFM_RETURN_IF_ERROR(ValidateNewPlacement(placement));
  WriteRequest r;
  r.ops.resize(1);
  WriteOp& op = r.ops[0];
  op.kind = WriteOp::Kind::kCreatePlacement;
  op.id = placement.placement_id;
  op.owner_node = placement.owner_node;
  op.deadline_ns = ToNanos(placement.deadline);
  op.text = placement.request_json;
  op.time_ns = ToNanos(placement.create_time);
  return SubmitOne(r);
}

Result<bool> QueuedWriteStore::RecordPlacementOutcome(std::string_view placement_id,
                                                      std::string_view outcome_json,
                                                      Timestamp outcome_time) {
  GLFM_RETURN_IF_ERROR(ValidatePlacementId(placement_id));
  if (outcome_json.empty()) {
    return InvalidArgumentError("outcome of placement " + std::string(placement_id) +
                                " must not be empty");
  }
  WriteRequest r;
  r.ops.resize(1);
  WriteOp& op = r.ops[0];
  op.kind = WriteOp::Kind::kRecordOutcome;
  op.id = std::string(placement_id);
  op.text = std::string(outcome_json);
  op.time_ns = ToNanos(outcome_time);
  GLFM_RETURN_IF_ERROR(SubmitOne(r));
  return op.flag;
}

Result<std::vector<Result<bool>>> QueuedWriteStore::RecordPlacementOutcomes(
    const std::vector<OutcomeWrite>& writes) {
  WriteRequest r;
  r.ops.resize(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    std::string field = "writes[" + std::to_string(i) + "]";
    GLFM_RETURN_IF_ERROR(ValidatePlacementId(writes[i].placement_id, field + ".placement_id"));
    if (writes[i].outcome_json.empty()) {
      return InvalidArgumentError(field + ".outcome_json must not be empty");
    }
    WriteOp& op = r.ops[i];
    op.kind = WriteOp::Kind::kRecordOutcome;
    op.id = writes[i].placement_id;
    op.text = writes[i].outcome_json;
    op.time_ns = ToNanos(writes[i].outcome_time);
    if (const auto& inst = writes[i].instance; inst.has_value()) {
      GLFM_RETURN_IF_ERROR(ValidateInstanceId(inst->info.id, field + ".instance.info.id"));
      op.with_instance = true;
      op.instance_id = inst->info.id;
      op.instance_doc = EncodeInstance(inst->info, docs_with_id_);
      op.instance_time_ns = ToNanos(inst->update_time);
    }
  }
  std::vector<Result<bool>> out;
  if (writes.empty()) {
    return out;
  }
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  GLFM_RETURN_IF_ERROR(r.status);
  out.reserve(r.ops.size());
  for (const WriteOp& op : r.ops) {
    if (op.status.ok()) {
      out.emplace_back(op.flag);
    } else {
      out.emplace_back(op.status);
    }
  }
  return out;
}

Status QueuedWriteStore::MarkPlacementDelivered(std::string_view placement_id) {
  GLFM_RETURN_IF_ERROR(ValidatePlacementId(placement_id));
  WriteRequest r;
  r.ops.resize(1);
  r.ops[0].kind = WriteOp::Kind::kMarkDelivered;
  r.ops[0].id = std::string(placement_id);
  return SubmitOne(r);
}

Status QueuedWriteStore::MarkPlacementsDelivered(const std::vector<std::string>& placement_ids) {
  if (placement_ids.empty()) {
    return OkStatus();
  }
  WriteRequest r;
  r.ops.resize(placement_ids.size());
  for (size_t i = 0; i < placement_ids.size(); ++i) {
    GLFM_RETURN_IF_ERROR(
        ValidatePlacementId(placement_ids[i], "placement_ids[" + std::to_string(i) + "]"));
    r.ops[i].kind = WriteOp::Kind::kMarkDelivered;
    r.ops[i].id = placement_ids[i];
  }
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  GLFM_RETURN_IF_ERROR(r.status);
  for (const WriteOp& op : r.ops) {
    GLFM_RETURN_IF_ERROR(op.status);
  }
  return OkStatus();
}

Status QueuedWriteStore::EnqueueWebhooks(const std::vector<WebhookRecord>& webhooks) {
  if (webhooks.empty()) {
    return OkStatus();
  }
  WriteRequest r;
  r.ops.resize(webhooks.size());
  for (size_t i = 0; i < webhooks.size(); ++i) {
    GLFM_RETURN_IF_ERROR(FillWebhook(r.ops[i], webhooks[i], "webhooks[" + std::to_string(i) + "]"));
  }
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  return r.status;
}

Status QueuedWriteStore::FillWebhook(WriteOp& op, const WebhookRecord& w,
                                     const std::string& field) {
  GLFM_RETURN_IF_ERROR(ValidateWebhook(w, field));
  op.kind = WriteOp::Kind::kEnqueueWebhook;
  op.id = w.id;
  op.owner_node = w.owner_node;
  op.text = w.url;
  op.text2 = w.body;
  op.time_ns = ToNanos(w.create_time);
  op.deadline_ns = ToNanos(w.expire_time);
  op.time2_ns = ToNanos(w.next_attempt);
  op.number = w.attempts;
  return OkStatus();
}

void QueuedWriteStore::EnqueueWebhooksAsync(const std::vector<WebhookRecord>& webhooks,
                                            std::function<void(Status)> done) {
  if (webhooks.empty()) {
    done(OkStatus());
    return;
  }
  auto r = std::make_unique<WriteRequest>();
  r->ops.resize(webhooks.size());
  for (size_t i = 0; i < webhooks.size(); ++i) {
    Status s = FillWebhook(r->ops[i], webhooks[i], "webhooks[" + std::to_string(i) + "]");
    if (!s.ok()) {
      done(s);
      return;
    }
  }
  SubmitAsync(std::move(r), std::move(done));
}

void QueuedWriteStore::SubmitAsync(std::unique_ptr<WriteRequest> r,
                                   std::function<void(Status)> done) {
  auto started = std::chrono::steady_clock::now();
  write_queue().SubmitAsync(std::move(r), [done = std::move(done), started](WriteRequest* req) {
    std::unique_ptr<WriteRequest> owned(req);
    CommitLatency().Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    done(owned->status.ok() ? owned->ops[0].status : owned->status);
  });
}

Status QueuedWriteStore::RescheduleWebhook(std::string_view id, int attempts,
                                           Timestamp next_attempt, std::string_view last_error) {
  GLFM_RETURN_IF_ERROR(ValidateWebhookId(id));
  if (attempts < 0) {
    return InvalidArgumentError("attempts of webhook " + std::string(id) + " must not be negative");
  }
  WriteRequest r;
  r.ops.resize(1);
  WriteOp& op = r.ops[0];
  op.kind = WriteOp::Kind::kRescheduleWebhook;
  op.id = std::string(id);
  op.text = std::string(last_error);
  op.time2_ns = ToNanos(next_attempt);
  op.number = attempts;
  return SubmitOne(r);
}

Status QueuedWriteStore::DeleteWebhooks(const std::vector<std::string>& ids) {
  if (ids.empty()) {
    return OkStatus();
  }
  WriteRequest r;
  r.ops.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    GLFM_RETURN_IF_ERROR(ValidateWebhookId(ids[i], "ids[" + std::to_string(i) + "]"));
    r.ops[i].kind = WriteOp::Kind::kDeleteWebhook;
    r.ops[i].id = ids[i];
  }
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  return r.status;
}

void QueuedWriteStore::UpsertInstanceAsync(const InstanceInfo& info, Timestamp update_time,
                                           std::function<void(Status)> done) {
  Status valid = ValidateInstanceId(info.id);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  auto r = std::make_unique<WriteRequest>();
  r->ops.resize(1);
  FillUpsert(r->ops[0], info, update_time);
  SubmitAsync(std::move(r), std::move(done));
}

void QueuedWriteStore::FillUpsert(WriteOp& op, const InstanceInfo& info,
                                  Timestamp update_time) const {
  op.kind = WriteOp::Kind::kUpsert;
  op.id = info.id;
  op.text = EncodeInstance(info, docs_with_id_);
  op.time_ns = ToNanos(update_time);
}

Status QueuedWriteStore::SubmitOne(WriteRequest& r) {
  GLFM_RETURN_IF_ERROR(write_queue().Submit(r));
  GLFM_RETURN_IF_ERROR(r.status);
  return r.ops[0].status;
}

Result<InstancePage> QueuedWriteStore::ScanInstances(std::string_view after_id, int limit) {
  GLFM_ASSIGN_OR_RETURN(InstanceDocumentPage docs, ScanInstanceDocuments(after_id, limit));
  InstancePage page;
  GLFM_RETURN_IF_ERROR(DecodeInstanceDocuments(docs, page.instances));
  page.next_after_id = std::move(docs.next_after_id);
  page.done = docs.done;
  return page;
}

}  // namespace internal

// On several threads when the page is large (ScanInstances with a large limit).
Status DecodeInstanceDocuments(const InstanceDocumentPage& page, std::vector<StoredInstance>& out) {
  const size_t n = page.rows.size();
  out.clear();
  out.resize(n);
  auto decode = [&](size_t begin, size_t end) -> Status {
    for (size_t i = begin; i < end; ++i) {
      GLFM_RETURN_IF_ERROR(internal::DecodeInstanceInto(page.id(i), page.doc(i),
                                                        page.rows[i].update_time_ns, out[i]));
    }
    return OkStatus();
  };
  constexpr size_t kPerThreadMin = 2048;
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 4);
  threads = std::min(threads, n / kPerThreadMin);
  if (threads <= 1) {
    return decode(0, n);
  }
  std::vector<Status> results(threads);
  std::vector<std::thread> workers;
  size_t per = (n + threads - 1) / threads;
  for (size_t t = 1; t < threads; ++t) {
    workers.emplace_back(
        [&, t] { results[t] = decode(std::min(n, t * per), std::min(n, (t + 1) * per)); });
  }
  results[0] = decode(0, std::min(n, per));
  for (auto& w : workers) {
    w.join();
  }
  for (auto& r : results) {
    GLFM_RETURN_IF_ERROR(r);
  }
  return OkStatus();
}

Status DecodeInstanceViews(const InstanceDocumentPage& page, InstanceViewPage& out) {
  out.bytes.clear();
  out.bytes.reserve(page.storage.size());  // ids and tapes take less than ids and documents
  out.rows.clear();
  out.rows.reserve(page.rows.size());
  for (size_t i = 0; i < page.rows.size(); ++i) {
    GLFM_RETURN_IF_ERROR(
        internal::DecodeInstanceView(page.id(i), page.doc(i), page.rows[i].update_time_ns, out));
  }
  return OkStatus();
}

Status ValidateWebhookRecord(const WebhookRecord& webhook, std::string_view field) {
  return internal::ValidateWebhook(webhook, field);
}

}  // namespace glfm::store
