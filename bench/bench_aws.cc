// AWS client benchmarks:
//   sigv4_sign_us            SignRequest on a GameLift-shaped request (300-byte body, signing
//                            key cached as in the client), microseconds per request
//   sigv4_sign_uncached_us   the same, deriving the signing key every time
//   aws_call_rps_<n>t        signed AwsClient::Call()s per second over keep-alive to a loopback
//                            glfm HttpServer answering at once, n caller threads (and n
//                            transport threads)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "aws/client.h"
#include "aws/sigv4.h"
#include "server/http_server.h"

namespace {

using namespace glfm;
using Clock = std::chrono::steady_clock;

double SignMicros(bool cached) {
  aws::Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}, ""};
  aws::SigningKeyCache cache;
  std::string body(300, 'x');
  body =
      R"({"PlacementId":"p-0123456789","GameSessionQueueName":"glfm-queue","Pad":")" + body + "\"}";
  aws::SigningParams p;
  p.credentials = &creds;
  p.region = "us-east-1";
  p.service = "gamelift";
  p.time = std::chrono::system_clock::now();
  p.key_cache = cached ? &cache : nullptr;
  const int n = cached ? 200000 : 50000;
  size_t sink = 0;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    aws::Headers h = {{"Host", "gamelift.us-east-1.amazonaws.com"},
                      {"Content-Type", "application/x-amz-json-1.1"},
                      {"X-Amz-Target", "GameLift.StartGameSessionPlacement"}};
    auto r = aws::SignRequest("POST", "/", "", h, body, p);
    sink += r->signature.size();
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
  if (sink == 0) std::printf("impossible\n");
  return us;
}

double CallRps(int threads) {
  server::HttpServerOptions so;
  so.io_threads = 1;
  auto server =
      std::move(server::HttpServer::Start(so, [](server::HttpRequest&&, server::Responder respond) {
        respond(server::HttpResponse::Json(200, R"({"Alias":{}})"));
      })).value();
  aws::CurlTransportOptions to;
  to.threads = threads;
  auto transport = std::move(aws::NewCurlTransport(to)).value();
  auto creds = aws::NewStaticCredentialsProvider({"AKID", "SECRET", "", {}, ""});
  aws::AwsClientOptions o;
  o.service = &aws::kGameLiftService;
  o.region = "us-east-1";
  o.endpoint = server->url();
  o.credentials = creds.get();
  o.transport = transport.get();
  auto client = std::move(aws::AwsClient::Create(std::move(o))).value();
  // Warm up the connections.
  for (int i = 0; i < 100; ++i) (void)client->Call("DescribeAlias", R"({"AliasId":"alias-1"})");
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (client->Call("DescribeAlias", R"({"AliasId":"alias-1"})").ok()) done++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  server->Shutdown(std::chrono::milliseconds(100));
  return static_cast<double>(done.load()) / secs;
}

}  // namespace

int main() {
  std::printf("BENCH sigv4_sign_us %.3f us\n", SignMicros(true));
  std::printf("BENCH sigv4_sign_uncached_us %.3f us\n", SignMicros(false));
  std::printf("BENCH aws_call_rps_1t %.0f req/s\n", CallRps(1));
  std::printf("BENCH aws_call_rps_2t %.0f req/s\n", CallRps(2));
  return 0;
}
