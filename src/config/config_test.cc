#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace glfm::config {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class ConfigTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& text) {
    std::string path = dir_.path() + "/glfm.yaml";
    std::ofstream(path) << text;
    return path;
  }

  // The settings a valid AWS-mode configuration needs, from the environment.
  static std::map<std::string, std::string, std::less<>> AwsEnv() {
    return {{"GL_AWS_REGION", "eu-west-1"},
            {"GL_AWS_ALIAS_ID", "alias-1234"},
            {"GL_PLACEMENT_QUEUE_NAME", "queue-1"},
            {"GL_PLACEMENT_EVENTS_SQS_URL", "https://sqs.eu-west-1.amazonaws.com/1/events"},
            {"GLFM_HTTP_KEY", "server-key-s3cr3t1"},
            {"GLFM_API_KEYS", "api-key-s3cr3t2, api-key-s3cr3t3"}};
  }

  glfm::testing::TempDir dir_{"glfm-config"};
};

TEST_F(ConfigTest, DefaultsAreLocalModeOnLoopback) {
  auto cfg = Load({});
  ASSERT_OK(cfg);
  EXPECT_TRUE(cfg->local_mode);
  EXPECT_EQ(cfg->server.listen, "127.0.0.1:7350");
  EXPECT_EQ(cfg->server.host, "127.0.0.1");
  EXPECT_EQ(cfg->server.port, 7350);
  EXPECT_EQ(cfg->server.io_threads, 0);
  EXPECT_EQ(cfg->server.max_body_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(cfg->server.read_timeout, milliseconds(30000));
  EXPECT_EQ(cfg->server.idle_timeout, milliseconds(75000));
  EXPECT_EQ(cfg->data_dir, "data");
  EXPECT_EQ(cfg->store.driver, "sqlite");
  EXPECT_EQ(cfg->store.sqlite_path, "data/glfm.db");
  EXPECT_EQ(cfg->store.sqlite_synchronous, "FULL");
  EXPECT_EQ(cfg->log.format, "auto");
  EXPECT_FALSE(cfg->node_name.empty());
  EXPECT_EQ(cfg->origins.at("server.listen"), "default");
}

TEST_F(ConfigTest, FlagsBeatEnvironmentBeatFileBeatDefaults) {
  std::string path = WriteFile(
      "server:\n"
      "  listen: 127.0.0.1:1001\n"
      "  io_threads: 3\n"
      "log:\n"
      "  level: warn\n"
      "data_dir: /from/file\n");
  Input in;
  in.flags.config_file = path;
  in.env = {{"GLFM_LISTEN", "127.0.0.1:1002"}, {"GLFM_IO_THREADS", "5"}};
  in.flags.values = {{"--listen", "127.0.0.1:1003"}};

  auto cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->server.port, 1003);
  EXPECT_EQ(cfg->origins.at("server.listen"), "flag --listen");
  EXPECT_EQ(cfg->server.io_threads, 5);
  EXPECT_EQ(cfg->origins.at("server.io_threads"), "env GLFM_IO_THREADS");
  EXPECT_EQ(cfg->log.level, "warn");
  EXPECT_EQ(cfg->origins.at("log.level"), "file " + path + " line 5");
  EXPECT_EQ(cfg->data_dir, "/from/file");
  EXPECT_EQ(cfg->store.sqlite_path, "/from/file/glfm.db");
  EXPECT_EQ(cfg->origins.at("server.read_timeout"), "default");

  in.flags.values.clear();
  EXPECT_EQ(Load(in)->server.port, 1002);
  in.env.clear();
  EXPECT_EQ(Load(in)->server.port, 1001);
}

TEST_F(ConfigTest, OriginalVariableNamesWinOverStandardAwsOnes) {
  Input in;
  in.env = AwsEnv();
  in.env["AWS_REGION"] = "us-west-2";
  in.env["AWS_DEFAULT_REGION"] = "ap-south-1";
  in.env["AWS_ACCESS_KEY_ID"] = "AKIDSTANDARD";
  in.env["AWS_SECRET_ACCESS_KEY"] = "standard-s3cr3t4";
  in.env["GL_AWS_ACCESS_KEY"] = "AKIDORIGINAL";
  auto cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_FALSE(cfg->local_mode);
  EXPECT_EQ(cfg->aws.region, "eu-west-1");
  EXPECT_EQ(cfg->aws.access_key_id, "AKIDORIGINAL");
  EXPECT_EQ(cfg->aws.secret_access_key, "standard-s3cr3t4");
  EXPECT_EQ(cfg->origins.at("aws.secret_access_key"), "env AWS_SECRET_ACCESS_KEY");
  EXPECT_THAT(cfg->auth.api_keys, ElementsAre("api-key-s3cr3t2", "api-key-s3cr3t3"));

  in.env.erase("GL_AWS_REGION");
  EXPECT_EQ(Load(in)->aws.region, "us-west-2");
  in.env.erase("AWS_REGION");
  EXPECT_EQ(Load(in)->aws.region, "ap-south-1");
  in.env["AWS_REGION"] = "";  // empty counts as unset
  EXPECT_EQ(Load(in)->aws.region, "ap-south-1");
}

TEST_F(ConfigTest, EndpointOverridesAndProfile) {
  Input in;
  in.env = AwsEnv();
  in.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9000";
  in.env["AWS_ENDPOINT_URL_GAMELIFT"] = "http://127.0.0.1:9001";
  in.env["AWS_ENDPOINT_URL_SQS"] = "http://127.0.0.1:9002";
  in.env["AWS_PROFILE"] = "studio";
  auto cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->aws.endpoint_url, "http://127.0.0.1:9000");
  EXPECT_EQ(cfg->aws.gamelift_endpoint_url, "http://127.0.0.1:9001");
  EXPECT_EQ(cfg->aws.sqs_endpoint_url, "http://127.0.0.1:9002");
  EXPECT_EQ(cfg->aws.profile, "studio");
}

TEST_F(ConfigTest, ListsFromYamlSequenceOrCommaSeparatedFlag) {
  Input in;
  in.flags.config_file = WriteFile("auth:\n  api_keys: [a1, b2]\n");
  EXPECT_THAT(Load(in)->auth.api_keys, ElementsAre("a1", "b2"));
  in.flags.values = {{"--api-keys", "c3,d4"}};
  EXPECT_THAT(Load(in)->auth.api_keys, ElementsAre("c3", "d4"));
}

TEST_F(ConfigTest, EveryProblemIsReportedAtOnceNamingSettingAndSource) {
  std::string path = WriteFile(
      "server:\n"
      "  listen: nowhere\n"
      "  lisen: 127.0.0.1:1\n"
      "  io_threads: many\n"
      "log: loud\n"
      "colour: blue\n"
      "store:\n"
      "  driver: mysql\n"
      "  sqlite_synchronous: OFF\n");
  Input in;
  in.flags.config_file = path;
  in.env = {{"GLFM_MAX_BODY_BYTES", "-1"},
            {"GLFM_READ_TIMEOUT", "30"},
            {"GLFM_IDLE_TIMEOUT", "0s"},
            {"GLFM_LOG_LEVEL", "chatty"}};
  in.flags.values = {{"--log-format", "xml"},
                     {"--emulator-listen", "127.0.0.1:99999"},
                     {"--data-dir", ""},
                     {"--node-name", "two words"},
                     {"--shutdown-grace", "2d"}};
  auto cfg = Load(in);
  std::string f = "(file " + path + " line ";
  EXPECT_THAT(
      cfg, StatusIs(StatusCode::kInvalidArgument,
                    AllOf(HasSubstr("invalid configuration (16 problems):"),
                          HasSubstr("\n  server.listen " + f + "2): must be HOST:PORT"),
                          HasSubstr("\n  unknown setting \"server.lisen\" " + f + "3)"),
                          HasSubstr("\n  server.io_threads " + f +
                                    "4): must be an integer from 0 to 256, got \"many\""),
                          HasSubstr("\n  log " + f + "5): must be a mapping of settings"),
                          HasSubstr("\n  unknown setting \"colour\" " + f + "6)"),
                          HasSubstr("\n  store.driver " + f +
                                    "8): must be one of sqlite postgres, got \"mysql\""),
                          HasSubstr("\n  store.sqlite_synchronous " + f +
                                    "9): must be one of FULL NORMAL, got \"OFF\""),
                          HasSubstr("\n  server.max_body_bytes (env GLFM_MAX_BODY_BYTES): must "
                                    "be a size from 1 bytes to 1GiB"),
                          HasSubstr("\n  server.read_timeout (env GLFM_READ_TIMEOUT): must be a "
                                    "duration from 1ms to 24h such as 500ms, 30s, 2m, got \"30\""),
                          HasSubstr("\n  server.idle_timeout (env GLFM_IDLE_TIMEOUT): must be a "
                                    "duration"),
                          HasSubstr("\n  log.level (env GLFM_LOG_LEVEL): must be one of debug "
                                    "info warn error, got \"chatty\""),
                          HasSubstr("\n  log.format (flag --log-format): must be one of auto "
                                    "text json, got \"xml\""),
                          HasSubstr("\n  local.emulator_listen (flag --emulator-listen): must "
                                    "be HOST:PORT"),
                          HasSubstr("\n  data_dir (flag --data-dir): must not be empty"),
                          HasSubstr("\n  node_name (flag --node-name): must not contain white "
                                    "space, got \"two words\""))));
  // shutdown_grace 2d: "d" is not a unit.
  EXPECT_THAT(cfg.status().message(),
              HasSubstr("\n  server.shutdown_grace (flag --shutdown-grace): must be a duration "
                        "from 0s to 1h"));
}

TEST_F(ConfigTest, AwsModeNamesEveryMissingRequiredSetting) {
  Input in;
  in.env = {{"AWS_REGION", "us-east-1"}};
  auto cfg = Load(in);
  EXPECT_THAT(
      cfg,
      StatusIs(StatusCode::kInvalidArgument,
               AllOf(HasSubstr("(5 problems)"),
                     HasSubstr("\n  aws.alias_id: required outside local mode (set "
                               "GL_AWS_ALIAS_ID, aws.alias_id in the config file, or "
                               "--aws-alias-id)"),
                     HasSubstr("\n  aws.placement_queue_name: required outside local mode"),
                     HasSubstr("\n  aws.placement_events_sqs_url: required outside local mode"),
                     HasSubstr("\n  auth.http_key: required outside local mode"),
                     HasSubstr("\n  auth.api_keys: required outside local mode"),
                     HasSubstr("(AWS mode because aws.region is set (env AWS_REGION); local "
                               "mode, with the built-in emulator, needs no AWS setting at all)"),
                     Not(HasSubstr("aws.region:")))));
}

TEST_F(ConfigTest, CredentialHalvesAndBadAwsValues) {
  Input in;
  in.env = AwsEnv();
  in.env["GL_AWS_SECRET_ACCESS_KEY"] = "lonely-s3cr3t5";
  in.env["AWS_SESSION_TOKEN"] = "token-s3cr3t6";
  in.env["GL_AWS_REGION"] = "EU West";
  in.env["GL_PLACEMENT_QUEUE_NAME"] = "queue_with_underscore";
  in.env["GL_PLACEMENT_EVENTS_SQS_URL"] = "sqs.amazonaws.com/1/q";
  in.flags.values = {{"--gamelift-endpoint-url", "ftp://x"}};
  auto cfg = Load(in);
  EXPECT_THAT(
      cfg, StatusIs(StatusCode::kInvalidArgument,
                    AllOf(HasSubstr("(6 problems)"),
                          HasSubstr("\n  aws.access_key_id: required with aws.secret_access_key "
                                    "(env GL_AWS_SECRET_ACCESS_KEY)"),
                          HasSubstr("\n  aws.session_token (env AWS_SESSION_TOKEN): needs "
                                    "aws.access_key_id and aws.secret_access_key"),
                          HasSubstr("\n  aws.region (env GL_AWS_REGION): must be an AWS region "
                                    "name such as us-east-1, got \"EU West\""),
                          HasSubstr("\n  aws.placement_queue_name (env GL_PLACEMENT_QUEUE_NAME): "
                                    "must hold only letters, digits and '-'"),
                          HasSubstr("\n  aws.placement_events_sqs_url (env "
                                    "GL_PLACEMENT_EVENTS_SQS_URL): must be an http:// or "
                                    "https:// URL"),
                          HasSubstr("\n  aws.gamelift_endpoint_url (flag "
                                    "--gamelift-endpoint-url): must be an http:// or https:// "
                                    "URL, got \"ftp://x\""))));
  EXPECT_THAT(cfg.status().message(), Not(HasSubstr("s3cr3t")));

  in.env = AwsEnv();
  in.env["AWS_ACCESS_KEY_ID"] = "AKIDALONE";
  EXPECT_THAT(Load(in), StatusIs(StatusCode::kInvalidArgument,
                                 HasSubstr("\n  aws.secret_access_key: required with "
                                           "aws.access_key_id (env AWS_ACCESS_KEY_ID)")));
}

TEST_F(ConfigTest, PostgresNeedsADsn) {
  Input in;
  in.flags.values = {{"--store-driver", "postgres"}};
  EXPECT_THAT(Load(in), StatusIs(StatusCode::kInvalidArgument,
                                 HasSubstr("store.postgres_dsn: required when store.driver is "
                                           "postgres (flag --store-driver)")));
  in.env = {{"GLFM_POSTGRES_DSN", "postgresql://glfm:pw-s3cr3t7@127.0.0.1/glfm"}};
  EXPECT_OK(Load(in));
}

TEST_F(ConfigTest, FileProblems) {
  Input in;
  in.flags.config_file = dir_.path() + "/missing.yaml";
  EXPECT_THAT(Load(in),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("config file " + dir_.path() + "/missing.yaml: cannot be read")));
  in.flags.config_file = WriteFile("server: [unclosed\n");
  EXPECT_THAT(Load(in),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("config file " + dir_.path() + "/glfm.yaml: yaml-cpp:")));
  in.flags.config_file = WriteFile("- a\n- b\n");
  EXPECT_THAT(Load(in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be a mapping of settings")));
  in.flags.config_file = WriteFile("server:\n  listen: [1, 2]\n");
  EXPECT_THAT(Load(in), StatusIs(StatusCode::kInvalidArgument,
                                 HasSubstr("server.listen (file " + dir_.path() +
                                           "/glfm.yaml line 2): must be a single value")));
  in.flags.config_file = WriteFile("");  // empty file: defaults
  EXPECT_OK(Load(in));
  // GLFM_CONFIG names the file when no --config is given.
  in.flags.config_file.reset();
  in.env = {{"GLFM_CONFIG", WriteFile("data_dir: /x\n")}};
  EXPECT_EQ(Load(in)->data_dir, "/x");
}

TEST_F(ConfigTest, SecretsAreRedactedInDescribeAndErrors) {
  // Every secret set from every kind of source, some valid and some invalid.
  std::string path = WriteFile(
      "aws:\n"
      "  secret_access_key: file-s3cr3t-a\n"
      "auth:\n"
      "  api_keys: [file-s3cr3t-b]\n");
  Input in;
  in.flags.config_file = path;
  in.env = AwsEnv();
  in.env["GL_AWS_ACCESS_KEY"] = "AKIDPUBLIC";
  in.env["AWS_SESSION_TOKEN"] = "env-s3cr3t-c";
  in.env["GLFM_POSTGRES_DSN"] = "host=127.0.0.1 password=env-s3cr3t-d";
  in.env["GLFM_WEBHOOK_SECRET"] = "env-s3cr3t-w";
  in.flags.values = {{"--http-key", "flag-s3cr3t-e"},
                     {"--webhook-url", "https://nakama:7350/v2/rpc/x?http_key=flag-s3cr3t-u"}};
  auto cfg = Load(in);
  ASSERT_OK(cfg);
  std::string text = cfg->Describe();
  EXPECT_THAT(text, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(text, HasSubstr("  secret: \"<redacted>\""));
  EXPECT_THAT(text, HasSubstr("  secret_access_key: \"<redacted>\""));
  EXPECT_THAT(text, HasSubstr("# file " + path + " line 2"));
  EXPECT_THAT(text, HasSubstr("  http_key: \"<redacted>\""));
  EXPECT_THAT(text, HasSubstr("# flag --http-key"));
  EXPECT_THAT(text, HasSubstr("  api_keys: [\"<redacted>\", \"<redacted>\"]"));
  EXPECT_THAT(text, HasSubstr("  postgres_dsn: \"<redacted>\""));
  EXPECT_THAT(text, HasSubstr("  access_key_id: \"AKIDPUBLIC\""));
  EXPECT_THAT(text, HasSubstr("# glfm effective configuration: AWS mode"));

  // Invalid secrets: the message says what is wrong, never the value.
  in.flags.values = {{"--http-key", "has space-s3cr3t-f"},
                     {"--api-keys", "ok-s3cr3t-g,bad key-s3cr3t-h"},
                     {"--aws-secret-access-key", "sp ace-s3cr3t-i"},
                     {"--aws-session-token", "sp ace-s3cr3t-j"}};
  auto bad = Load(in);
  EXPECT_THAT(bad, StatusIs(StatusCode::kInvalidArgument,
                            AllOf(HasSubstr("auth.http_key (flag --http-key): must not contain "
                                            "white space\n"),
                                  HasSubstr("auth.api_keys (flag --api-keys): every item must"),
                                  HasSubstr("aws.secret_access_key (flag "
                                            "--aws-secret-access-key): must not contain"))));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("s3cr3t")));
}

TEST_F(ConfigTest, DescribeShowsLocalModeAndDefaults) {
  auto cfg = Load({});
  ASSERT_OK(cfg);
  std::string text = cfg->Describe();
  EXPECT_THAT(text, HasSubstr("# glfm effective configuration: local mode"));
  EXPECT_THAT(text, HasSubstr("\nserver:\n  listen: \"127.0.0.1:7350\""));
  EXPECT_THAT(text, HasSubstr("  max_body_bytes: 4MiB"));
  EXPECT_THAT(text, HasSubstr("  read_timeout: 30s"));
  EXPECT_THAT(text, HasSubstr("  http_key: \"\""));
  EXPECT_THAT(text, HasSubstr("  api_keys: []"));
}

TEST(FlagsTest, ParsesBothSpellingsAndRejectsUnknown) {
  auto f = ParseFlags({"--listen", "127.0.0.1:0", "--data-dir=/tmp/x", "--config", "c.yaml"});
  ASSERT_OK(f);
  EXPECT_EQ(f->config_file, "c.yaml");
  ASSERT_EQ(f->values.size(), 2u);
  EXPECT_EQ(f->values[0], std::make_pair(std::string("--listen"), std::string("127.0.0.1:0")));
  EXPECT_EQ(f->values[1], std::make_pair(std::string("--data-dir"), std::string("/tmp/x")));
  EXPECT_THAT(ParseFlags({"--lisen", "x"}),
              StatusIs(StatusCode::kInvalidArgument, "unknown flag --lisen"));
  EXPECT_THAT(ParseFlags({"--listen"}),
              StatusIs(StatusCode::kInvalidArgument, "flag --listen needs a value"));
  EXPECT_THAT(ParseFlags({"extra"}),
              StatusIs(StatusCode::kInvalidArgument, "unexpected argument \"extra\""));
}

TEST(ValuesTest, DurationsSizesAndAddresses) {
  EXPECT_THAT(ParseDuration("250ms"), IsOkAndHolds(milliseconds(250)));
  EXPECT_THAT(ParseDuration("1m30s"), IsOkAndHolds(milliseconds(90000)));
  EXPECT_THAT(ParseDuration("1.5s"), IsOkAndHolds(milliseconds(1500)));
  EXPECT_THAT(ParseDuration("2h"), IsOkAndHolds(milliseconds(7200000)));
  EXPECT_THAT(ParseDuration("30"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("unit")));
  EXPECT_THAT(ParseDuration(""), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDuration("s"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(FormatDuration(milliseconds(90500)), "1m30s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(3600000)), "1h");

  EXPECT_THAT(ParseHostPort("0.0.0.0:0"),
              IsOkAndHolds(std::make_pair(std::string("0.0.0.0"), uint16_t{0})));
  EXPECT_THAT(ParseHostPort("[::1]:8080"),
              IsOkAndHolds(std::make_pair(std::string("::1"), uint16_t{8080})));
  EXPECT_THAT(ParseHostPort("localhost:80"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("127.0.0.1"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("127.0.0.1:65536"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("::1:80"), StatusCodeIs(StatusCode::kInvalidArgument));

  Input in;
  in.flags.values = {{"--max-body-bytes", "512KiB"}};
  EXPECT_EQ(Load(in)->server.max_body_bytes, 512u * 1024);
}

TEST(SettingsTest, EveryKeyHasAFlagHelpAndAnEnvironmentVariable) {
  for (const auto& s : Settings()) {
    EXPECT_EQ(s.flag.rfind("--", 0), 0u) << s.key;
    EXPECT_FALSE(s.help.empty()) << s.key;
    EXPECT_FALSE(s.env.empty()) << s.key;
  }
}

TEST_F(ConfigTest, AwsTimeoutBoundsEachAttemptAndLeavesLocalModeAlone) {
  Input in;
  auto cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->aws.timeout, std::chrono::seconds(10));  // the default
  in.env["GLFM_AWS_TIMEOUT"] = "3s";
  cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->aws.timeout, std::chrono::seconds(3));
  EXPECT_TRUE(cfg->local_mode);  // a timeout names no AWS account: still local mode
  in.flags.values = {{"--aws-timeout", "1500ms"}};
  cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_EQ(cfg->aws.timeout, std::chrono::milliseconds(1500));  // the flag wins
  in.flags.values = {{"--aws-timeout", "0s"}};
  EXPECT_THAT(Load(in), StatusIs(StatusCode::kInvalidArgument,
                                 HasSubstr("aws.timeout (flag --aws-timeout)")));
}

TEST_F(ConfigTest, WebhookAndFleetSettings) {
  Input in;
  in.env["GLFM_WEBHOOK_URL"] = "https://hooks.example.com/glfm";
  in.env["GLFM_WEBHOOK_MAX_AGE"] = "2h";
  in.flags.values = {{"--fleet-receivers", "4"},
                     {"--queue-timeout", "90s"},
                     {"--reconcile-interval", "0s"},
                     {"--receive-wait", "5s"},
                     {"--webhook-timeout", "3s"}};
  auto cfg = Load(in);
  ASSERT_OK(cfg);
  EXPECT_TRUE(cfg->local_mode);  // local mode makes its own secret
  EXPECT_EQ(cfg->webhook.url, "https://hooks.example.com/glfm");
  EXPECT_EQ(cfg->webhook.max_age, std::chrono::hours(2));
  EXPECT_EQ(cfg->webhook.timeout, std::chrono::seconds(3));
  EXPECT_EQ(cfg->fleet.receivers, 4);
  EXPECT_EQ(cfg->fleet.queue_timeout, std::chrono::seconds(90));
  EXPECT_EQ(cfg->fleet.reconcile_interval, std::chrono::milliseconds(0));
  EXPECT_EQ(cfg->fleet.receive_wait, std::chrono::seconds(5));
  EXPECT_EQ(cfg->fleet.placement_retention, std::chrono::hours(24));  // the default
  in.env["GLFM_PLACEMENT_RETENTION"] = "7d";
  EXPECT_THAT(Load(in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("fleet.placement_retention (env "
                                                               "GLFM_PLACEMENT_RETENTION)")));
  in.env["GLFM_PLACEMENT_RETENTION"] = "168h";
  in.flags.values.push_back({"--placement-retention", "0s"});
  auto forever = Load(in);
  ASSERT_OK(forever);
  EXPECT_EQ(forever->fleet.placement_retention, std::chrono::milliseconds(0));  // flag wins

  // Outside local mode a default webhook needs the secret its receiver checks; bad values
  // are named.
  Input aws;
  aws.env = AwsEnv();
  aws.env["GLFM_WEBHOOK_URL"] = "ftp://nope";
  aws.flags.values = {{"--receive-wait", "30s"}, {"--fleet-receivers", "-1"}};
  auto bad = Load(aws);
  EXPECT_THAT(bad, StatusIs(StatusCode::kInvalidArgument,
                            AllOf(HasSubstr("webhook.url"), HasSubstr("http:// or https://"),
                                  HasSubstr("fleet.receive_wait"), HasSubstr("fleet.receivers"))));
  aws.env["GLFM_WEBHOOK_URL"] = "https://hooks.example.com/glfm";
  aws.flags.values.clear();
  EXPECT_THAT(Load(aws), StatusIs(StatusCode::kInvalidArgument,
                                  HasSubstr("webhook.secret: required with webhook.url (env "
                                            "GLFM_WEBHOOK_URL)")));
  aws.env["GLFM_WEBHOOK_SECRET"] = "k";
  EXPECT_OK(Load(aws));
}

TEST_F(ConfigTest, EverySettingIsDocumented) {
  std::ifstream in(std::string(GLFM_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  // Backquoted, as the tables write them.
  auto quoted = [](std::string_view name) {
    std::string out(1, '`');
    out.append(name);
    out.push_back('`');
    return out;
  };
  for (const auto& st : Settings()) {
    EXPECT_THAT(doc.str(), HasSubstr("| " + quoted(st.key)))
        << st.key << " is missing from docs/configuration.md";
    if (!st.flag.empty()) {
      EXPECT_THAT(doc.str(), HasSubstr(quoted(st.flag)));
    }
    for (auto env : st.env) {
      EXPECT_THAT(doc.str(), HasSubstr(quoted(env)));
    }
  }
}

}  // namespace
}  // namespace glfm::config
