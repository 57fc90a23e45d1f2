// FleetHarness: an in-process emulator (127.0.0.1, port 0), a real SQLite file in a temp
// dir, an index, GameLift and SQS clients, and helpers to start GameLiftFleetManagers over
// them. For the fleet tests and bench_fleet.
//
// Thread-safety: set up and tear down on one thread; the Recorder may be fed from any thread.
#pragma once

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aws/client.h"
#include "aws/credentials.h"
#include "aws/http_transport.h"
#include "common/check.h"
#include "emulator/emulator.h"
#include "fleet/fleet_manager_impl.h"
#include "gamelift/gamelift.h"
#include "gamelift/sqs.h"
#include "index/index.h"
#include "store/sqlite_store.h"
#include "testing/temp_dir.h"

namespace glfm::fleet::testing {

// Collects outcomes; waits for counts.
class Recorder {
 public:
  void Add(const CreateOutcome& o) {
    std::lock_guard lock(mu_);
    outcomes_.push_back(o);
    by_id_[o.placement_id]++;
    cv_.notify_all();
  }
  CreateCallback Callback() {
    return [this](const CreateOutcome& o) { Add(o); };
  }
  // Waits until at least `n` outcomes arrived; false after `timeout`.
  bool WaitCount(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return outcomes_.size() >= n; });
  }
  std::vector<CreateOutcome> outcomes() {
    std::lock_guard lock(mu_);
    return outcomes_;
  }
  std::map<std::string, int> counts() {
    std::lock_guard lock(mu_);
    return by_id_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return outcomes_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CreateOutcome> outcomes_;
  std::map<std::string, int> by_id_;
};

// A fast default world: placements fulfilled after a few milliseconds.
inline emulator::World FastWorld() {
  emulator::World w = emulator::DefaultWorld();
  w.timings.placement_delay_ms = 5;
  w.timings.activation_delay_ms = 5;
  w.timings.player_accept_delay_ms = -1;
  return w;
}

class FleetHarness {
 public:
  explicit FleetHarness(
      emulator::World world = FastWorld(), emulator::SignatureVerifier verifier = {},
      store::SqliteOptions::Synchronous sync = store::SqliteOptions::Synchronous::kFull,
      int io_threads = 2) {
    emulator::EmulatorOptions eo;
    eo.world = std::move(world);
    eo.verify_signature = std::move(verifier);
    eo.io_threads = io_threads;
    emulator_ = std::move(emulator::Emulator::Start(std::move(eo))).value();
    aws::CurlTransportOptions to;
    to.threads = 2;
    to.max_connections = 64;
    transport_ = std::move(aws::NewCurlTransport(to)).value();
    creds_ = aws::NewStaticCredentialsProvider({"AKIDTEST", "SECRET", "", std::nullopt, ""});
    gl_ = std::make_unique<gamelift::GameLiftClient>(MakeAws(aws::kGameLiftService));
    sqs_ = std::make_unique<gamelift::SqsClient>(MakeAws(aws::kSqsService));
    events_url_ = std::move(sqs_->GetQueueUrl("glfm-placement-events")).value();
    sync_ = sync;
    OpenStore();
  }

  ~FleetHarness() {
    emulator_->Stop();
    store_.reset();
  }

  std::unique_ptr<aws::AwsClient> MakeAws(const aws::ServiceSpec& svc) {
    aws::AwsClientOptions o;
    o.service = &svc;
    o.region = "us-east-1";
    o.endpoint = emulator_->url();
    o.credentials = creds_.get();
    o.transport = transport_.get();
    o.env.sleep = [](std::chrono::milliseconds) {};
    return std::move(aws::AwsClient::Create(std::move(o))).value();
  }

  // (Re)opens the SQLite store file; the index starts empty.
  void OpenStore() {
    store_.reset();
    store::SqliteOptions so;
    so.path = dir_.path() + "/glfm.db";
    so.synchronous = sync_;
    store_ = std::move(store::OpenSqliteStore(so)).value();
    index_ = std::make_unique<index::InstanceIndex>();
  }

  FleetOptions Options(std::string node = "n1") {
    FleetOptions o;
    o.node_id = std::move(node);
    o.queue_name = "glfm-local";
    o.alias_id = "alias-local";
    o.events_queue_url = events_url_;
    o.receivers = 2;
    o.receive_wait_seconds = 1;
    o.deadline_tick = std::chrono::milliseconds(20);
    o.resolve_backoff_min = std::chrono::milliseconds(20);
    o.reconcile_at_start = false;
    o.reconcile_interval = std::chrono::milliseconds(0);
    o.update_retry_delay = std::chrono::milliseconds(10);
    return o;
  }

  std::unique_ptr<GameLiftFleetManager> Start(FleetOptions o, OutcomeListener listener = {},
                                              index::InstanceIndex* index = nullptr) {
    return std::move(GameLiftFleetManager::Start(std::move(o), store_.get(),
                                                 index != nullptr ? index : index_.get(), gl_.get(),
                                                 sqs_.get(), std::move(listener)))
        .value();
  }

  int CountRequests(std::string_view op) {
    int n = 0;
    for (const auto& e : emulator_->RequestLog()) n += e.operation == op ? 1 : 0;
    return n;
  }
  std::vector<emulator::RequestLogEntry> Requests(std::string_view op) {
    std::vector<emulator::RequestLogEntry> out;
    for (auto& e : emulator_->RequestLog()) {
      if (e.operation == op) out.push_back(std::move(e));
    }
    return out;
  }

  emulator::Emulator& emulator() { return *emulator_; }
  store::Store& store() { return *store_; }
  index::InstanceIndex& index() { return *index_; }
  gamelift::GameLiftClient& gl() { return *gl_; }
  gamelift::SqsClient& sqs() { return *sqs_; }
  const std::string& events_url() const { return events_url_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  glfm::testing::TempDir dir_{"glfm-fleet"};
  store::SqliteOptions::Synchronous sync_;
  std::unique_ptr<emulator::Emulator> emulator_;
  std::unique_ptr<aws::HttpTransport> transport_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
  std::unique_ptr<gamelift::GameLiftClient> gl_;
  std::unique_ptr<gamelift::SqsClient> sqs_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<index::InstanceIndex> index_;
  std::string events_url_;
};

}  // namespace glfm::fleet::testing
