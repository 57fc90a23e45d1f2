#include "index/index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "common/json_tape.h"
#include "glfm/codec.h"
#include "index/query.h"
#include "testing/status_matchers.h"

namespace glfm::index {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Timestamp At(int64_t seconds) { return Timestamp(std::chrono::seconds(seconds)); }

InstanceInfo Make(std::string id, int players, int64_t created, std::string mode,
                  std::string region, std::string status = "ACTIVE") {
  InstanceInfo info;
  info.id = std::move(id);
  info.player_count = players;
  info.create_time = At(created);
  info.status = std::move(status);
  info.connection_info = {"10.0.0.1", "", 7777};
  Json props = Json::MakeObject();
  props["mode"] = mode;
  props["region"] = region;
  info.metadata["GameProperties"] = props;
  return info;
}

std::vector<std::string> Ids(const QueryResult& r) {
  std::vector<std::string> out;
  for (const auto& i : r.instances) out.push_back(i->id);
  return out;
}

std::vector<std::string> Find(const InstanceIndex& index, std::string_view q, int limit = 100,
                              const std::vector<std::string>& order = {}) {
  auto r = index.Query(q, limit, "", order);
  EXPECT_OK(r) << q;
  return r.ok() ? Ids(*r) : std::vector<std::string>{};
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(index_.Upsert(Make("a", 2, 100, "ranked", "eu-west-1"), At(1000)));
    ASSERT_OK(index_.Upsert(Make("b", 0, 200, "casual", "eu-west-1"), At(1000)));
    ASSERT_OK(index_.Upsert(Make("c", 2, 300, "ranked", "us-east-1"), At(1000)));
    ASSERT_OK(index_.Upsert(Make("d", 8, 400, "free", "us-east-1", "ACTIVATING"), At(1000)));
  }
  InstanceIndex index_;
};

TEST_F(IndexTest, DefaultOrderIsEmptiestThenNewest) {
  EXPECT_THAT(Find(index_, ""), ElementsAre("b", "c", "a", "d"));
  EXPECT_THAT(Find(index_, "*"), ElementsAre("b", "c", "a", "d"));
}

TEST_F(IndexTest, NakamaQuerySyntaxExamples) {
  // heroiclabs.com/docs/nakama/concepts/multiplayer/query-syntax: strings, numbers, numeric
  // ranges, date ranges; whole-value matching; MUST, MUST NOT, SHOULD; boost.
  EXPECT_THAT(Find(index_, "value.metadata.GameProperties.region:eu-west-1"),
              ElementsAre("b", "a"));
  EXPECT_THAT(Find(index_, "value.player_count:2"), ElementsAre("c", "a"));
  EXPECT_THAT(Find(index_, "value.player_count:<=2"), ElementsAre("b", "c", "a"));
  EXPECT_THAT(Find(index_, R"(create_time:>"1970-01-01T00:04:00Z")"), ElementsAre("c", "d"));
  EXPECT_THAT(Find(index_, R"(create_time:>"1970-01-01")"), ElementsAre("b", "c", "a", "d"));
  // mode:free does not match freeforall.
  ASSERT_OK(index_.Upsert(Make("e", 1, 500, "freeforall", "ap"), At(1000)));
  EXPECT_THAT(Find(index_, "value.metadata.GameProperties.mode:free"), ElementsAre("d"));
  // MUST and MUST NOT.
  EXPECT_THAT(Find(index_,
                   "+value.metadata.GameProperties.region:eu-west-1 "
                   "+value.player_count:>=1 +value.player_count:<=10"),
              ElementsAre("a"));
  EXPECT_THAT(Find(index_, "-value.metadata.GameProperties.region:eu-west-1"),
              ElementsAre("e", "c", "d"));
  // SHOULD alone: at least one; next to a MUST: optional.
  EXPECT_THAT(Find(index_,
                   "value.metadata.GameProperties.mode:casual "
                   "value.metadata.GameProperties.mode:free"),
              ElementsAre("b", "d"));
  EXPECT_THAT(Find(index_, "+value.status:ACTIVE value.metadata.GameProperties.mode:casual"),
              ElementsAre("b", "e", "c", "a"));
  // Boost changes scores, which the explicit order ignores.
  EXPECT_THAT(Find(index_, "value.metadata.GameProperties.region:eu-west-1^5"),
              ElementsAre("b", "a"));
  // The status is indexed (the original did not index it).
  EXPECT_THAT(Find(index_, "+value.status:ACTIVATING"), ElementsAre("d"));
  // Unqualified terms search every field.
  EXPECT_THAT(Find(index_, "+ranked"), ElementsAre("c", "a"));
}

TEST_F(IndexTest, ArraysBooleansNestedAndAliases) {
  InstanceInfo info = Make("x", 3, 50, "ranked", "eu");
  info.metadata["tags"] = Json(Json::Array{Json(5), Json(10), Json(15)});
  info.metadata["open"] = true;
  info.metadata["deep"]["er"] = "yes";
  info.connection_info.dns_name = "x.example.com";
  ASSERT_OK(index_.Upsert(info, At(1)));
  EXPECT_THAT(Find(index_, "+value.metadata.tags:10"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.metadata.tags:>14"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.metadata.open:T"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.metadata.open:F"), IsEmpty());
  EXPECT_THAT(Find(index_, "+value.metadata.deep.er:yes"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.playerCount:3"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.connectionInfo.dnsName:*.example.com"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.connection_info.port:7777 +value.id:x"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.id:/[xy]/"), ElementsAre("x"));
  EXPECT_THAT(Find(index_, "+value.metadata.GameProperties.mode:rankd~1 +value.id:x"),
              ElementsAre("x"));
}

TEST_F(IndexTest, OrdersAndMissingValuesLast) {
  InstanceInfo info = Make("m", 1, 10, "ranked", "eu");
  info.metadata["level"] = 7;
  ASSERT_OK(index_.Upsert(info, At(5)));
  EXPECT_THAT(Find(index_, "", 100, {"-value.metadata.level", "value.id"}),
              ElementsAre("m", "a", "b", "c", "d"));
  EXPECT_THAT(Find(index_, "", 100, {"value.metadata.level", "-value.id"}),
              ElementsAre("m", "d", "c", "b", "a"));
  EXPECT_THAT(Find(index_, "", 100, {"-value.player_count", "create_time"}),
              ElementsAre("d", "a", "c", "m", "b"));
  EXPECT_THAT(index_.Query("", 10, "", {"-"}),
              StatusIs(StatusCode::kInvalidArgument, "order[0]: invalid field \"-\""));
}

TEST_F(IndexTest, UpsertReplacesAndDeleteRemoves) {
  ASSERT_OK(index_.Upsert(Make("a", 9, 100, "casual", "eu-west-1"), At(2000)));
  EXPECT_THAT(Find(index_, "+value.metadata.GameProperties.mode:ranked"), ElementsAre("c"));
  EXPECT_THAT(Find(index_, ""), ElementsAre("b", "c", "d", "a"));
  EXPECT_TRUE(index_.Delete("c"));
  EXPECT_FALSE(index_.Delete("c"));
  EXPECT_EQ(index_.Get("c"), nullptr);
  EXPECT_THAT(Find(index_, "+value.metadata.GameProperties.mode:ranked"), IsEmpty());
  EXPECT_EQ(index_.size(), 3u);
  ASSERT_OK(index_.SetPlayerCount("b", 5, At(3000)));
  EXPECT_EQ(index_.Get("b")->player_count, 5);
  EXPECT_THAT(Find(index_, ""), ElementsAre("b", "d", "a"));
  EXPECT_THAT(Find(index_, R"(+update_time:>"1970-01-01T00:40:00Z")"), ElementsAre("b"));
  EXPECT_THAT(index_.SetPlayerCount("zz", 1, At(1)),
              StatusIs(StatusCode::kNotFound, "instance zz not found"));
  EXPECT_THAT(index_.Upsert(InstanceInfo{}, At(1)),
              StatusIs(StatusCode::kInvalidArgument, "instance id: empty"));
}

TEST(IndexLimitsTest, FullIndexRefusesNewIdsOnly) {
  InstanceIndex index(IndexOptions{.max_entries = 2});
  ASSERT_OK(index.Upsert(Make("a", 0, 1, "m", "r"), At(1)));
  ASSERT_OK(index.Upsert(Make("b", 0, 1, "m", "r"), At(1)));
  EXPECT_THAT(index.Upsert(Make("c", 0, 1, "m", "r"), At(1)),
              StatusIs(StatusCode::kResourceExhausted,
                       "instance index is full (2 instances); cannot add c"));
  EXPECT_OK(index.Upsert(Make("a", 3, 1, "m", "r"), At(2)));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_TRUE(index.Delete("a"));
  EXPECT_OK(index.Upsert(Make("c", 0, 1, "m", "r"), At(1)));
}

TEST_F(IndexTest, LimitAndQueryErrors) {
  EXPECT_THAT(index_.Query("", 0),
              StatusIs(StatusCode::kInvalidArgument, "limit: must be between 1 and 10000, got 0"));
  EXPECT_THAT(index_.Query("", 10001), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(index_.Query("a:(b", 10),
              StatusIs(StatusCode::kInvalidArgument, "query: unexpected \"(\" at position 3"));
}

TEST_F(IndexTest, CursorPagesAndIsTiedToQueryLimitAndOrder) {
  auto p1 = index_.Query("", 3);
  ASSERT_OK(p1);
  EXPECT_THAT(Ids(*p1), ElementsAre("b", "c", "a"));
  ASSERT_FALSE(p1->cursor.empty());
  auto p2 = index_.Query("", 3, p1->cursor);
  ASSERT_OK(p2);
  EXPECT_THAT(Ids(*p2), ElementsAre("d"));
  EXPECT_TRUE(p2->cursor.empty());
  EXPECT_THAT(index_.Query("+value.status:ACTIVE", 3, p1->cursor),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("different query")));
  EXPECT_THAT(index_.Query("", 4, p1->cursor), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(index_.Query("", 3, p1->cursor, {"value.id"}),
              StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(index_.Query("", 3, "not a cursor!"),
              StatusIs(StatusCode::kInvalidArgument, "cursor: malformed"));
  std::string cut = p1->cursor.substr(0, p1->cursor.size() - 3);
  EXPECT_THAT(index_.Query("", 3, cut), StatusCodeIs(StatusCode::kInvalidArgument));
}

// ---- Differential test against a brute-force evaluator ----------------------------------

// The sanitizer (Debug) build runs the randomized tests on a smaller budget.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr int kRounds = 300;
constexpr int kPagingTrials = 12;
#else
constexpr int kRounds = 2500;
constexpr int kPagingTrials = 60;
#endif

// A value of the brute-force document: 'k' keyword, 'n' number, 'd' date.
struct BValue {
  char kind;
  std::string s;
  double n = 0;
  int64_t ns = 0;
};
using BDoc = std::vector<std::pair<std::string, BValue>>;

void BFlatten(const std::string& path, const Json& j, BDoc& out) {
  switch (j.type()) {
    case Json::Type::kNull:
      return;
    case Json::Type::kBool:
      out.push_back({path, {'k', j.as_bool() ? "T" : "F"}});
      return;
    case Json::Type::kNumber:
      out.push_back({path, {'n', "", j.as_double()}});
      return;
    case Json::Type::kString:
      out.push_back({path, {'k', j.as_string()}});
      return;
    case Json::Type::kArray:
      for (const Json& e : j.as_array()) BFlatten(path, e, out);
      return;
    case Json::Type::kObject:
      for (const auto& [k, v] : j.as_object()) BFlatten(path + "." + k, v, out);
      return;
  }
}

int64_t Ns(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Builds the document from the InstanceInfo JSON, independently of the index's flattening.
BDoc BuildDoc(const InstanceInfo& info, Timestamp updated) {
  BDoc d;
  Json j = ToJson(info);
  for (const auto& [k, v] : j.as_object()) {
    if (k == "create_time") {
      d.push_back({"value.create_time", {'d', "", 0, Ns(info.create_time)}});
    } else {
      BFlatten("value." + k, v, d);
    }
  }
  d.push_back({"create_time", {'d', "", 0, Ns(info.create_time)}});
  d.push_back({"update_time", {'d', "", 0, Ns(updated)}});
  return d;
}

int Levenshtein(const std::string& a, const std::string& b) {
  std::vector<std::vector<int>> dp(a.size() + 1, std::vector<int>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) dp[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= b.size(); ++j) dp[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      dp[i][j] = std::min(
          {dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
  }
  return dp[a.size()][b.size()];
}

const std::regex& CachedRegex(const std::string& re) {
  static std::map<std::string, std::regex> cache;
  auto it = cache.find(re);
  if (it == cache.end()) it = cache.emplace(re, std::regex(re)).first;
  return it->second;
}

bool BValueMatches(const Clause& c, const BValue& v) {
  switch (c.kind) {
    case ClauseKind::kMatchAll:
      return true;
    case ClauseKind::kTerm:
      return v.kind == 'k' && v.s == c.text;
    case ClauseKind::kNumber:
      return (v.kind == 'n' && v.n == c.number) || (v.kind == 'k' && v.s == c.text);
    case ClauseKind::kNumericRange:
      return v.kind == 'n' && (!c.has_min || v.n > c.min || (c.min_inclusive && v.n == c.min)) &&
             (!c.has_max || v.n < c.max || (c.max_inclusive && v.n == c.max));
    case ClauseKind::kDateRange:
      return v.kind == 'd' &&
             (!c.has_min || v.ns > c.min_ns || (c.min_inclusive && v.ns == c.min_ns)) &&
             (!c.has_max || v.ns < c.max_ns || (c.max_inclusive && v.ns == c.max_ns));
    case ClauseKind::kWildcard: {
      std::string re;
      for (size_t i = 0; i < c.pattern.size(); ++i) {
        if (c.wild[i]) {
          re += c.pattern[i] == '*' ? ".*" : ".";
        } else {
          re += "[";
          re += c.pattern[i];
          re += "]";
        }
      }
      return v.kind == 'k' && std::regex_match(v.s, CachedRegex(re));
    }
    case ClauseKind::kRegex:
      return v.kind == 'k' && std::regex_match(v.s, CachedRegex(c.text));
    case ClauseKind::kFuzzy:
      return v.kind == 'k' && Levenshtein(v.s, c.text) <= c.fuzziness;
  }
  return false;
}

bool BMatches(const Query& q, const BDoc& d) {
  int must = 0, should = 0, must_not = 0;
  for (const Clause& c : q.clauses) {
    bool hit = c.kind == ClauseKind::kMatchAll;
    for (const auto& [path, v] : d) {
      if (hit) break;
      if ((c.field.empty() || c.field == path) && BValueMatches(c, v)) hit = true;
    }
    if (!hit) continue;
    if (c.occur == Occur::kMust) ++must;
    if (c.occur == Occur::kShould) ++should;
    if (c.occur == Occur::kMustNot) ++must_not;
  }
  if (q.match_all) return true;
  return must == q.must_count && must_not == 0 &&
         (q.must_count > 0 || q.should_count == 0 || should > 0);
}

// Sort key: rank (0 number, 1 date, 2 keyword, 3 missing) and value.
struct BKey {
  int rank = 3;
  double n = 0;
  int64_t ns = 0;
  std::string s;
};

BKey KeyFor(const BDoc& d, const std::string& field) {
  for (const auto& [path, v] : d) {
    if (path != field) continue;
    if (v.kind == 'n') return {0, v.n, 0, ""};
    if (v.kind == 'd') return {1, 0, v.ns, ""};
    return {2, 0, 0, v.s};
  }
  return {};
}

struct Model {
  std::map<std::string, std::pair<InstanceInfo, Timestamp>> docs;
  mutable std::map<std::string, std::pair<std::pair<InstanceInfo, Timestamp>, BDoc>> built;

  const BDoc& Doc(const std::string& id, const std::pair<InstanceInfo, Timestamp>& e) const {
    auto it = built.find(id);
    if (it == built.end() || !(it->second.first.first == e.first) ||
        it->second.first.second != e.second) {
      it = built.insert_or_assign(id, std::make_pair(e, BuildDoc(e.first, e.second))).first;
    }
    return it->second.second;
  }

  std::vector<std::string> Expected(const Query& q, const std::vector<OrderField>& order) const {
    struct Row {
      std::string id;
      std::vector<BKey> keys;
    };
    std::vector<Row> rows;
    for (const auto& [id, entry] : docs) {
      const BDoc& d = Doc(id, entry);
      if (!BMatches(q, d)) continue;
      Row r{id, {}};
      for (const OrderField& o : order) r.keys.push_back(KeyFor(d, o.field));
      rows.push_back(std::move(r));
    }
    std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
      for (size_t i = 0; i < order.size(); ++i) {
        const BKey &x = a.keys[i], &y = b.keys[i];
        if (x.rank == 3 || y.rank == 3) {
          if (x.rank != y.rank) return y.rank == 3;
          continue;
        }
        int c = 0;
        if (x.rank != y.rank) {
          c = x.rank < y.rank ? -1 : 1;
        } else if (x.rank == 0) {
          c = x.n < y.n ? -1 : x.n > y.n;
        } else if (x.rank == 1) {
          c = x.ns < y.ns ? -1 : x.ns > y.ns;
        } else {
          c = x.s < y.s ? -1 : x.s > y.s;
        }
        if (order[i].descending) c = -c;
        if (c != 0) return c < 0;
      }
      return a.id < b.id;
    });
    std::vector<std::string> ids;
    for (const Row& r : rows) ids.push_back(r.id);
    return ids;
  }
};

const char* const kModes[] = {"ranked", "casual", "free for all", "rankd", "Ranked"};
const char* const kMaps[] = {"dust", "nuke", "de.train", "dust2"};
const char* const kRegions[] = {"eu-west-1", "us-east-1", "ap-south-1"};
const char* const kStatuses[] = {"ACTIVE", "ACTIVATING", "TERMINATING"};

InstanceInfo RandomInstance(std::mt19937& rng, int id) {
  auto pick = [&](auto& arr) { return std::string(arr[rng() % (sizeof(arr) / sizeof(arr[0]))]); };
  InstanceInfo info;
  info.id = "gs-" + std::to_string(id);
  info.player_count = static_cast<int>(rng() % 9);
  // Now and then a count outside the range the default order keeps bitmaps for.
  if (rng() % 40 == 0) info.player_count = rng() % 2 ? 256 + static_cast<int>(rng() % 3) : -1;
  info.create_time = At(1000 + rng() % 20);  // many ties
  info.status = pick(kStatuses);
  info.connection_info = {"10.0.0." + std::to_string(rng() % 4), "", 7000 + int(rng() % 3)};
  Json props = Json::MakeObject();
  if (rng() % 8) props["mode"] = pick(kModes);
  if (rng() % 4) props["map"] = pick(kMaps);
  props["region"] = pick(kRegions);
  info.metadata["GameProperties"] = props;
  if (rng() % 2) info.metadata["GameSessionName"] = "room-" + std::to_string(rng() % 30);
  if (rng() % 3 == 0) info.metadata["level"] = static_cast<int>(rng() % 11) - 5;
  if (rng() % 5 == 0) info.metadata["level"] = (static_cast<int>(rng() % 11) - 5) / 2.0;
  if (rng() % 3 == 0) info.metadata["open"] = rng() % 2 == 0;
  if (rng() % 5 == 0) {
    // Values whose exact JSON the index must give back: integer vs double, null, nesting,
    // empty containers, keys with dots or empty.
    static const char* const kExtras[] = {R"({"a.b":1,"a":{"b":2.0}})",
                                          R"([[1,"x"],[],{}])",
                                          "null",
                                          R"({"":"empty key","n":null})",
                                          "-9007199254740993",
                                          "1e300",
                                          R"("ünïcode")",
                                          R"([true,false,"T"])",
                                          R"({"a":{"b":[3,{"c":"d"}]}})",
                                          "2.0",
                                          "2"};
    auto extra = Json::Parse(kExtras[rng() % (sizeof(kExtras) / sizeof(kExtras[0]))]);
    EXPECT_OK(extra);
    if (extra.ok()) info.metadata["extra"] = *extra;
  }
  if (rng() % 4 == 0) {
    Json::Array tags;
    for (int i = 0, n = rng() % 3 + 1; i < n; ++i) {
      if (rng() % 2) {
        tags.push_back(Json(std::string(1, char('a' + rng() % 3))));
      } else {
        tags.push_back(Json(static_cast<int>(rng() % 4)));
      }
    }
    info.metadata["tags"] = Json(tags);
  }
  return info;
}

std::string RandomClause(std::mt19937& rng) {
  auto pick = [&](auto& arr) { return std::string(arr[rng() % (sizeof(arr) / sizeof(arr[0]))]); };
  auto num = [&]() { return std::to_string(static_cast<int>(rng() % 11) - 5); };
  static const char* const kOps[] = {">", ">=", "<", "<="};
  static const char* const kDates[] = {"\"1970-01-01T00:16:45Z\"", "\"1970-01-01T00:16:50Z\"",
                                       "\"1970-01-01T00:16:40Z\"", "\"1970-01-01\""};
  std::string field;
  switch (rng() % 25) {
    case 0:
      return "value.metadata.GameProperties.mode:\"" + pick(kModes) + "\"";
    case 1:
      return "value.metadata.GameProperties.map:" + pick(kMaps);
    case 2:
      return "value.metadata.GameProperties.region:" + pick(kRegions);
    case 3:
      return "value.status:" + pick(kStatuses);
    case 4:
      return "value.player_count:" + std::string(pick(kOps)) + std::to_string(rng() % 9);
    case 5:
      return "value.playerCount:" + std::to_string(rng() % 9);
    case 6:
      return "value.metadata.level:" + std::string(pick(kOps)) + num();
    case 7:
      return "value.metadata.level:" + num();
    case 8:
      return "value.metadata.open:" + std::string(rng() % 2 ? "T" : "F");
    case 9:
      return "value.metadata.tags:" + std::string(rng() % 2 ? "a" : "1");
    case 10:
      return "create_time:" + std::string(pick(kOps)) + pick(kDates);
    case 11:
      return "value.metadata.GameSessionName:room-" + std::to_string(rng() % 3) + "*";
    case 12:
      return "value.metadata.GameSessionName:room-?";
    case 13:
      return "value.metadata.GameProperties.map:/d[a-z]+2?/";
    case 14:
      return "value.metadata.GameProperties.mode:ranked~" + std::to_string(rng() % 3);
    case 15:
      return pick(kRegions);  // any field
    case 16:
      return "value.metadata.GameProperties.mode:free\\ for\\ all";
    case 17:
      return "value.connection_info.port:" + std::to_string(7000 + rng() % 3);
    case 18:
      return "value.connectionInfo.ipAddress:10.0.0." + std::to_string(rng() % 4);
    case 19:
      return "value.metadata.GameProperties.region:" + pick(kRegions) + "^2";
    case 20:
      return "update_time:>=\"1970-01-01T00:00:0" + std::to_string(rng() % 3) + "Z\"";
    case 21:
      return rng() % 2 ? "value.metadata.extra.a.b:>=" + num() : "value.metadata.extra:T";
    case 22:
      return "value.metadata.GameSessionName:/room-[12]./";
    case 23:
      return "value.metadata.GameSessionName:?oom-1*";
    default:
      return "value.id:gs-" + std::to_string(rng() % 50);
  }
}

std::string RandomQuery(std::mt19937& rng) {
  int n = rng() % 5;
  if (n == 0) return rng() % 2 ? "" : "*";
  std::string q;
  for (int i = 0; i < n; ++i) {
    if (!q.empty()) q += " ";
    int o = rng() % 3;
    q += o == 0 ? "+" : (o == 1 ? "-" : "");
    q += RandomClause(rng);
  }
  return q;
}

std::vector<std::string> RandomOrder(std::mt19937& rng) {
  static const std::vector<std::vector<std::string>> kOrders = {
      {},
      {"value.player_count", "-create_time"},
      {"-value.player_count"},
      {"value.metadata.level", "-value.id"},
      {"-value.metadata.level"},
      {"value.metadata.GameProperties.map", "-update_time"},
      {"value.metadata.tags", "create_time"},
      {"-value.metadata.GameSessionName"},
      {"value.status", "value.playerCount"},
      {"value.nothing"},
      {"-value.metadata.extra.a.b", "value.metadata.extra"},
  };
  return kOrders[rng() % kOrders.size()];
}

// Returns the instance as the model holds it.
InstanceInfo Expect(const Model& model, const std::string& id) {
  auto it = model.docs.find(id);
  return it == model.docs.end() ? InstanceInfo{} : it->second.first;
}

TEST(IndexDifferentialTest, MatchesBruteForceOverRandomDocumentsQueriesAndOrders) {
  std::mt19937 rng(12345);
  // Four indexes take the same changes by different paths: `index` one Upsert at a time;
  // `bulk` filled and often changed through UpsertMany; `scanning`, with tiny walk and
  // dictionary budgets, takes the walk-then-whole-dictionary path for wildcard, regex and
  // fuzzy must-clauses; `small` rebuilds its default order's base often.
  InstanceIndex index;
  InstanceIndex bulk;
  InstanceIndex scanning(IndexOptions{.walk_budget = 3, .dictionary_range_budget = 2});
  InstanceIndex small(IndexOptions{.order_overlay_min = 4});
  std::vector<InstanceIndex*> all_indexes = {&index, &bulk, &scanning, &small};
  Model model;
  int next_id = 0;
  std::vector<IndexEntry> initial;
  for (int i = 0; i < 600; ++i) {
    InstanceInfo info = RandomInstance(rng, next_id++);
    Timestamp up = At(rng() % 3);
    model.docs[info.id] = {info, up};
    ASSERT_OK(index.Upsert(info, up));
    ASSERT_OK(scanning.Upsert(info, up));
    ASSERT_OK(small.Upsert(info, up));
    initial.push_back({info, up});
  }
  ASSERT_OK(bulk.UpsertMany(initial));
  int checked = 0, nonempty = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Churn: replace, delete, insert, set counts, batches.
    int action = rng() % 5;
    std::string victim = "gs-" + std::to_string(rng() % next_id);
    if (action == 0 && model.docs.count(victim)) {
      InstanceInfo info = RandomInstance(rng, 0);
      info.id = victim;
      Timestamp up = At(rng() % 3);
      model.docs[victim] = {info, up};
      for (InstanceIndex* x : all_indexes) ASSERT_OK(x->Upsert(info, up));
    } else if (action == 1) {
      bool present = model.docs.erase(victim) == 1;
      for (InstanceIndex* x : all_indexes) EXPECT_EQ(x->Delete(victim), present);
    } else if (action == 2) {
      InstanceInfo info = RandomInstance(rng, next_id++);
      model.docs[info.id] = {info, At(1)};
      for (InstanceIndex* x : all_indexes) ASSERT_OK(x->Upsert(info, At(1)));
    } else if (action == 3 && model.docs.count(victim)) {
      int pc = rng() % 30 == 0 ? 255 + static_cast<int>(rng() % 3) : static_cast<int>(rng() % 9);
      model.docs[victim].first.player_count = pc;
      model.docs[victim].second = At(2);
      for (InstanceIndex* x : all_indexes) ASSERT_OK(x->SetPlayerCount(victim, pc, At(2)));
    } else if (action == 4) {
      // A batch of new and present ids, some more than once (the later one wins).
      std::vector<IndexEntry> batch;
      for (int k = 0, n = 1 + rng() % 8; k < n; ++k) {
        int id = rng() % 8 == 0 ? next_id++ : static_cast<int>(rng() % next_id);
        InstanceInfo info = RandomInstance(rng, id);
        Timestamp up = At(rng() % 3);
        model.docs[info.id] = {info, up};
        batch.push_back({info, up});
      }
      ASSERT_OK(bulk.UpsertMany(batch));
      ASSERT_OK(small.UpsertMany(batch));
      for (const IndexEntry& e : batch) {
        ASSERT_OK(index.Upsert(e.info, e.update_time));
        ASSERT_OK(scanning.Upsert(e.info, e.update_time));
      }
    }
    for (InstanceIndex* x : all_indexes) ASSERT_EQ(x->size(), model.docs.size());
    if (model.docs.count(victim)) {
      for (InstanceIndex* x : all_indexes) {
        auto got = x->Get(victim);
        ASSERT_NE(got, nullptr);
        EXPECT_EQ(*got, Expect(model, victim));
      }
    }

    std::string text = RandomQuery(rng);
    std::vector<std::string> order_spec = RandomOrder(rng);
    auto q = ParseQuery(text);
    ASSERT_OK(q) << text;
    auto order = ParseOrder(order_spec);
    ASSERT_OK(order);
    std::vector<std::string> want = model.Expected(*q, *order);

    // One page with everything (each instance exactly as stored), then the same through
    // pages of a random size.
    for (InstanceIndex* x : {&index, &bulk, &small}) {
      auto all = x->Query(text, InstanceIndex::kMaxLimit, "", order_spec);
      ASSERT_OK(all) << text;
      ASSERT_EQ(Ids(*all), want) << "query: " << text << " round " << round;
      EXPECT_TRUE(all->cursor.empty());
      for (const auto& inst : all->instances) {
        ASSERT_EQ(*inst, Expect(model, inst->id)) << inst->id;
      }
    }
    auto scanned = scanning.Query(text, 1 + rng() % 20, "", order_spec);
    ASSERT_OK(scanned);
    std::vector<std::string> want_prefix(
        want.begin(), want.begin() + std::min(want.size(), scanned->instances.size()));
    ASSERT_EQ(Ids(*scanned), want_prefix) << "scanning query: " << text;
    int limit = 1 + rng() % 40;
    for (InstanceIndex* x : {&index, &small}) {
      std::vector<std::string> paged;
      std::string cursor;
      for (size_t page = 0; page <= want.size(); ++page) {
        auto r = x->Query(text, limit, cursor, order_spec);
        ASSERT_OK(r) << text;
        ASSERT_LE(static_cast<int>(r->instances.size()), limit);
        for (auto& id : Ids(*r)) paged.push_back(id);
        if (r->cursor.empty()) break;
        ASSERT_EQ(static_cast<int>(r->instances.size()), limit);
        cursor = r->cursor;
      }
      ASSERT_EQ(paged, want) << "paged query: " << text << " limit " << limit << " round " << round;
    }
    ++checked;
    nonempty += !want.empty() && want.size() < model.docs.size();
  }
  EXPECT_EQ(checked, kRounds);
  // The random queries select something, but not everything, most of the time.
  EXPECT_GT(nonempty, kRounds * 2 / 5);
}

TEST(IndexDifferentialTest, PagingWhileTheSetChangesRepeatsNothing) {
  std::mt19937 rng(777);
  for (int trial = 0; trial < kPagingTrials; ++trial) {
    // Every other trial rebuilds the default order's base often.
    InstanceIndex index(IndexOptions{.order_overlay_min = trial % 2 ? 4u : 4096u});
    Model model;
    int next_id = 0;
    for (int i = 0; i < 300; ++i) {
      InstanceInfo info = RandomInstance(rng, next_id++);
      model.docs[info.id] = {info, At(1)};
      ASSERT_OK(index.Upsert(info, At(1)));
    }
    std::string text = RandomQuery(rng);
    std::vector<std::string> order_spec = RandomOrder(rng);
    auto q = ParseQuery(text);
    ASSERT_OK(q);
    int limit = 1 + rng() % 25;
    std::set<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {
      auto r = index.Query(text, limit, cursor, order_spec);
      ASSERT_OK(r);
      for (const auto& inst : r->instances) {
        EXPECT_TRUE(seen.insert(inst->id).second) << "repeated " << inst->id << " in " << text;
        // Everything returned matches at the time it is returned.
        auto it = model.docs.find(inst->id);
        ASSERT_NE(it, model.docs.end());
        EXPECT_TRUE(BMatches(*q, BuildDoc(it->second.first, it->second.second)));
      }
      if (r->cursor.empty()) break;
      cursor = r->cursor;
      for (int k = 0; k < 15; ++k) {
        std::string victim = "gs-" + std::to_string(rng() % next_id);
        switch (rng() % 4) {
          case 0:
            if (model.docs.count(victim)) {
              int pc = rng() % 9;
              model.docs[victim].first.player_count = pc;
              model.docs[victim].second = At(5);
              ASSERT_OK(index.SetPlayerCount(victim, pc, At(5)));
            }
            break;
          case 1:
            model.docs.erase(victim);
            index.Delete(victim);
            break;
          case 2: {
            std::vector<IndexEntry> batch;
            for (int b = 0, n = 1 + rng() % 6; b < n; ++b) {
              InstanceInfo info = RandomInstance(rng, rng() % 2 ? next_id++ : rng() % next_id);
              model.docs[info.id] = {info, At(7)};
              batch.push_back({info, At(7)});
            }
            ASSERT_OK(index.UpsertMany(batch));
            break;
          }
          default: {
            InstanceInfo info = RandomInstance(rng, rng() % 2 ? next_id++ : rng() % next_id);
            model.docs[info.id] = {info, At(6)};
            ASSERT_OK(index.Upsert(info, At(6)));
          }
        }
      }
    }
  }
}

TEST(IndexBulkTest, UpsertManyIsUpsertInOrderAndFailsWhole) {
  InstanceIndex index(IndexOptions{.max_entries = 4});
  ASSERT_OK(index.Upsert(Make("a", 1, 10, "ranked", "eu"), At(1)));
  std::vector<IndexEntry> batch = {{Make("b", 2, 20, "casual", "eu"), At(2)},
                                   {Make("a", 5, 10, "casual", "us"), At(3)},
                                   {Make("b", 0, 30, "ranked", "us"), At(4)}};
  ASSERT_OK(index.UpsertMany(batch));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(*index.Get("b"), batch[2].info);
  EXPECT_EQ(*index.Get("a"), batch[1].info);
  EXPECT_THAT(Find(index, "+value.metadata.GameProperties.region:us"), ElementsAre("b", "a"));
  EXPECT_THAT(Find(index, R"(+update_time:>="1970-01-01T00:00:04Z")"), ElementsAre("b"));

  // An empty id anywhere: invalid argument naming the entry, and nothing changes.
  std::vector<IndexEntry> bad = {{Make("c", 1, 1, "m", "r"), At(5)}, {InstanceInfo{}, At(5)}};
  EXPECT_THAT(index.UpsertMany(bad),
              StatusIs(StatusCode::kInvalidArgument, "entries[1]: instance id: empty"));
  EXPECT_EQ(index.Get("c"), nullptr);
  // Three new ids (one of them twice) do not fit in the two free places: nothing changes.
  std::vector<IndexEntry> big = {{Make("c", 1, 1, "m", "r"), At(5)},
                                 {Make("d", 1, 1, "m", "r"), At(5)},
                                 {Make("c", 2, 1, "m", "r"), At(5)},
                                 {Make("e", 1, 1, "m", "r"), At(5)},
                                 {Make("a", 9, 1, "m", "r"), At(5)}};
  EXPECT_THAT(index.UpsertMany(big),
              StatusIs(StatusCode::kResourceExhausted,
                       "instance index is full (4 instances); cannot add 3 new instances to 2"));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Get("a")->player_count, 5);
  big.pop_back();
  big.erase(big.begin() + 1);  // c twice and e: two new ids fit
  ASSERT_OK(index.UpsertMany(big));
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.Get("c")->player_count, 2);
  ASSERT_OK(index.UpsertMany({}));
}

TEST(IndexStorageTest, GivesBackExactlyWhatWasStored) {
  InstanceIndex index;
  InstanceInfo info = Make("x", 3, 50, "ranked", "eu");
  info.create_time = Timestamp(std::chrono::nanoseconds(1767225600123456789));
  info.connection_info = {"10.1.2.3", "x.example.com", 7777};
  auto meta = Json::Parse(R"({"GameProperties":{"mode":"ranked","a.b":"dotted"},
      "GameSessionName":"Friday cup","GameSessionData":"","n":null,"i":-9007199254740993,
      "d":2.0,"e":1e300,"t":true,"f":false,"arr":[[1,"x"],[],{},null,["x"]],
      "obj":{"":{"deep":[true,"T"]}},"u":"\u00fcn\u00efcode","empty":{}})");
  ASSERT_OK(meta);
  info.metadata = *meta;
  ASSERT_OK(index.Upsert(info, At(1)));
  ASSERT_EQ(*index.Get("x"), info);
  EXPECT_TRUE(index.Get("x")->metadata.Find("i")->is_integer());
  EXPECT_FALSE(index.Get("x")->metadata.Find("d")->is_integer());
  auto r = index.Query("+value.metadata.obj..deep:T", 10);
  ASSERT_OK(r);
  ASSERT_EQ(r->instances.size(), 1u);
  EXPECT_EQ(*r->instances[0], info);
  // A metadata that is not an object comes back as it was, too.
  info.id = "y";
  info.metadata = Json("just a string");
  ASSERT_OK(index.Upsert(info, At(1)));
  EXPECT_EQ(*index.Get("y"), info);
  EXPECT_THAT(Find(index, "+value.metadata:\"just a string\""), ElementsAre("y"));
  // A snapshot is the caller's: later changes do not reach it.
  auto before = index.Get("x");
  ASSERT_OK(index.SetPlayerCount("x", 9, At(2)));
  EXPECT_EQ(before->player_count, 3);
  EXPECT_EQ(index.Get("x")->player_count, 9);
}

// UpsertViews (the start-up load: fields as views, metadata as a tape) stores what Upsert
// stores, and a view of an id already there replaces it.
TEST(IndexStorageTest, ViewsStoreWhatUpsertStores) {
  InstanceIndex by_info, by_views;
  // (Strings are built by append: GCC 12 warns falsely about "v" + std::to_string(i).)
  auto str = [](const char* prefix, int i) {
    std::string s = prefix;
    s.append(std::to_string(i));
    return s;
  };
  std::vector<InstanceInfo> infos;
  for (int i = 0; i < 50; ++i) {
    InstanceInfo info =
        Make(str("v", i), i % 4, 100 + i, i % 3 ? "casual" : "ranked", i % 2 ? "eu" : "us");
    info.connection_info = {str("10.0.0.", i), str("h", i), 7000 + i};
    info.metadata["GameSessionName"] = Json(str("s-", i));
    info.metadata["tags"] = Json::Parse(R"([1,2.5,null,true,{"k":"v"}])").value();
    infos.push_back(info);
  }
  infos.push_back(infos[3]);  // an id again, changed: the later one wins
  infos.back().player_count = 9;
  infos.back().metadata = Json::MakeObject();
  std::vector<std::string> tapes(infos.size());
  std::vector<IndexEntryView> views;
  for (size_t i = 0; i < infos.size(); ++i) {
    const InstanceInfo& info = infos[i];
    ASSERT_OK(by_info.Upsert(info, At(static_cast<int64_t>(i))));
    glfm::internal::AppendJsonTape(info.metadata, tapes[i]);
    views.push_back(ViewOf(info, At(static_cast<int64_t>(i)), tapes[i]));
  }
  ASSERT_OK(by_views.UpsertViews(views));
  ASSERT_EQ(by_views.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    std::string id = str("v", i);
    ASSERT_NE(by_views.Get(id), nullptr) << id;
    EXPECT_EQ(*by_views.Get(id), *by_info.Get(id)) << id;
  }
  EXPECT_EQ(by_views.Get("v3")->player_count, 9);
  for (const char* q : {"+value.metadata.GameProperties.mode:ranked", "+value.metadata.tags:true",
                        "+value.metadata.tags.k:v", "+value.player_count:9",
                        "-value.metadata.GameProperties.region:eu"}) {
    EXPECT_EQ(Find(by_views, q), Find(by_info, q)) << q;
  }
  EXPECT_THAT(Find(by_views, "+value.metadata.GameSessionName:s-7"), ElementsAre("v7"));
  views[1].id = "";
  EXPECT_THAT(by_views.UpsertViews(views),
              StatusIs(StatusCode::kInvalidArgument, "entries[1]: instance id: empty"));
}

TEST(IndexConcurrencyTest, ReadsSeeEveryCountSetBeforeThem) {
  InstanceIndex index;
  // (Ids are built by append: GCC 12 warns falsely about "g" + std::to_string(i).)
  auto gid = [](int i) {
    std::string id = "g";
    id.append(std::to_string(i));
    return id;
  };
  for (int i = 0; i < 200; ++i) ASSERT_OK(index.Upsert(Make(gid(i), 0, i, "ranked", "eu"), At(1)));
  std::atomic<int> published{0};
  std::atomic<bool> stop{false};
  std::atomic<int> stale{0};
  // Readers keep the main lock busy, so most counts go through the queue.
  std::thread busy([&] {
    while (!stop) {
      if (!index.Query("+value.metadata.GameProperties.mode:ranked", 5).ok()) stale++;
    }
  });
  std::thread checker([&] {
    while (!stop) {
      int seen = published.load();
      auto got = index.Get("g7");
      if (got == nullptr || got->player_count < seen) stale++;
      auto r = index.Query("+value.id:g7", 1);
      if (!r.ok() || r->instances.size() != 1 || r->instances[0]->player_count < seen) stale++;
    }
  });
  for (int n = 1; n <= 20000; ++n) {
    ASSERT_OK(index.SetPlayerCount("g7", n, At(2)));
    published.store(n);
    if (n % 3 == 0) {  // others change too (never g7)
      ASSERT_OK(index.SetPlayerCount(gid(8 + n % 150), n % 5, At(2)));
    }
  }
  stop = true;
  busy.join();
  checker.join();
  EXPECT_EQ(stale.load(), 0);
  EXPECT_EQ(index.Get("g7")->player_count, 20000);
}

TEST(IndexConcurrencyTest, ReadersRunWhileWritersUpsert) {
  InstanceIndex index;
  for (int i = 0; i < 500; ++i) {
    std::string id = "g";
    id.append(std::to_string(i));
    ASSERT_OK(index.Upsert(Make(id, i % 8, i, i % 2 ? "ranked" : "casual", "eu"), At(1)));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    for (int n = 0; n < 20000; ++n) {
      std::string id = "g";
      id.append(std::to_string(n % 500));
      if (!index.SetPlayerCount(id, n % 8, At(2)).ok()) errors++;
      if (n % 97 == 0) {
        index.Delete(id);
        if (!index.Upsert(Make(id, 1, n, "ranked", "eu"), At(3)).ok()) errors++;
      }
    }
    stop = true;
  });
  int queries = 0;
  while (!stop || queries < 10) {
    auto r = index.Query("+value.metadata.GameProperties.mode:ranked +value.player_count:<8", 10);
    if (!r.ok()) errors++;
    for (const auto& i : r->instances) {
      if (i->metadata.Find("GameProperties")->Find("mode")->as_string() != "ranked") errors++;
    }
    ++queries;
  }
  writer.join();
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace glfm::index
