#include "server/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "common/log.h"
#include "glfm/json.h"
#include "testing/status_matchers.h"

namespace glfm::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

HttpRequest Req(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  r.request_id = "rid-1";
  r.received_at = std::chrono::steady_clock::now();
  return r;
}

// Handles a request synchronously and returns the answer.
HttpResponse Call(const Router& router, HttpRequest req) {
  std::optional<HttpResponse> out;
  router.Handle(std::move(req), [&](HttpResponse r) { out = std::move(r); });
  EXPECT_TRUE(out.has_value());
  return out.value_or(HttpResponse{});
}

RouteHandler Say(std::string what) {
  return [what](HttpRequest&&, PathParams p, Responder r) {
    std::string body = what;
    for (const auto& [k, v] : p.values) {
      body += " " + k + "=" + v;
    }
    r(HttpResponse::Text(200, body));
  };
}

TEST(RouterTest, MatchesLiteralsAndDecodesParameters) {
  metrics::Registry reg;
  Router router(reg);
  router.Add("GET", "/v1/instances/{id}", Say("get"));
  router.Add("GET", "/v1/instances/count", Say("count"));
  router.Add("POST", "/v2/rpc/{id}", Say("rpc"));
  router.Add("GET", "/", Say("root"));
  EXPECT_EQ(Call(router, Req("GET", "/v1/instances/arn%3Aaws%2Fx%20y")).body, "get id=arn:aws/x y");
  EXPECT_EQ(Call(router, Req("GET", "/v1/instances/count")).body, "count");
  EXPECT_EQ(Call(router, Req("POST", "/v2/rpc/update_instance_info")).body,
            "rpc id=update_instance_info");
  EXPECT_EQ(Call(router, Req("GET", "/")).body, "root");
  // A parameter matches one whole, non-empty segment.
  EXPECT_EQ(Call(router, Req("GET", "/v1/instances/")).status, 404);
  EXPECT_EQ(Call(router, Req("GET", "/v1/instances/a/b")).status, 404);
}

TEST(RouterTest, UnknownPathIs404AndWrongMethodIs405InErrorJson) {
  metrics::Registry reg;
  Router router(reg);
  router.Add("GET", "/healthz", Say("ok"));
  router.Add("HEAD", "/healthz", Say("ok"));
  auto nf = Call(router, Req("GET", "/nope"));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, R"({"code":5,"message":"no route for GET /nope"})");
  auto na = Call(router, Req("DELETE", "/healthz"));
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(
      na.body,
      R"x({"code":12,"message":"method DELETE not allowed on /healthz (allowed: GET, HEAD)"})x");
  EXPECT_THAT(na.headers,
              ElementsAre(std::make_pair(std::string("Allow"), std::string("GET, HEAD"))));
}

TEST(RouterTest, BadPercentEscapeInParameterIs400) {
  metrics::Registry reg;
  Router router(reg);
  router.Add("GET", "/x/{id}", Say("x"));
  auto r = Call(router, Req("GET", "/x/%zz"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr(R"({"code":3,"message":"path parameter id: bad percent-escape)"));
}

TEST(RouterTest, ErrorResponseUsesGatewayStatus) {
  EXPECT_EQ(ErrorResponse(UnauthenticatedError("HTTP key invalid")).status, 401);
  EXPECT_EQ(ErrorResponse(ResourceExhaustedError("x")).status, 429);
  EXPECT_EQ(ErrorResponse(UnavailableError("x")).status, 503);
  EXPECT_EQ(ErrorResponse(InternalError("a \"b\"")).body, R"({"code":13,"message":"a \"b\""})");
}

TEST(RouterTest, CountsRequestsByRouteMethodAndStatusAndAnswersOnce) {
  metrics::Registry reg;
  Router router(reg);
  router.Add("POST", "/v2/rpc/{id}", [](HttpRequest&&, PathParams, Responder r) {
    r(HttpResponse::Json(201, "{}"));
    r(HttpResponse::Json(500, "{}"));  // ignored
  });
  int answers = 0;
  for (const char* path : {"/v2/rpc/a", "/v2/rpc/b"}) {
    router.Handle(Req("POST", path), [&](HttpResponse r) {
      EXPECT_EQ(r.status, 201);
      answers++;
    });
  }
  Call(router, Req("GET", "/v2/rpc/a"));
  Call(router, Req("BREW", "/coffee"));
  EXPECT_EQ(answers, 2);
  std::string text = reg.Render();
  EXPECT_THAT(text, HasSubstr("glfm_http_requests_total{route=\"/v2/rpc/{id}\",method=\"POST\","
                              "code=\"201\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("glfm_http_requests_total{route=\"unmatched\",method=\"GET\","
                              "code=\"405\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("glfm_http_requests_total{route=\"unmatched\",method=\"other\","
                              "code=\"404\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("code=\"500\"")));
  EXPECT_THAT(text,
              HasSubstr("glfm_http_request_duration_seconds_count{route=\"/v2/rpc/{id}\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("glfm_http_request_duration_seconds_count{route=\"unmatched\"} 2\n"));
}

class RouterLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetSinkForTesting([this](std::string_view l) { lines_.emplace_back(l); });
  }
  void TearDown() override {
    log::SetSinkForTesting(nullptr);
    log::Configure(log::Format::kText, log::Level::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(RouterLogTest, RequestIdOnHandlerLinesAndAccessLineEvenWhenAnsweredLater) {
  log::Configure(log::Format::kJson, log::Level::kDebug);
  metrics::Registry reg;
  Router router(reg);
  Responder parked;
  router.Add("GET", "/later/{x}", [&](HttpRequest&&, PathParams, Responder r) {
    log::Info("handling");
    parked = std::move(r);
  });
  std::optional<HttpResponse> got;
  auto req = Req("GET", "/later/1");
  req.query = "http_key=topsecret";
  req.target = "/later/1?http_key=topsecret";
  router.Handle(std::move(req), [&](HttpResponse r) { got = std::move(r); });
  std::thread([&] { parked(HttpResponse::Json(503, "{}")); }).join();
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(lines_.size(), 2u);
  auto handling = Json::Parse(lines_[0]);
  ASSERT_OK(handling);
  EXPECT_EQ(handling->Find("request_id")->as_string(), "rid-1");
  auto access = Json::Parse(lines_[1]);
  ASSERT_OK(access);
  EXPECT_EQ(access->Find("msg")->as_string(), "request");
  EXPECT_EQ(access->Find("level")->as_string(), "warn");  // a 5xx
  EXPECT_EQ(access->Find("request_id")->as_string(), "rid-1");
  EXPECT_EQ(access->Find("route")->as_string(), "/later/{x}");
  EXPECT_EQ(access->Find("path")->as_string(), "/later/1");
  EXPECT_EQ(access->Find("status")->as_string(), "503");
  EXPECT_NE(access->Find("duration_ms"), nullptr);
  EXPECT_THAT(lines_[1], Not(HasSubstr("topsecret")));
}

TEST_F(RouterLogTest, AccessLinesAreDebugLevel) {
  log::Configure(log::Format::kText, log::Level::kInfo);
  metrics::Registry reg;
  Router router(reg);
  router.Add("GET", "/a", Say("a"));
  Call(router, Req("GET", "/a"));
  EXPECT_TRUE(lines_.empty());
  log::Configure(log::Format::kText, log::Level::kDebug);
  Call(router, Req("GET", "/a"));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr(" DEBUG request request_id=rid-1 method=GET route=/a path=/a "
                                   "status=200 duration_ms="));
}

TEST(RouterDeathTest, BadPatternsAbort) {
  metrics::Registry reg;
  Router router(reg);
  router.Add("GET", "/a/{id}", Say("a"));
  EXPECT_DEATH(router.Add("GET", "/a/{id}", Say("b")), "invariant broken");
  EXPECT_DEATH(router.Add("GET", "no-slash", Say("b")), "invariant broken");
  EXPECT_DEATH(router.Add("GET", "/a/{}", Say("b")), "invariant broken");
  EXPECT_DEATH(router.Add("GET", "/a/{id", Say("b")), "invariant broken");
}

}  // namespace
}  // namespace glfm::server
