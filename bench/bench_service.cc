// bench_service [rpc] [list] [webhooks]: the `glfm serve` benchmarks of issue 8, each against
// the real binary over loopback (all three when no argument is given).
//
// rpc       update_instance_info over HTTP, every acknowledgement durable (SQLite FULL), with
//           wrk (-t1 -cC, pinned to CPU 1) against glfm (pinned to CPU 0) and against nginx
//           answering the same POST with a fixed 200 (pinned to CPU 0), alternating rounds.
//           glfm runs in local mode; the game sessions updated are real ones placed first
//           through POST /v1/placements; each request sets a random session's player count.
//           Prints rpc_update_{nginx,glfm}_rps (medians) and rpc_update_ratio_vs_nginx.
// list      GET /v1/instances with a selective query (Q1 of bench_index) at N sessions
//           (default 1M, seeded straight into the SQLite store, reconciliation off), open loop
//           at R requests/s (default 5000) from 8 keep-alive connections; latency counted from
//           each request's scheduled time. Prints the start-up time to ready (glfm on every
//           core; pinned to CPU 0 once ready) and p50/p99/p99.9.
// webhooks  Creates whose outcomes go to a webhook: `glfm emulator` (fast placements) and
//           `glfm serve` against it as against AWS; a receiver in this process. Prints creates
//           → webhooks delivered per second and the p50/p99 from POST to webhook received.
//
// Knobs: BENCH_SECONDS (per wrk run, 5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
// BENCH_LIST_N (1000000), BENCH_LIST_RPS (5000), BENCH_LIST_SECONDS (10),
// BENCH_WEBHOOK_N (3000), BENCH_WEBHOOK_CONCURRENCY (32). BENCH_LIST_DATA=dir keeps the list
// data directory there and reuses it when it holds a database (repeated start-ups without
// the seeding; a binary with a newer schema migrates it once). BENCH_GLFM_BIN=path runs that
// glfm binary instead of this build's (comparing two builds). glfm inherits the environment:
// GLFM_SQLITE_SYNCHRONOUS=NORMAL runs the rpc part without the fsync, the price of FULL.
// Lines: `BENCH <name> <value> <unit>`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "glfm/json.h"
#include "server/http_server.h"
#include "store/sqlite_store.h"
#include "testing/http_client.h"

namespace {

using namespace glfm::bench;
using glfm::Json;
using glfm::testing::HttpClient;
using SteadyClock = std::chrono::steady_clock;

// The glfm binary under test: this build's, or BENCH_GLFM_BIN (to compare two builds).
std::string GlfmBin() {
  const char* bin = std::getenv("BENCH_GLFM_BIN");
  return bin != nullptr && *bin != '\0' ? bin : std::string(GLFM_BINARY_DIR) + "/apps/glfm/glfm";
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Waits until GET /readyz answers 200 (the fleet manager is wired, the index loaded).
bool WaitReady(uint16_t port, std::chrono::seconds limit) {
  auto end = SteadyClock::now() + limit;
  while (SteadyClock::now() < end) {
    HttpClient c("127.0.0.1", port);
    if (c.Request("GET", "/readyz").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child's start-up
  }
  return false;
}

// ---- rpc ----

int BenchRpc(const std::string& dir, bool pin) {
  int seconds = EnvInt("BENCH_SECONDS", 5);
  int rounds = EnvInt("BENCH_ROUNDS", 3);
  int connections = EnvInt("BENCH_CONNECTIONS", 32);
  std::string data = dir + "/rpc";
  uint16_t glfm_port = 0;
  Child glfm = StartListening({GlfmBin(), "serve", "--listen", "127.0.0.1:0", "--io-threads", "1",
                               "--data-dir", data, "--log-format", "json"},
                              pin, glfm_port);
  uint16_t nginx_port = 0;
  Child nginx = StartNginx(dir, 200, pin, nginx_port);
  if (glfm_port == 0 || nginx_port == 0 || !WaitReady(glfm_port, std::chrono::seconds(60))) {
    std::fprintf(stderr, "bench_service rpc: servers did not start\n");
    glfm.Stop();
    nginx.Stop();
    return 1;
  }
  // Real game sessions to update: placed through the API.
  constexpr int kSessions = 100;
  std::vector<std::string> arns;
  {
    HttpClient c("127.0.0.1", glfm_port);
    std::vector<std::string> pids;
    for (int i = 0; i < kSessions; ++i) {
      auto r = c.Request("POST", "/v1/placements", R"({"max_players":64})");
      auto j = Json::Parse(r.body);
      if (r.status != 202 || !j.ok()) {
        std::fprintf(stderr, "bench_service rpc: create failed: %d %s\n", r.status, r.body.c_str());
        glfm.Stop();
        nginx.Stop();
        return 1;
      }
      pids.push_back(j->Find("placement_id")->as_string());
    }
    for (const auto& pid : pids) {
      auto r = c.Request("GET", "/v1/placements/" + pid + "?wait=30");
      auto j = Json::Parse(r.body);
      const Json* info = j.ok() ? j->Find("instance_info") : nullptr;
      if (info != nullptr && info->is_object()) arns.push_back(info->Find("id")->as_string());
    }
  }
  std::string key = ReadFirstLine(data + "/local_http_key");
  std::string script = dir + "/rpc.lua";
  {
    std::ofstream lua(script);
    lua << "local arns = {";
    for (const auto& a : arns) lua << "\"" << a << "\",";
    lua << "}\nmath.randomseed(42)\nwrk.method = \"POST\"\n"
        << "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
        << "request = function()\n"
        << "  local body = '{\"id\":\"' .. arns[math.random(#arns)] .. "
           "'\",\"playerCount\":' .. math.random(0, 64) .. "
           "',\"metadata\":{\"GameProperties\":{\"mode\":\"ranked\"}}}'\n"
        << "  return wrk.format(nil, nil, nil, body)\nend\n";
    if (EnvInt("BENCH_DEBUG", 0) != 0) {
      lua << "response = function(status, headers, body)\n"
          << "  if status ~= 200 then print(status, body) end\nend\n";
    }
  }
  std::string path = "/v2/rpc/update_instance_info?http_key=" + key + "&unwrap";
  std::string glfm_url = "http://127.0.0.1:" + std::to_string(glfm_port) + path;
  std::string nginx_url = "http://127.0.0.1:" + std::to_string(nginx_port) + path;
  std::string client_pin = pin ? "taskset -c 1 " : "";
  VsNginx r =
      AlternateRounds("rpc", client_pin, nginx_url, glfm_url, script, rounds, seconds, connections);
  int rc = r.clean ? 0 : 1;
  PrintBench("rpc_update_sessions", static_cast<double>(arns.size()), "sessions");
  PrintBench("rpc_update_nginx_rps", r.nginx_rps, "rps");
  PrintBench("rpc_update_glfm_rps", r.glfm_rps, "rps");
  PrintBench("rpc_update_ratio_vs_nginx", r.ratio, "ratio");
  glfm.Stop();
  nginx.Stop();
  return rc;
}

// ---- list ----

constexpr const char* kModes[] = {"ranked", "casual", "deathmatch", "ctf", "coop"};
constexpr const char* kRegions[] = {"eu-west-1",      "eu-central-1",   "us-east-1", "us-west-2",
                                    "ap-southeast-1", "ap-northeast-1", "sa-east-1", "ca-central-1",
                                    "af-south-1",     "me-south-1"};

glfm::InstanceInfo MakeSession(int i, std::mt19937& rng) {
  glfm::InstanceInfo info;
  info.id = "arn:aws:gamelift:eu-west-1::gamesession/fleet-2f1c7e4a/gsess-" + std::to_string(i);
  int r = static_cast<int>(rng() % 100);
  info.status = r < 95 ? "ACTIVE" : (r < 98 ? "ACTIVATING" : "TERMINATING");
  info.player_count = static_cast<int>(rng() % 17);
  info.create_time = glfm::Timestamp(std::chrono::seconds(1767225600)) +
                     std::chrono::milliseconds(rng() % (86400 * 1000));
  info.connection_info.ip_address =
      "10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + ".7";
  info.connection_info.port = 7000 + static_cast<int>(rng() % 1000);
  Json props = Json::MakeObject();
  props["mode"] = kModes[rng() % 5];
  props["map"] = "map-" + std::to_string(rng() % 20);
  props["region"] = kRegions[rng() % 10];
  info.metadata["GameProperties"] = std::move(props);
  info.metadata["GameSessionName"] = "session-" + std::to_string(i);
  return info;
}

int BenchList(const std::string& dir, bool pin) {
  int n = EnvInt("BENCH_LIST_N", 1000000);
  int rps = EnvInt("BENCH_LIST_RPS", 5000);
  int seconds = EnvInt("BENCH_LIST_SECONDS", 10);
  std::string data = dir + "/list";
  bool seed = true;
  if (const char* keep = std::getenv("BENCH_LIST_DATA"); keep != nullptr && *keep != '\0') {
    data = keep;  // kept after the run; seeded only when it holds no database yet
    seed = !std::filesystem::exists(data + "/glfm.db");
  }
  std::filesystem::create_directories(data);
  if (seed) {
    auto t0 = SteadyClock::now();
    glfm::store::SqliteOptions so;
    so.path = data + "/glfm.db";
    auto store = glfm::store::OpenSqliteStore(so);
    if (!store.ok()) {
      std::fprintf(stderr, "bench_service list: %s\n", store.status().ToString().c_str());
      return 1;
    }
    std::mt19937 rng(7);
    std::vector<glfm::store::InstanceWrite> batch;
    for (int i = 0; i < n; ++i) {
      batch.push_back({MakeSession(i, rng), glfm::Timestamp(std::chrono::seconds(1767225600))});
      if (batch.size() == 10000 || i + 1 == n) {
        if (auto s = (*store)->UpsertInstances(batch); !s.ok()) {
          std::fprintf(stderr, "bench_service list: seed: %s\n", s.ToString().c_str());
          return 1;
        }
        batch.clear();
      }
    }
    std::printf("list: seeded %d sessions in %.1f s\n", n,
                std::chrono::duration<double>(SteadyClock::now() - t0).count());
  }
  auto started = SteadyClock::now();
  uint16_t port = 0;
  // Started on every core (start-up reads the store on one thread while another indexes),
  // then pinned to CPU 0, every thread of it, before the load begins.
  Child glfm = StartListening({GlfmBin(), "serve", "--listen", "127.0.0.1:0", "--io-threads", "1",
                               "--data-dir", data, "--log-format", "json", "--reconcile", "off"},
                              /*pin=*/false, port);
  if (port == 0 || !WaitReady(port, std::chrono::seconds(300))) {
    std::fprintf(stderr, "bench_service list: glfm did not become ready\n");
    glfm.Stop();
    return 1;
  }
  PrintBench("list_startup_to_ready_s",
             std::chrono::duration<double>(SteadyClock::now() - started).count(), "s");
  if (pin) {
    std::string cmd = "taskset -a -p -c 0 " + std::to_string(glfm.pid) + " > /dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "bench_service list: could not pin glfm to CPU 0\n");
      glfm.Stop();
      return 1;
    }
  }

  const std::string target =
      "/v1/instances?limit=10&query=%2Bvalue.status%3AACTIVE%20%2Bvalue.player_count%3A%3C8%20"
      "%2Bvalue.metadata.GameProperties.mode%3Aranked";
  {
    HttpClient c("127.0.0.1", port);
    auto r = c.Request("GET", target);
    auto j = Json::Parse(r.body);
    if (r.status != 200 || !j.ok() || j->Find("instances")->as_array().size() != 10) {
      std::fprintf(stderr, "bench_service list: the query failed: %d %s\n", r.status,
                   r.body.substr(0, 300).c_str());
      glfm.Stop();
      return 1;
    }
  }
  // Open loop: each of 8 connections sends on its own schedule; a late answer makes the next
  // requests late, and their latency counts from when they should have gone out.
  constexpr int kConnections = 8;
  std::vector<std::vector<double>> lat(kConnections);
  std::atomic<long> errors{0};
  auto t_begin = SteadyClock::now() + std::chrono::milliseconds(100);
  auto interval = std::chrono::nanoseconds(1000000000LL * kConnections / rps);
  auto t_end = t_begin + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int k = 0; k < kConnections; ++k) {
    threads.emplace_back([&, k] {
      HttpClient c("127.0.0.1", port);
      auto next = t_begin + interval * k / kConnections;
      while (next < t_end) {
        std::this_thread::sleep_until(next);
        auto r = c.Request("GET", target);
        auto done = SteadyClock::now();
        if (r.status != 200) errors++;
        lat[k].push_back(std::chrono::duration<double, std::micro>(done - next).count());
        next += interval;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  PrintBench("list_sessions", n, "sessions");
  PrintBench("list_offered_rps", rps, "rps");
  PrintBench("list_achieved_rps", static_cast<double>(all.size()) / seconds, "rps");
  PrintBench("list_errors", static_cast<double>(errors.load()), "requests");
  PrintBench("list_selective_p50", Percentile(all, 50), "us");
  PrintBench("list_selective_p99", Percentile(all, 99), "us");
  PrintBench("list_selective_p999", Percentile(all, 99.9), "us");
  glfm.Stop();
  return errors.load() == 0 ? 0 : 1;
}

// ---- webhooks ----

int BenchWebhooks(const std::string& dir) {
  int n = EnvInt("BENCH_WEBHOOK_N", 3000);
  int concurrency = EnvInt("BENCH_WEBHOOK_CONCURRENCY", 32);
  std::string world = dir + "/world.yaml";
  {
    std::ofstream w(world);
    w << "fleets:\n  - id: fleet-local\n    locations:\n"
      << "      - {name: us-east-1, capacity: 1000000, ip_prefix: 10.0.1}\n"
      << "timings: {placement_delay_ms: 5, activation_delay_ms: 5}\n";
  }
  uint16_t emu_port = 0;
  Child emulator = StartListening(
      {GlfmBin(), "emulator", "--listen", "127.0.0.1:0", "--world", world}, false, emu_port, true);
  if (emu_port == 0) {
    std::fprintf(stderr, "bench_service webhooks: the emulator did not start\n");
    return 1;
  }
  std::string emu = "http://127.0.0.1:" + std::to_string(emu_port);
  std::string queue_url;
  {
    HttpClient c("127.0.0.1", emu_port);
    auto r = c.Request("POST", "/", R"({"QueueName":"glfm-placement-events"})",
                       {{"Content-Type", "application/x-amz-json-1.0"},
                        {"X-Amz-Target", "AmazonSQS.GetQueueUrl"}});
    auto j = Json::Parse(r.body);
    if (j.ok() && j->Find("QueueUrl") != nullptr) queue_url = j->Find("QueueUrl")->as_string();
  }

  // The receiver: when each placement's webhook arrived.
  std::mutex mu;
  std::map<std::string, SteadyClock::time_point> received;
  auto receiver = glfm::server::HttpServer::Start(
      {}, [&](glfm::server::HttpRequest&& req, glfm::server::Responder respond) {
        auto now = SteadyClock::now();
        const std::string* id = req.Header("x-glfm-webhook-id");
        {
          std::lock_guard lock(mu);
          if (id != nullptr) received.emplace(*id, now);
        }
        respond(glfm::server::HttpResponse::Json(200, "{}"));
      });
  if (!receiver.ok() || queue_url.empty()) {
    std::fprintf(stderr, "bench_service webhooks: receiver or queue missing\n");
    emulator.Stop();
    return 1;
  }
  std::string hook = (*receiver)->url() + "/hook";

  uint16_t port = 0;
  Child glfm = StartListening(
      {GlfmBin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", dir + "/webhooks",
       "--log-format", "json", "--fleet-receivers", "4", "--receive-wait", "1s"},
      false, port, false,
      {"GL_AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=" + emu, "GL_AWS_ACCESS_KEY=AKIDBENCH",
       "GL_AWS_SECRET_ACCESS_KEY=bench", "GL_AWS_ALIAS_ID=alias-local",
       "GL_PLACEMENT_QUEUE_NAME=glfm-local", "GL_PLACEMENT_EVENTS_SQS_URL=" + queue_url,
       "GLFM_HTTP_KEY=bench", "GLFM_API_KEYS=bench", "GLFM_WEBHOOK_SECRET=bench"});
  if (port == 0 || !WaitReady(port, std::chrono::seconds(60))) {
    std::fprintf(stderr, "bench_service webhooks: glfm did not become ready\n");
    glfm.Stop();
    emulator.Stop();
    return 1;
  }
  std::map<std::string, SteadyClock::time_point> sent;
  std::atomic<int> next{0};
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  auto t0 = SteadyClock::now();
  std::string body = R"({"max_players":2,"webhook_url":")" + hook + "\"}";
  for (int k = 0; k < concurrency; ++k) {
    threads.emplace_back([&] {
      HttpClient c("127.0.0.1", port);
      while (next.fetch_add(1) < n) {
        auto at = SteadyClock::now();
        auto r = c.Request("POST", "/v1/placements", body, {{"Authorization", "Bearer bench"}});
        auto j = Json::Parse(r.body);
        if (r.status != 202 || !j.ok()) {
          if (errors++ == 0) {
            std::fprintf(stderr, "bench_service webhooks: first create error: %d %s\n", r.status,
                         r.body.c_str());
          }
          continue;
        }
        std::lock_guard lock(mu);
        sent.emplace(j->Find("placement_id")->as_string(), at);
      }
    });
  }
  for (auto& t : threads) t.join();
  // Wait for the webhooks (bounded).
  auto give_up = SteadyClock::now() + std::chrono::seconds(120);
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (received.size() >= sent.size()) break;
    }
    if (SteadyClock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<double> ms;
  SteadyClock::time_point last = t0;
  {
    std::lock_guard lock(mu);
    for (const auto& [id, at] : sent) {
      auto it = received.find(id);
      if (it == received.end()) continue;
      ms.push_back(std::chrono::duration<double, std::milli>(it->second - at).count());
      last = std::max(last, it->second);
    }
  }
  double secs = std::chrono::duration<double>(last - t0).count();
  PrintBench("webhooks_creates", static_cast<double>(sent.size()), "creates");
  PrintBench("webhooks_delivered", static_cast<double>(ms.size()), "webhooks");
  PrintBench("webhooks_create_errors", static_cast<double>(errors.load()), "requests");
  PrintBench("creates_to_webhooks_per_s", secs > 0 ? ms.size() / secs : 0, "per_s");
  PrintBench("create_to_webhook_p50", Percentile(ms, 50), "ms");
  PrintBench("create_to_webhook_p99", Percentile(ms, 99), "ms");
  glfm.Stop();
  (*receiver)->Shutdown(std::chrono::milliseconds(0));
  emulator.Stop();
  return ms.size() == sent.size() && errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::set<std::string> parts;
  for (int i = 1; i < argc; ++i) parts.insert(argv[i]);
  if (parts.empty()) parts = {"rpc", "list", "webhooks"};
  for (const auto& p : parts) {
    if (p != "rpc" && p != "list" && p != "webhooks") {
      std::fprintf(stderr, "usage: bench_service [rpc] [list] [webhooks]\n");
      return 2;
    }
  }
  for (const char* tool : {"nginx", "wrk"}) {
    if (parts.count("rpc") != 0 && !Have(tool)) {
      std::fprintf(stderr, "bench_service: %s not found (scripts/install-deps.sh)\n", tool);
      return 1;
    }
  }
  bool pin = Have("taskset") && std::thread::hardware_concurrency() >= 2;
  std::string tmpl = (std::filesystem::temp_directory_path() / "glfm-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  std::string dir = tmpl;
  int rc = 0;
  if (parts.count("rpc") != 0) rc |= BenchRpc(dir, pin);
  if (parts.count("list") != 0) rc |= BenchList(dir, pin);
  if (parts.count("webhooks") != 0) rc |= BenchWebhooks(dir);
  std::filesystem::remove_all(dir);
  return rc;
}
