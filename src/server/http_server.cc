#include "server/http_server.h"

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/ascii.h"
#include "common/log.h"
#include "glfm/json.h"

namespace glfm::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
// Sockets, streams and acceptors bound to the io_context's own executor type rather than
// the type-erased any_io_executor: every asynchronous operation copies and destroys its
// executor, which for any_io_executor is an indirect call each time (~8% of the IO thread's
// user time under bench_service rpc).
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using TcpStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) {
    out[i] = kHex[(v >> (i * 4)) & 0xF];
  }
  return out;
}

// Accepts a client's X-Request-Id only when it is short and printable, so it is safe to log.
bool SaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

HttpResponse DefaultBodyTooLarge(const HttpRequest&, size_t limit) {
  return HttpResponse::Json(413, "{\"code\":3,\"message\":\"request body over the limit of " +
                                     std::to_string(limit) + " bytes\"}");
}

class Session;

// One IO thread: its io_context, its acceptor, and the sessions it owns.
struct Worker {
  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>(1);
  std::optional<Acceptor> acceptor;
  std::thread thread;
  std::mutex mu;
  bool alive = true;                                    // guarded by mu
  std::map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
};

struct Shared {
  HttpServerOptions options;
  Handler handler;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> in_flight{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, std::shared_ptr<Worker> worker, std::shared_ptr<Shared> shared)
      : stream_(std::in_place, std::move(socket)),
        worker_(std::move(worker)),
        shared_(std::move(shared)) {
    beast::error_code ec;
    auto ep = stream_->socket().remote_endpoint(ec);
    if (!ec) {
      remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
  }

  ~Session() {
    std::lock_guard<std::mutex> lock(worker_->mu);
    worker_->sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard<std::mutex> lock(worker_->mu);
      worker_->sessions.emplace(this, weak_from_this());
    }
    ReadHeader();
  }

  // After the IO threads have stopped: closes the connection whatever its state.
  void CloseNow() { Close(); }

  // After the IO threads have stopped, before the io_context dies: destroys the socket and its
  // timer, which belong to the io_context. A Responder that a handler still holds keeps the
  // Session alive past the server; its destructor must then find nothing tied to the dead
  // io_context.
  void DropStream() { stream_.reset(); }

  // On the worker thread: closes the connection if it is waiting for a request.
  void CloseIfIdle() {
    if (idle_) {
      beast::error_code ec;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_->socket().close(ec);
    }
  }

 private:
  void ReadHeader() {
    idle_ = true;
    if (shared_->stopping) {
      Close();
      return;
    }
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_->expires_after(shared_->options.idle_timeout);
    http::async_read_header(
        *stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) {
      return OnReadError(ec);
    }
    idle_ = false;
    stream_->expires_after(shared_->options.read_timeout);
    http::async_read(
        *stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      HttpRequest req = MakeRequest();
      HttpResponse res = shared_->options.body_too_large
                             ? shared_->options.body_too_large(req)
                             : DefaultBodyTooLarge(req, shared_->options.max_body_bytes);
      keep_alive_ = false;
      shared_->in_flight++;
      return Write(std::move(res), req.request_id);
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      keep_alive_ = false;
      shared_->in_flight++;
      return Write(HttpResponse::Json(400, "{\"code\":3,\"message\":\"malformed HTTP request: " +
                                               ec.message() + "\"}"),
                   NewRequestId());
    }
    Close();
  }

  HttpRequest MakeRequest() {
    HttpRequest req;
    auto& msg = parser_->get();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) {
      req.query = req.target.substr(q + 1);
    }
    req.headers.reserve(static_cast<size_t>(std::distance(msg.begin(), msg.end())));
    for (const auto& field : msg) {
      std::string name(field.name_string());
      LowerAsciiInPlace(name);
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    req.remote_address = remote_;
    const std::string* rid = req.Header("x-request-id");
    req.request_id = rid != nullptr && SaneRequestId(*rid) ? *rid : NewRequestId();
    req.received_at = std::chrono::steady_clock::now();
    return req;
  }

  void OnBody(beast::error_code ec) {
    if (ec) {
      return OnReadError(ec);
    }
    stream_->expires_never();
    HttpRequest req = MakeRequest();
    req.body = std::move(parser_->get().body());
    keep_alive_ = parser_->get().keep_alive();
    std::string request_id = req.request_id;
    shared_->in_flight++;

    // The responder may run on any thread, at most once; it posts back to this IO thread.
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self = shared_from_this(), once, request_id](HttpResponse res) {
      if (once->exchange(true)) {
        return;
      }
      std::lock_guard<std::mutex> lock(self->worker_->mu);
      if (!self->worker_->alive) {
        return;
      }
      net::post(*self->worker_->ioc, [self, res = std::move(res), request_id]() mutable {
        self->Write(std::move(res), request_id);
      });
    };
    shared_->handler(std::move(req), std::move(respond));
  }

  // Writes the head of `res` into `out`: the status line, then Server, Content-Type,
  // X-Request-Id and the handler's headers (one of the same name replaces the server's),
  // Content-Length when `content_length` is given, and Connection: close unless `keep`.
  // Written by hand: Beast's fields and serializer took ~15% of the IO thread's user time
  // under bench_service rpc for a head of six lines. CR and LF never reach the head.
  static void AppendHead(std::string& out, const HttpResponse& res, const std::string& request_id,
                         std::optional<size_t> content_length, bool keep) {
    auto line = [&out](std::string_view name, std::string_view value) {
      out.append(name).append(": ");
      for (char c : value) {
        if (c != '\r' && c != '\n') out.push_back(c);
      }
      out.append("\r\n");
    };
    auto overridden = [&res](std::string_view name) {
      for (const auto& header : res.headers) {
        if (beast::iequals(header.first, name)) return true;
      }
      return false;
    };
    out.append("HTTP/1.1 ").append(std::to_string(res.status)).push_back(' ');
    out.append(http::obsolete_reason(static_cast<http::status>(res.status))).append("\r\n");
    if (!overridden("Server")) line("Server", "glfm");
    if (!overridden("Content-Type")) line("Content-Type", res.content_type);
    if (!overridden("X-Request-Id")) line("X-Request-Id", request_id);
    for (const auto& [name, value] : res.headers) line(name, value);
    if (content_length) line("Content-Length", std::to_string(*content_length));
    if (!keep) line("Connection", "close");
    out.append("\r\n");
  }

  void Write(HttpResponse res, const std::string& request_id) {
    if (res.on_stream) {
      return WriteStreamHead(std::move(res), request_id);
    }
    // These statuses have no body (RFC 9110 §6.4.1), nor a Content-Length: a handler's body
    // for them is dropped.
    bool bodiless =
        res.status == 204 || res.status == 304 || (res.status >= 100 && res.status < 200);
    if (bodiless) res.body.clear();
    bool keep = keep_alive_ && !shared_->stopping;
    // One answer is in flight per connection: the next request is read once it is written.
    out_head_.clear();
    AppendHead(out_head_, res, request_id,
               bodiless ? std::nullopt : std::optional<size_t>(res.body.size()), keep);
    out_body_ = std::move(res.body);
    stream_->expires_after(shared_->options.read_timeout);
    std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(out_body_)};
    net::async_write(*stream_, buffers,
                     [self = shared_from_this(), keep](beast::error_code ec, size_t) {
                       self->shared_->in_flight--;
                       if (ec || !keep) {
                         return self->Close();
                       }
                       self->ReadHeader();
                     });
  }

  // Streams (ResponseStream), on the IO thread. The head goes out without a Content-Length
  // and with Connection: close; the body is whatever is written until the stream closes.
  void WriteStreamHead(HttpResponse res, const std::string& request_id) {
    out_head_.clear();
    AppendHead(out_head_, res, request_id, std::nullopt, /*keep=*/false);
    stream_->expires_never();
    net::async_write(*stream_, net::buffer(out_head_),
                     [self = shared_from_this(), first = std::move(res.body),
                      on_stream = std::move(res.on_stream)](beast::error_code ec, size_t) mutable {
                       self->shared_->in_flight--;
                       if (ec) {
                         self->stream_closed_ = true;
                         return self->Close();
                       }
                       auto stream = std::make_shared<Stream>(self);
                       if (!first.empty()) {
                         stream->Write(std::move(first));
                       }
                       self->WatchStreamPeer();
                       on_stream(std::move(stream));
                     });
  }

  // Reads (and discards) from the client of a stream until it goes away.
  void WatchStreamPeer() {
    if (stream_closed_) {
      return;
    }
    stream_->async_read_some(net::buffer(peer_scratch_),
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) {
                                 self->stream_closed_ = true;
                                 return self->Close();
                               }
                               self->WatchStreamPeer();
                             });
  }

  void QueueStreamBytes(std::string bytes) {
    if (stream_closed_) {
      return;
    }
    stream_out_.push_back(std::move(bytes));
    if (!stream_writing_) {
      WriteStreamBytes();
    }
  }

  void WriteStreamBytes() {
    if (stream_out_.empty()) {
      stream_writing_ = false;
      if (stream_close_requested_) {
        stream_closed_ = true;
        Close();
      }
      return;
    }
    stream_writing_ = true;
    net::async_write(*stream_, net::buffer(stream_out_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t n) {
                       self->stream_queued_ -= n;
                       self->stream_out_.pop_front();
                       if (ec) {
                         self->stream_closed_ = true;
                         self->stream_out_.clear();
                         self->stream_writing_ = false;
                         return self->Close();
                       }
                       self->WriteStreamBytes();
                     });
  }

  void CloseStream() {
    stream_close_requested_ = true;
    if (!stream_writing_ && !stream_closed_) {
      stream_closed_ = true;
      Close();
    }
  }

  // The ResponseStream of a streamed response; posts everything to the session's IO thread.
  class Stream final : public ResponseStream {
   public:
    explicit Stream(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    ~Stream() override { Close(); }

    bool Write(std::string bytes) override {
      Session& s = *session_;
      if (closed()) {
        return false;
      }
      size_t queued = s.stream_queued_.fetch_add(bytes.size()) + bytes.size();
      if (queued > s.shared_->options.max_stream_buffer) {
        log::Warn("http: dropping a stream client that fell behind",
                  {{"remote", s.remote_}, {"queued_bytes", static_cast<int64_t>(queued)}});
        Close();
        return false;
      }
      return Post([bytes = std::move(bytes)](Session& session) mutable {
        session.QueueStreamBytes(std::move(bytes));
      });
    }

    void Close() override {
      if (close_requested_.exchange(true)) {
        return;
      }
      Post([](Session& session) { session.CloseStream(); });
    }

    bool closed() const override {
      return close_requested_ || session_->stream_closed_ || session_->shared_->stopping;
    }

    void SetOnClose(std::function<void()> f) override { session_->SetOnClose(std::move(f)); }

   private:
    bool Post(std::function<void(Session&)> f) {
      std::lock_guard<std::mutex> lock(session_->worker_->mu);
      if (!session_->worker_->alive) {
        return false;
      }
      net::post(*session_->worker_->ioc, [s = session_, f = std::move(f)]() mutable { f(*s); });
      return true;
    }

    std::shared_ptr<Session> session_;
    std::atomic<bool> close_requested_{false};
  };

  void Close() {
    stream_closed_ = true;
    beast::error_code ec;
    stream_->socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_->socket().close(ec);
    std::function<void()> f;
    {
      std::lock_guard<std::mutex> lock(on_close_mu_);
      f = std::move(on_close_);
      on_close_ = nullptr;
    }
    if (f) {
      f();
    }
  }

  void SetOnClose(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(on_close_mu_);
      if (!stream_closed_) {
        on_close_ = std::move(f);
        return;
      }
    }
    f();
  }

  // Reset by DropStream() while the io_context is still alive (see ~HttpServerImpl).
  std::optional<TcpStream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Worker> worker_;
  std::shared_ptr<Shared> shared_;
  std::string remote_;
  bool idle_ = true;
  bool keep_alive_ = true;
  // The answer being written (Write, WriteStreamHead).
  std::string out_head_;
  std::string out_body_;
  // Streamed responses; touched on the IO thread except the atomics.
  std::atomic<bool> stream_closed_{false};
  std::atomic<size_t> stream_queued_{0};
  std::deque<std::string> stream_out_;
  bool stream_writing_ = false;
  bool stream_close_requested_ = false;
  char peer_scratch_[512];
  std::mutex on_close_mu_;
  std::function<void()> on_close_;  // guarded by on_close_mu_
};

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(std::shared_ptr<Shared> shared, std::string host, uint16_t port,
                 std::vector<std::shared_ptr<Worker>> workers)
      : shared_(std::move(shared)),
        host_(std::move(host)),
        port_(port),
        workers_(std::move(workers)) {
    for (auto& w : workers_) {
      Accept(w);
      w->thread = std::thread([w] {
        auto guard = net::make_work_guard(*w->ioc);
        w->ioc->run();
      });
    }
  }

  ~HttpServerImpl() override {
    Shutdown(std::chrono::milliseconds(0));
    for (auto& w : workers_) {
      std::vector<std::shared_ptr<Session>> live;
      {
        std::lock_guard<std::mutex> lock(w->mu);
        w->alive = false;
        for (auto& [ptr, weak] : w->sessions) {
          if (auto session = weak.lock()) {
            live.push_back(std::move(session));
          }
        }
      }
      for (auto& session : live) {
        session->DropStream();
      }
      live.clear();
      w->acceptor.reset();
      w->ioc.reset();  // destroys queued handlers and the sessions they hold
    }
  }

  uint16_t port() const override { return port_; }
  std::string url() const override {
    bool v6 = host_.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
  }
  int64_t in_flight() const override { return shared_->in_flight.load(); }

  void Shutdown(std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) {
      return;
    }
    shared_->stopping = true;
    // Each IO thread closes its acceptor and its idle connections. Wait until all have done
    // so (bounded by `grace`): an IO thread stopped before running this would leave its
    // listening socket open, and new clients would hang in its backlog.
    auto closed = std::make_shared<std::atomic<size_t>>(0);
    for (auto& w : workers_) {
      net::post(*w->ioc, [w, closed] {
        beast::error_code ec;
        w->acceptor->close(ec);
        CloseIdle(*w);
        closed->fetch_add(1);
      });
    }
    auto deadline = std::chrono::steady_clock::now() + grace;
    while ((closed->load() < workers_.size() || shared_->in_flight.load() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& w : workers_) {
      w->ioc->stop();
    }
    for (auto& w : workers_) {
      if (w->thread.joinable()) {
        w->thread.join();
      }
    }
    // The IO threads are gone: close what is left from here, so that no client waits on a
    // socket nobody serves (the grace period is over).
    for (auto& w : workers_) {
      beast::error_code ec;
      w->acceptor->close(ec);
      std::vector<std::shared_ptr<Session>> live;
      {
        std::lock_guard<std::mutex> lock(w->mu);
        for (auto& [ptr, weak] : w->sessions) {
          if (auto session = weak.lock()) {
            live.push_back(std::move(session));
          }
        }
      }
      for (auto& session : live) {
        session->CloseNow();
      }
    }
    shut_down_ = true;
  }

 private:
  static void CloseIdle(Worker& w) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(w.mu);
      for (auto& [ptr, weak] : w.sessions) {
        if (auto s = weak.lock()) {
          live.push_back(std::move(s));
        }
      }
    }
    for (auto& s : live) {
      s->CloseIfIdle();
    }
  }

  void Accept(const std::shared_ptr<Worker>& w) {
    w->acceptor->async_accept([this, w](beast::error_code ec, Socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted || shared_->stopping) {
          return;
        }
        log::Warn("accept failed", {{"error", ec.message()}});
      } else {
        std::make_shared<Session>(std::move(socket), w, shared_)->Start();
      }
      if (!shared_->stopping) {
        Accept(w);
      }
    });
  }

  std::shared_ptr<Shared> shared_;
  std::string host_;
  uint16_t port_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

// Whether PercentDecode(s, plus_as_space) has anything to change: a '%', or a '+' read as a
// space.
bool NeedsDecoding(std::string_view s, bool plus_as_space) {
  return s.find_first_of(plus_as_space ? std::string_view("%+") : std::string_view("%")) !=
         std::string_view::npos;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) {
      return &v;
    }
  }
  return nullptr;
}

std::optional<std::string> HttpRequest::QueryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (!NeedsDecoding(k, true)) {
      if (k != name) continue;  // nothing to decode: compared as it is
    } else if (auto key = PercentDecode(k, true); !key.ok() || *key != name) {
      continue;
    }
    if (eq == std::string_view::npos) {
      return std::string();
    }
    auto value = PercentDecode(pair.substr(eq + 1), true);
    if (!value.ok()) {
      return std::nullopt;
    }
    return *value;
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Result<std::string> PercentDecode(std::string_view s, bool plus_as_space) {
  // Most keys, values and path segments hold nothing to decode: copied whole.
  if (!NeedsDecoding(s, plus_as_space)) {
    return std::string(s);
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') {
          return h - '0';
        }
        if (h >= 'a' && h <= 'f') {
          return h - 'a' + 10;
        }
        if (h >= 'A' && h <= 'F') {
          return h - 'A' + 10;
        }
        return -1;
      };
      if (i + 2 >= s.size()) {
        return InvalidArgumentError("bad percent-escape in \"" + std::string(s) + "\"");
      }
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return InvalidArgumentError("bad percent-escape in \"" + std::string(s) + "\"");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      Handler handler) {
  if (options.io_threads < 1 || options.io_threads > 256) {
    return InvalidArgumentError("io_threads must be 1-256, got " +
                                std::to_string(options.io_threads));
  }
  boost::system::error_code ec;
  auto address = net::ip::make_address(options.host, ec);
  if (ec) {
    return InvalidArgumentError("listen host \"" + options.host +
                                "\" is not an IP address: " + ec.message());
  }
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  shared->handler = std::move(handler);

  std::vector<std::shared_ptr<Worker>> workers;
  uint16_t port = options.port;
  std::string where = options.host + ":" + std::to_string(options.port);
  for (int i = 0; i < options.io_threads; ++i) {
    auto w = std::make_shared<Worker>();
    w->acceptor.emplace(w->ioc->get_executor());
    tcp::endpoint ep(address, port);
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) {
      w->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      int one = 1;
      if (::setsockopt(w->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
      }
    }
    if (!ec) {
      w->acceptor->bind(ep, ec);
    }
    if (!ec) {
      w->acceptor->listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return UnavailableError("cannot listen on " + where + ": " + ec.message());
    }
    // Port 0: the first acceptor picks the port; the others join it.
    port = w->acceptor->local_endpoint().port();
    workers.push_back(std::move(w));
  }
  return std::unique_ptr<HttpServer>(
      new HttpServerImpl(std::move(shared), options.host, port, std::move(workers)));
}

}  // namespace glfm::server
