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
#include "index/index.h"
#include "server/api.h"
#include "server/serve.h"
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

// Reads <data_dir>/local_http_key, or writes a new random one there.
Result<std::string> LocalHttpKey(const std::string& data_dir) {
  std::string path = data_dir + "/local_http_key";
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

struct App::State {
  config::Config config;
  std::unique_ptr<emulator::Emulator> emulator;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<index::InstanceIndex> index;
  std::unique_ptr<gamelift::AwsServices> aws;
  // Destroyed in reverse order: the server, then the fleet manager (no more callbacks), then
  // the Api they call, the clients, the store and last the emulator.
  std::unique_ptr<Api> api;
  std::unique_ptr<fleet::GameLiftFleetManager> fleet;
  std::unique_ptr<Service> service;
  std::string http_key;
  bool stopped = false;
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

  // The status-RPC key: configured, or in local mode one kept under the data dir.
  st->http_key = config.auth.http_key;
  if (config.local_mode && st->http_key.empty()) {
    GLFM_ASSIGN_OR_RETURN(st->http_key, LocalHttpKey(config.data_dir));
  }

  // Listen first, so that the first log line names the bound address; the API answers
  // unavailable ("starting") and /readyz fails until the fleet manager is wired below.
  ApiOptions ao;
  ao.http_key = st->http_key;
  ao.api_keys = config.auth.api_keys;
  st->api = std::make_unique<Api>(nullptr, ao);
  Api* api = st->api.get();
  GLFM_ASSIGN_OR_RETURN(st->service,
                        Service::Start(config, [api](Router& r) { api->AddRoutes(r); }));
  log::Info("listening on " + st->service->url());
  auto ready = std::make_shared<std::atomic<bool>>(false);
  st->service->AddReadinessCheck("fleet", [ready]() -> Status {
    return ready->load() ? OkStatus() : UnavailableError("the fleet manager is starting");
  });

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
  st->index = std::make_unique<index::InstanceIndex>();

  // AWS (or the emulator standing in for it).
  gamelift::AwsSettings aws;
  aws.transport.threads = 2;
  aws.transport.max_connections = 64;
  fleet::FleetOptions fo;
  fo.node_id = NodeId(config.node_name);
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
  if (st->service) st->service->Shutdown(grace);  // in-flight requests finish
  if (st->api) st->api->Shutdown();
  if (st->fleet) st->fleet->Stop();
  if (st->emulator) st->emulator->Stop();
}

}  // namespace glfm::server
