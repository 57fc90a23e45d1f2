#include "server/http_server.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "testing/http_client.h"
#include "testing/status_matchers.h"
#include "testing/stream_client.h"

namespace glfm::server {
namespace {

using glfm::testing::HttpClient;
using ::testing::HasSubstr;

// Echoes method, path, query param "q", header "x-test" and body.
void Echo(HttpRequest&& req, Responder respond) {
  std::string q = req.QueryParam("q").value_or("<none>");
  const std::string* h = req.Header("x-test");
  respond(HttpResponse::Text(200, req.method + " " + req.path + " q=" + q +
                                      " h=" + (h ? *h : "<none>") + " body=" + req.body));
}

std::unique_ptr<HttpServer> StartOrDie(HttpServerOptions opts, Handler h) {
  auto s = HttpServer::Start(opts, std::move(h));
  EXPECT_OK(s);
  return std::move(s).value();
}

TEST(HttpServerTest, ServesOnAnyPortWithKeepAlive) {
  auto server = StartOrDie({}, Echo);
  ASSERT_NE(server->port(), 0);
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()));
  HttpClient c("127.0.0.1", server->port());
  auto r1 = c.Request("POST", "/a/b?q=hello%20world&x=1", "payload", {{"X-Test", "yes"}});
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "POST /a/b q=hello world h=yes body=payload");
  EXPECT_TRUE(r1.keep_alive);
  EXPECT_EQ(r1.headers["x-request-id"].size(), 16u);
  auto r2 = c.Request("GET", "/again");
  EXPECT_EQ(r2.body, "GET /again q=<none> h=<none> body=");
}

TEST(HttpServerTest, KeepsClientRequestIdWhenSane) {
  auto server = StartOrDie({}, Echo);
  HttpClient c("127.0.0.1", server->port());
  EXPECT_EQ(c.Request("GET", "/", "", {{"X-Request-Id", "abc-123"}}).headers["x-request-id"],
            "abc-123");
  EXPECT_NE(c.Request("GET", "/", "", {{"X-Request-Id", "bad id\x01"}}).headers["x-request-id"],
            "bad id\x01");
}

TEST(HttpServerTest, BodyOverLimitIsRejectedWithConfiguredAnswer) {
  HttpServerOptions opts;
  opts.max_body_bytes = 10;
  opts.body_too_large = [](const HttpRequest& r) {
    return HttpResponse::Json(400, "{\"code\":3,\"path\":\"" + r.path + "\"}");
  };
  std::atomic<int> handled{0};
  auto server = StartOrDie(opts, [&](HttpRequest&& req, Responder respond) {
    handled++;
    Echo(std::move(req), std::move(respond));
  });
  HttpClient c("127.0.0.1", server->port());
  auto r = c.Request("POST", "/rpc", std::string(11, 'x'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"code":3,"path":"/rpc"})");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(handled.load(), 0);
  EXPECT_EQ(c.Request("POST", "/rpc", std::string(10, 'x')).status, 200);
}

TEST(HttpServerTest, ResponderMayAnswerLaterFromAnotherThread) {
  std::promise<Responder> parked;
  std::atomic<int> calls{0};
  auto server = StartOrDie({}, [&](HttpRequest&&, Responder respond) {
    if (calls++ == 0) {
      parked.set_value(std::move(respond));
    } else {
      respond(HttpResponse::Json(204, ""));
    }
  });
  std::thread t([&] {
    Responder r = parked.get_future().get();
    r(HttpResponse::Json(202, "{\"late\":true}"));
    r(HttpResponse::Json(500, "{}"));  // a second answer is ignored
  });
  HttpClient c("127.0.0.1", server->port());
  auto res = c.Request("GET", "/wait");
  t.join();
  EXPECT_EQ(res.status, 202);
  EXPECT_EQ(res.body, "{\"late\":true}");
  // The ignored second answer was never written: the next exchange on the same connection
  // reads its own answer.
  EXPECT_EQ(c.Request("GET", "/next").status, 204);
}

TEST(HttpServerTest, GracefulShutdownFinishesInFlightRequest) {
  std::mutex mu;
  std::condition_variable cv;
  Responder pending;
  auto server = StartOrDie({}, [&](HttpRequest&&, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    pending = std::move(respond);
    cv.notify_all();
  });
  uint16_t port = server->port();
  HttpClient idle("127.0.0.1", port);
  HttpClient busy_client("127.0.0.1", port);
  std::future<glfm::testing::HttpResult> busy = std::async(
      std::launch::async, [&busy_client] { return busy_client.Request("POST", "/slow", "x"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return static_cast<bool>(pending); });
  }
  EXPECT_EQ(server->in_flight(), 1);
  std::thread stopper([&] { server->Shutdown(std::chrono::seconds(10)); });
  {
    std::lock_guard<std::mutex> lock(mu);
    pending(HttpResponse::Json(200, "{\"done\":true}"));
  }
  stopper.join();
  auto r = busy.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"done\":true}");
  // The answer may race the start of the shutdown (then it says keep-alive), but either way
  // the server closes the connection afterwards.
  EXPECT_TRUE(busy_client.ServerClosed());
  EXPECT_EQ(server->in_flight(), 0);
  HttpClient after("127.0.0.1", port);
  EXPECT_NE(after.Request("GET", "/").error, "");  // no longer accepting
}

TEST(HttpServerTest, ABodyOnA204IsDroppedNotFatal) {
  auto server = StartOrDie({}, [](HttpRequest&&, Responder respond) {
    respond(HttpResponse::Json(204, "{\"ignored\":true}"));
  });
  HttpClient c("127.0.0.1", server->port());
  auto r = c.Request("POST", "/x", "{}");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(c.Request("GET", "/again").status, 204);  // the connection is still good
}

// The head of an answer, byte for byte: the status line, Server, Content-Type, X-Request-Id,
// the handler's headers (one named like the server's replaces it; CR and LF are dropped),
// Content-Length unless the status has no body, and Connection: close when the client asked.
TEST(HttpServerTest, AnswersCarryExactlyTheirHead) {
  auto server = StartOrDie({}, [](HttpRequest&& req, Responder respond) {
    if (req.path == "/created") {
      HttpResponse res = HttpResponse::Json(201, R"({"ok":true})");
      res.headers.emplace_back("Allow", "GET, POST");
      res.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
      return respond(std::move(res));
    }
    if (req.path == "/text") {
      HttpResponse res = HttpResponse::Text(200, "hi");
      res.headers.emplace_back("content-type", "text/csv");
      return respond(std::move(res));
    }
    if (req.path == "/odd") return respond(HttpResponse::Json(299, "{}"));
    respond(HttpResponse::Json(204, "dropped"));
  });
  auto client = [&](const std::string& path, bool close) {
    std::vector<std::pair<std::string, std::string>> headers = {{"X-Request-Id", "rid-1"}};
    if (close) headers.emplace_back("Connection", "close");
    return std::make_unique<glfm::testing::StreamClient>("127.0.0.1", server->port(), "GET", path,
                                                         headers);
  };
  auto head_of = [&](const std::string& path, bool close) { return client(path, close)->head(); };
  auto created = client("/created", false);
  EXPECT_EQ(created->head(),
            "HTTP/1.1 201 Created\r\nServer: glfm\r\nContent-Type: application/json\r\n"
            "X-Request-Id: rid-1\r\nAllow: GET, POST\r\nX-Evil: aSet-Cookie: b\r\n"
            "Content-Length: 11\r\n\r\n");
  EXPECT_EQ(created->ReadUntil("}"), R"({"ok":true})");
  EXPECT_EQ(head_of("/text", true),
            "HTTP/1.1 200 OK\r\nServer: glfm\r\nX-Request-Id: rid-1\r\ncontent-type: text/csv\r\n"
            "Content-Length: 2\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head_of("/empty", false),
            "HTTP/1.1 204 No Content\r\nServer: glfm\r\nContent-Type: application/json\r\n"
            "X-Request-Id: rid-1\r\n\r\n");
  EXPECT_EQ(head_of("/odd", true),
            "HTTP/1.1 299 <unknown-status>\r\nServer: glfm\r\nContent-Type: application/json\r\n"
            "X-Request-Id: rid-1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
}

TEST(HttpServerTest, MalformedRequestGets400) {
  auto server = StartOrDie({}, Echo);
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), server->port()});
  std::string junk = "GARBAGE\r\n\r\n";
  boost::asio::write(s, boost::asio::buffer(junk));
  std::string reply;
  boost::system::error_code ec;
  char buf[512];
  for (;;) {
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    reply.append(buf, n);
    if (ec) {
      break;
    }
  }
  EXPECT_THAT(reply, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(reply, HasSubstr("malformed HTTP request"));
}

TEST(HttpServerTest, BadListenAddressNamesIt) {
  HttpServerOptions opts;
  opts.host = "not-an-ip";
  EXPECT_THAT(HttpServer::Start(opts, Echo),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"not-an-ip\"")));
  auto first = StartOrDie({}, Echo);
  HttpServerOptions taken;
  taken.port = first->port();
  // SO_REUSEPORT lets the same user share a port, so bind a privileged one as the clash
  // only when not root; as root, a bound non-reuseport socket makes the clash instead.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor plain(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  taken.port = plain.local_endpoint().port();
  EXPECT_THAT(HttpServer::Start(taken, Echo),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(taken.port))));
}

// Hands each request's stream to the test through a promise.
struct StreamCatcher {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<ResponseStream>> streams;

  Handler handler() {
    return [this](HttpRequest&&, Responder respond) {
      HttpResponse res;
      res.content_type = "text/event-stream";
      res.headers.emplace_back("Cache-Control", "no-cache");
      res.body = ": hello\n\n";
      res.on_stream = [this](std::shared_ptr<ResponseStream> s) {
        std::lock_guard<std::mutex> lock(mu);
        streams.push_back(std::move(s));
        cv.notify_all();
      };
      respond(std::move(res));
    };
  }
  std::shared_ptr<ResponseStream> Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return streams.size() >= n; });
    return streams[n - 1];
  }
};

TEST(HttpServerStreamTest, WritesArriveAsTheyAreMadeAndCloseEndsTheResponse) {
  StreamCatcher catcher;
  auto server = StartOrDie({}, catcher.handler());
  glfm::testing::StreamClient client("127.0.0.1", server->port(), "GET", "/events");
  ASSERT_EQ(client.status(), 200);
  EXPECT_THAT(client.head(), HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(client.head(), HasSubstr("Connection: close"));
  EXPECT_THAT(client.head(), ::testing::Not(HasSubstr("Content-Length")));
  EXPECT_EQ(client.ReadUntil("\n\n"), ": hello\n\n");
  auto stream = catcher.Wait(1);
  EXPECT_EQ(server->in_flight(), 0);  // a stream is not in flight
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(stream->Write("data: " + std::to_string(i) + "\n\n"));
    EXPECT_EQ(client.ReadUntil("\n\n"), "data: " + std::to_string(i) + "\n\n");
  }
  ASSERT_TRUE(stream->Write("data: last\n\n"));
  stream->Close();
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_EQ(client.pending(), "data: last\n\n");  // queued bytes go out before the close
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("data: late\n\n"));
}

TEST(HttpServerStreamTest, ClientGoingAwayClosesTheStream) {
  StreamCatcher catcher;
  auto server = StartOrDie({}, catcher.handler());
  auto client =
      std::make_unique<glfm::testing::StreamClient>("127.0.0.1", server->port(), "GET", "/events");
  ASSERT_EQ(client->status(), 200);
  auto stream = catcher.Wait(1);
  std::promise<void> closed;
  stream->SetOnClose([&closed] { closed.set_value(); });
  client.reset();
  // The server notices the hang-up by itself (it reads from the peer), without a write.
  ASSERT_EQ(closed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("data: x\n\n"));
}

TEST(HttpServerStreamTest, SlowClientIsDroppedPastTheBufferLimit) {
  HttpServerOptions opts;
  opts.max_stream_buffer = 64 * 1024;
  StreamCatcher catcher;
  auto server = StartOrDie(opts, catcher.handler());
  glfm::testing::StreamClient client("127.0.0.1", server->port(), "GET", "/events");
  ASSERT_EQ(client.status(), 200);
  auto stream = catcher.Wait(1);
  // The client never reads: the socket buffers fill up, then the stream's own queue.
  std::string chunk(16 * 1024, 'x');
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) refused = !stream->Write(chunk);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(stream->closed());
}

TEST(HttpServerStreamTest, ShutdownDoesNotWaitForStreamsAndClosesThem) {
  StreamCatcher catcher;
  auto server = StartOrDie({}, catcher.handler());
  glfm::testing::StreamClient client("127.0.0.1", server->port(), "GET", "/events");
  ASSERT_EQ(client.status(), 200);
  auto stream = catcher.Wait(1);
  std::promise<void> closed;
  stream->SetOnClose([&closed] { closed.set_value(); });
  auto start = std::chrono::steady_clock::now();
  server->Shutdown(std::chrono::seconds(30));
  EXPECT_EQ(closed.get_future().wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Write("data: x\n\n"));
  EXPECT_TRUE(client.WaitClosed());
}

TEST(PercentDecodeTest, DecodesAndRejectsBadEscapes) {
  EXPECT_THAT(PercentDecode("a%2Fb+c", true), IsOkAndHolds(std::string("a/b c")));
  EXPECT_THAT(PercentDecode("a+c", false), IsOkAndHolds(std::string("a+c")));
  EXPECT_THAT(PercentDecode("%zz", true), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PercentDecode("%2", true), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PercentDecode("update_instance_info", false),
              IsOkAndHolds(std::string("update_instance_info")));
  EXPECT_THAT(PercentDecode("", true), IsOkAndHolds(std::string()));
  EXPECT_THAT(PercentDecode("a+b%2B", false), IsOkAndHolds(std::string("a+b+")));
}

TEST(QueryParamTest, FindsKeysWrittenPlainOrEscaped) {
  HttpRequest req;
  req.query = "unwrap&http_key=k%2B1+2&ht%74p_key=second&a+b=sp&bad=%zz";
  EXPECT_EQ(req.QueryParam("http_key"), std::optional<std::string>("k+1 2"));  // the first
  EXPECT_EQ(req.QueryParam("unwrap"), std::optional<std::string>(""));
  EXPECT_EQ(req.QueryParam("a b"), std::optional<std::string>("sp"));
  EXPECT_EQ(req.QueryParam("a+b"), std::nullopt);  // '+' in a key is a space
  EXPECT_EQ(req.QueryParam("bad"), std::nullopt);  // a bad escape is no value
  EXPECT_EQ(req.QueryParam("http"), std::nullopt);
  req.query = "ht%74p_key=escaped";
  EXPECT_EQ(req.QueryParam("http_key"), std::optional<std::string>("escaped"));
}

}  // namespace
}  // namespace glfm::server
