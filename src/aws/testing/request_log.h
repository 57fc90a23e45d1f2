// Records every request body the AWS client sends in a test binary, and (in the binaries
// built with GLFM_VALIDATE_WITH_BOTOCORE) checks them all at exit against botocore's service
// models with botocore's ParamValidator (src/aws/testdata/validate_params.py).
//
//   AwsClientOptions o; o.on_request = RequestLog::Hook(kGameLiftService);
//
// Thread-safety: Hook's callback may run on any thread.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "aws/client.h"
#include "aws/testing/python.h"
#include "glfm/json.h"

namespace glfm::aws::testing {

class RequestLog {
 public:
  struct Entry {
    std::string service;  // botocore's name: "gamelift", "sqs"
    std::string operation;
    std::string body;
  };

  static RequestLog& Get() {
    static RequestLog* log = new RequestLog();
    return *log;
  }

  // Returns an AwsClientOptions::on_request hook that records into the log.
  static std::function<void(std::string_view, std::string_view)> Hook(const ServiceSpec& s) {
    std::string service(s.signing_name);
    return [service](std::string_view op, std::string_view body) {
      Get().Add({service, std::string(op), std::string(body)});
    };
  }

  void Add(Entry e) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(e));
  }
  std::vector<Entry> entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// Validates every logged request with botocore when the test binary finishes.
class BotocoreValidationEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    auto entries = RequestLog::Get().entries();
    std::vector<std::string> lines;
    for (const auto& e : entries) {
      auto params = Json::Parse(e.body);
      if (!params.ok()) {
        ADD_FAILURE() << e.operation << " body is not JSON: " << e.body;
        continue;
      }
      Json j = Json::MakeObject();
      j["service"] = e.service;
      j["operation"] = e.operation;
      j["params"] = *params;
      lines.push_back(j.Dump());
    }
    if (lines.empty()) return;
    auto out = RunPythonLines("validate_params.py", lines);
    ASSERT_EQ(out.size(), lines.size()) << (out.empty() ? "" : out.back());
    int ok = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == "OK") {
        ++ok;
      } else {
        ADD_FAILURE() << "botocore rejects " << lines[i] << ": " << out[i];
      }
    }
    std::printf("botocore ParamValidator: %d of %zu requests valid\n", ok, lines.size());
  }
};

}  // namespace glfm::aws::testing

#ifdef GLFM_VALIDATE_WITH_BOTOCORE
namespace glfm::aws::testing {
// Registered once per binary (an inline variable), however many files include this header.
inline ::testing::Environment* const kBotocoreEnvironment =
    ::testing::AddGlobalTestEnvironment(new BotocoreValidationEnvironment);
}  // namespace glfm::aws::testing
#endif
