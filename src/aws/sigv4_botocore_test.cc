// SigV4 against botocore's SigV4Auth (the machine's python3) on randomized GameLift and SQS
// requests: regions, keys with and without session tokens, times, bodies with UTF-8 and
// escapes, endpoints with ports, extra headers with odd spacing. Label: integration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "aws/client.h"
#include "aws/sigv4.h"
#include "aws/testing/python.h"
#include "glfm/json.h"
#include "testing/status_matchers.h"

namespace glfm::aws {
namespace {

struct Case {
  std::string url, host, body, region, service;
  Headers headers;
  Credentials creds;
  std::chrono::system_clock::time_point time;
};

std::string RandomString(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> pieces = {"a",  "Z",  "0", "-",  "_", " ", "  ",
                                                  "\"", "\\", "/", "+",  "=", "&", "%",
                                                  "é",  "ሴ",  "😀", "\t", "~", "."};
  std::string s;
  size_t n = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  for (size_t i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

Case MakeCase(std::mt19937& rng) {
  static const std::vector<std::string> regions = {"us-east-1", "eu-west-1",  "ap-northeast-2",
                                                   "sa-east-1", "cn-north-1", "us-gov-west-1"};
  static const std::vector<std::string> gl_ops = {
      "StartGameSessionPlacement", "DescribeGameSessionPlacement", "DescribeGameSessions",
      "SearchGameSessions",        "CreatePlayerSessions",         "DescribeAlias"};
  static const std::vector<std::string> sqs_ops = {"ReceiveMessage", "DeleteMessageBatch",
                                                   "GetQueueUrl", "SendMessage"};
  Case c;
  bool sqs = rng() % 2 == 0;
  const ServiceSpec& spec = sqs ? kSqsService : kGameLiftService;
  c.service = std::string(spec.signing_name);
  c.region = regions[rng() % regions.size()];
  switch (rng() % 3) {
    case 0:
      c.host = std::string(spec.endpoint_prefix) + "." + c.region + ".amazonaws.com";
      c.url = "https://" + c.host + "/";
      break;
    case 1:
      c.host = "127.0.0.1:" + std::to_string(1024 + rng() % 60000);
      c.url = "http://" + c.host + "/";
      break;
    default:
      c.host = "localhost:4566";
      c.url = "http://" + c.host + "/";
  }
  const auto& ops = sqs ? sqs_ops : gl_ops;
  Json body = Json::MakeObject();
  body["Name"] = RandomString(rng, 12);
  body["Limit"] = static_cast<int64_t>(rng() % 100);
  body["Data"] = RandomString(rng, 40);
  c.body = body.Dump();
  c.headers = {{"Host", c.host},
               {"Content-Type", std::string(spec.content_type)},
               {"X-Amz-Target", std::string(spec.target_prefix) + "." + ops[rng() % ops.size()]}};
  if (sqs) c.headers.emplace_back("x-amzn-query-mode", "true");
  if (rng() % 2 == 0) c.headers.emplace_back("User-Agent", "glfm/0.1 " + std::to_string(rng()));
  if (rng() % 3 == 0) c.headers.emplace_back("X-Glfm-Note", "  a   b \t c  ");
  c.creds.access_key_id = "AKIA" + std::to_string(rng());
  c.creds.secret_access_key = "secret/" + std::to_string(rng()) + "+Key";
  if (rng() % 2 == 0) c.creds.session_token = "tok/" + std::to_string(rng()) + "==";
  c.time = std::chrono::system_clock::time_point(
      std::chrono::seconds(1700000000 + static_cast<int64_t>(rng() % 100000000)));
  return c;
}

TEST(SigV4BotocoreTest, MatchesBotocoreOnRandomizedGameLiftAndSqsRequests) {
  std::mt19937 rng(20261125);
  constexpr int kCases = 200;
  std::vector<Case> cases;
  std::vector<std::string> lines;
  std::vector<std::string> ours;
  for (int i = 0; i < kCases; ++i) {
    Case c = MakeCase(rng);
    Json j = Json::MakeObject();
    j["method"] = "POST";
    j["url"] = c.url;
    Json::Array hs;
    for (const auto& [k, v] : c.headers) hs.push_back(Json(Json::Array{Json(k), Json(v)}));
    j["headers"] = Json(hs);
    j["body"] = c.body;
    j["region"] = c.region;
    j["service"] = c.service;
    j["access_key"] = c.creds.access_key_id;
    j["secret_key"] = c.creds.secret_access_key;
    j["token"] = c.creds.session_token;
    j["amz_date"] = FormatAmzDate(c.time);
    lines.push_back(j.Dump());
    Headers h = c.headers;
    SigningParams p;
    p.credentials = &c.creds;
    p.region = c.region;
    p.service = c.service;
    p.time = c.time;
    auto r = SignRequest("POST", "/", "", h, c.body, p);
    ASSERT_OK(r);
    ours.push_back(r->authorization);
    cases.push_back(std::move(c));
  }
  auto theirs = testing::RunPythonLines("botocore_sign.py", lines);
  ASSERT_EQ(theirs.size(), static_cast<size_t>(kCases)) << (theirs.empty() ? "" : theirs.back());
  int mismatches = 0;
  for (int i = 0; i < kCases; ++i) {
    auto j = Json::Parse(theirs[i]);
    ASSERT_OK(j) << theirs[i];
    EXPECT_EQ(j->Find("x_amz_date")->as_string(), FormatAmzDate(cases[i].time));
    if (j->Find("authorization")->as_string() != ours[i]) {
      ++mismatches;
      ADD_FAILURE() << "case " << i << "\n request: " << lines[i]
                    << "\n botocore: " << j->Find("authorization")->as_string()
                    << "\n glfm:     " << ours[i];
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace glfm::aws
