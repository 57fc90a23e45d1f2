#include "glfm/codec.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "testing/status_matchers.h"

namespace glfm {
namespace {

using ::testing::HasSubstr;

InstanceInfo Sample() {
  InstanceInfo i;
  i.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-1/gs-1";
  i.connection_info = {"10.0.0.1", "gs1.example", 7777};
  i.create_time = *ParseRfc3339("2024-05-06T07:08:09.5Z");
  i.player_count = 3;
  i.status = "ACTIVE";
  i.metadata["GameProperties"]["mode"] = "ranked";
  return i;
}

TEST(CodecTest, InstanceInfoUsesNakamaFieldNames) {
  EXPECT_EQ(ToJson(Sample()).Dump(),
            R"({"connection_info":{"dns_name":"gs1.example","ip_address":"10.0.0.1","port":7777},)"
            R"("create_time":"2024-05-06T07:08:09.5Z",)"
            R"("id":"arn:aws:gamelift:us-east-1::gamesession/fleet-1/gs-1",)"
            R"("metadata":{"GameProperties":{"mode":"ranked"}},"player_count":3,)"
            R"("status":"ACTIVE"})");
}

TEST(CodecTest, InstanceInfoRoundTrips) {
  auto back = InstanceInfoFromJson(ToJson(Sample()));
  ASSERT_OK(back);
  EXPECT_EQ(*back, Sample());
}

TEST(CodecTest, AppendJsonWritesWhatToJsonDumps) {
  InstanceInfo a = Sample();
  a.metadata["GameSessionName"] = "quote \" backslash \\ newline \n";
  InstanceInfo b;  // defaults: empty strings, epoch, empty metadata
  InstanceInfo c;
  c.metadata = Json();  // a null metadata is written as {}
  c.connection_info.port = -1;
  c.player_count = -5;
  for (const InstanceInfo& i : {a, b, c}) {
    std::string out = "prefix";
    AppendJson(out, i);
    EXPECT_EQ(out, "prefix" + ToJson(i).Dump());
  }
  for (const SessionInfo& s : {SessionInfo{"u1", "psess-1"}, SessionInfo{"\"u\"", ""}}) {
    std::string out;
    AppendJson(out, s);
    EXPECT_EQ(out, ToJson(s).Dump());
  }
}

TEST(CodecTest, JoinInfoRoundTrips) {
  JoinInfo j{Sample(), {{"u1", "psess-1"}, {"u2", "psess-2"}}};
  Json json = ToJson(j);
  EXPECT_EQ(json.Find("session_info")->as_array()[1].Dump(),
            R"({"session_id":"psess-2","user_id":"u2"})");
  EXPECT_THAT(JoinInfoFromJson(json), IsOkAndHolds(j));
}

TEST(CodecTest, DecodingErrorsNameFieldAndType) {
  auto j = Json::Parse(R"({"instance_info":{"connection_info":{"port":"7777"}}})");
  ASSERT_OK(j);
  EXPECT_THAT(JoinInfoFromJson(*j),
              StatusIs(StatusCode::kInvalidArgument,
                       "instance_info.connection_info.port: expected an integer, got string"));
  EXPECT_THAT(
      InstanceInfoFromJson(*Json::Parse(R"({"player_count":1.5})")),
      StatusIs(StatusCode::kInvalidArgument, "player_count: expected an integer, got number"));
  EXPECT_THAT(InstanceInfoFromJson(*Json::Parse(R"({"metadata":[1]})")),
              StatusIs(StatusCode::kInvalidArgument, "metadata: expected an object, got array"));
  EXPECT_THAT(InstanceInfoFromJson(*Json::Parse(R"({"create_time":"yesterday"})")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("create_time: invalid RFC 3339")));
  EXPECT_THAT(InstanceInfoFromJson(Json(3)),
              StatusIs(StatusCode::kInvalidArgument, "body: expected an object, got number"));
  EXPECT_THAT(JoinInfoFromJson(*Json::Parse(R"({"session_info":[{"user_id":5}]})")),
              StatusIs(StatusCode::kInvalidArgument,
                       "session_info[0].user_id: expected a string, got number"));
}

TEST(CodecTest, FleetUserLatency) {
  FleetUserLatency l{"u1", 42.5, "eu-west-1"};
  EXPECT_THAT(FleetUserLatencyFromJson(ToJson(l)), IsOkAndHolds(l));
  EXPECT_THAT(FleetUserLatencyFromJson(*Json::Parse(R"({"latency_ms":-1})")),
              StatusIs(StatusCode::kInvalidArgument, "latency_ms: must not be negative"));
}

// What FormatRfc3339 must print, spelled out with the standard library's clock and time
// conversions, gmtime_r and snprintf.
std::string ReferenceRfc3339(Timestamp t) {
  auto whole = std::chrono::floor<std::chrono::seconds>(t);
  long long nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(t - whole).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(whole);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out = buf;
  if (nanos != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", nanos);
    std::string fraction = buf;
    out += fraction.erase(fraction.find_last_not_of('0') + 1);
  }
  return out + "Z";
}

TEST(Rfc3339Test, FormatsEveryInstantLikeTheReference) {
  // Down to a second above the smallest instant: below it the reference's floor() overflows.
  std::vector<int64_t> ns = {0,
                             1,
                             -1,
                             999999999,
                             1000000000,
                             -1000000000,
                             100000000,
                             120000000,
                             1704067200000000000,
                             1704067200500000000,
                             1704067200000000010,
                             std::numeric_limits<int64_t>::max(),
                             std::numeric_limits<int64_t>::min() + 1000000000};
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    auto v = static_cast<int64_t>(rng());
    ns.push_back(v);
    ns.push_back(v / 1000000000 * 1000000000);  // whole seconds
    ns.push_back(v / 1000000 * 1000000);        // whole milliseconds
  }
  for (int64_t v : ns) {
    Timestamp t{std::chrono::duration_cast<Timestamp::duration>(std::chrono::nanoseconds(v))};
    ASSERT_EQ(FormatRfc3339(t), ReferenceRfc3339(t)) << v;
  }
  EXPECT_EQ(FormatRfc3339(Timestamp{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(Timestamp{std::chrono::milliseconds(-1)}), "1969-12-31T23:59:59.999Z");
}

TEST(Rfc3339Test, ParsesOffsetsAndFractions) {
  auto a = ParseRfc3339("2024-01-01T01:00:00+01:00");
  auto b = ParseRfc3339("2024-01-01T00:00:00Z");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(FormatRfc3339(*ParseRfc3339("2024-01-01T00:00:00.123456789Z")),
            "2024-01-01T00:00:00.123456789Z");
  EXPECT_EQ(FormatRfc3339(*b), "2024-01-01T00:00:00Z");
  EXPECT_THAT(ParseRfc3339("1012-02-01T00:00:00Z"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside the years 1678-2261")));
  EXPECT_THAT(ParseRfc3339("9999-12-31T23:59:59Z"), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_OK(ParseRfc3339("2261-12-31T23:59:59Z"));
  for (const char* bad : {"2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01",
                          "2024-01-01T00:00:00", "2024-01-01T00:00:00+0100"}) {
    EXPECT_THAT(ParseRfc3339(bad), StatusCodeIs(StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace glfm
