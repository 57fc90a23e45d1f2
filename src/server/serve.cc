#include "server/serve.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "glfm/codec.h"
#include "glfm/json.h"
#include "server/api.h"
#include "server/app.h"

#ifndef GLFM_VERSION
#define GLFM_VERSION "unknown"
#endif

namespace glfm::server {
namespace {

const auto kProcessStart = std::chrono::steady_clock::now();
const double kProcessStartUnix =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

void RegisterProcessMetrics() {
  auto& reg = metrics::Registry::Default();
  reg.AddGauge("glfm_build_info", "Always 1; the labels say which glfm this is.",
               {"version", "compiler"})
      .WithLabels({GLFM_VERSION, "g++ " __VERSION__})
      .Set(1);
  reg.AddCallbackGauge("glfm_uptime_seconds", "Seconds since the process started.", [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - kProcessStart).count();
  });
  reg.AddCallbackGauge("glfm_process_start_time_seconds",
                       "Start time of the process since the Unix epoch in seconds.",
                       [] { return kProcessStartUnix; });
}

// The body of POST /v1/validate/instance_info: an InstanceInfo with an id.
Status ValidateInstanceInfo(std::string_view body) {
  GLFM_ASSIGN_OR_RETURN(Json json, Json::Parse(body));
  GLFM_ASSIGN_OR_RETURN(InstanceInfo info, InstanceInfoFromJson(json));
  if (info.id.empty()) {
    return InvalidArgumentError("id: required");
  }
  return OkStatus();
}

}  // namespace

std::string_view Version() { return GLFM_VERSION; }

struct Service::State {
  Router router;
  std::unique_ptr<HttpServer> server;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::vector<std::pair<std::string, std::function<Status()>>> checks;    // guarded by mu
  std::vector<std::pair<std::string, std::function<Status()>>> liveness;  // guarded by mu

  // "<name>: <why>; ..." of the failing checks in `list` (mu held); empty when all pass.
  static std::string Failing(
      const std::vector<std::pair<std::string, std::function<Status()>>>& list) {
    std::string problems;
    for (const auto& [name, check] : list) {
      Status s = check();
      if (!s.ok()) {
        problems += (problems.empty() ? "" : "; ") + name + ": " + s.message();
      }
    }
    return problems;
  }
};

Service::Service(std::unique_ptr<State> state) : state_(std::move(state)) {}

Service::~Service() { Shutdown(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Service>> Service::Start(const config::Config& config,
                                                const std::function<void(Router&)>& add_routes,
                                                ReadinessChecks checks) {
  RegisterProcessMetrics();
  auto state = std::make_unique<State>();
  State* st = state.get();
  for (auto& [name, check] : checks) st->checks.emplace_back(std::move(name), std::move(check));
  Router& r = st->router;
  r.Add("GET", "/healthz", [st](HttpRequest&&, PathParams, Responder respond) {
    std::string problems;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      problems = State::Failing(st->liveness);
    }
    if (!problems.empty()) {
      return respond(ErrorResponse(UnavailableError("unhealthy: " + problems)));
    }
    respond(HttpResponse::Json(200, "{\"status\":\"ok\"}"));
  });
  r.Add("GET", "/readyz", [st](HttpRequest&&, PathParams, Responder respond) {
    std::string problems;
    if (st->stopping) {
      problems = "shutting down";
    } else {
      // A process that must be restarted is not ready either.
      std::lock_guard<std::mutex> lock(st->mu);
      problems = State::Failing(st->liveness);
      std::string more = State::Failing(st->checks);
      problems += (problems.empty() || more.empty() ? "" : "; ") + more;
    }
    if (!problems.empty()) {
      return respond(ErrorResponse(UnavailableError("not ready: " + problems)));
    }
    respond(HttpResponse::Json(200, "{\"status\":\"ready\"}"));
  });
  r.Add("GET", "/metrics", [](HttpRequest&&, PathParams, Responder respond) {
    HttpResponse res = HttpResponse::Text(200, metrics::Registry::Default().Render());
    res.content_type = std::string(metrics::kPrometheusContentType);
    respond(std::move(res));
  });
  r.Add("POST", "/v1/validate/instance_info", [](HttpRequest&& req, PathParams, Responder respond) {
    Status s = ValidateInstanceInfo(req.body);
    respond(s.ok() ? HttpResponse::Json(204, "") : ErrorResponse(s));
  });
  if (add_routes) {
    add_routes(r);
  }

  HttpServerOptions opts;
  opts.host = config.server.host;
  opts.port = config.server.port;
  opts.io_threads = config.server.io_threads > 0 ? config.server.io_threads : DefaultIoThreads();
  opts.max_body_bytes = config.server.max_body_bytes;
  opts.read_timeout = config.server.read_timeout;
  opts.idle_timeout = config.server.idle_timeout;
  size_t limit = config.server.max_body_bytes;
  // grpc-gateway answers an oversized body with invalid-argument (400), as Nakama does.
  opts.body_too_large = [limit](const HttpRequest& req) {
    Status s =
        InvalidArgumentError("request body over the limit of " + std::to_string(limit) + " bytes");
    return req.path.rfind("/v2/", 0) == 0 ? NakamaTransportError(s) : ErrorResponse(s);
  };
  GLFM_ASSIGN_OR_RETURN(st->server, HttpServer::Start(opts, r.AsHandler()));
  return std::unique_ptr<Service>(new Service(std::move(state)));
}

int DefaultIoThreads() {
  // More IO threads than usable CPUs only add hand-offs: glfm pinned to one core answered
  // the status RPC ~15% faster with one IO thread than with two (bench_service rpc).
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    return CPU_COUNT(&set);
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

uint16_t Service::port() const { return state_->server->port(); }

std::string Service::url() const { return state_->server->url(); }

void Service::AddReadinessCheck(std::string name, std::function<Status()> check) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->checks.emplace_back(std::move(name), std::move(check));
}

void Service::AddLivenessCheck(std::string name, std::function<Status()> check) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->liveness.emplace_back(std::move(name), std::move(check));
}

void Service::Shutdown(std::chrono::milliseconds grace) {
  state_->stopping = true;
  state_->server->Shutdown(grace);
}

int RunServe(const config::Config& config) {
  log::Format format = log::Format::kAuto;
  log::Level level = log::Level::kInfo;
  log::ParseFormat(config.log.format, format);  // validated by config::Load
  log::ParseLevel(config.log.level, level);
  log::Configure(format, level);

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    log::Error("cannot create the data directory",
               {{"data_dir", config.data_dir}, {"error", ec.message()}});
    return 1;
  }

  // Signals are taken by sigwait below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto app = App::Start(config);
  if (!app.ok()) {
    log::Error("cannot start", {{"error", app.status().ToString()}});
    return 1;
  }
  log::Info("urls", {{"api", (*app)->url() + "/v1"},
                     {"status_rpc", (*app)->url() + "/v2/rpc/update_instance_info"},
                     {"emulator", (*app)->emulator_url()}});
  // The banner, for people: it holds the local key, so it goes to stdout and never to the log.
  std::fputs((*app)->Banner().c_str(), stdout);
  std::fflush(stdout);
  log::Info("glfm started", {{"version", Version()},
                             {"node", config.node_name},
                             {"mode", config.local_mode ? "local" : "aws"},
                             {"data_dir", config.data_dir}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutting down",
            {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
             {"grace_ms", static_cast<int64_t>(config.server.shutdown_grace.count())}});
  (*app)->Shutdown(config.server.shutdown_grace);
  log::Info("stopped");
  return 0;
}

}  // namespace glfm::server
