// A small synchronous HTTP/1.1 client for tests: real sockets on loopback.
//
//   glfm::testing::HttpClient c("127.0.0.1", port);
//   auto r = c.Request("POST", "/v2/rpc/x?unwrap", R"({"id":"a"})");
//   EXPECT_EQ(r.status, 200);
//
// One connection, kept alive between requests and reopened when the server closed it.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace glfm::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
  bool keep_alive = false;
  std::string error;  // set when the exchange failed at the socket level
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}

  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    namespace http = boost::beast::http;
    HttpResult out;
    boost::beast::error_code ec;
    if (!stream_) {
      stream_.emplace(ioc_);
      stream_->connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host_), port_),
                       ec);
      if (ec) {
        out.error = ec.message();
        stream_.reset();
        return out;
      }
    }
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_);
    bool has_type = false;
    for (const auto& [k, v] : headers) {
      req.set(k, v);
      has_type = has_type || k == "Content-Type";
    }
    if (!body.empty() && !has_type) {
      req.set(http::field::content_type, "application/json");
    }
    req.body() = body;
    req.prepare_payload();
    http::write(*stream_, req, ec);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) {
      http::read(*stream_, buf, parser, ec);
    }
    if (ec) {
      out.error = ec.message();
      stream_.reset();
      return out;
    }
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      out.headers[name] = std::string(f.value());
    }
    if (!out.keep_alive) {
      stream_.reset();
    }
    return out;
  }

  // True when the server has closed this client's connection (reads EOF).
  bool ServerClosed() {
    if (!stream_) {
      return true;
    }
    boost::beast::error_code ec;
    char c;
    stream_->socket().read_some(boost::asio::buffer(&c, 1), ec);
    stream_.reset();
    return static_cast<bool>(ec);
  }

  void Close() { stream_.reset(); }

 private:
  std::string host_;
  uint16_t port_;
  boost::asio::io_context ioc_;
  std::optional<boost::beast::tcp_stream> stream_;
};

}  // namespace glfm::testing
