// Typed GameLift and SQS operations against a scripted loopback endpoint: the exact JSON
// each operation sends, decoding of answers (epoch-second timestamps, pages), input
// validation with the service limits (nothing sent), error mapping. Built twice: as a unit
// test, and with GLFM_VALIDATE_WITH_BOTOCORE so every request body is also checked by
// botocore's ParamValidator.
#include "gamelift/gamelift.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "aws/testing/fake_aws.h"
#include "aws/testing/request_log.h"
#include "common/check.h"
#include "gamelift/sqs.h"
#include "glfm/codec.h"
#include "testing/status_matchers.h"

// The botocore-validating build registers its tests under their own suite name, so ctest
// lists both binaries' tests without clashes.
#ifdef GLFM_VALIDATE_WITH_BOTOCORE
#define OpsTest OpsBotocoreTest
#define Md5Test Md5BotocoreTest
#endif

namespace glfm::gamelift {
namespace {

using aws::testing::FakeAws;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kQueueUrl[] = "http://127.0.0.1:9324/123456789012/placement-events";

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::move(aws::NewCurlTransport({})).value();
    creds_ = aws::NewStaticCredentialsProvider({"AKIDTEST", "SECRET", "", std::nullopt, ""});
    gl_ = std::make_unique<GameLiftClient>(MakeAws(aws::kGameLiftService));
    sqs_ = std::make_unique<SqsClient>(MakeAws(aws::kSqsService));
  }

  std::unique_ptr<aws::AwsClient> MakeAws(const aws::ServiceSpec& svc) {
    aws::AwsClientOptions o;
    o.service = &svc;
    o.region = "us-east-1";
    o.endpoint = fake_.url();
    o.credentials = creds_.get();
    o.transport = transport_.get();
    o.env.sleep = [](std::chrono::milliseconds) {};
    o.on_request = aws::testing::RequestLog::Hook(svc);
    return std::move(aws::AwsClient::Create(std::move(o))).value();
  }

  // The JSON body of request `i`, parsed.
  Json Body(size_t i) {
    auto reqs = fake_.requests();
    GLFM_CHECK(i < reqs.size());
    return *Json::Parse(reqs[i].request.body);
  }
  std::string Target(size_t i) { return *fake_.requests()[i].request.Header("x-amz-target"); }

  FakeAws fake_;
  std::unique_ptr<aws::HttpTransport> transport_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
  std::unique_ptr<GameLiftClient> gl_;
  std::unique_ptr<SqsClient> sqs_;
};

// Returns prefix + i (snprintf: g++ 12 warns falsely on "u" + std::to_string(i)).
std::string Id(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%d", prefix, i);
  return buf;
}

const char kSession[] = "arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b/gsess-abc";

std::string SessionJson(const std::string& id, const std::string& status) {
  return R"({"GameSessionId":")" + id +
         R"(","FleetId":"fleet-1a2b","Name":"n","CreationTime":1764039600.25,)"
         R"("CurrentPlayerSessionCount":2,"MaximumPlayerSessionCount":8,"Status":")" +
         status +
         R"(","GameProperties":[{"Key":"mode","Value":"ctf"}],"IpAddress":"10.0.0.1",)"
         R"("DnsName":"","Port":7777,"GameSessionData":"d","Location":"us-east-1"})";
}

StartGameSessionPlacementRequest ValidPlacement() {
  StartGameSessionPlacementRequest r;
  r.placement_id = "p-123";
  r.game_session_queue_name = "glfm-queue";
  r.maximum_player_session_count = 8;
  r.game_session_name = "match 1";
  r.game_properties = {{"mode", "ctf"}, {"map", "dust"}};
  r.game_session_data = "{\"seed\":42}";
  r.player_latencies = {{"u1", "us-east-1", 35.5}};
  r.desired_player_sessions = {{"u1", "blue team"}, {"u2", ""}};
  r.location_order = {"us-east-1", "us-west-2"};
  return r;
}

TEST_F(OpsTest, StartGameSessionPlacementSendsEveryField) {
  fake_.Push(FakeAws::Ok(
      R"({"GameSessionPlacement":{"PlacementId":"p-123","GameSessionQueueName":"glfm-queue",)"
      R"("Status":"PENDING","StartTime":1764039600.5,"MaximumPlayerSessionCount":8}})"));
  auto p = gl_->StartGameSessionPlacement(ValidPlacement());
  ASSERT_OK(p);
  EXPECT_EQ(p->status, "PENDING");
  ASSERT_TRUE(p->start_time.has_value());
  EXPECT_EQ(FormatRfc3339(*p->start_time), "2025-11-25T03:00:00.5Z");
  EXPECT_EQ(Target(0), "GameLift.StartGameSessionPlacement");
  EXPECT_EQ(
      Body(0).Dump(),
      R"({"DesiredPlayerSessions":[{"PlayerData":"blue team","PlayerId":"u1"},{"PlayerId":"u2"}],)"
      R"("GameProperties":[{"Key":"mode","Value":"ctf"},{"Key":"map","Value":"dust"}],)"
      R"("GameSessionData":"{\"seed\":42}","GameSessionName":"match 1",)"
      R"("GameSessionQueueName":"glfm-queue","MaximumPlayerSessionCount":8,)"
      R"("PlacementId":"p-123","PlayerLatencies":[{"LatencyInMilliseconds":35.5,"PlayerId":"u1",)"
      R"("RegionIdentifier":"us-east-1"}],"PriorityConfigurationOverride":{"LocationOrder":)"
      R"(["us-east-1","us-west-2"]}})");
}

TEST_F(OpsTest, StartGameSessionPlacementValidatesBeforeSending) {
  auto check = [&](auto mutate, const std::string& message) {
    auto r = ValidPlacement();
    mutate(r);
    EXPECT_THAT(gl_->StartGameSessionPlacement(r),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(message)));
  };
  check([](auto& r) { r.placement_id = std::string(49, 'a'); },
        "StartGameSessionPlacement: PlacementId must be 1-48 characters of [A-Za-z0-9-]");
  check([](auto& r) { r.placement_id = "p_1"; }, "PlacementId must be 1-48");
  check([](auto& r) { r.placement_id = ""; }, "PlacementId must be 1-48");
  check([](auto& r) { r.game_session_queue_name = "my queue"; }, "GameSessionQueueName");
  check(
      [](auto& r) {
        r.game_properties.resize(17, {"k", "v"});
      },
      "GameProperties has 17 entries; at most 16 are allowed");
  check([](auto& r) { r.game_properties = {{std::string(33, 'k'), "v"}}; }, "GameProperties key");
  check(
      [](auto& r) {
        r.game_properties = {{"k", std::string(97, 'v')}};
      },
      "GameProperties value of key \"k\" must be at most 96 characters, got 97");
  check([](auto& r) { r.game_properties = {{"k", "a"}, {"k", "b"}}; }, "appears twice");
  check([](auto& r) { r.game_session_data = std::string(4097, 'd'); },
        "GameSessionData must be at most 4096 characters, got 4097");
  check(
      [](auto& r) {
        r.desired_player_sessions.clear();
        for (int i = 0; i < 26; ++i) r.desired_player_sessions.push_back({Id("u", i), ""});
      },
      "DesiredPlayerSessions has 26 players; at most 25 are allowed");
  check(
      [](auto& r) {
        r.desired_player_sessions = {{"u1", ""}, {"u1", ""}};
      },
      "DesiredPlayerSessions PlayerId \"u1\" appears twice");
  check(
      [](auto& r) {
        r.desired_player_sessions = {{"u1", std::string(2049, 'x')}};
      },
      "PlayerData of player \"u1\" must be at most 2048 characters");
  check(
      [](auto& r) {
        r.player_latencies = {{"u1", "us-east-1", -1}};
      },
      "LatencyInMilliseconds of player \"u1\" must be a finite number >= 0");
  check([](auto& r) { r.maximum_player_session_count = -1; }, "MaximumPlayerSessionCount");
  check([](auto& r) { r.location_order = {"us east"}; }, "LocationOrder");
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(OpsTest, DescribeAndStopPlacementDecodeFulfilledPlacements) {
  fake_.Push(FakeAws::Ok(
      R"({"GameSessionPlacement":{"PlacementId":"p-1","Status":"FULFILLED",)"
      R"("GameSessionArn":"arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b/gsess-abc",)"
      R"("GameSessionId":"arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b/gsess-abc",)"
      R"("IpAddress":"10.0.0.1","DnsName":"","Port":7777,"EndTime":1764039700,)"
      R"("PlacedPlayerSessions":[{"PlayerId":"u1","PlayerSessionId":"psess-1"}]}})"));
  auto p = gl_->DescribeGameSessionPlacement("p-1");
  ASSERT_OK(p);
  EXPECT_EQ(p->status, "FULFILLED");
  EXPECT_EQ(p->port, 7777);
  EXPECT_EQ(p->dns_name, "");
  ASSERT_EQ(p->placed_player_sessions.size(), 1u);
  EXPECT_EQ(p->placed_player_sessions[0].player_session_id, "psess-1");
  EXPECT_EQ(Body(0).Dump(), R"({"PlacementId":"p-1"})");
  fake_.Push(FakeAws::Ok(R"({"GameSessionPlacement":{"PlacementId":"p-1","Status":"CANCELLED"}})"));
  auto s = gl_->StopGameSessionPlacement("p-1");
  ASSERT_OK(s);
  EXPECT_EQ(s->status, "CANCELLED");
  EXPECT_EQ(Target(1), "GameLift.StopGameSessionPlacement");
  EXPECT_THAT(gl_->StopGameSessionPlacement("bad id"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("StopGameSessionPlacement")));
}

TEST_F(OpsTest, DescribeAllGameSessionsReadsEveryPageWithTheFilter) {
  fake_.Push(FakeAws::Ok(
      R"({"GameSessions":[)" + SessionJson(std::string(kSession) + "1", "ACTIVE") + "," +
      SessionJson(std::string(kSession) + "2", "ACTIVE") + R"(],"NextToken":"t1"})"));
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[)" +
                         SessionJson(std::string(kSession) + "3", "ACTIVE") +
                         R"(],"NextToken":"t2"})"));
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[]})"));
  auto all = gl_->DescribeAllGameSessions({"", "alias-42", "", "ACTIVE", ""}, 100);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].game_session_id, std::string(kSession) + "3");
  EXPECT_EQ((*all)[0].current_player_session_count, 2);
  EXPECT_EQ((*all)[0].game_properties, (std::vector<GameProperty>{{"mode", "ctf"}}));
  EXPECT_EQ(FormatRfc3339((*all)[0].creation_time), "2025-11-25T03:00:00.25Z");
  EXPECT_EQ(Body(0).Dump(), R"({"AliasId":"alias-42","Limit":100,"StatusFilter":"ACTIVE"})");
  EXPECT_EQ(Body(1).Dump(),
            R"({"AliasId":"alias-42","Limit":100,"NextToken":"t1","StatusFilter":"ACTIVE"})");
  EXPECT_EQ(Body(2).Dump(),
            R"({"AliasId":"alias-42","Limit":100,"NextToken":"t2","StatusFilter":"ACTIVE"})");
}

TEST_F(OpsTest, DescribeGameSessionsByIdAndFleetAndItsErrors) {
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[)" + SessionJson(kSession, "TERMINATED") + "]}"));
  auto page = gl_->DescribeGameSessions({kSession, "", "", "", ""});
  ASSERT_OK(page);
  EXPECT_EQ(page->items[0].status, "TERMINATED");
  EXPECT_EQ(page->next_token, "");
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[]})"));
  ASSERT_OK(gl_->DescribeGameSessions({"", "", "fleet-1a2b", "ACTIVATING", "us-west-2"}, 5));
  EXPECT_EQ(
      Body(1).Dump(),
      R"({"FleetId":"fleet-1a2b","Limit":5,"Location":"us-west-2","StatusFilter":"ACTIVATING"})");
  EXPECT_THAT(gl_->DescribeGameSessions({kSession, "alias-1", "", "", ""}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exactly one of")));
  EXPECT_THAT(gl_->DescribeGameSessions({"", "", "fleet-1", "LIVE", ""}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("StatusFilter must be one of")));
  EXPECT_THAT(gl_->DescribeGameSessions({"", "", "my-fleet", "", ""}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("FleetId")));
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[{"GameSessionId":"x","Port":"7777"}]})"));
  EXPECT_THAT(gl_->DescribeGameSessions({kSession, "", "", "", ""}),
              StatusIs(StatusCode::kInternal, "GameSession: field Port is not a number"));
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[],"NextToken":"same"})"));
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[],"NextToken":"same"})"));
  EXPECT_THAT(gl_->DescribeAllGameSessions({"", "alias-1", "", "ACTIVE", ""}),
              StatusIs(StatusCode::kInternal, HasSubstr("repeated NextToken same")));
}

TEST_F(OpsTest, SearchGameSessions) {
  fake_.Push(FakeAws::Ok(R"({"GameSessions":[)" + SessionJson(kSession, "ACTIVE") +
                         R"(],"NextToken":"n2"})"));
  SearchGameSessionsRequest r;
  r.alias_id = "alias-42";
  r.filter_expression = "hasAvailablePlayerSessions=true";
  r.sort_expression = "creationTimeMillis DESC";
  r.limit = 20;
  auto page = gl_->SearchGameSessions(r);
  ASSERT_OK(page);
  EXPECT_EQ(page->next_token, "n2");
  EXPECT_EQ(Body(0).Dump(),
            R"({"AliasId":"alias-42","FilterExpression":"hasAvailablePlayerSessions=true",)"
            R"("Limit":20,"SortExpression":"creationTimeMillis DESC"})");
  r.limit = 21;
  EXPECT_THAT(
      gl_->SearchGameSessions(r),
      StatusIs(StatusCode::kInvalidArgument, "SearchGameSessions: Limit must be 1-20, got 21"));
}

TEST_F(OpsTest, PlayerSessions) {
  fake_.Push(FakeAws::Ok(
      R"({"PlayerSession":{"PlayerSessionId":"psess-1","PlayerId":"u1","Status":"RESERVED",)"
      R"("GameSessionId":"arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b/gsess-abc",)"
      R"("CreationTime":1764039600,"Port":7777,"IpAddress":"10.0.0.1"}})"));
  auto one = gl_->CreatePlayerSession(kSession, "u1", "data");
  ASSERT_OK(one);
  EXPECT_EQ(one->player_session_id, "psess-1");
  EXPECT_EQ(one->status, "RESERVED");
  EXPECT_EQ(Body(0).Dump(), std::string(R"({"GameSessionId":")") + kSession +
                                R"(","PlayerData":"data","PlayerId":"u1"})");

  fake_.Push(FakeAws::Ok(R"({"PlayerSessions":[{"PlayerSessionId":"psess-2","PlayerId":"u2"},)"
                         R"({"PlayerSessionId":"psess-3","PlayerId":"u3"}]})"));
  auto many = gl_->CreatePlayerSessions(kSession, {"u2", "u3"}, {{"u2", "x"}});
  ASSERT_OK(many);
  ASSERT_EQ(many->size(), 2u);
  EXPECT_EQ((*many)[1].player_id, "u3");
  EXPECT_EQ(Body(1).Dump(), std::string(R"({"GameSessionId":")") + kSession +
                                R"(","PlayerDataMap":{"u2":"x"},"PlayerIds":["u2","u3"]})");
  std::vector<std::string> ids;
  for (int i = 0; i < 26; ++i) ids.push_back(Id("u", i));
  EXPECT_THAT(gl_->CreatePlayerSessions(kSession, ids),
              StatusIs(StatusCode::kInvalidArgument,
                       "CreatePlayerSessions: PlayerIds must hold 1-25 players, got 26"));
  EXPECT_THAT(gl_->CreatePlayerSessions(kSession, {"u1"}, {{"u9", "x"}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"u9\" is not among PlayerIds")));
  EXPECT_THAT(gl_->CreatePlayerSession("bad id!", "u1"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("GameSessionId")));

  fake_.Push(
      FakeAws::Ok(R"({"PlayerSessions":[{"PlayerSessionId":"psess-2","Status":"ACTIVE"}]})"));
  DescribePlayerSessionsRequest d;
  d.game_session_id = kSession;
  d.status_filter = "ACTIVE";
  d.limit = 10;
  auto described = gl_->DescribePlayerSessions(d);
  ASSERT_OK(described);
  EXPECT_EQ(described->items[0].status, "ACTIVE");
  d.status_filter = "GONE";
  EXPECT_THAT(gl_->DescribePlayerSessions(d),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("PlayerSessionStatusFilter")));

  fake_.Push(FakeAws::Error(400, "GameSessionFullException", "full"));
  EXPECT_THAT(gl_->CreatePlayerSession(kSession, "u9"),
              StatusIs(StatusCode::kResourceExhausted,
                       "GameLift.CreatePlayerSession: GameSessionFullException: full"));
}

TEST_F(OpsTest, UpdateGameSessionAndDescribeAlias) {
  fake_.Push(FakeAws::Ok(R"({"GameSession":)" + SessionJson(kSession, "ACTIVE") + "}"));
  UpdateGameSessionRequest u;
  u.game_session_id = kSession;
  u.maximum_player_session_count = 10;
  u.player_session_creation_policy = "DENY_ALL";
  u.game_properties = std::vector<GameProperty>{{"mode", "koth"}};
  auto g = gl_->UpdateGameSession(u);
  ASSERT_OK(g);
  EXPECT_EQ(g->port, 7777);
  EXPECT_EQ(Body(0).Dump(), std::string(R"({"GameProperties":[{"Key":"mode","Value":"koth"}],)") +
                                R"("GameSessionId":")" + kSession +
                                R"(","MaximumPlayerSessionCount":10,)"
                                R"("PlayerSessionCreationPolicy":"DENY_ALL"})");
  u.protection_policy = "Sometimes";
  EXPECT_THAT(gl_->UpdateGameSession(u),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("ProtectionPolicy must be one of")));

  fake_.Push(FakeAws::Ok(
      R"({"Alias":{"AliasId":"alias-42","Name":"prod","RoutingStrategy":{"Type":"SIMPLE",)"
      R"("FleetId":"fleet-1a2b"}}})"));
  auto a = gl_->DescribeAlias("alias-42");
  ASSERT_OK(a);
  EXPECT_EQ(a->routing_type, "SIMPLE");
  EXPECT_EQ(a->fleet_id, "fleet-1a2b");
  EXPECT_THAT(gl_->DescribeAlias("prod"),
              StatusIs(StatusCode::kInvalidArgument,
                       "DescribeAlias: AliasId must be alias-... or an alias ARN, got \"prod\""));
  fake_.Push(FakeAws::Ok(R"({"Nope":1})"));
  EXPECT_THAT(gl_->DescribeAlias("alias-42"),
              StatusIs(StatusCode::kInternal, "DescribeAlias: the answer has no Alias object"));
}

TEST_F(OpsTest, SqsReceiveDecodesAndChecksDigests) {
  std::string body = R"({"Type":"Notification","Message":"{}"})";
  std::string answer = R"({"Messages":[{"MessageId":"m1","ReceiptHandle":"rh1","MD5OfBody":")" +
                       Md5Hex(body) + R"(","Body":)" + Json(body).Dump() +
                       R"(,"Attributes":{"ApproximateReceiveCount":"1"}}]})";
  fake_.Push(FakeAws::Ok(answer));
  ReceiveMessageRequest r;
  r.queue_url = kQueueUrl;
  r.max_number_of_messages = 10;
  r.wait_time_seconds = 20;
  r.visibility_timeout = 30;
  r.attribute_names = {"All"};
  auto msgs = sqs_->ReceiveMessage(r);
  ASSERT_OK(msgs);
  ASSERT_EQ(msgs->size(), 1u);
  EXPECT_EQ((*msgs)[0].body, body);
  EXPECT_EQ((*msgs)[0].attributes.at("ApproximateReceiveCount"), "1");
  EXPECT_EQ(Target(0), "AmazonSQS.ReceiveMessage");
  EXPECT_EQ(Body(0).Dump(), std::string(R"({"MaxNumberOfMessages":10,)") +
                                R"("MessageSystemAttributeNames":["All"],"QueueUrl":")" +
                                kQueueUrl + R"(","VisibilityTimeout":30,"WaitTimeSeconds":20})");
  fake_.Push(FakeAws::Ok(R"({"Messages":[{"MessageId":"m2","ReceiptHandle":"rh","MD5OfBody":"00",)"
                         R"("Body":"x"}]})"));
  EXPECT_THAT(sqs_->ReceiveMessage(r),
              StatusIs(StatusCode::kDataLoss, HasSubstr("message m2 does not match")));
  r.max_number_of_messages = 11;
  EXPECT_THAT(sqs_->ReceiveMessage(r),
              StatusIs(StatusCode::kInvalidArgument,
                       "ReceiveMessage: MaxNumberOfMessages must be 1-10, got 11"));
  r.max_number_of_messages = 0;
  EXPECT_THAT(sqs_->ReceiveMessage(r), StatusCodeIs(StatusCode::kInvalidArgument));
  r.max_number_of_messages = 1;
  r.wait_time_seconds = 21;
  EXPECT_THAT(sqs_->ReceiveMessage(r),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("WaitTimeSeconds must be 0-20")));
}

TEST_F(OpsTest, SqsReceiveReadsEveryFieldAndNamesWhatIsMalformed) {
  ReceiveMessageRequest r;
  r.queue_url = kQueueUrl;
  // Two messages; null and missing fields are empty, a repeated key keeps its last value,
  // message attributes give their StringValue (one that is no object gives "").
  fake_.Push(FakeAws::Ok(
      R"({"Messages":[{"MessageId":"m1","ReceiptHandle":"old","ReceiptHandle":"rh1",)"
      R"("Body":"line\nbreak \"q\" \u00e9","MD5OfBody":null,)"
      R"("Attributes":{"SentTimestamp":"1700000000000","ApproximateReceiveCount":"3"},)"
      R"("MessageAttributes":{"kind":{"DataType":"String","StringValue":"event"},"odd":7}},)"
      R"({"MessageId":"m2","ReceiptHandle":"rh2","Body":"{}","Extra":[1,2]}],"Other":true})"));
  auto msgs = sqs_->ReceiveMessage(r);
  ASSERT_OK(msgs);
  ASSERT_EQ(msgs->size(), 2u);
  const SqsMessage& m1 = (*msgs)[0];
  EXPECT_EQ(m1.message_id, "m1");
  EXPECT_EQ(m1.receipt_handle, "rh1");
  EXPECT_EQ(m1.body, "line\nbreak \"q\" \u00e9");
  EXPECT_EQ(m1.md5_of_body, "");
  EXPECT_EQ(m1.attributes.at("SentTimestamp"), "1700000000000");
  EXPECT_EQ(m1.attributes.at("ApproximateReceiveCount"), "3");
  EXPECT_EQ(m1.message_attributes.at("kind"), "event");
  EXPECT_EQ(m1.message_attributes.at("odd"), "");
  EXPECT_EQ((*msgs)[1].receipt_handle, "rh2");
  EXPECT_EQ((*msgs)[1].body, "{}");
  // No messages: an empty answer, a null list, an empty list.
  for (const char* empty : {"", R"({})", R"({"Messages":null})", R"({"Messages":[]})"}) {
    fake_.Push(FakeAws::Ok(empty));
    EXPECT_THAT(sqs_->ReceiveMessage(r), IsOkAndHolds(::testing::IsEmpty())) << empty;
  }
  const std::pair<const char*, const char*> bad[] = {
      {"[1]", "ReceiveMessage: the answer is not a JSON object"},
      {"{\"Messages\":", "ReceiveMessage: the answer is not a JSON object"},
      {R"({"Messages":{}})", "Message: field Messages is not an array"},
      {R"({"Messages":[1]})", "Message: field Messages is not an array of objects"},
      {R"({"Messages":[{"MessageId":7,"ReceiptHandle":"rh"}]})",
       "Message: field MessageId is not a string"},
      {R"({"Messages":[{"MessageId":"m","ReceiptHandle":"rh","Attributes":{"A":1}}]})",
       "Message: field Attributes is not an object of strings"},
      {R"({"Messages":[{"MessageId":"m","ReceiptHandle":"rh","Attributes":[]}]})",
       "Message: field Attributes is not an object"},
      {R"({"Messages":[{"MessageId":"m3","Body":"x"}]})",
       "ReceiveMessage: message m3 has no ReceiptHandle"},
  };
  for (const auto& [answer, error] : bad) {
    fake_.Push(FakeAws::Ok(answer));
    EXPECT_THAT(sqs_->ReceiveMessage(r), StatusIs(StatusCode::kInternal, error)) << answer;
  }
}

TEST_F(OpsTest, SqsBatchesReportPerEntryFailures) {
  fake_.Push(FakeAws::Ok(R"({"Successful":[{"Id":"a"}],"Failed":[{"Id":"b","SenderFault":true,)"
                         R"("Code":"ReceiptHandleIsInvalid","Message":"bad handle"}]})"));
  auto r = sqs_->DeleteMessageBatch(kQueueUrl, {{"a", "rh-a", 0}, {"b", "rh-b", 0}});
  ASSERT_OK(r);
  EXPECT_THAT(r->successful, ElementsAre("a"));
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_TRUE(r->failed[0].sender_fault);
  EXPECT_EQ(r->failed[0].code, "ReceiptHandleIsInvalid");
  EXPECT_EQ(Body(0).Dump(), std::string(R"({"Entries":[{"Id":"a","ReceiptHandle":"rh-a"},)") +
                                R"({"Id":"b","ReceiptHandle":"rh-b"}],"QueueUrl":")" + kQueueUrl +
                                R"("})");
  fake_.Push(FakeAws::Ok(R"({"Successful":[{"Id":"a"}]})"));
  ASSERT_OK(sqs_->ChangeMessageVisibilityBatch(kQueueUrl, {{"a", "rh-a", 0}}));
  EXPECT_EQ(Body(1).Dump(), std::string(R"({"Entries":[{"Id":"a","ReceiptHandle":"rh-a",)") +
                                R"("VisibilityTimeout":0}],"QueueUrl":")" + kQueueUrl + R"("})");
  std::vector<BatchEntry> eleven(11, {"x", "rh", 0});
  for (int i = 0; i < 11; ++i) eleven[i].id = Id("e", i);
  EXPECT_THAT(sqs_->DeleteMessageBatch(kQueueUrl, eleven),
              StatusIs(StatusCode::kInvalidArgument,
                       "DeleteMessageBatch: Entries must hold 1-10 entries, got 11"));
  EXPECT_THAT(sqs_->DeleteMessageBatch(kQueueUrl, {{"a", "r", 0}, {"a", "s", 0}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"a\" appears twice")));
  EXPECT_THAT(sqs_->ChangeMessageVisibilityBatch(kQueueUrl, {{"a.b", "r", 0}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Entries Id")));
  EXPECT_THAT(sqs_->ChangeMessageVisibilityBatch(kQueueUrl, {{"a", "r", 43201}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("VisibilityTimeout")));
}

TEST_F(OpsTest, SqsQueueUrlAttributesAndSend) {
  fake_.Push(FakeAws::Ok(std::string(R"({"QueueUrl":")") + kQueueUrl + R"("})"));
  EXPECT_THAT(sqs_->GetQueueUrl("placement-events"), IsOkAndHolds(std::string(kQueueUrl)));
  EXPECT_THAT(sqs_->GetQueueUrl("bad name"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("QueueName")));
  fake_.Push(FakeAws::Ok(R"({"Attributes":{"ApproximateNumberOfMessages":"3"}})"));
  auto attrs = sqs_->GetQueueAttributes(kQueueUrl);
  ASSERT_OK(attrs);
  EXPECT_EQ(attrs->at("ApproximateNumberOfMessages"), "3");
  EXPECT_EQ(Body(1).Dump(),
            std::string(R"({"AttributeNames":["All"],"QueueUrl":")") + kQueueUrl + R"("})");
  fake_.Push(FakeAws::Ok(R"({"MessageId":"m1","MD5OfMessageBody":")" + Md5Hex("hello") + "\"}"));
  SendMessageRequest s;
  s.queue_url = kQueueUrl;
  s.message_body = "hello";
  s.delay_seconds = 0;
  auto sent = sqs_->SendMessage(s);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->message_id, "m1");
  fake_.Push(FakeAws::Ok(R"({"MessageId":"m2","MD5OfMessageBody":"0123"})"));
  EXPECT_THAT(sqs_->SendMessage(s), StatusCodeIs(StatusCode::kDataLoss));
  s.message_body = "";
  EXPECT_THAT(sqs_->SendMessage(s),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MessageBody must be 1-262144")));
  s.message_body = "x";
  s.queue_url = "placement-events";
  EXPECT_THAT(sqs_->SendMessage(s), StatusIs(StatusCode::kInvalidArgument, HasSubstr("QueueUrl")));
}

TEST(Md5Test, KnownDigest) { EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e"); }

}  // namespace
}  // namespace glfm::gamelift
