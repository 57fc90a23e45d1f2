// AwsClient: one AWS service spoken over its JSON protocol, signed with SigV4, retried in the
// standard mode. The typed GameLift and SQS operations (src/gamelift/) sit on top of it.
//
// Wire format (AWS JSON 1.0 / 1.1 protocols): POST / with Content-Type
// application/x-amz-json-1.x, X-Amz-Target: <TargetPrefix>.<Operation>, a JSON body; SQS
// also sends x-amzn-query-mode: true as current SDKs do, so errors carry the legacy code in
// x-amzn-query-error. 2xx answers carry the output JSON; others an error (aws/errors.h).
//
// Retries live here and only here (callers above never retry again): standard mode
// (aws/retry.h), plus clock-skew correction: when AWS answers RequestTimeTooSkewed,
// InvalidSignatureException, SignatureDoesNotMatch, ... with a Date header more than four
// minutes from our clock, later requests are signed at our clock plus that offset and the
// request is retried.
//
// Endpoints: explicit URL from glfm's configuration, then AWS_ENDPOINT_URL_<SERVICE>
// (AWS_ENDPOINT_URL_GAMELIFT, AWS_ENDPOINT_URL_SQS), then AWS_ENDPOINT_URL, then the
// profile's endpoint_url, then https://<service>.<region>.amazonaws.com (.com.cn in China);
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the environment and profile.
//
// Thread-safety: Call() and CallAsync() may be used from many threads at once. Call()
// blocks (network, backoff sleeps, credential fetches): never on an HTTP-server IO thread;
// use CallAsync() there, which runs the call on the client's own worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "aws/errors.h"
#include "aws/http_transport.h"
#include "aws/retry.h"
#include "aws/sigv4.h"
#include "glfm/status.h"

namespace glfm::aws {

// What differs between the services glfm speaks.
struct ServiceSpec {
  std::string_view name;             // "GameLift", for messages
  std::string_view signing_name;     // SigV4 service: "gamelift"
  std::string_view endpoint_prefix;  // "gamelift" in gamelift.us-east-1.amazonaws.com
  std::string_view env_id;           // "GAMELIFT" in AWS_ENDPOINT_URL_GAMELIFT
  std::string_view target_prefix;    // "GameLift" in X-Amz-Target: GameLift.DescribeAlias
  std::string_view content_type;     // "application/x-amz-json-1.1"
  bool query_compatible = false;     // sends x-amzn-query-mode: true (SQS)
};

extern const ServiceSpec kGameLiftService;
extern const ServiceSpec kSqsService;

// Returns the endpoint URL for `service` (order above). Errors: invalid-argument when no
// endpoint is configured and `region` is empty, or a configured URL is not http(s).
Result<std::string> ResolveEndpoint(const ServiceSpec& service, std::string_view explicit_url,
                                    std::string_view region, const EnvLookup& env,
                                    std::string_view profile);

// Parses an HTTP Date header (IMF-fixdate, "Wed, 25 Nov 2026 03:00:00 GMT").
// Errors: invalid-argument.
Result<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text);

struct AwsClientOptions {
  const ServiceSpec* service = nullptr;
  std::string region;
  std::string endpoint;                        // a resolved URL (ResolveEndpoint)
  CredentialsProvider* credentials = nullptr;  // not owned; outlives the client
  HttpTransport* transport = nullptr;          // not owned; outlives the client
  RetryOptions retry;
  AwsEnv env = AwsEnv::Real();
  // Time limit of one attempt; zero takes the transport's default.
  std::chrono::milliseconds attempt_timeout{0};
  // Threads that run CallAsync().
  int async_threads = 2;
  // Called with (operation, JSON body) for every request sent, before signing. For tests.
  std::function<void(std::string_view, std::string_view)> on_request;
};

// What happened during one call, for tests and metrics.
struct CallInfo {
  int attempts = 0;
  std::string request_id;  // of the last answer
};

class AwsClient {
 public:
  // Errors: invalid-argument naming the missing option (service, region, endpoint,
  // credentials, transport) or a bad max_attempts.
  static Result<std::unique_ptr<AwsClient>> Create(AwsClientOptions options);
  ~AwsClient();

  // Calls `operation` with the JSON `body`; returns the output JSON text of a 2xx answer.
  // Errors: the service's error mapped per docs/errors.md ("GameLift.DescribeAlias:
  // NotFoundException: ..."), a transport error after the retries, or the credentials
  // provider's error.
  Result<std::string> Call(std::string_view operation, std::string body, CallInfo* info = nullptr);

  // Runs Call() on a worker thread of this client and hands the outcome to `done` there.
  void CallAsync(std::string operation, std::string body,
                 std::function<void(Result<std::string>)> done);

  const ServiceSpec& service() const { return *options_.service; }
  const std::string& region() const { return options_.region; }
  const std::string& endpoint() const { return options_.endpoint; }
  // The correction added to our clock when signing (server minus local).
  std::chrono::seconds clock_offset() const {
    return std::chrono::seconds(clock_offset_s_.load(std::memory_order_relaxed));
  }
  int retry_quota_available() const { return quota_.available(); }

 private:
  explicit AwsClient(AwsClientOptions options);
  struct Pool;

  AwsClientOptions options_;
  std::string host_;  // Host header value
  std::string path_;  // request path, "/" unless the endpoint has one
  RetryQuota quota_;
  SigningKeyCache key_cache_;
  std::atomic<int64_t> clock_offset_s_{0};
  std::unique_ptr<Pool> pool_;
};

}  // namespace glfm::aws
