// TLS verification is on: against `openssl s_server` on loopback with a fresh self-signed
// certificate, the transport refuses the untrusted certificate (FAILED_PRECONDITION, not
// retried as transient) and accepts it once it is the configured CA bundle.
// Label: integration (runs the openssl CLI).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <thread>

#include "aws/http_transport.h"
#include "testing/status_matchers.h"

namespace glfm::aws {
namespace {

namespace fs = std::filesystem;

class TlsServer {
 public:
  TlsServer() {
    dir_ = fs::temp_directory_path() / ("glfm_tls_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    cert_ = (dir_ / "cert.pem").string();
    key_ = (dir_ / "key.pem").string();
    std::string gen =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key_ + " -out " + cert_ + " >/dev/null 2>&1";
    if (std::system(gen.c_str()) != 0) return;
    {
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
      port_ = a.local_endpoint().port();
    }
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      std::string accept = "127.0.0.1:" + std::to_string(port_);
      execlp("openssl", "openssl", "s_server", "-accept", accept.c_str(), "-cert", cert_.c_str(),
             "-key", key_.c_str(), "-www", nullptr);
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[512];
    // s_server prints ACCEPT once it listens.
    while (fgets(line, sizeof(line), out_) != nullptr) {
      if (std::string(line).find("ACCEPT") != std::string::npos) {
        ready_ = true;
        break;
      }
    }
    drain_ = std::thread([this] {
      char buf[512];
      while (fgets(buf, sizeof(buf), out_) != nullptr) {
      }
    });
  }
  ~TlsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (drain_.joinable()) drain_.join();
    if (out_ != nullptr) fclose(out_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ready() const { return ready_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/"; }
  const std::string& cert() const { return cert_; }

 private:
  fs::path dir_;
  std::string cert_, key_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  bool ready_ = false;
  std::thread drain_;
};

TEST(TlsTest, VerifiesCertificatesAndHonoursTheCaBundle) {
  TlsServer server;
  ASSERT_TRUE(server.ready());
  HttpCall call;
  call.method = "GET";
  call.url = server.url();

  CurlTransportOptions strict;
  strict.ca_bundle = "/etc/ssl/certs/ca-certificates.crt";
  auto t1 = std::move(NewCurlTransport(strict)).value();
  EXPECT_THAT(t1->SendAndWait(call), StatusCodeIs(StatusCode::kFailedPrecondition));

  CurlTransportOptions trusting;
  trusting.ca_bundle = server.cert();
  auto t2 = std::move(NewCurlTransport(trusting)).value();
  auto r = t2->SendAndWait(call);
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace glfm::aws
