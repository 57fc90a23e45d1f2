#include "server/serve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>

#include "testing/http_client.h"
#include "testing/status_matchers.h"

namespace glfm::server {
namespace {

using glfm::testing::HttpClient;
using ::testing::HasSubstr;

config::Config LocalConfig() {
  auto cfg = config::Load({});
  EXPECT_OK(cfg);
  config::Config c = *cfg;
  c.server.host = "127.0.0.1";
  c.server.port = 0;
  c.server.io_threads = 1;
  return c;
}

std::unique_ptr<Service> StartOrDie(const config::Config& c,
                                    const std::function<void(Router&)>& add = {}) {
  auto s = Service::Start(c, add);
  EXPECT_OK(s);
  return std::move(s).value();
}

TEST(ServiceTest, DefaultIoThreadsFollowTheCpuAffinity) {
  cpu_set_t all;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  int first = 0;
  while (!CPU_ISSET(first, &all)) {
    ++first;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread, as taskset -c would
  int pinned = DefaultIoThreads();
  ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(pinned, 1);
  EXPECT_EQ(DefaultIoThreads(), CPU_COUNT(&all));
}

TEST(ServiceTest, HealthAndReadiness) {
  auto svc = StartOrDie(LocalConfig());
  EXPECT_EQ(svc->url(), "http://127.0.0.1:" + std::to_string(svc->port()));
  HttpClient c("127.0.0.1", svc->port());
  auto h = c.Request("GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, R"({"status":"ok"})");
  EXPECT_EQ(c.Request("GET", "/readyz").body, R"({"status":"ready"})");

  std::atomic<bool> store_open{false};
  svc->AddReadinessCheck(
      "store", [&] { return store_open ? OkStatus() : UnavailableError("database not open yet"); });
  svc->AddReadinessCheck("emulator", [] { return OkStatus(); });
  auto r = c.Request("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"code":14,"message":"not ready: store: database not open yet"})");
  store_open = true;
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
}

TEST(ServiceTest, AFailingLivenessCheckFailsHealthzAndReadyz) {
  // glfm serve's store check: a store that refuses every write until reopened (a failed
  // fsync) makes /healthz fail, so that an orchestrator restarts the process.
  auto svc = StartOrDie(LocalConfig());
  HttpClient c("127.0.0.1", svc->port());
  std::atomic<bool> broken{false};
  svc->AddLivenessCheck("store", [&] {
    return broken ? UnavailableError("sqlite /data/glfm.db: fsync of the WAL failed") : OkStatus();
  });
  svc->AddReadinessCheck("fleet", [] { return UnavailableError("the fleet manager is starting"); });
  EXPECT_EQ(c.Request("GET", "/healthz").status, 200);
  broken = true;
  auto h = c.Request("GET", "/healthz");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(
      h.body,
      R"({"code":14,"message":"unhealthy: store: sqlite /data/glfm.db: fsync of the WAL failed"})");
  auto r = c.Request("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(
      r.body,
      R"({"code":14,"message":"not ready: store: sqlite /data/glfm.db: fsync of the WAL failed; fleet: the fleet manager is starting"})");
  broken = false;
  EXPECT_EQ(c.Request("GET", "/healthz").body, R"({"status":"ok"})");
}

TEST(ServiceTest, ChecksGivenAtStartHoldFromTheFirstRequest) {
  // glfm serve listens before its fleet manager is wired: /readyz must not say ready in the
  // window before a check added afterwards would exist.
  std::atomic<bool> wired{false};
  Service::ReadinessChecks checks;
  checks.emplace_back("fleet", [&] {
    return wired ? OkStatus() : UnavailableError("the fleet manager is starting");
  });
  auto s = Service::Start(LocalConfig(), {}, std::move(checks));
  ASSERT_OK(s);
  HttpClient c("127.0.0.1", (*s)->port());
  auto r = c.Request("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"code":14,"message":"not ready: fleet: the fleet manager is starting"})");
  wired = true;
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
}

TEST(ServiceTest, MetricsInPrometheusTextFormat) {
  auto svc = StartOrDie(LocalConfig());
  HttpClient c("127.0.0.1", svc->port());
  c.Request("GET", "/healthz");
  c.Request("GET", "/no/such/route");
  auto m = c.Request("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(m.body, HasSubstr("# TYPE glfm_build_info gauge\nglfm_build_info{version=\"" +
                                std::string(Version()) + "\",compiler=\"g++ "));
  EXPECT_THAT(m.body, HasSubstr("# TYPE glfm_uptime_seconds gauge\nglfm_uptime_seconds "));
  EXPECT_THAT(m.body, HasSubstr("glfm_http_requests_total{route=\"/healthz\",method=\"GET\","
                                "code=\"200\"} "));
  EXPECT_THAT(m.body, HasSubstr("glfm_http_requests_total{route=\"unmatched\",method=\"GET\","
                                "code=\"404\"} "));
  EXPECT_THAT(m.body, HasSubstr("# TYPE glfm_http_request_duration_seconds histogram\n"));
  EXPECT_THAT(m.body, HasSubstr("glfm_http_request_duration_seconds_bucket{route=\"/healthz\","
                                "le=\"+Inf\"} "));
}

TEST(ServiceTest, ValidateInstanceInfoParsesTheBody) {
  auto svc = StartOrDie(LocalConfig());
  HttpClient c("127.0.0.1", svc->port());
  auto ok = c.Request("POST", "/v1/validate/instance_info",
                      R"({"id":"arn:aws:gamelift:us-east-1::gamesession/fleet-1/a",)"
                      R"("player_count":3,"metadata":{"GameSessionName":"n"}})");
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(ok.body, "");
  auto bad = c.Request("POST", "/v1/validate/instance_info", R"({"id":"a","player_count":"3"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, R"({"code":3,"message":"player_count: expected an integer, got string"})");
  auto no_id = c.Request("POST", "/v1/validate/instance_info", R"({"player_count":1})");
  EXPECT_EQ(no_id.body, R"({"code":3,"message":"id: required"})");
  auto junk = c.Request("POST", "/v1/validate/instance_info", "{nope");
  EXPECT_EQ(junk.status, 400);
  EXPECT_THAT(junk.body, HasSubstr(R"({"code":3,"message":")"));
  EXPECT_EQ(c.Request("GET", "/v1/validate/instance_info").status, 405);
}

TEST(ServiceTest, BodyOverLimitIsInvalidArgument) {
  auto cfg = LocalConfig();
  cfg.server.max_body_bytes = 16;
  auto svc = StartOrDie(cfg);
  HttpClient c("127.0.0.1", svc->port());
  auto r = c.Request("POST", "/v1/validate/instance_info", std::string(17, ' '));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"code":3,"message":"request body over the limit of 16 bytes"})");
}

TEST(ServiceTest, ModulesAddRoutes) {
  auto svc = StartOrDie(LocalConfig(), [](Router& r) {
    r.Add("GET", "/v1/hello/{name}", [](HttpRequest&&, PathParams p, Responder respond) {
      respond(HttpResponse::Text(200, "hello " + *p.Get("name")));
    });
  });
  HttpClient c("127.0.0.1", svc->port());
  EXPECT_EQ(c.Request("GET", "/v1/hello/w%C3%B6rld").body, "hello w\xC3\xB6rld");
}

TEST(ServiceTest, BusyPortIsUnavailable) {
  auto first = StartOrDie(LocalConfig());
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor plain(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto cfg = LocalConfig();
  cfg.server.port = plain.local_endpoint().port();
  EXPECT_THAT(Service::Start(cfg),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot listen on 127.0.0.1:")));
}

}  // namespace
}  // namespace glfm::server
