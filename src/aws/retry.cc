#include "aws/retry.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

namespace glfm::aws {

AwsEnv AwsEnv::Real() {
  AwsEnv env;
  env.now = [] { return std::chrono::system_clock::now(); };
  env.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  env.random01 = [] {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
  return env;
}

std::chrono::milliseconds BackoffDelay(const RetryOptions& options, int next_attempt,
                                       double random01) {
  int exponent = std::max(0, next_attempt - 2);
  double cap_ms = static_cast<double>(options.max_backoff.count());
  double base_ms = exponent >= 30 ? cap_ms : std::ldexp(1000.0, exponent);
  double ms = random01 * std::min(base_ms, cap_ms);
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

bool RetryQuota::Acquire(bool after_timeout, int& taken) {
  int cost = after_timeout ? options_.timeout_retry_cost : options_.retry_cost;
  std::lock_guard<std::mutex> lock(mu_);
  if (available_ < cost) {
    taken = 0;
    return false;
  }
  available_ -= cost;
  taken = cost;
  return true;
}

void RetryQuota::Release(int amount) {
  std::lock_guard<std::mutex> lock(mu_);
  available_ = std::min(options_.quota_capacity,
                        available_ + (amount > 0 ? amount : options_.no_retry_increment));
}

int RetryQuota::available() const {
  std::lock_guard<std::mutex> lock(mu_);
  return available_;
}

}  // namespace glfm::aws
