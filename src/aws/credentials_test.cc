// The default credentials chain: each source in the SDKs' order, shared files with profiles,
// and ECS / IMDSv2 against loopback fakes reached through their endpoint-override variables,
// with refresh before expiry on a stepped clock.
#include "aws/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "glfm/codec.h"
#include "server/http_server.h"
#include "testing/status_matchers.h"

namespace glfm::aws {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("glfm_creds_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Env with no files, no IMDS: only what a test adds.
std::map<std::string, std::string> BaseEnv(const TempDir& dir) {
  return {{"HOME", dir.path()}, {"AWS_EC2_METADATA_DISABLED", "true"}};
}

Result<Credentials> Resolve(std::map<std::string, std::string> env, Credentials explicit_creds = {},
                            HttpTransport* t = nullptr) {
  CredentialsChainOptions o;
  o.env = MapEnv(std::move(env));
  o.explicit_credentials = std::move(explicit_creds);
  o.transport = t;
  return NewDefaultCredentialsChain(std::move(o))->Get();
}

TEST(CredentialsChainTest, ExplicitComesFirst) {
  TempDir dir;
  auto env = BaseEnv(dir);
  env["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  auto c = Resolve(env, {"CFGKEY", "CFGSECRET", "", std::nullopt, ""});
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "CFGKEY");
  EXPECT_EQ(c->source, "config");
}

TEST(CredentialsChainTest, GlVariablesBeforeAwsVariables) {
  TempDir dir;
  auto env = BaseEnv(dir);
  env["GL_AWS_ACCESS_KEY"] = "GLKEY";
  env["GL_AWS_SECRET_ACCESS_KEY"] = "GLSECRET";
  env["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  auto c = Resolve(env);
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "GLKEY");
  EXPECT_EQ(c->secret_access_key, "GLSECRET");
}

TEST(CredentialsChainTest, AwsVariablesWithSessionToken) {
  TempDir dir;
  auto env = BaseEnv(dir);
  env["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  env["AWS_SESSION_TOKEN"] = "TOKEN";
  auto c = Resolve(env);
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "ENVKEY");
  EXPECT_EQ(c->session_token, "TOKEN");
  EXPECT_EQ(c->source, "environment");
}

TEST(CredentialsChainTest, HalfAPairIsAnError) {
  TempDir dir;
  auto env = BaseEnv(dir);
  env["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  EXPECT_THAT(Resolve(env), StatusIs(StatusCode::kInvalidArgument,
                                     "AWS_SECRET_ACCESS_KEY is not set but AWS_ACCESS_KEY_ID is"));
}

TEST(CredentialsChainTest, SharedFilesWithProfiles) {
  TempDir dir;
  fs::create_directories(dir.path() + "/.aws");
  dir.Write(".aws/credentials",
            "# comment\n[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = DEFSECRET\n"
            "\n[dev]\naws_access_key_id=DEVKEY\naws_secret_access_key=DEVSECRET ; inline\n"
            "aws_session_token = DEVTOKEN\n");
  dir.Write(".aws/config",
            "[default]\nregion = eu-west-1\n[profile dev]\nregion = us-west-2\n"
            "s3 =\n  max_concurrent_requests = 1\n");
  auto env = BaseEnv(dir);
  auto c = Resolve(env);
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "DEFKEY");
  EXPECT_EQ(c->source, "shared-file:default");
  env["AWS_PROFILE"] = "dev";
  c = Resolve(env);
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "DEVKEY");
  EXPECT_EQ(c->secret_access_key, "DEVSECRET");
  EXPECT_EQ(c->session_token, "DEVTOKEN");
  EXPECT_EQ(ResolveRegion(MapEnv(env), ""), "us-west-2");
  env.erase("AWS_PROFILE");
  EXPECT_EQ(ResolveRegion(MapEnv(env), ""), "eu-west-1");
  env["AWS_REGION"] = "ap-south-1";
  EXPECT_EQ(ResolveRegion(MapEnv(env), ""), "ap-south-1");
  env["GL_AWS_REGION"] = "sa-east-1";
  EXPECT_EQ(ResolveRegion(MapEnv(env), ""), "sa-east-1");
}

TEST(CredentialsChainTest, FileLocationsFromVariablesAndProfileInConfigFile) {
  TempDir dir;
  std::string cfg = dir.Write("cfg",
                              "[profile ops]\naws_access_key_id = OPSKEY\n"
                              "aws_secret_access_key = OPSSECRET\n");
  auto env = BaseEnv(dir);
  env["AWS_CONFIG_FILE"] = cfg;
  env["AWS_SHARED_CREDENTIALS_FILE"] = dir.path() + "/none";
  env["AWS_PROFILE"] = "ops";
  auto c = Resolve(env);
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "OPSKEY");
}

TEST(CredentialsChainTest, MalformedFileNamesTheLine) {
  TempDir dir;
  std::string f = dir.Write("creds", "[default]\nthis line is wrong\n");
  auto env = BaseEnv(dir);
  env["AWS_SHARED_CREDENTIALS_FILE"] = f;
  EXPECT_THAT(Resolve(env),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 2: expected key = value")));
}

TEST(CredentialsChainTest, NothingConfiguredIsUnauthenticated) {
  TempDir dir;
  EXPECT_THAT(Resolve(BaseEnv(dir)),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("no AWS credentials found")));
}

// A loopback metadata server: ECS and IMDSv2 answers, with counters.
class MetadataFake {
 public:
  MetadataFake() {
    server::HttpServerOptions o;
    o.io_threads = 1;
    server_ = std::move(server::HttpServer::Start(o, [this](server::HttpRequest&& r,
                                                            server::Responder respond) {
                respond(Handle(r));
              })).value();
  }
  server::HttpResponse Handle(const server::HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu);
    if (r.method == "GET" && r.path == "/ecs/creds") {
      ecs_calls++;
      const std::string* auth = r.Header("authorization");
      if (auth == nullptr || *auth != "ecs-token") return server::HttpResponse::Json(401, "{}");
      return server::HttpResponse::Json(200, CredsJson("ECSKEY" + std::to_string(ecs_calls)));
    }
    if (r.method == "PUT" && r.path == "/latest/api/token") {
      const std::string* ttl = r.Header("x-aws-ec2-metadata-token-ttl-seconds");
      if (ttl == nullptr) return server::HttpResponse::Text(400, "");
      return server::HttpResponse::Text(200, "imds-session");
    }
    const std::string* token = r.Header("x-aws-ec2-metadata-token");
    if (token == nullptr || *token != "imds-session") {
      return server::HttpResponse::Text(401, "");  // IMDSv1 is refused
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/") {
      return server::HttpResponse::Text(200, "glfm-role\n");
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/glfm-role") {
      imds_calls++;
      return server::HttpResponse::Json(200, CredsJson("IMDSKEY" + std::to_string(imds_calls)));
    }
    return server::HttpResponse::Text(404, "");
  }
  std::string CredsJson(const std::string& key) {
    return R"({"Code":"Success","AccessKeyId":")" + key +
           R"(","SecretAccessKey":"S","Token":"T","Expiration":")" + FormatRfc3339(expiration) +
           R"("})";
  }
  std::string url() const { return server_->url(); }

  std::mutex mu;
  int ecs_calls = 0;
  int imds_calls = 0;
  Timestamp expiration = *ParseRfc3339("2026-11-25T04:00:00Z");

 private:
  std::unique_ptr<server::HttpServer> server_;
};

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override { transport_ = std::move(NewCurlTransport({})).value(); }
  MetadataFake fake_;
  TempDir dir_;
  std::unique_ptr<HttpTransport> transport_;
  Timestamp now_ = *ParseRfc3339("2026-11-25T03:00:00Z");

  std::unique_ptr<CredentialsProvider> Chain(std::map<std::string, std::string> env) {
    CredentialsChainOptions o;
    o.env = MapEnv(std::move(env));
    o.transport = transport_.get();
    o.now = [this] { return now_; };
    return NewDefaultCredentialsChain(std::move(o));
  }
};

TEST_F(MetadataTest, EcsFullUriWithTokenFileAndRefreshBeforeExpiry) {
  auto env = BaseEnv(dir_);
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = fake_.url() + "/ecs/creds";
  env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = dir_.Write("token", "ecs-token\n");
  auto chain = Chain(env);
  auto c = chain->Get();
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "ECSKEY1");
  EXPECT_EQ(c->session_token, "T");
  EXPECT_EQ(c->source, "ecs");
  ASSERT_TRUE(c->expiration.has_value());
  // Cached while far from expiry.
  now_ = *ParseRfc3339("2026-11-25T03:54:00Z");
  EXPECT_EQ(chain->Get()->access_key_id, "ECSKEY1");
  // Within five minutes of expiry: fetched again.
  now_ = *ParseRfc3339("2026-11-25T03:56:00Z");
  EXPECT_EQ(chain->Get()->access_key_id, "ECSKEY2");
  EXPECT_EQ(fake_.ecs_calls, 2);
}

TEST_F(MetadataTest, EcsWrongTokenIsUnavailable) {
  auto env = BaseEnv(dir_);
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = fake_.url() + "/ecs/creds";
  env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong";
  EXPECT_THAT(Chain(env)->Get(), StatusIs(StatusCode::kUnavailable, HasSubstr("HTTP 401")));
}

TEST_F(MetadataTest, EcsFullUriMustBeLoopbackOrHttps) {
  auto env = BaseEnv(dir_);
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.0.0.1/creds";
  EXPECT_THAT(Chain(env)->Get(), StatusIs(StatusCode::kInvalidArgument,
                                          HasSubstr("AWS_CONTAINER_CREDENTIALS_FULL_URI")));
}

TEST_F(MetadataTest, ImdsV2WithSessionTokenAndRefresh) {
  auto env = BaseEnv(dir_);
  env.erase("AWS_EC2_METADATA_DISABLED");
  env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake_.url() + "/";
  auto chain = Chain(env);
  auto c = chain->Get();
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "IMDSKEY1");
  EXPECT_EQ(c->source, "imds");
  EXPECT_EQ(chain->Get()->access_key_id, "IMDSKEY1");
  now_ = *ParseRfc3339("2026-11-25T03:58:00Z");
  {
    std::lock_guard<std::mutex> lock(fake_.mu);
    fake_.expiration = *ParseRfc3339("2026-11-25T05:00:00Z");
  }
  EXPECT_EQ(chain->Get()->access_key_id, "IMDSKEY2");
}

TEST_F(MetadataTest, FailedRefreshKeepsUnexpiredCredentials) {
  auto env = BaseEnv(dir_);
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = fake_.url() + "/ecs/creds";
  env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ecs-token";
  CredentialsChainOptions o;
  auto token = std::make_shared<std::string>("ecs-token");
  o.env = [env, token](std::string_view n) -> std::optional<std::string> {
    if (n == "AWS_CONTAINER_AUTHORIZATION_TOKEN") return *token;
    auto it = env.find(std::string(n));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  o.transport = transport_.get();
  o.now = [this] { return now_; };
  auto chain = NewDefaultCredentialsChain(std::move(o));
  ASSERT_OK(chain->Get());
  *token = "revoked";
  now_ = *ParseRfc3339("2026-11-25T03:57:00Z");
  auto c = chain->Get();
  ASSERT_OK(c);
  EXPECT_EQ(c->access_key_id, "ECSKEY1");
  now_ = *ParseRfc3339("2026-11-25T04:00:01Z");
  EXPECT_THAT(chain->Get(), StatusCodeIs(StatusCode::kUnavailable));
}

TEST(IniTest, RejectsSettingsOutsideSections) {
  EXPECT_THAT(ParseIni("key = v\n"),
              StatusIs(StatusCode::kInvalidArgument, "line 1: setting outside any [section]"));
  EXPECT_THAT(ParseIni("[default\n"),
              StatusIs(StatusCode::kInvalidArgument, "line 1: section header has no ']'"));
}

}  // namespace
}  // namespace glfm::aws
