#include "server/app.h"

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "common/log.h"
#include "common/metrics.h"
#include "emulator/emulator.h"
#include "fleet/fleet_manager_impl.h"
#include "gamelift/connect.h"
#include "glfm/codec.h"
#include "index/index.h"
#include "server/api.h"
#include "server/events.h"
#include "server/serve.h"
#include "server/webhooks.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace glfm::server {
namespace {

std::string RandomKey() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) out.push_back(kHex[rd() % 16]);
  return out;
}

// Reads <data_dir>/<name>, or writes a new random key there (local mode's keys).
Result<std::string> LocalKey(const std::string& data_dir, const std::string& name) {
  std::string path = data_dir + "/" + name;
  {
    std::ifstream in(path);
    std::string key;
    if (in && std::getline(in, key) && !key.empty()) return key;
  }
  std::string key = RandomKey();
  std::ofstream out(path, std::ios::trunc);
  out << key << "\n";
  if (!out) return UnavailableError("cannot write " + path);
  std::error_code ec;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  return key;
}

// A fleet node id: 1-12 of [A-Za-z0-9] taken from the node name.
std::string NodeId(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) && out.size() < 12) out.push_back(c);
  }
  return out.empty() ? "node1" : out;
}

}  // namespace

// What the index-size gauge reads; cleared before the index goes away.
struct IndexGaugeSource {
  std::mutex mu;
  const index::InstanceIndex* index = nullptr;  // guarded by mu
};

struct App::State {
  config::Config config;
  std::unique_ptr<emulator::Emulator> emulator;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<index::InstanceIndex> index;
  std::unique_ptr<gamelift::AwsServices> aws;
  // Destroyed in reverse order: the server, then the fleet manager (no more callbacks), then
  // the Api they call, the clients, the store and last the emulator.
  std::unique_ptr<WebhookDispatcher> webhooks;
  std::unique_ptr<EventHub> events;
  std::unique_ptr<Api> api;
  std::unique_ptr<fleet::GameLiftFleetManager> fleet;
  // The store's change feed while it is needed (see SubscribeFeed).
  std::shared_ptr<void> feed;
  std::unique_ptr<Service> service;
  std::string http_key;
  std::string node_id;
  std::shared_ptr<IndexGaugeSource> index_gauge;
  bool stopped = false;

  ~State() {
    if (index_gauge) {
      std::lock_guard lock(index_gauge->mu);
      index_gauge->index = nullptr;
    }
  }

  // Follows the store's change feed: outcomes other nodes recorded (long polls here may wait
  // for them) and, while anyone listens to /v1/events, instance changes.
  std::shared_ptr<void> SubscribeFeed() {
    auto sub = store->Subscribe([this](const store::ChangeEvent& e) { OnChange(e); });
    if (!sub.ok()) {
      log::Warn("events: cannot follow the store's change feed",
                {{"error", sub.status().ToString()}});
      return nullptr;
    }
    return std::shared_ptr<store::Subscription>(std::move(*sub));
  }

  void OnChange(const store::ChangeEvent& e) {
    using K = store::ChangeEvent::Kind;
    if (fleet == nullptr) return;
    switch (e.kind) {
      case K::kPlacementOutcome: {
        // This node's own outcomes reach the Api through callbacks and the listener.
        if (e.owner_node == node_id || (!api->WantsOutcome(e.id) && !events->active())) return;
        auto p = fleet->GetPlacement(e.id);
        if (p.ok() && p->outcome) api->OnForeignOutcome(*p->outcome);
        return;
      }
      case K::kInstanceUpserted:
      case K::kInstanceDeleted: {
        if (!events->active()) return;
        Json j = Json::MakeObject();
        j["id"] = Json(e.id);
        auto stored = e.kind == K::kInstanceUpserted
                          ? store->GetInstance(e.id)
                          : Result<store::StoredInstance>(NotFoundError("deleted"));
        j["change"] = Json(stored.ok() ? "upserted" : "deleted");
        j["instance"] = stored.ok() ? ToJson(stored->info) : Json();
        events->Publish("instance", j.Dump());
        return;
      }
      case K::kResync:
        api->RefreshPending();
        events->Publish("resync", "{\"reason\":\"the store's change feed reconnected\"}");
        return;
      case K::kPlacementCreated:
        return;
    }
  }
};

App::App(std::unique_ptr<State> state) : state_(std::move(state)) {}

App::~App() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<App>> App::Start(const config::Config& config) {
  auto st = std::make_unique<State>();
  st->config = config;
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return UnavailableError("data_dir: cannot create " + config.data_dir + ": " + ec.message());
  }

  // The status-RPC key and the webhook secret: configured, or in local mode kept under the
  // data dir.
  st->http_key = config.auth.http_key;
  if (config.local_mode && st->http_key.empty()) {
    GLFM_ASSIGN_OR_RETURN(st->http_key, LocalKey(config.data_dir, "local_http_key"));
  }
  std::string webhook_secret = config.webhook.secret;
  if (config.local_mode && webhook_secret.empty()) {
    GLFM_ASSIGN_OR_RETURN(webhook_secret, LocalKey(config.data_dir, "local_webhook_secret"));
  }
  st->node_id = NodeId(config.node_name);

  // Listen first, so that the first log line names the bound address; the API answers
  // unavailable ("starting") and /readyz fails until the fleet manager is wired below.
  State* raw = st.get();
  EventHubOptions eo;
  // With SQLite, only this process writes: follow the feed only while /v1/events has
  // listeners. With PostgreSQL the feed also brings other nodes' outcomes (see below).
  if (config.store.driver != "postgres") {
    eo.activate = [raw]() -> std::shared_ptr<void> { return raw->SubscribeFeed(); };
  }
  st->events = std::make_unique<EventHub>(std::move(eo));
  ApiOptions ao;
  ao.http_key = st->http_key;
  ao.api_keys = config.auth.api_keys;
  ao.workers = config.server.workers;
  ao.events = st->events.get();
  ao.default_webhook_url = config.webhook.url;
  st->api = std::make_unique<Api>(nullptr, ao);
  Api* api = st->api.get();
  // Not ready until the fleet manager is wired: the check is there before the first request.
  auto ready = std::make_shared<std::atomic<bool>>(false);
  Service::ReadinessChecks checks;
  checks.emplace_back("fleet", [ready]() -> Status {
    return ready->load() ? OkStatus() : UnavailableError("the fleet manager is starting");
  });
  GLFM_ASSIGN_OR_RETURN(st->service,
                        Service::Start(
                            config, [api](Router& r) { api->AddRoutes(r); }, std::move(checks)));
  log::Info("listening on " + st->service->url());

  // Store.
  if (config.store.driver == "postgres") {
    store::PostgresOptions po;
    po.conninfo = config.store.postgres_dsn;
    GLFM_ASSIGN_OR_RETURN(st->store, store::OpenPostgresStore(po));
  } else {
    store::SqliteOptions so;
    so.path =
        config.store.sqlite_path.empty() ? config.data_dir + "/glfm.db" : config.store.sqlite_path;
    so.synchronous = config.store.sqlite_synchronous == "NORMAL"
                         ? store::SqliteOptions::Synchronous::kNormal
                         : store::SqliteOptions::Synchronous::kFull;
    GLFM_ASSIGN_OR_RETURN(st->store, store::OpenSqliteStore(so));
  }
  // The service goes before the store (State's order): the check never outlives it.
  st->service->AddLivenessCheck("store", [store = st->store.get()] { return store->Health(); });
  st->index = std::make_unique<index::InstanceIndex>();
  {
    auto held = std::make_shared<IndexGaugeSource>();
    held->index = st->index.get();
    st->index_gauge = held;
    metrics::Registry::Default().AddCallbackGauge(
        "glfm_index_instances", "Game sessions in the in-memory index.", [held] {
          std::lock_guard lock(held->mu);
          return held->index != nullptr ? static_cast<double>(held->index->size()) : 0.0;
        });
  }
  if (!webhook_secret.empty()) {
    WebhookOptions wo;
    wo.node_id = st->node_id;
    wo.secret = webhook_secret;
    wo.max_age = config.webhook.max_age;
    wo.attempt_timeout = config.webhook.timeout;
    GLFM_ASSIGN_OR_RETURN(st->webhooks, WebhookDispatcher::Start(std::move(wo), st->store.get()));
    api->SetWebhooks(st->webhooks.get());
  }

  // AWS (or the emulator standing in for it).
  gamelift::AwsSettings aws;
  aws.transport.threads = 2;
  aws.transport.max_connections = 64;
  aws.attempt_timeout = config.aws.timeout;
  fleet::FleetOptions fo;
  fo.node_id = st->node_id;
  fo.receivers = config.fleet.receivers;
  fo.single_writer = config.store.driver != "postgres";
  // Several nodes share a PostgreSQL store: each follows the others' instance writes, so that
  // a status report taken by any node shows in every node's List.
  fo.mirror_instance_changes = config.store.driver == "postgres";
  fo.queue_timeout = config.fleet.queue_timeout;
  fo.reconcile_interval = config.fleet.reconcile_interval;
  fo.adopt_after = config.fleet.adopt_after;
  fo.placement_retention = config.fleet.placement_retention;
  // A SQLite file has one node: another node name in it is this node's earlier one (a
  // container's host name changes at every start), gone for good.
  if (fo.single_writer && fo.adopt_after > std::chrono::seconds(1)) {
    fo.adopt_after = std::chrono::seconds(1);
  }
  if (st->webhooks) {
    fo.on_adopted_webhooks = [w = st->webhooks.get()] {
      Status s = w->Reload();
      if (!s.ok())
        log::Warn("webhooks: loading adopted deliveries failed", {{"error", s.ToString()}});
    };
  }
  if (config.fleet.reconcile == "off") {
    fo.reconcile_at_start = false;
    fo.reconcile_interval = std::chrono::milliseconds(0);
  }
  static auto& event_latency = metrics::Registry::Default()
                                   .AddHistogram("glfm_placement_event_latency_seconds",
                                                 "From an event's SQS receive to its outcome "
                                                 "being delivered.")
                                   .WithLabels({});
  fo.on_event_latency = [](std::chrono::nanoseconds d) {
    event_latency.Observe(std::chrono::duration<double>(d).count());
  };
  aws::EnvLookup env = aws::ProcessEnv();
  if (config.local_mode) {
    emulator::EmulatorOptions eo;
    GLFM_ASSIGN_OR_RETURN(auto hp, config::ParseHostPort(config.local.emulator_listen));
    eo.host = hp.first;
    eo.port = hp.second;
    GLFM_ASSIGN_OR_RETURN(st->emulator, emulator::Emulator::Start(std::move(eo)));
    aws.region = "us-east-1";
    aws.credentials.access_key_id = "local";
    aws.credentials.secret_access_key = "local";
    aws.credentials.source = "config";
    aws.gamelift_endpoint = st->emulator->url();
    aws.sqs_endpoint = st->emulator->url();
    env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    fo.queue_name = "glfm-local";
    fo.receive_wait_seconds = 1;  // the emulator is local: short polls make shutdown quick
    fo.alias_id = "alias-local";
  } else {
    aws.region = config.aws.region;
    aws.profile = config.aws.profile;
    aws.credentials.access_key_id = config.aws.access_key_id;
    aws.credentials.secret_access_key = config.aws.secret_access_key;
    aws.credentials.session_token = config.aws.session_token;
    aws.credentials.source = "config";
    aws.gamelift_endpoint = !config.aws.gamelift_endpoint_url.empty()
                                ? config.aws.gamelift_endpoint_url
                                : config.aws.endpoint_url;
    aws.sqs_endpoint = !config.aws.sqs_endpoint_url.empty() ? config.aws.sqs_endpoint_url
                                                            : config.aws.endpoint_url;
    fo.queue_name = config.aws.placement_queue_name;
    fo.alias_id = config.aws.alias_id;
    fo.events_queue_url = config.aws.placement_events_sqs_url;
    fo.receive_wait_seconds = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(config.fleet.receive_wait).count());
  }
  GLFM_ASSIGN_OR_RETURN(st->aws, gamelift::ConnectAws(aws, env));
  if (config.local_mode) {
    GLFM_ASSIGN_OR_RETURN(fo.events_queue_url, st->aws->sqs->GetQueueUrl("glfm-placement-events"));
  }

  // The API exists before the fleet manager so that no outcome is missed at start.
  GLFM_ASSIGN_OR_RETURN(
      st->fleet, fleet::GameLiftFleetManager::Start(
                     std::move(fo), st->store.get(), st->index.get(), st->aws->gamelift.get(),
                     st->aws->sqs.get(), [api](const CreateOutcome& o) { api->OnOutcome(o); }));
  api->SetFleet(st->fleet.get());
  if (config.store.driver == "postgres") {
    st->feed = st->SubscribeFeed();
  }
  ready->store(true);
  return std::unique_ptr<App>(new App(std::move(st)));
}

std::string App::url() const { return state_->service->url(); }
uint16_t App::port() const { return state_->service->port(); }
std::string App::emulator_url() const {
  return state_->emulator ? state_->emulator->url() : std::string();
}
const std::string& App::http_key() const { return state_->http_key; }

std::string App::Banner() const {
  std::ostringstream b;
  b << "glfm " << Version() << " serving " << (state_->config.local_mode ? "in LOCAL MODE" : "")
    << "\n";
  b << "  API:          " << url() << "/v1/instances\n";
  if (state_->config.local_mode) {
    b << "  status RPC:   " << url() << "/v2/rpc/update_instance_info?http_key=" << http_key()
      << "&unwrap\n";
    b << "  emulator:     " << emulator_url() << "  (aws --endpoint-url " << emulator_url()
      << " --region us-east-1 gamelift describe-game-sessions --alias-id alias-local)\n";
  } else {
    b << "  status RPC:   " << url() << "/v2/rpc/update_instance_info?http_key=<auth.http_key>\n";
  }
  b << "  health:       " << url() << "/readyz   metrics: " << url() << "/metrics\n";
  return b.str();
}

void App::Shutdown(std::chrono::milliseconds grace) {
  State* st = state_.get();
  if (st->stopped) return;
  st->stopped = true;
  if (st->api) st->api->StopWaiting();            // parked long polls answer now
  if (st->events) st->events->Shutdown();         // event streams end
  if (st->service) st->service->Shutdown(grace);  // in-flight requests finish
  if (st->api) st->api->Shutdown();
  st->feed.reset();
  if (st->fleet) st->fleet->Stop();  // outcomes stop arriving (their webhooks are enqueued)
  if (st->webhooks) st->webhooks->Stop();
  if (st->emulator) st->emulator->Stop();
}

}  // namespace glfm::server
