// AwsClient against a scripted loopback endpoint: wire format, signature verified server
// side, standard-mode retries (throttling, 5xx, 4xx, quota, dropped connection, timeout),
// clock-skew correction, error decoding. Time is injected: nothing really sleeps.
#include "aws/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <cstdlib>
#include <future>
#include <thread>

#include "aws/testing/fake_aws.h"
#include "aws/testing/request_log.h"
#include "common/metrics.h"
#include "testing/status_matchers.h"

// The botocore-validating build registers its tests under their own suite names.
#ifdef GLFM_VALIDATE_WITH_BOTOCORE
#define ClientTest ClientBotocoreTest
#endif

namespace glfm::aws {
namespace {

using ::testing::ElementsAre;
using testing::FakeAws;
using ::testing::HasSubstr;

// Request bodies that botocore's model accepts (the botocore build of this test checks).
constexpr char kAlias[] = R"({"AliasId":"alias-1"})";
constexpr char kPlacement[] =
    R"({"GameSessionQueueName":"q","MaximumPlayerSessionCount":2,"PlacementId":"p-1"})";

// A clock that stands still unless a test moves it, and a sleeper that only records.
struct FakeTime {
  std::mutex mu;
  std::chrono::system_clock::time_point now = *ParseAmzDate("20261125T030000Z");
  std::vector<std::chrono::milliseconds> sleeps;

  AwsEnv Env() {
    AwsEnv e;
    e.now = [this] {
      std::lock_guard<std::mutex> l(mu);
      return now;
    };
    e.sleep = [this](std::chrono::milliseconds d) {
      std::lock_guard<std::mutex> l(mu);
      sleeps.push_back(d);
    };
    e.random01 = [] { return 0.5; };
    return e;
  }
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CurlTransportOptions to;
    to.request_timeout = std::chrono::milliseconds(5000);
    transport_ = std::move(NewCurlTransport(to)).value();
    creds_ = NewStaticCredentialsProvider({"AKIDTEST", "SECRET", "", std::nullopt, "test"});
  }

  std::unique_ptr<AwsClient> MakeClient(const ServiceSpec& svc, const std::string& url,
                                        RetryOptions retry = {}) {
    AwsClientOptions o;
    o.service = &svc;
    o.region = "us-west-2";
    o.endpoint = url;
    o.credentials = creds_.get();
    o.transport = transport_.get();
    o.retry = retry;
    o.env = time_.Env();
    o.on_request = testing::RequestLog::Hook(svc);
    return std::move(AwsClient::Create(std::move(o))).value();
  }

  FakeTime time_;
  FakeAws fake_;
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<CredentialsProvider> creds_;
};

TEST_F(ClientTest, SendsTheJson11WireFormatSignedForGameLift) {
  fake_.Push(FakeAws::Ok(R"({"Alias":{"AliasId":"alias-1"}})"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  auto r = client->Call("DescribeAlias", R"({"AliasId":"alias-1"})");
  ASSERT_THAT(r, IsOkAndHolds(R"({"Alias":{"AliasId":"alias-1"}})"));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& q = reqs[0].request;
  EXPECT_OK(reqs[0].signature);
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.path, "/");
  EXPECT_EQ(*q.Header("content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(*q.Header("x-amz-target"), "GameLift.DescribeAlias");
  EXPECT_EQ(*q.Header("x-amz-date"), "20261125T030000Z");
  EXPECT_THAT(*q.Header("authorization"),
              HasSubstr("Credential=AKIDTEST/20261125/us-west-2/gamelift/aws4_request, "
                        "SignedHeaders=content-type;host;x-amz-date;x-amz-target,"));
  EXPECT_EQ(q.Header("x-amzn-query-mode"), nullptr);
  EXPECT_EQ(q.Header("expect"), nullptr);
  EXPECT_EQ(q.body, R"({"AliasId":"alias-1"})");
}

TEST_F(ClientTest, SendsTheJson10WireFormatWithQueryModeForSqs) {
  auto client = MakeClient(kSqsService, fake_.url());
  ASSERT_OK(client->Call("GetQueueUrl", R"({"QueueName":"q"})"));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_OK(reqs[0].signature);
  EXPECT_EQ(*reqs[0].request.Header("content-type"), "application/x-amz-json-1.0");
  EXPECT_EQ(*reqs[0].request.Header("x-amz-target"), "AmazonSQS.GetQueueUrl");
  EXPECT_EQ(*reqs[0].request.Header("x-amzn-query-mode"), "true");
  EXPECT_THAT(*reqs[0].request.Header("authorization"), HasSubstr("/us-west-2/sqs/aws4_request"));
}

TEST_F(ClientTest, RetriesThrottlingThenSucceeds) {
  fake_.Push(FakeAws::Error(400, "ThrottlingException", "Rate exceeded"));
  fake_.Push(FakeAws::Ok(R"({"ok":true})"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeGameSessions", "{}", &info), IsOkAndHolds(R"({"ok":true})"));
  EXPECT_EQ(info.attempts, 2);
  EXPECT_EQ(fake_.requests().size(), 2u);
  // Full jitter: rand (0.5 here) * 2^0 s before the first retry.
  EXPECT_THAT(time_.sleeps, ElementsAre(std::chrono::milliseconds(500)));
  // The retry took 5 tokens; the success after it gave them back.
  EXPECT_EQ(client->retry_quota_available(), 500);
}

TEST_F(ClientTest, CountsCallsByResultAndRetriesByReasonInMetrics) {
  auto& reg = metrics::Registry::Default();
  auto& calls = reg.AddCounter("glfm_aws_requests_total", "", {"service", "operation", "result"});
  auto& retries = reg.AddCounter("glfm_aws_retries_total", "", {"service", "operation", "reason"});
  auto& ok = calls.WithLabels({"GameLift", "SearchGameSessions", "ok"});
  auto& refused = calls.WithLabels({"GameLift", "SearchGameSessions", "InvalidRequestException"});
  auto& throttled = retries.WithLabels({"GameLift", "SearchGameSessions", "throttling"});
  uint64_t ok0 = ok.value(), refused0 = refused.value(), throttled0 = throttled.value();
  fake_.Push(FakeAws::Error(400, "ThrottlingException", "Rate exceeded"));
  fake_.Push(FakeAws::Error(400, "ThrottlingException", "Rate exceeded"));
  fake_.Push(FakeAws::Ok("{}"));
  fake_.Push(FakeAws::Error(400, "InvalidRequestException", "bad"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  ASSERT_OK(client->Call("SearchGameSessions", "{}"));
  EXPECT_THAT(client->Call("SearchGameSessions", "{}"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(ok.value() - ok0, 1u);  // one call, whatever its attempts
  EXPECT_EQ(refused.value() - refused0, 1u);
  EXPECT_EQ(throttled.value() - throttled0, 2u);
  EXPECT_THAT(reg.Render(),
              HasSubstr("glfm_aws_request_duration_seconds_count{service=\"GameLift\","
                        "operation=\"SearchGameSessions\"}"));
}

TEST_F(ClientTest, Retries5xxUntilAttemptsAreSpent) {
  fake_.SetFallback(FakeAws::Error(500, "InternalServiceException", "boom"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  CallInfo info;
  EXPECT_THAT(
      client->Call("DescribeAlias", kAlias, &info),
      StatusIs(StatusCode::kInternal, "GameLift.DescribeAlias: InternalServiceException: boom"));
  EXPECT_EQ(info.attempts, 3);
  EXPECT_EQ(info.request_id, "req-err");
  EXPECT_EQ(fake_.requests().size(), 3u);
  EXPECT_THAT(time_.sleeps,
              ElementsAre(std::chrono::milliseconds(500), std::chrono::milliseconds(1000)));
  EXPECT_EQ(client->retry_quota_available(), 490);
}

TEST_F(ClientTest, StopsRetryingWhenTheQuotaIsSpent) {
  fake_.SetFallback(FakeAws::Error(503, "ServiceUnavailable", "busy"));
  RetryOptions retry;
  retry.quota_capacity = 10;
  auto client = MakeClient(kGameLiftService, fake_.url(), retry);
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info), StatusCodeIs(StatusCode::kUnavailable));
  EXPECT_EQ(info.attempts, 3);
  EXPECT_EQ(client->retry_quota_available(), 0);
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info),
              StatusIs(StatusCode::kUnavailable, HasSubstr("retry quota exhausted")));
  EXPECT_EQ(info.attempts, 1);
  // A success refills one token at a time.
  fake_.Push(FakeAws::Ok("{}"));
  EXPECT_OK(client->Call("DescribeAlias", kAlias, &info));
  EXPECT_EQ(client->retry_quota_available(), 1);
}

TEST_F(ClientTest, DoesNotRetry4xx) {
  fake_.Push(FakeAws::Error(400, "InvalidRequestException", "PlacementId is bad"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  CallInfo info;
  EXPECT_THAT(client->Call("StartGameSessionPlacement", kPlacement, &info),
              StatusIs(StatusCode::kInvalidArgument,
                       "GameLift.StartGameSessionPlacement: InvalidRequestException: "
                       "PlacementId is bad"));
  EXPECT_EQ(info.attempts, 1);
  EXPECT_TRUE(time_.sleeps.empty());
  fake_.Push(FakeAws::Error(400, "NotFoundException", "no alias-9"));
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info),
              StatusIs(StatusCode::kNotFound, HasSubstr("no alias-9")));
  EXPECT_EQ(info.attempts, 1);
}

TEST_F(ClientTest, CorrectsClockSkewAndRetries) {
  auto skewed = FakeAws::Error(400, "InvalidSignatureException", "Signature expired");
  skewed.headers.emplace_back("Date", "Wed, 25 Nov 2026 04:00:00 GMT");  // our clock: 03:00
  fake_.Push(skewed);
  auto client = MakeClient(kGameLiftService, fake_.url());
  CallInfo info;
  ASSERT_OK(client->Call("DescribeAlias", kAlias, &info));
  EXPECT_EQ(info.attempts, 2);
  EXPECT_EQ(client->clock_offset(), std::chrono::hours(1));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(*reqs[0].request.Header("x-amz-date"), "20261125T030000Z");
  EXPECT_EQ(*reqs[1].request.Header("x-amz-date"), "20261125T040000Z");
  // Later calls keep the correction.
  ASSERT_OK(client->Call("DescribeAlias", kAlias, &info));
  EXPECT_EQ(*fake_.requests()[2].request.Header("x-amz-date"), "20261125T040000Z");
}

TEST_F(ClientTest, SkewErrorWithoutASkewedDateIsNotRetried) {
  auto err = FakeAws::Error(400, "InvalidSignatureException", "bad signature");
  err.headers.emplace_back("Date", "Wed, 25 Nov 2026 03:01:00 GMT");  // within 4 minutes
  fake_.Push(err);
  auto client = MakeClient(kGameLiftService, fake_.url());
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("InvalidSignatureException")));
  EXPECT_EQ(info.attempts, 1);
}

TEST_F(ClientTest, DecodesSqsQueryCompatibleErrors) {
  auto err = server::HttpResponse::Json(
      400,
      R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."})");
  err.headers.emplace_back("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender");
  fake_.Push(err);
  auto client = MakeClient(kSqsService, fake_.url());
  EXPECT_THAT(client->Call("GetQueueUrl", R"({"QueueName":"nope"})"),
              StatusIs(StatusCode::kNotFound,
                       "SQS.GetQueueUrl: AWS.SimpleQueueService.NonExistentQueue: The specified "
                       "queue does not exist."));
}

TEST_F(ClientTest, TimesOutEachAttemptAndRetries) {
  fake_.Hold(true);
  AwsClientOptions o;
  o.service = &kGameLiftService;
  o.region = "us-west-2";
  o.endpoint = fake_.url();
  o.credentials = creds_.get();
  o.transport = transport_.get();
  o.env = time_.Env();
  o.attempt_timeout = std::chrono::milliseconds(100);
  o.on_request = testing::RequestLog::Hook(kGameLiftService);
  auto client = std::move(AwsClient::Create(std::move(o))).value();
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info),
              StatusCodeIs(StatusCode::kDeadlineExceeded));
  EXPECT_EQ(info.attempts, 3);
  // Timeouts cost 10 tokens a retry.
  EXPECT_EQ(client->retry_quota_available(), 480);
  fake_.Hold(false);
}

// A server that drops the first connection after reading the request, then answers 200.
class DroppingServer {
 public:
  DroppingServer() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      for (int conn = 0; conn < 2; ++conn) {
        boost::asio::ip::tcp::socket s(ioc_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec) return;
        std::string data;
        char buf[4096];
        // Read headers and the body (Content-Length) of one request.
        while (true) {
          size_t n = s.read_some(boost::asio::buffer(buf), ec);
          if (ec) break;
          data.append(buf, n);
          size_t end = data.find("\r\n\r\n");
          if (end == std::string::npos) continue;
          size_t cl = data.find("Content-Length: ");
          size_t len = cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 16));
          if (data.size() >= end + 4 + len) break;
        }
        if (conn == 0) {
          s.close(ec);
          continue;
        }
        std::string resp =
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: "
            "11\r\nConnection: close\r\n\r\n{\"ok\":true}";
        boost::asio::write(s, boost::asio::buffer(resp), ec);
        s.close(ec);
      }
    });
  }
  ~DroppingServer() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_;
  std::thread thread_;
};

TEST_F(ClientTest, RetriesADroppedConnection) {
  DroppingServer server;
  auto client = MakeClient(kGameLiftService, "http://127.0.0.1:" + std::to_string(server.port()));
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info), IsOkAndHolds(R"({"ok":true})"));
  EXPECT_EQ(info.attempts, 2);
}

TEST_F(ClientTest, RefusedConnectionIsUnavailableAfterRetries) {
  uint16_t port;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto client = MakeClient(kGameLiftService, "http://127.0.0.1:" + std::to_string(port));
  CallInfo info;
  EXPECT_THAT(client->Call("DescribeAlias", kAlias, &info),
              StatusIs(StatusCode::kUnavailable, HasSubstr("GameLift.DescribeAlias: HTTP")));
  EXPECT_EQ(info.attempts, 3);
}

TEST_F(ClientTest, ReusesOneKeepAliveConnection) {
  auto client = MakeClient(kGameLiftService, fake_.url());
  for (int i = 0; i < 5; ++i) ASSERT_OK(client->Call("DescribeAlias", kAlias));
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& r : reqs) EXPECT_EQ(r.request.remote_address, reqs[0].request.remote_address);
}

TEST_F(ClientTest, CallAsyncRunsOffTheCallerThread) {
  fake_.Push(FakeAws::Ok(R"({"a":1})"));
  auto client = MakeClient(kGameLiftService, fake_.url());
  std::promise<std::pair<std::thread::id, Result<std::string>>> p;
  client->CallAsync("DescribeAlias", kAlias, [&p](Result<std::string> r) {
    p.set_value({std::this_thread::get_id(), std::move(r)});
  });
  auto [tid, r] = p.get_future().get();
  EXPECT_NE(tid, std::this_thread::get_id());
  EXPECT_THAT(r, IsOkAndHolds(R"({"a":1})"));
}

TEST_F(ClientTest, TransportSendDoesNotBlockTheCaller) {
  fake_.Hold(true);
  std::promise<Result<HttpReply>> p;
  HttpCall call;
  call.method = "POST";
  call.url = fake_.url() + "/";
  call.body = "{}";
  transport_->Send(call, [&p](Result<HttpReply> r) { p.set_value(std::move(r)); });
  // Send returned while the server still holds the request.
  auto f = p.get_future();
  fake_.WaitForRequests(1);
  EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  fake_.Hold(false);
  auto r = f.get();
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
}

#ifndef GLFM_VALIDATE_WITH_BOTOCORE  // no client requests below: built once
TEST(ClientCreateTest, RejectsMissingOptions) {
  AwsClientOptions o;
  EXPECT_THAT(AwsClient::Create(o),
              StatusIs(StatusCode::kInvalidArgument, "aws client: no service"));
  o.service = &kSqsService;
  EXPECT_THAT(AwsClient::Create(o), StatusIs(StatusCode::kInvalidArgument, HasSubstr("region")));
}

TEST(EndpointTest, FollowsTheSdkOrder) {
  auto env = MapEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                     {"AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:2"},
                     {"AWS_CONFIG_FILE", "/nonexistent"},
                     {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}});
  EXPECT_THAT(ResolveEndpoint(kSqsService, "", "us-east-1", env, ""),
              IsOkAndHolds("http://127.0.0.1:2"));
  EXPECT_THAT(ResolveEndpoint(kGameLiftService, "", "us-east-1", env, ""),
              IsOkAndHolds("http://127.0.0.1:1"));
  EXPECT_THAT(ResolveEndpoint(kGameLiftService, "http://127.0.0.1:3", "us-east-1", env, ""),
              IsOkAndHolds("http://127.0.0.1:3"));
  auto none = MapEnv(
      {{"AWS_CONFIG_FILE", "/nonexistent"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}});
  EXPECT_THAT(ResolveEndpoint(kGameLiftService, "", "eu-west-1", none, ""),
              IsOkAndHolds("https://gamelift.eu-west-1.amazonaws.com"));
  EXPECT_THAT(ResolveEndpoint(kSqsService, "", "cn-north-1", none, ""),
              IsOkAndHolds("https://sqs.cn-north-1.amazonaws.com.cn"));
  EXPECT_THAT(ResolveEndpoint(kSqsService, "", "", none, ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no region")));
  auto ignored = MapEnv({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                         {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"},
                         {"AWS_CONFIG_FILE", "/nonexistent"}});
  EXPECT_THAT(ResolveEndpoint(kSqsService, "", "us-east-1", ignored, ""),
              IsOkAndHolds("https://sqs.us-east-1.amazonaws.com"));
  auto bad = MapEnv({{"AWS_ENDPOINT_URL_GAMELIFT", "ftp://x"}});
  EXPECT_THAT(ResolveEndpoint(kGameLiftService, "", "us-east-1", bad, ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AWS_ENDPOINT_URL_GAMELIFT")));
}

TEST(ErrorsTest, DecodesTypeFromHeaderAndBody) {
  HttpReply r;
  r.status = 400;
  r.body = R"({"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"})";
  AwsError e = DecodeJsonError(r, false);
  EXPECT_EQ(e.code, "ValidationException");
  EXPECT_EQ(e.message, "bad");
  EXPECT_EQ(ClassifyError(e), ErrorClass::kTerminal);
  EXPECT_EQ(StatusCodeForError(e), StatusCode::kInvalidArgument);
  r.headers = {{"x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/"}};
  e = DecodeJsonError(r, false);
  EXPECT_EQ(e.code, "ThrottlingException");
  EXPECT_EQ(ClassifyError(e), ErrorClass::kThrottling);
  EXPECT_EQ(StatusCodeForError(e), StatusCode::kResourceExhausted);
  r.status = 502;
  r.headers.clear();
  r.body = "<html>bad gateway</html>";
  e = DecodeJsonError(r, false);
  EXPECT_EQ(e.code, "");
  EXPECT_EQ(e.message, "<html>bad gateway</html>");
  EXPECT_EQ(ClassifyError(e), ErrorClass::kTransient);
  EXPECT_EQ(StatusCodeForError(e), StatusCode::kUnavailable);
}

TEST(RetryTest, BackoffIsCappedFullJitter) {
  RetryOptions o;
  EXPECT_EQ(BackoffDelay(o, 2, 1.0), std::chrono::milliseconds(1000));
  EXPECT_EQ(BackoffDelay(o, 3, 1.0), std::chrono::milliseconds(2000));
  EXPECT_EQ(BackoffDelay(o, 6, 1.0), std::chrono::milliseconds(16000));
  EXPECT_EQ(BackoffDelay(o, 7, 1.0), std::chrono::milliseconds(20000));
  EXPECT_EQ(BackoffDelay(o, 60, 0.25), std::chrono::milliseconds(5000));
  EXPECT_EQ(BackoffDelay(o, 4, 0.0), std::chrono::milliseconds(0));
}

TEST(HttpDateTest, ParsesImfFixdate) {
  auto t = ParseHttpDate("Wed, 25 Nov 2026 04:00:00 GMT");
  ASSERT_OK(t);
  EXPECT_EQ(FormatAmzDate(*t), "20261125T040000Z");
  EXPECT_THAT(ParseHttpDate("yesterday"), StatusCodeIs(StatusCode::kInvalidArgument));
}

#endif  // GLFM_VALIDATE_WITH_BOTOCORE
}  // namespace
}  // namespace glfm::aws

#ifndef GLFM_VALIDATE_WITH_BOTOCORE
namespace glfm::aws {
namespace {

// libcurl takes proxies from the environment: a plain-http request goes through
// http_proxy, here a loopback fake that sees the absolute-form target.
TEST(TransportProxyTest, UsesHttpProxyFromTheEnvironment) {
  testing::FakeAws proxy;
  std::string saved_no_proxy[2];
  const char* names[2] = {"no_proxy", "NO_PROXY"};
  for (int i = 0; i < 2; ++i) {
    if (const char* v = std::getenv(names[i])) saved_no_proxy[i] = v;
    unsetenv(names[i]);
  }
  setenv("http_proxy", proxy.url().c_str(), 1);
  auto transport = std::move(NewCurlTransport({})).value();
  HttpCall call;
  call.url = "http://gamelift.example.invalid/";
  call.body = "{}";
  auto r = transport->SendAndWait(call);
  unsetenv("http_proxy");
  for (int i = 0; i < 2; ++i) {
    if (!saved_no_proxy[i].empty()) setenv(names[i], saved_no_proxy[i].c_str(), 1);
  }
  ASSERT_OK(r);
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].request.target, "http://gamelift.example.invalid/");
}

TEST(TransportTest, RejectsHeaderInjectionAndBadOptions) {
  auto transport = std::move(NewCurlTransport({})).value();
  HttpCall call;
  call.url = "http://127.0.0.1:1/";
  call.headers = {{"X-Amz-Target", "GameLift.X\r\nEvil: 1"}};
  EXPECT_THAT(transport->SendAndWait(call),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line break")));
  CurlTransportOptions bad;
  bad.threads = 0;
  EXPECT_THAT(NewCurlTransport(bad), StatusCodeIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace glfm::aws
#endif  // GLFM_VALIDATE_WITH_BOTOCORE
