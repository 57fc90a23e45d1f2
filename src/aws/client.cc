#include "aws/client.h"

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"

namespace glfm::aws {

const ServiceSpec kGameLiftService = {"GameLift", "gamelift", "gamelift",
                                      "GAMELIFT", "GameLift", "application/x-amz-json-1.1",
                                      false};
const ServiceSpec kSqsService = {
    "SQS", "sqs", "sqs", "SQS", "AmazonSQS", "application/x-amz-json-1.0", true};

namespace {

constexpr std::chrono::minutes kSkewThreshold{4};

std::optional<std::string> NonEmptyEnv(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (v.has_value() && v->empty()) return std::nullopt;
  return v;
}

// Every AWS call's final result and every retry, for /metrics (the one place that retries).
struct CallMetrics {
  metrics::Family<metrics::Counter>& calls = metrics::Registry::Default().AddCounter(
      "glfm_aws_requests_total",
      "AWS API calls by service, operation and final result (ok, or the AWS error code, or the "
      "transport failure).",
      {"service", "operation", "result"});
  metrics::Family<metrics::Counter>& retries = metrics::Registry::Default().AddCounter(
      "glfm_aws_retries_total", "AWS API attempts retried, by service, operation and reason.",
      {"service", "operation", "reason"});
  metrics::Family<metrics::Histogram>& latency = metrics::Registry::Default().AddHistogram(
      "glfm_aws_request_duration_seconds",
      "AWS API calls from the first attempt to the final answer, retries included.",
      {"service", "operation"});

  static CallMetrics& Get() {
    static CallMetrics m;
    return m;
  }
};

Status CheckUrl(const std::string& url, std::string_view from) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return InvalidArgumentError(std::string(from) + " '" + url +
                                "' is not an http:// or https:// URL");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> ResolveEndpoint(const ServiceSpec& service, std::string_view explicit_url,
                                    std::string_view region, const EnvLookup& env,
                                    std::string_view profile) {
  if (!explicit_url.empty()) {
    std::string url(explicit_url);
    GLFM_RETURN_IF_ERROR(CheckUrl(url, "endpoint"));
    return url;
  }
  auto ignore = NonEmptyEnv(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  bool use_configured = !(ignore && (*ignore == "true" || *ignore == "TRUE"));
  if (use_configured) {
    std::string specific = "AWS_ENDPOINT_URL_" + std::string(service.env_id);
    if (auto v = NonEmptyEnv(env, specific)) {
      GLFM_RETURN_IF_ERROR(CheckUrl(*v, specific));
      return *v;
    }
    if (auto v = NonEmptyEnv(env, "AWS_ENDPOINT_URL")) {
      GLFM_RETURN_IF_ERROR(CheckUrl(*v, "AWS_ENDPOINT_URL"));
      return *v;
    }
    auto p = LoadProfile(env, profile);
    if (!p.ok()) return p.status();
    if (p->found) {
      auto it = p->values.find("endpoint_url");
      if (it != p->values.end() && !it->second.empty()) {
        GLFM_RETURN_IF_ERROR(CheckUrl(it->second, "profile endpoint_url"));
        return it->second;
      }
    }
  }
  if (region.empty()) {
    return InvalidArgumentError(std::string(service.name) +
                                ": no region and no endpoint configured (set GL_AWS_REGION or "
                                "AWS_REGION, or an endpoint URL)");
  }
  std::string suffix = region.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com";
  return "https://" + std::string(service.endpoint_prefix) + "." + std::string(region) + suffix;
}

Result<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return InvalidArgumentError("HTTP date '" + s + "' is not IMF-fixdate");
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

struct AwsClient::Pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;  // GUARDED_BY(mu)
  bool stopping = false;                   // GUARDED_BY(mu)
  std::vector<std::thread> threads;

  explicit Pool(int n) {
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this] {
        while (true) {
          std::function<void()> job;
          {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [this] { return stopping || !jobs.empty(); });
            if (jobs.empty()) return;
            job = std::move(jobs.front());
            jobs.pop_front();
          }
          job();
        }
      });
    }
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back(std::move(job));
    }
    cv.notify_one();
  }
};

Result<std::unique_ptr<AwsClient>> AwsClient::Create(AwsClientOptions options) {
  if (options.service == nullptr) return InvalidArgumentError("aws client: no service");
  std::string_view name = options.service->name;
  if (options.region.empty()) {
    return InvalidArgumentError(std::string(name) + " client: region is empty");
  }
  if (options.credentials == nullptr) {
    return InvalidArgumentError(std::string(name) + " client: no credentials provider");
  }
  if (options.transport == nullptr) {
    return InvalidArgumentError(std::string(name) + " client: no HTTP transport");
  }
  if (options.retry.max_attempts < 1) {
    return InvalidArgumentError(std::string(name) + " client: max_attempts must be at least 1");
  }
  GLFM_RETURN_IF_ERROR(CheckUrl(options.endpoint, std::string(name) + " endpoint"));
  if (!options.env.now || !options.env.sleep || !options.env.random01) {
    AwsEnv real = AwsEnv::Real();
    if (!options.env.now) options.env.now = real.now;
    if (!options.env.sleep) options.env.sleep = real.sleep;
    if (!options.env.random01) options.env.random01 = real.random01;
  }
  return std::unique_ptr<AwsClient>(new AwsClient(std::move(options)));
}

AwsClient::AwsClient(AwsClientOptions options)
    : options_(std::move(options)), quota_(options_.retry) {
  std::string_view url = options_.endpoint;
  url.remove_prefix(url.find("://") + 3);
  size_t slash = url.find('/');
  host_ = std::string(url.substr(0, slash));
  path_ = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  // An endpoint given with an explicit default port is signed without it, as botocore does.
  std::string_view scheme = std::string_view(options_.endpoint).substr(0, 5);
  if ((scheme == "https" && host_.size() > 4 && host_.ends_with(":443")) ||
      (scheme == "http:" && host_.size() > 3 && host_.ends_with(":80"))) {
    host_ = host_.substr(0, host_.rfind(':'));
  }
  pool_ = std::make_unique<Pool>(std::max(1, options_.async_threads));
}

AwsClient::~AwsClient() = default;

Result<std::string> AwsClient::Call(std::string_view operation, std::string body, CallInfo* info,
                                    std::chrono::milliseconds min_attempt_timeout) {
  const ServiceSpec& svc = *options_.service;
  CallMetrics& m = CallMetrics::Get();
  auto started = std::chrono::steady_clock::now();
  std::string result = "ok";
  struct Record {
    CallMetrics& m;
    const ServiceSpec& svc;
    std::string_view operation;
    std::chrono::steady_clock::time_point started;
    const std::string& result;
    ~Record() {
      m.calls.WithLabels({svc.name, operation, result}).Inc();
      m.latency.WithLabels({svc.name, operation})
          .Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  } record{m, svc, operation, started, result};
  std::string what = std::string(svc.name) + "." + std::string(operation);
  if (options_.on_request) options_.on_request(operation, body);
  std::string target = std::string(svc.target_prefix) + "." + std::string(operation);
  std::string url = options_.endpoint;
  if (url.back() != '/' && path_ == "/") url.push_back('/');
  int retry_taken = 0;  // quota taken by the latest retry
  Status last_error;
  for (int attempt = 1;; ++attempt) {
    if (info != nullptr) info->attempts = attempt;
    GLFM_ASSIGN_OR_RETURN(Credentials creds, options_.credentials->Get());
    HttpCall call;
    call.url = url;
    call.body = body;
    call.timeout = options_.attempt_timeout.count() == 0
                       ? options_.attempt_timeout
                       : std::max(options_.attempt_timeout, min_attempt_timeout);
    call.headers.reserve(8);
    call.headers.emplace_back("Host", host_);
    call.headers.emplace_back("Content-Type", std::string(svc.content_type));
    call.headers.emplace_back("X-Amz-Target", target);
    if (svc.query_compatible) call.headers.emplace_back("x-amzn-query-mode", "true");
    SigningParams sp;
    sp.credentials = &creds;
    sp.region = options_.region;
    sp.service = svc.signing_name;
    sp.time = options_.env.now() + clock_offset();
    sp.key_cache = &key_cache_;
    auto signed_r = SignRequest("POST", path_, "", call.headers, call.body, sp);
    if (!signed_r.ok()) return signed_r.status().WithPrefix(what);

    Result<HttpReply> reply = options_.transport->SendAndWait(std::move(call));
    bool retryable = false;
    bool after_timeout = false;
    std::string_view reason;  // why a retry would be taken
    std::chrono::milliseconds delay{0};
    if (reply.ok() && reply->status >= 200 && reply->status < 300) {
      result = "ok";
      quota_.Release(retry_taken);
      if (info != nullptr) {
        const std::string* rid = reply->Header("x-amzn-requestid");
        info->request_id = rid ? *rid : "";
      }
      return std::move(reply->body);
    }
    if (!reply.ok()) {
      StatusCode c = reply.status().code();
      retryable = c == StatusCode::kUnavailable || c == StatusCode::kDeadlineExceeded;
      after_timeout = c == StatusCode::kDeadlineExceeded;
      reason = after_timeout ? "timeout" : "connection";
      result = std::string(StatusCodeName(c));
      last_error = reply.status().WithPrefix(what);
    } else {
      AwsError err = DecodeJsonError(*reply, svc.query_compatible);
      if (info != nullptr) info->request_id = err.request_id;
      last_error = ErrorToStatus(what, err);
      result = err.code.empty() ? "HTTP " + std::to_string(reply->status) : err.code;
      switch (ClassifyError(err)) {
        case ErrorClass::kThrottling:
          retryable = true;
          reason = "throttling";
          break;
        case ErrorClass::kTransient:
          retryable = true;
          reason = "transient";
          break;
        case ErrorClass::kClockSkew: {
          const std::string* date = reply->Header("date");
          if (date == nullptr) break;
          auto server = ParseHttpDate(*date);
          if (!server.ok()) break;
          auto skew =
              std::chrono::duration_cast<std::chrono::seconds>(*server - options_.env.now());
          if (std::chrono::abs(skew - clock_offset()) < kSkewThreshold) break;
          clock_offset_s_.store(skew.count(), std::memory_order_relaxed);
          log::Warn("aws clock skew corrected",
                    {{"service", std::string(svc.name)}, {"offset_s", skew.count()}});
          retryable = true;
          reason = "clock_skew";
          break;
        }
        case ErrorClass::kTerminal:
          break;
      }
    }
    if (!retryable || attempt >= options_.retry.max_attempts) return last_error;
    if (!quota_.Acquire(after_timeout, retry_taken)) {
      return Status(last_error.code(), last_error.message() + " (retry quota exhausted)");
    }
    m.retries.WithLabels({svc.name, operation, reason}).Inc();
    delay = BackoffDelay(options_.retry, attempt + 1, options_.env.random01());
    if (delay.count() > 0) options_.env.sleep(delay);
  }
}

void AwsClient::CallAsync(std::string operation, std::string body,
                          std::function<void(Result<std::string>)> done) {
  pool_->Post([this, operation = std::move(operation), body = std::move(body),
               done = std::move(done)]() mutable { done(Call(operation, std::move(body))); });
}

}  // namespace glfm::aws
