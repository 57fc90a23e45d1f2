// HttpReceiver: a real HTTP server on a loopback port (glfm's own) that records every request
// and answers with the status a test chooses: the far end of webhooks in tests.
//
//   glfm::testing::HttpReceiver receiver([](int n) { return n == 1 ? 503 : 200; });
//   ... deliver to receiver.url("/hook") ...
//   auto got = receiver.Wait(2);  // the first two requests, or a test failure after 30 s
//
// Thread-safety: every method from any thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/http_server.h"

namespace glfm::testing {

class HttpReceiver {
 public:
  // `answer` gets the 1-based number of the request and returns the status to answer.
  explicit HttpReceiver(std::function<int(int n)> answer = [](int) { return 200; })
      : answer_(std::move(answer)) {
    auto s =
        server::HttpServer::Start({}, [this](server::HttpRequest&& req, server::Responder respond) {
          int status;
          {
            std::lock_guard lock(mu_);
            requests_.push_back(req);
            status = answer_(static_cast<int>(requests_.size()));
            cv_.notify_all();
          }
          respond(server::HttpResponse::Json(status, "{}"));
        });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }

  // "http://127.0.0.1:PORT" + path.
  std::string url(const std::string& path = "/hook") const { return server_->url() + path; }

  // Waits until at least `n` requests arrived; returns all so far.
  std::vector<server::HttpRequest> Wait(
      size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; }))
        << "got " << requests_.size() << " of " << n << " requests";
    return requests_;
  }

  std::vector<server::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  void SetAnswer(std::function<int(int)> answer) {
    std::lock_guard lock(mu_);
    answer_ = std::move(answer);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<server::HttpRequest> requests_;
  std::function<int(int)> answer_;
  std::unique_ptr<server::HttpServer> server_;
};

}  // namespace glfm::testing
