// TLS verification is on: against `openssl s_server` on loopback with a fresh self-signed
// certificate, the transport refuses the untrusted certificate (FAILED_PRECONDITION, not
// retried as transient) and accepts it once it is the configured CA bundle.
// Label: integration (runs the openssl CLI).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "aws/http_transport.h"
#include "aws/testing/child_process.h"
#include "testing/status_matchers.h"

namespace glfm::aws {
namespace {

namespace fs = std::filesystem;

// `openssl s_server -www` on 127.0.0.1 with a fresh self-signed certificate for that address.
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
    port_ = testing::FreeLoopbackPort();
    // s_server prints ACCEPT once it listens.
    child_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"openssl", "s_server", "-accept",
                                 "127.0.0.1:" + std::to_string(port_), "-cert", cert_, "-key", key_,
                                 "-www"},
        "ACCEPT");
  }
  ~TlsServer() {
    child_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ready() const { return child_ != nullptr && child_->ready(); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/"; }
  const std::string& cert() const { return cert_; }

 private:
  fs::path dir_;
  std::string cert_, key_;
  uint16_t port_ = 0;
  std::unique_ptr<testing::ChildProcess> child_;
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
