// SigV4 against AWS's published test suite (../shared/testdata/sigv4/v4, every case, both
// the Authorization-header and the presigned-query variants) and the verifier's error paths.
#include "aws/sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "glfm/json.h"
#include "testing/status_matchers.h"

namespace glfm::aws {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The suite sits in the project's shared folder beside the checkout (../shared); a worktree
// nested deeper finds it by walking up.
fs::path FindSuite() {
  if (const char* env = std::getenv("GLFM_SHARED_DIR")) {
    return fs::path(env) / "testdata/sigv4/v4";
  }
  for (fs::path dir = GLFM_SOURCE_DIR; !dir.empty(); dir = dir.parent_path()) {
    fs::path candidate = dir / "shared/testdata/sigv4/v4";
    std::error_code ec;
    if (fs::is_directory(candidate, ec)) return candidate;
    if (dir == dir.parent_path()) break;
  }
  return fs::path(GLFM_SHARED_DIR) / "testdata/sigv4/v4";
}

const fs::path kSuite = FindSuite();

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct SuiteRequest {
  std::string method, path, query, body;
  Headers headers;
};

// Parses request.txt as the suite's README describes it.
SuiteRequest ParseRequest(const std::string& text) {
  SuiteRequest r;
  size_t eol = text.find('\n');
  std::string line = text.substr(0, eol);
  size_t first = line.find(' '), last = line.rfind(' ');
  r.method = line.substr(0, first);
  std::string target = line.substr(first + 1, last - first - 1);
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  size_t pos = eol + 1;
  while (pos < text.size()) {
    size_t e = text.find('\n', pos);
    if (e == std::string::npos) e = text.size();
    std::string h = text.substr(pos, e - pos);
    pos = e + 1;
    if (h.empty()) {
      r.body = pos < text.size() ? text.substr(pos) : "";
      break;
    }
    if (h[0] == ' ' || h[0] == '\t') {
      r.headers.back().second += "\n" + h;
      continue;
    }
    size_t colon = h.find(':');
    r.headers.emplace_back(h.substr(0, colon), h.substr(colon + 1));
  }
  return r;
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kSuite, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class SuiteTest : public ::testing::TestWithParam<std::string> {};

TEST(SigV4SuiteTest, FindsAllCases) { EXPECT_EQ(SuiteCases().size(), 38u); }

TEST_P(SuiteTest, HeaderAndQueryVariantsMatch) {
  fs::path dir = kSuite / GetParam();
  auto ctx = Json::Parse(ReadFile(dir / "context.json"));
  ASSERT_OK(ctx);
  const Json& c = *ctx;
  Credentials creds;
  creds.access_key_id = c.Find("credentials")->Find("access_key_id")->as_string();
  creds.secret_access_key = c.Find("credentials")->Find("secret_access_key")->as_string();
  if (const Json* t = c.Find("credentials")->Find("token")) creds.session_token = t->as_string();
  const Json* omit = c.Find("omit_session_token");
  auto time = ParseAmzDate("20150830T123600Z");
  ASSERT_OK(time);
  SigningParams p;
  p.credentials = &creds;
  p.region = c.Find("region")->as_string();
  p.service = c.Find("service")->as_string();
  p.time = *time;
  p.normalize_path = c.Find("normalize")->as_bool();
  p.add_content_sha256_header = c.Find("sign_body")->as_bool();
  p.sign_session_token = !(omit != nullptr && omit->as_bool());

  SuiteRequest req = ParseRequest(ReadFile(dir / "request.txt"));
  Headers headers = req.headers;
  auto signed_r = SignRequest(req.method, req.path, req.query, headers, req.body, p);
  ASSERT_OK(signed_r);
  EXPECT_EQ(signed_r->canonical_request, ReadFile(dir / "header-canonical-request.txt"));
  EXPECT_EQ(signed_r->string_to_sign, ReadFile(dir / "header-string-to-sign.txt"));
  EXPECT_EQ(signed_r->signature, ReadFile(dir / "header-signature.txt"));
  EXPECT_THAT(ReadFile(dir / "header-signed-request.txt"),
              HasSubstr("Authorization:" + signed_r->authorization + "\n"));

  // The verifier accepts what the signer produced, from the parsed header alone.
  if (p.normalize_path && !p.add_content_sha256_header) {
    auto parsed = ParseAuthorization(signed_r->authorization);
    ASSERT_OK(parsed);
    EXPECT_OK(VerifySignature(req.method, req.path, req.query, headers, req.body, *parsed,
                              creds.secret_access_key));
  }

  SigningParams qp = p;
  qp.add_content_sha256_header = false;
  std::string query;
  auto q = PresignQuery(req.method, req.path, req.query, req.headers, req.body, qp,
                        std::chrono::seconds(c.Find("expiration_in_seconds")->as_int64()), query);
  ASSERT_OK(q);
  EXPECT_EQ(q->canonical_request, ReadFile(dir / "query-canonical-request.txt"));
  EXPECT_EQ(q->string_to_sign, ReadFile(dir / "query-string-to-sign.txt"));
  EXPECT_EQ(q->signature, ReadFile(dir / "query-signature.txt"));
  std::string signed_line = ReadFile(dir / "query-signed-request.txt");
  EXPECT_THAT(signed_line, HasSubstr("?" + query + " HTTP/1.1\n"));
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SuiteTest, ::testing::ValuesIn(SuiteCases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

Headers JsonHeaders() {
  return {{"Host", "gamelift.us-east-1.amazonaws.com"},
          {"Content-Type", "application/x-amz-json-1.1"},
          {"X-Amz-Target", "GameLift.DescribeAlias"},
          {"User-Agent", "glfm/0.1"}};
}

SigningParams Params(const Credentials& c) {
  SigningParams p;
  p.credentials = &c;
  p.region = "us-east-1";
  p.service = "gamelift";
  p.time = *ParseAmzDate("20261125T030000Z");
  return p;
}

TEST(SigV4Test, SkipsUserAgentAndSignsTheRest) {
  Credentials c{"AKID", "SECRET", "TOKEN", std::nullopt, ""};
  Headers h = JsonHeaders();
  auto r = SignRequest("POST", "/", "", h, "{}", Params(c));
  ASSERT_OK(r);
  EXPECT_THAT(r->authorization,
              HasSubstr("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                        "x-amz-target, Signature="));
  EXPECT_THAT(r->authorization, HasSubstr("Credential=AKID/20261125/us-east-1/gamelift/"));
}

TEST(SigV4Test, RejectsMissingInputs) {
  Credentials none;
  Headers h = JsonHeaders();
  EXPECT_THAT(SignRequest("POST", "/", "", h, "{}", Params(none)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no credentials")));
  Credentials c{"AKID", "SECRET", "", std::nullopt, ""};
  Headers no_host = {{"X-Amz-Target", "x"}};
  EXPECT_THAT(SignRequest("POST", "/", "", no_host, "{}", Params(c)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no Host header")));
  SigningParams p = Params(c);
  p.region = "";
  EXPECT_THAT(SignRequest("POST", "/", "", h, "{}", p),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("region is empty")));
}

TEST(SigV4Test, ResigningReplacesPreviousAuthorization) {
  Credentials c{"AKID", "SECRET", "", std::nullopt, ""};
  Headers h = JsonHeaders();
  ASSERT_OK(SignRequest("POST", "/", "", h, "{}", Params(c)));
  ASSERT_OK(SignRequest("POST", "/", "", h, "{}", Params(c)));
  int auth = 0, date = 0;
  for (const auto& [k, v] : h) {
    auth += k == "Authorization";
    date += k == "X-Amz-Date";
  }
  EXPECT_EQ(auth, 1);
  EXPECT_EQ(date, 1);
}

TEST(SigV4Test, VerifierRejectsTamperingAndWrongKey) {
  Credentials c{"AKID", "SECRET", "", std::nullopt, ""};
  Headers h = JsonHeaders();
  auto r = SignRequest("POST", "/", "", h, R"({"AliasId":"a"})", Params(c));
  ASSERT_OK(r);
  auto parsed = ParseAuthorization(r->authorization);
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->access_key_id, "AKID");
  EXPECT_EQ(parsed->region, "us-east-1");
  EXPECT_EQ(parsed->service, "gamelift");
  EXPECT_OK(VerifySignature("POST", "/", "", h, R"({"AliasId":"a"})", *parsed, "SECRET"));
  EXPECT_THAT(VerifySignature("POST", "/", "", h, R"({"AliasId":"b"})", *parsed, "SECRET"),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("does not match")));
  EXPECT_THAT(VerifySignature("POST", "/", "", h, R"({"AliasId":"a"})", *parsed, "WRONG"),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("does not match")));
  Headers no_date = h;
  std::erase_if(no_date, [](const auto& kv) { return kv.first == "X-Amz-Date"; });
  EXPECT_THAT(VerifySignature("POST", "/", "", no_date, "{}", *parsed, "SECRET"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("X-Amz-Date")));
}

TEST(SigV4Test, ParseAuthorizationNamesTheBadPart) {
  EXPECT_THAT(ParseAuthorization("Basic abc"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("algorithm")));
  EXPECT_THAT(ParseAuthorization("AWS4-HMAC-SHA256 Credential=AK/2015/us/svc/aws4_request, "
                                 "SignedHeaders=host, Signature=" +
                                 std::string(64, 'a')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Credential")));
  EXPECT_THAT(ParseAuthorization("AWS4-HMAC-SHA256 Credential=AK/20150830/us/svc/aws4_request, "
                                 "Signature=" +
                                 std::string(64, 'a')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("SignedHeaders")));
  EXPECT_THAT(ParseAuthorization("AWS4-HMAC-SHA256 Credential=AK/20150830/us/svc/aws4_request, "
                                 "SignedHeaders=host, Signature=abc"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Signature")));
}

TEST(SigV4Test, AmzDateRoundTripsAndRejectsGarbage) {
  auto t = ParseAmzDate("20150830T123600Z");
  ASSERT_OK(t);
  EXPECT_EQ(FormatAmzDate(*t), "20150830T123600Z");
  EXPECT_THAT(ParseAmzDate("2015-08-30"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseAmzDate("20151330T123600Z"), StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST(SigV4Test, KeyCacheMatchesFreshDerivation) {
  SigningKeyCache cache;
  auto a = cache.Get("S", "20150830", "us-east-1", "sqs");
  EXPECT_EQ(a, DeriveSigningKey("S", "20150830", "us-east-1", "sqs"));
  auto b = cache.Get("S", "20150831", "us-east-1", "sqs");
  EXPECT_EQ(b, DeriveSigningKey("S", "20150831", "us-east-1", "sqs"));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace glfm::aws
