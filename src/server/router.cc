#include "server/router.h"

#include <atomic>
#include <chrono>

#include "common/check.h"
#include "common/log.h"
#include "glfm/json.h"

namespace glfm::server {
namespace {

// Splits "/a/b/c" into {"a", "b", "c"}; "/" gives {""}; "/a/" gives {"a", ""}.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  for (;;) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

// A method name safe as a metric label: the standard ones, else "other".
std::string_view MethodLabel(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) {
    if (m == known) {
      return known;
    }
  }
  return "other";
}

}  // namespace

struct Router::Route {
  struct Segment {
    std::string text;  // the literal, or the parameter name
    bool param = false;
  };
  std::string method;
  std::string pattern;
  std::vector<Segment> segments;
  int literals = 0;
  RouteHandler handler;
  metrics::Histogram* latency = nullptr;
};

const std::string* PathParams::Get(std::string_view name) const {
  for (const auto& [k, v] : values) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

HttpResponse ErrorResponse(const Status& status) {
  std::string body = "{\"code\":" + std::to_string(status.raw_code()) + ",\"message\":";
  AppendJsonString(body, status.message());
  body.push_back('}');
  return HttpResponse::Json(HttpStatusForCode(status.code()), std::move(body));
}

Router::Router(metrics::Registry& registry)
    : requests_(registry.AddCounter("glfm_http_requests_total",
                                    "HTTP requests answered, by route pattern, method and status.",
                                    {"route", "method", "code"})),
      latency_(registry.AddHistogram(
          "glfm_http_request_duration_seconds",
          "Time from a request's last byte read to its answer being handed to the server.",
          {"route"})),
      unmatched_latency_(latency_.WithLabels({"unmatched"})) {}

Router::~Router() = default;

void Router::Add(std::string_view method, std::string_view pattern, RouteHandler handler) {
  GLFM_CHECK(!pattern.empty() && pattern.front() == '/');
  auto route = std::make_unique<Route>();
  route->method = std::string(method);
  route->pattern = std::string(pattern);
  route->handler = std::move(handler);
  for (std::string_view seg : SplitPath(pattern)) {
    Route::Segment s;
    if (!seg.empty() && seg.front() == '{') {
      GLFM_CHECK(seg.size() > 2 && seg.back() == '}');
      s.text = std::string(seg.substr(1, seg.size() - 2));
      s.param = true;
    } else {
      GLFM_CHECK(seg.find_first_of("{}") == std::string_view::npos);
      s.text = std::string(seg);
      route->literals++;
    }
    route->segments.push_back(std::move(s));
  }
  for (const auto& r : routes_) {
    GLFM_CHECK(!(r->method == route->method && r->pattern == route->pattern));
  }
  route->latency = &latency_.WithLabels({route->pattern});
  routes_.push_back(std::move(route));
}

const Router::Route* Router::Match(const std::vector<std::string_view>& segments,
                                   std::string_view method, std::string* allow) const {
  const Route* best = nullptr;
  int best_path_literals = -1;  // most specific pattern matching the path, any method
  for (const auto& r : routes_) {
    if (r->segments.size() != segments.size()) {
      continue;
    }
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const auto& s = r->segments[i];
      match = s.param ? !segments[i].empty() : s.text == segments[i];
    }
    if (!match) {
      continue;
    }
    if (r->literals > best_path_literals) {
      best_path_literals = r->literals;
      allow->clear();
    }
    if (r->literals < best_path_literals) {
      continue;
    }
    if (r->method == method) {
      best = r.get();
    }
    if (!allow->empty()) {
      *allow += ", ";
    }
    *allow += r->method;
  }
  return best;
}

void Router::Answer(const Route* route, std::string_view route_label, const HttpRequest& request,
                    HttpResponse&& response, const Responder& respond) const {
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - request.received_at).count();
  (route != nullptr ? *route->latency : unmatched_latency_).Observe(seconds);
  std::string code = std::to_string(response.status);
  requests_.WithLabels({route_label, MethodLabel(request.method), code}).Inc();
  if (response.status >= 500 || log::Enabled(log::Level::kDebug)) {
    log::ScopedRequestId rid(request.request_id);
    log::Write(response.status >= 500 ? log::Level::kWarn : log::Level::kDebug, "request",
               {{"method", request.method},
                {"route", route_label},
                {"path", request.path},
                {"status", response.status},
                {"duration_ms", seconds * 1000}});
  }
  respond(std::move(response));
}

void Router::Handle(HttpRequest&& request, Responder respond) const {
  log::ScopedRequestId rid(request.request_id);
  std::vector<std::string_view> segments = SplitPath(request.path);
  std::string allow;
  const Route* route = Match(segments, request.method, &allow);
  if (route == nullptr) {
    if (allow.empty()) {
      return Answer(
          nullptr, "unmatched", request,
          ErrorResponse(NotFoundError("no route for " + request.method + " " + request.path)),
          respond);
    }
    HttpResponse res =
        ErrorResponse(UnimplementedError("method " + request.method + " not allowed on " +
                                         request.path + " (allowed: " + allow + ")"));
    res.status = 405;
    res.headers.emplace_back("Allow", allow);
    return Answer(nullptr, "unmatched", request, std::move(res), respond);
  }
  PathParams params;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = route->segments[i];
    if (!s.param) {
      continue;
    }
    auto decoded = PercentDecode(segments[i], false);
    if (!decoded.ok()) {
      return Answer(route, route->pattern, request,
                    ErrorResponse(decoded.status().WithPrefix("path parameter " + s.text)),
                    respond);
    }
    params.values.emplace_back(s.text, std::move(*decoded));
  }
  // The handler answers once, from any thread, now or later.
  struct Pending {
    HttpRequest request;  // without body
    Responder respond;
    std::atomic<bool> answered{false};
  };
  auto pending = std::make_shared<Pending>();
  pending->request.method = request.method;
  pending->request.path = request.path;
  pending->request.request_id = request.request_id;
  pending->request.received_at = request.received_at;
  pending->respond = std::move(respond);
  route->handler(
      std::move(request), std::move(params), [this, route, pending](HttpResponse response) {
        if (pending->answered.exchange(true)) {
          return;
        }
        Answer(route, route->pattern, pending->request, std::move(response), pending->respond);
      });
}

Handler Router::AsHandler() const {
  return [this](HttpRequest&& request, Responder respond) {
    Handle(std::move(request), std::move(respond));
  };
}

}  // namespace glfm::server
