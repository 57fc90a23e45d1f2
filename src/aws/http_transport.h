// HttpTransport: how the AWS client moves bytes. CurlTransport is the real one (libcurl
// multi interface on dedicated threads): keep-alive connection reuse per thread, TLS
// verification on (AWS_CA_BUNDLE honoured), connect and whole-request timeouts, and proxies
// from the environment as libcurl reads them (http_proxy, https_proxy, all_proxy, no_proxy;
// for plain http only the lower-case http_proxy, by libcurl's rule).
//
// Send() never blocks: it queues the request and returns; `done` runs later, exactly once,
// on a transport thread. So an HTTP-server IO thread may call Send() directly. `done` must be
// quick and must not call SendAndWait() (hand work to another thread instead).
//
// Thread-safety: Send() and SendAndWait() may be called from any thread concurrently.
// Destroying the transport fails every unfinished request with CANCELLED, then joins its
// threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/sigv4.h"
#include "glfm/status.h"

namespace glfm::aws {

struct HttpCall {
  std::string method = "POST";
  std::string url;  // "https://gamelift.us-east-1.amazonaws.com/"
  Headers headers;  // sent as given (Host included when present); nothing signed here
  std::string body;
  // Whole-request time limit; zero takes the transport's default.
  std::chrono::milliseconds timeout{0};
};

struct HttpReply {
  int status = 0;
  Headers headers;  // names lower-cased, in the order received
  std::string body;

  // Returns the first header named `lower_name`, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

// Errors a transport reports (in the Status of the Result):
//   UNAVAILABLE        connection refused or reset, nothing received, DNS failure: transient
//   DEADLINE_EXCEEDED  the connect or request timeout passed: transient
//   FAILED_PRECONDITION TLS failure (certificate not trusted, handshake): not retried
//   INVALID_ARGUMENT   a malformed URL
//   CANCELLED          the transport was shut down first
using HttpCallback = std::function<void(Result<HttpReply>)>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Starts `call`; `done` receives the reply (any HTTP status) or a transport error.
  virtual void Send(HttpCall call, HttpCallback done) = 0;

  // Sends and waits for the outcome. Blocks the calling thread: never call it from an
  // HTTP-server IO thread or from inside a `done` callback.
  Result<HttpReply> SendAndWait(HttpCall call);
};

struct CurlTransportOptions {
  // Threads, each with its own libcurl multi handle and connection cache.
  int threads = 1;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
  // Connections kept open per thread (libcurl's cache size).
  long max_connections = 32;
  // Off only for tests against a self-signed endpoint; never in production.
  bool verify_tls = true;
  // CA bundle file; empty uses AWS_CA_BUNDLE when set, else the system store.
  std::string ca_bundle;
  std::string user_agent = "glfm/0.1";
};

// Creates the libcurl transport. Errors: invalid-argument for threads < 1 or a negative
// timeout; internal when libcurl cannot be initialised.
Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const CurlTransportOptions& options);

}  // namespace glfm::aws
