// ConnectAws: region, credentials and per-service endpoints from the environment, end to end
// against two scripted loopback endpoints that verify the signatures.
#include "gamelift/connect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aws/testing/fake_aws.h"
#include "testing/status_matchers.h"

namespace glfm::gamelift {
namespace {

using aws::testing::FakeAws;
using ::testing::HasSubstr;

TEST(ConnectAwsTest, TakesRegionCredentialsAndEndpointsFromTheEnvironment) {
  FakeAws gamelift("ENVSECRET");
  FakeAws sqs("ENVSECRET");
  gamelift.Push(FakeAws::Ok(R"({"Alias":{"AliasId":"alias-1"}})"));
  sqs.Push(FakeAws::Ok(R"({"QueueUrl":"http://127.0.0.1/1/q"})"));
  auto env = aws::MapEnv({{"AWS_REGION", "eu-central-1"},
                          {"AWS_ACCESS_KEY_ID", "ENVKEY"},
                          {"AWS_SECRET_ACCESS_KEY", "ENVSECRET"},
                          {"AWS_ENDPOINT_URL_GAMELIFT", gamelift.url()},
                          {"AWS_ENDPOINT_URL_SQS", sqs.url()},
                          {"AWS_CONFIG_FILE", "/nonexistent"},
                          {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                          {"AWS_EC2_METADATA_DISABLED", "true"}});
  auto services = ConnectAws({}, env);
  ASSERT_OK(services);
  ASSERT_OK((*services)->gamelift->DescribeAlias("alias-1"));
  EXPECT_THAT((*services)->sqs->GetQueueUrl("q"), IsOkAndHolds("http://127.0.0.1/1/q"));
  ASSERT_EQ(gamelift.requests().size(), 1u);
  ASSERT_EQ(sqs.requests().size(), 1u);
  EXPECT_OK(gamelift.requests()[0].signature);
  EXPECT_OK(sqs.requests()[0].signature);
  EXPECT_THAT(*gamelift.requests()[0].request.Header("authorization"),
              HasSubstr("Credential=ENVKEY/"));
  EXPECT_THAT(*sqs.requests()[0].request.Header("authorization"),
              HasSubstr("/eu-central-1/sqs/aws4_request"));
}

TEST(ConnectAwsTest, SettingsWinAndMissingRegionIsAnError) {
  FakeAws fake("CFGSECRET");
  fake.Push(FakeAws::Ok(R"({"Alias":{"AliasId":"alias-1"}})"));
  auto env = aws::MapEnv({{"AWS_CONFIG_FILE", "/nonexistent"},
                          {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
                          {"AWS_EC2_METADATA_DISABLED", "true"}});
  EXPECT_THAT(ConnectAws({}, env),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no region configured")));
  AwsSettings s;
  s.region = "us-west-2";
  s.credentials = {"CFGKEY", "CFGSECRET", "", std::nullopt, ""};
  s.gamelift_endpoint = fake.url();
  s.sqs_endpoint = fake.url();
  auto services = ConnectAws(s, env);
  ASSERT_OK(services);
  ASSERT_OK((*services)->gamelift->DescribeAlias("alias-1"));
  EXPECT_OK(fake.requests()[0].signature);
  // No credentials anywhere: the first call says so.
  s.credentials = {};
  auto none = ConnectAws(s, env);
  ASSERT_OK(none);
  EXPECT_THAT((*none)->gamelift->DescribeAlias("alias-1"),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("no AWS credentials found")));
}

}  // namespace
}  // namespace glfm::gamelift
