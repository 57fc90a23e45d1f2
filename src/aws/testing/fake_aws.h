// A scriptable fake AWS endpoint for tests, on glfm's own HttpServer (loopback, port 0).
//
//   FakeAws fake;
//   fake.Push(FakeAws::Error(400, "ThrottlingException", "slow down"));
//   fake.Push(FakeAws::Ok(R"({"Alias":{}})"));
//   ... client pointed at fake.url() ...
//   EXPECT_EQ(fake.requests().size(), 2u);
//
// Every request is recorded and its SigV4 signature verified with `secret` (a request whose
// signature does not verify is answered 403 InvalidSignatureException). When the script is
// empty the fake answers `fallback`.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aws/sigv4.h"
#include "server/http_server.h"

namespace glfm::aws::testing {

class FakeAws {
 public:
  struct Recorded {
    server::HttpRequest request;
    Status signature;  // VerifySignature's verdict
  };

  explicit FakeAws(std::string secret = "SECRET") : secret_(std::move(secret)) {
    server::HttpServerOptions o;
    o.io_threads = 1;
    auto s = server::HttpServer::Start(o, [this](server::HttpRequest&& r, server::Responder re) {
      Handle(std::move(r), std::move(re));
    });
    server_ = std::move(s).value();
  }
  ~FakeAws() { server_->Shutdown(std::chrono::milliseconds(0)); }

  static server::HttpResponse Ok(std::string body) {
    auto r = server::HttpResponse::Json(200, std::move(body));
    r.content_type = "application/x-amz-json-1.1";
    r.headers.emplace_back("x-amzn-RequestId", "req-ok");
    return r;
  }
  static server::HttpResponse Error(int status, const std::string& type,
                                    const std::string& message) {
    auto r = server::HttpResponse::Json(status, R"({"__type":"com.amazonaws.gamelift#)" + type +
                                                    R"(","message":")" + message + R"("})");
    r.content_type = "application/x-amz-json-1.1";
    r.headers.emplace_back("x-amzn-RequestId", "req-err");
    return r;
  }

  void Push(server::HttpResponse r) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.push_back(std::move(r));
  }
  void SetFallback(server::HttpResponse r) {
    std::lock_guard<std::mutex> lock(mu_);
    fallback_ = std::move(r);
  }
  // Holds requests unanswered (for timeout tests) until Release().
  void Hold(bool hold) {
    std::vector<server::Responder> release;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hold_ = hold;
      if (!hold) release.swap(held_);
    }
    for (auto& r : release) r(Ok("{}"));
  }

  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded_;
  }
  // Blocks until at least `n` requests have arrived.
  void WaitForRequests(size_t n) const {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_.wait(lock, [&] { return recorded_.size() >= n; });
  }
  std::string url() const { return server_->url(); }
  uint16_t port() const { return server_->port(); }

 private:
  void Handle(server::HttpRequest&& req, server::Responder respond) {
    Headers headers(req.headers.begin(), req.headers.end());
    Status sig = InvalidArgumentError("no Authorization header");
    if (const std::string* a = req.Header("authorization")) {
      auto parsed = ParseAuthorization(*a);
      sig = parsed.ok() ? VerifySignature(req.method, req.path, req.query, headers, req.body,
                                          *parsed, secret_)
                        : parsed.status();
    }
    server::HttpResponse answer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      recorded_.push_back({req, sig});
      arrived_.notify_all();
      if (hold_) {
        held_.push_back(std::move(respond));
        return;
      }
      if (!sig.ok()) {
        answer = Error(403, "InvalidSignatureException", sig.message());
      } else if (!script_.empty()) {
        answer = std::move(script_.front());
        script_.pop_front();
      } else {
        answer = fallback_;
      }
    }
    respond(std::move(answer));
  }

  const std::string secret_;
  std::unique_ptr<server::HttpServer> server_;
  mutable std::mutex mu_;
  mutable std::condition_variable arrived_;
  std::deque<server::HttpResponse> script_;
  server::HttpResponse fallback_ = Ok("{}");
  std::vector<Recorded> recorded_;
  std::vector<server::Responder> held_;
  bool hold_ = false;
};

}  // namespace glfm::aws::testing
