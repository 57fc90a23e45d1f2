// Router: picks the handler for a request by method and path pattern, and does what every
// route needs: path parameters, 404/405 answers, the request id on log lines, one access-log
// line per request and the HTTP metrics.
//
//   Router router;
//   router.Add("GET", "/v1/instances/{id}", [](HttpRequest&& req, PathParams p, Responder r) {
//     r(HttpResponse::Json(200, Lookup(*p.Get("id"))));
//   });
//   auto server = HttpServer::Start(options, router.AsHandler());
//
// Patterns are literal segments and `{name}` segments; a `{name}` matches one whole non-empty
// segment and its value is percent-decoded (an encoded '/' stays inside the segment). When two
// patterns match, the one with more literal segments wins. Errors answer in the project's JSON
// `{"code":N,"message":"..."}` with the HTTP status grpc-gateway gives code N; a path no route
// knows answers 404 (code 5), a known path with another method 405 (code 12) with `Allow`.
//
// Metrics (in the registry given): glfm_http_requests_total{route,method,code} and
// glfm_http_request_duration_seconds{route} (from the end of reading the request to the
// answer being handed back). `route` is the pattern, or "unmatched": never the raw path.
// Access log: one `request` line per answer at debug level, warn for a 5xx; the path is
// logged without its query (which may hold a key).
//
// Thread-safety: Add() only before the router serves (it is not synchronised); Handle() from
// any number of threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "glfm/status.h"
#include "server/http_server.h"

namespace glfm::server {

// The `{name}` values of the matched pattern, percent-decoded.
struct PathParams {
  std::vector<std::pair<std::string, std::string>> values;

  // Returns the value of `name`, or nullptr when the pattern has no such parameter.
  const std::string* Get(std::string_view name) const;
};

using RouteHandler = std::function<void(HttpRequest&& request, PathParams params, Responder)>;

// Returns the error answer for a non-OK `status`: `{"code":N,"message":"..."}` with
// HttpStatusForCode(N).
HttpResponse ErrorResponse(const Status& status);

class Router {
 public:
  explicit Router(metrics::Registry& registry = metrics::Registry::Default());
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds a route for `method` ("GET", "POST", ...) and `pattern` ("/v2/rpc/{id}"). Aborts on
  // a pattern that does not start with '/', an empty or unclosed `{}`, or a duplicate route
  // (programming errors).
  void Add(std::string_view method, std::string_view pattern, RouteHandler handler);

  // Answers `request` through its route, or with 404/405/400 (a bad percent-escape in a
  // parameter).
  void Handle(HttpRequest&& request, Responder respond) const;

  // Returns a Handler for HttpServer that calls Handle(); the router must outlive the server.
  Handler AsHandler() const;

 private:
  struct Route;
  const Route* Match(const std::vector<std::string_view>& segments, std::string_view method,
                     std::string* allow) const;
  void Answer(const Route* route, std::string_view route_label, const HttpRequest& request,
              HttpResponse&& response, const Responder& respond) const;

  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Histogram& unmatched_latency_;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace glfm::server
