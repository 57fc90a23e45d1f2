// AWS "standard" retry mode (AWS SDKs and Tools Reference Guide, "Retry behavior"; the same
// numbers as botocore.retries.standard): at most `max_attempts` attempts, delay before
// attempt n+1 = rand[0,1) * min(2^(n-1), 20) seconds, and a retry-quota token bucket shared
// by every call of one client: 500 tokens, a retry takes 5 (10 after a timeout), a success
// without retries gives 1 back, a success after retries gives back what its last retry took.
// An empty bucket stops retrying until successes refill it.
//
// The clock, the sleeper and the random source come from AwsEnv, so tests step time.
//
// Thread-safety: RetryQuota is safe for concurrent use; AwsEnv's functions must be too.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace glfm::aws {

// Time and randomness, injectable (leveldb's Env idea). Defaults: the system clock, a real
// sleep, a thread-local Mersenne Twister.
struct AwsEnv {
  std::function<std::chrono::system_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<double()> random01;  // uniform in [0, 1)

  // Returns the real environment.
  static AwsEnv Real();
};

struct RetryOptions {
  int max_attempts = 3;  // first attempt included; 1 disables retries
  std::chrono::milliseconds max_backoff{20000};
  int quota_capacity = 500;
  int retry_cost = 5;
  int timeout_retry_cost = 10;
  int no_retry_increment = 1;
};

// Returns the delay before attempt `next_attempt` (2 for the first retry) with full jitter.
std::chrono::milliseconds BackoffDelay(const RetryOptions& options, int next_attempt,
                                       double random01);

class RetryQuota {
 public:
  explicit RetryQuota(const RetryOptions& options)
      : options_(options), available_(options.quota_capacity) {}

  // Takes the cost of one retry; false (and nothing taken) when the bucket cannot pay.
  // Returns the amount taken in `taken`.
  bool Acquire(bool after_timeout, int& taken);
  // Gives back `amount` after a success that needed retries, or the no-retry increment
  // when `amount` is 0; never above capacity.
  void Release(int amount);
  int available() const;

 private:
  const RetryOptions options_;
  mutable std::mutex mu_;
  int available_;  // GUARDED_BY(mu_)
};

}  // namespace glfm::aws
