// HttpServer: glfm's HTTP/1.1 server (Boost.Beast), shared by `glfm serve` and the emulator.
//
// N IO threads, each with its own io_context and its own SO_REUSEPORT acceptor on the same
// port (measured faster than one io_context shared by all threads). Keep-alive, a body size
// limit, read and idle timeouts, and a graceful Shutdown that stops accepting and lets
// in-flight requests finish.
//
// Handlers are asynchronous: the server hands each request to `Handler` on an IO thread and
// the handler answers through `Responder`, exactly once, from any thread, now or later
// (a long poll answers later). A handler must never block: work that blocks (storage,
// AWS) goes to another thread, which calls the Responder when done.
//
// Thread-safety: Start/Shutdown/port from any one controlling thread; Responder from any
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "glfm/status.h"

namespace glfm::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v2/rpc/x?http_key=k"
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?', not decoded ("" when none)
  // Header names lower-cased, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:53412"
  std::string request_id;      // X-Request-Id when the client sent a sane one, else generated
  std::chrono::steady_clock::time_point received_at;

  // Returns the first header named `lower_name`, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
  // Returns the percent-decoded value of query parameter `name` ("" for `?name`), or nullopt.
  std::optional<std::string> QueryParam(std::string_view name) const;
  // True when the query has parameter `name`, with or without a value.
  bool HasQueryParam(std::string_view name) const { return QueryParam(name).has_value(); }
};

// The body of a streamed response (server-sent events), written over time after the head.
// Thread-safety: every method may be called from any thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues `bytes` for the client. Returns false, queueing nothing, once the stream is closed:
  // the client went away, the server is shutting down, Close() was called, or the client fell
  // more than HttpServerOptions::max_stream_buffer bytes behind (the stream is closed then).
  // A false answer means the caller should drop the stream.
  virtual bool Write(std::string bytes) = 0;
  // Ends the response: queued bytes are sent, then the connection closes. Idempotent.
  virtual void Close() = 0;
  // True once the stream is closed for any of the reasons above.
  virtual bool closed() const = 0;
  // Calls `f` once when the stream closes (at once, on this thread, when it is closed
  // already); otherwise on an IO thread or the thread shutting the server down. `f` must not
  // block. A later call replaces an earlier `f` not yet called.
  virtual void SetOnClose(std::function<void()> f) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the response is a stream: the server writes the head (no Content-Length; the
  // body runs until the connection closes), then `body` if any, then calls `on_stream` on an
  // IO thread with the stream to write the rest. `on_stream` must not block. A stream does
  // not count as in flight, so graceful shutdown does not wait for it; shutdown closes it.
  std::function<void(std::shared_ptr<ResponseStream>)> on_stream;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body);
};

using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(HttpRequest&& request, Responder respond)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see HttpServer::port()
  int io_threads = 2;
  size_t max_body_bytes = 4 * 1024 * 1024;
  // Time allowed to receive one whole request once it has started.
  std::chrono::milliseconds read_timeout{30000};
  // Time a keep-alive connection may sit idle between requests.
  std::chrono::milliseconds idle_timeout{75000};
  // Bytes a streamed response may have queued and unsent before the server drops the client.
  size_t max_stream_buffer = 1024 * 1024;
  // Answer for a body over max_body_bytes; default 413 {"code":3,"message":...}.
  std::function<HttpResponse(const HttpRequest&)> body_too_large;
};

class HttpServer {
 public:
  // Binds and starts serving. Errors: invalid-argument for a bad host or thread count;
  // unavailable when the address cannot be bound (names the address and the reason).
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   Handler handler);
  virtual ~HttpServer() = default;

  // The bound port (the real one when options.port was 0).
  virtual uint16_t port() const = 0;
  // "http://HOST:PORT".
  virtual std::string url() const = 0;
  // Number of requests handed to the handler and not yet answered.
  virtual int64_t in_flight() const = 0;

  // Stops accepting, closes idle connections, waits up to `grace` for in-flight requests to
  // be answered and written, then stops the IO threads. Idempotent; the destructor calls it
  // with a zero grace.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

// Percent-decodes `s` ('+' as space when `plus_as_space`). Errors: invalid-argument on a bad
// escape.
Result<std::string> PercentDecode(std::string_view s, bool plus_as_space);

}  // namespace glfm::server
