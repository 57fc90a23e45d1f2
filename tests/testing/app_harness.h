// AppTest: a fixture running `glfm serve` in-process (server::App) in local mode — the
// emulator, a real SQLite file in a temp dir — and talking to it over real sockets; plus the
// small helpers the service tests share.
//
// Thread-safety: a test's own thread.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "glfm/json.h"
#include "server/app.h"
#include "testing/http_client.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace glfm::server::testing {

using glfm::testing::HttpClient;
using glfm::testing::HttpResult;

// Percent-encodes everything but unreserved characters (a path segment or query value).
inline std::string Encode(std::string_view s) {
  std::string out;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// A JSON string literal holding `s` (the Nakama body form without unwrap).
inline std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

class AppTest : public ::testing::Test {
 protected:
  void TearDown() override { app_.reset(); }

  config::Config Config() {
    auto cfg = config::Load({});
    EXPECT_OK(cfg);
    config::Config c = *cfg;
    c.server.host = "127.0.0.1";
    c.server.port = 0;
    c.server.io_threads = 2;
    c.server.max_body_bytes = 4096;
    c.data_dir = dir_.path() + "/data";
    c.store.sqlite_path = dir_.path() + "/data/glfm.db";
    c.local.emulator_listen = "127.0.0.1:0";
    return c;
  }

  void Start(config::Config c) {
    auto app = App::Start(c);
    ASSERT_OK(app);
    app_ = std::move(app).value();
    client_ = std::make_unique<HttpClient>("127.0.0.1", app_->port());
  }

  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& body = "",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return client_->Request(method, target, body, headers);
  }

  std::string Rpc(const std::string& id) { return "/v2/rpc/" + id + "?http_key=" + key(); }
  const std::string& key() { return app_->http_key(); }

  // Places a session through /v1 and long-polls its outcome; returns the instance.
  Json CreateInstance(const std::string& body) {
    auto created = Call("POST", "/v1/placements", body);
    EXPECT_EQ(created.status, 202) << created.body;
    std::string pid = Json::Parse(created.body)->Find("placement_id")->as_string();
    auto polled = Call("GET", "/v1/placements/" + pid + "?wait=30");
    EXPECT_EQ(polled.status, 200) << polled.body;
    Json p = *Json::Parse(polled.body);
    EXPECT_EQ(p.Find("status")->as_string(), "success") << polled.body;
    EXPECT_EQ(p.Find("placement_id")->as_string(), pid);
    return *p.Find("instance_info");
  }

  Json List(const std::string& query) {
    auto r = Call("GET", "/v1/instances?query=" + Encode(query));
    EXPECT_EQ(r.status, 200) << r.body;
    return *Json::Parse(r.body);
  }

  glfm::testing::TempDir dir_{"glfm-app"};
  std::unique_ptr<App> app_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace glfm::server::testing
