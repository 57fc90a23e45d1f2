// A test client for streamed HTTP responses (server-sent events): sends one request on a
// fresh loopback connection, then reads the response as it arrives.
//
//   glfm::testing::StreamClient s("127.0.0.1", port, "GET", "/v1/events");
//   ASSERT_EQ(s.status(), 200);
//   std::string upto = s.ReadUntil("event: placement");  // "" when it did not come in time
//
// Every read gives up after `timeout` (SO_RCVTIMEO), so a test never hangs on a stream.
// Thread-safety: one thread at a time.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace glfm::testing {

class StreamClient {
 public:
  StreamClient(const std::string& host, uint16_t port, const std::string& method,
               const std::string& target,
               const std::vector<std::pair<std::string, std::string>>& headers = {},
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return;
    }
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      Close();
      return;
    }
    // The head.
    size_t end = ReadUntilOffset("\r\n\r\n");
    if (end == std::string::npos) return;
    head_ = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    if (head_.size() > 12) status_ = std::stoi(head_.substr(9, 3));
  }
  ~StreamClient() { Close(); }
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  // The status code, or 0 when no head arrived.
  int status() const { return status_; }
  // The head as received, lines separated by CRLF.
  const std::string& head() const { return head_; }

  // Reads until the body received so far (not yet consumed) contains `needle`; returns the
  // body up to and including it and consumes that much. Returns "" on timeout or close.
  std::string ReadUntil(const std::string& needle) {
    size_t at = ReadUntilOffset(needle);
    if (at == std::string::npos) return "";
    std::string out = buffer_.substr(0, at + needle.size());
    buffer_.erase(0, at + needle.size());
    return out;
  }

  // Reads until the server closes the connection (or the timeout); returns whether it closed.
  bool WaitClosed() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return false;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  // The unconsumed body bytes received so far.
  const std::string& pending() const { return buffer_; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  size_t ReadUntilOffset(const std::string& needle) {
    for (;;) {
      size_t at = buffer_.find(needle);
      if (at != std::string::npos) return at;
      if (fd_ < 0) return std::string::npos;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::string::npos;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  int status_ = 0;
  std::string head_;
  std::string buffer_;
};

}  // namespace glfm::testing
