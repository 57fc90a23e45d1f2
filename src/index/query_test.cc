#include "index/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/status_matchers.h"

namespace glfm::index {
namespace {

using ::testing::HasSubstr;

Clause One(std::string_view text) {
  auto q = ParseQuery(text);
  EXPECT_OK(q);
  if (!q.ok() || q->clauses.size() != 1) {
    ADD_FAILURE() << "want one clause from " << text;
    return Clause{};
  }
  return q->clauses[0];
}

TEST(ParseQueryTest, EmptyAndStarMatchEverything) {
  for (std::string_view text : {"", "   ", "*", " * "}) {
    auto q = ParseQuery(text);
    ASSERT_OK(q);
    EXPECT_TRUE(q->match_all) << text;
  }
  auto q = ParseQuery("* -value.status:ACTIVE");
  ASSERT_OK(q);
  EXPECT_FALSE(q->match_all);
}

TEST(ParseQueryTest, OccurPrefixes) {
  auto q = ParseQuery("+a:1 -b:2 c:3");
  ASSERT_OK(q);
  ASSERT_EQ(q->clauses.size(), 3u);
  EXPECT_EQ(q->clauses[0].occur, Occur::kMust);
  EXPECT_EQ(q->clauses[1].occur, Occur::kMustNot);
  EXPECT_EQ(q->clauses[2].occur, Occur::kShould);
  EXPECT_EQ(q->must_count, 1);
  EXPECT_EQ(q->must_not_count, 1);
  EXPECT_EQ(q->should_count, 1);
}

TEST(ParseQueryTest, TermsPhrasesAndNumbers) {
  Clause c = One("value.metadata.GameProperties.region:europe");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
  EXPECT_EQ(c.field, "value.metadata.GameProperties.region");
  EXPECT_EQ(c.text, "europe");

  c = One(R"(value.metadata.GameSessionName:"my room 1")");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
  EXPECT_EQ(c.text, "my room 1");

  c = One("level:10");
  EXPECT_EQ(c.kind, ClauseKind::kNumber);
  EXPECT_EQ(c.number, 10);
  EXPECT_EQ(c.text, "10");

  c = One("level:-2.5");
  EXPECT_EQ(c.kind, ClauseKind::kNumber);
  EXPECT_EQ(c.number, -2.5);

  c = One("level:10abc");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
}

TEST(ParseQueryTest, NumericRangesFollowBleveInclusivity) {
  // query_string.y: `>` and `<` exclusive, `>=` and `<=` inclusive; posOrNegNumber.
  Clause c = One("rank:<=5");
  EXPECT_EQ(c.kind, ClauseKind::kNumericRange);
  EXPECT_TRUE(c.has_max);
  EXPECT_TRUE(c.max_inclusive);
  EXPECT_EQ(c.max, 5);
  EXPECT_FALSE(c.has_min);

  c = One("rank:>-3");
  EXPECT_TRUE(c.has_min);
  EXPECT_FALSE(c.min_inclusive);
  EXPECT_EQ(c.min, -3);

  c = One("rank:>=1.5");
  EXPECT_TRUE(c.min_inclusive);
  EXPECT_EQ(c.min, 1.5);

  c = One("rank:<0");
  EXPECT_FALSE(c.max_inclusive);
}

TEST(ParseQueryTest, DateRanges) {
  Clause c = One(R"(create_time:>"2021-12-25")");
  EXPECT_EQ(c.kind, ClauseKind::kDateRange);
  EXPECT_TRUE(c.has_min);
  EXPECT_EQ(c.min_ns, 1640390400LL * 1000000000LL);

  c = One(R"(update_time:<="2024-01-01T00:00:01.5+01:00")");
  EXPECT_TRUE(c.has_max);
  EXPECT_TRUE(c.max_inclusive);
  EXPECT_EQ(c.max_ns, (1704067201LL - 3600) * 1000000000LL + 500000000LL);
}

TEST(ParseQueryTest, WildcardRegexFuzzyBoost) {
  Clause c = One("value.metadata.GameSessionName:room-1?*");
  EXPECT_EQ(c.kind, ClauseKind::kWildcard);
  EXPECT_TRUE(WildcardMatch(c.pattern, c.wild, "room-12"));
  EXPECT_TRUE(WildcardMatch(c.pattern, c.wild, "room-1abc"));
  EXPECT_FALSE(WildcardMatch(c.pattern, c.wild, "room-1"));

  c = One(R"(name:a\*b)");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
  EXPECT_EQ(c.text, "a*b");

  c = One(R"(name:a\*b*)");
  EXPECT_EQ(c.kind, ClauseKind::kWildcard);
  EXPECT_TRUE(WildcardMatch(c.pattern, c.wild, "a*bxyz"));
  EXPECT_FALSE(WildcardMatch(c.pattern, c.wild, "aXbxyz"));

  c = One("value.status:/ACT.*/");
  EXPECT_EQ(c.kind, ClauseKind::kRegex);
  EXPECT_EQ(c.text, "ACT.*");

  c = One("mode:rankd~");
  EXPECT_EQ(c.kind, ClauseKind::kFuzzy);
  EXPECT_EQ(c.fuzziness, 1);
  c = One("mode:rnkd~2");
  EXPECT_EQ(c.fuzziness, 2);

  c = One("region:europe^5");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
  EXPECT_EQ(c.boost, 5);
  EXPECT_EQ(c.text, "europe");
}

TEST(ParseQueryTest, EscapesAndAliases) {
  Clause c = One(R"(value.metadata.a\:b:x\ y\+z)");
  EXPECT_EQ(c.field, "value.metadata.a:b");
  EXPECT_EQ(c.text, "x y+z");
  EXPECT_EQ(One("value.playerCount:2").field, "value.player_count");
  EXPECT_EQ(One("value.connectionInfo.ipAddress:1.2.3.4").field,
            "value.connection_info.ip_address");
  EXPECT_EQ(One("createTime:>5").field, "create_time");
}

TEST(ParseQueryTest, UnqualifiedClausesSearchEveryField) {
  Clause c = One("ranked");
  EXPECT_EQ(c.field, "");
  EXPECT_EQ(c.kind, ClauseKind::kTerm);
}

TEST(ParseQueryTest, ErrorsNamePositionAndToken) {
  EXPECT_THAT(ParseQuery("a:b (c:d)"),
              StatusIs(StatusCode::kInvalidArgument, "query: unexpected \"(\" at position 5"));
  EXPECT_THAT(ParseQuery(R"(a:"open)"),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: unterminated phrase \"\"open\" at position 3"));
  EXPECT_THAT(ParseQuery("a:>x"),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: expected a number or a quoted date, got \"x\" at position 4"));
  EXPECT_THAT(ParseQuery(R"(t:<="1012-02-01")"),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: invalid date (want RFC 3339) \"1012-02-01\" at position 5"));
  EXPECT_THAT(ParseQuery(R"(t:>"yesterday")"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid date")));
  EXPECT_THAT(ParseQuery("a:b~3"),
              StatusIs(StatusCode::kInvalidArgument,
                       "query: fuzziness must be 0, 1 or 2, got \"~3\" at position 4"));
  EXPECT_THAT(ParseQuery("a:/(/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid regex")));
  EXPECT_THAT(ParseQuery("+ a:b"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("operator without a clause")));
  EXPECT_THAT(ParseQuery("a:"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("missing value after \"a:\"")));
  EXPECT_THAT(ParseQuery(":b"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty field name")));
  EXPECT_THAT(ParseQuery(R"(a:b\)"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("dangling backslash")));
  EXPECT_THAT(ParseQuery(R"(a:\q)"), StatusIs(StatusCode::kInvalidArgument,
                                              "query: invalid escape \"\\q\" at position 3"));
  EXPECT_THAT(ParseQuery("a:b^x"),
              StatusIs(StatusCode::kInvalidArgument, "query: unexpected \"x\" at position 5"));
  EXPECT_THAT(ParseQuery("a:b\"c"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unexpected \"\"\" at position 4")));
}

TEST(WildcardMatchTest, WholeValue) {
  auto w = [](std::string_view p) {
    std::vector<bool> wild;
    for (char c : p) wild.push_back(c == '*' || c == '?');
    return wild;
  };
  EXPECT_TRUE(WildcardMatch("*", w("*"), ""));
  EXPECT_TRUE(WildcardMatch("a*c", w("a*c"), "abbbc"));
  EXPECT_FALSE(WildcardMatch("a*c", w("a*c"), "abbbcd"));
  EXPECT_TRUE(WildcardMatch("?b?", w("?b?"), "abc"));
  EXPECT_FALSE(WildcardMatch("?b?", w("?b?"), "ab"));
  EXPECT_TRUE(WildcardMatch("*a*a*", w("*a*a*"), "xaxxa"));
}

TEST(EditDistanceTest, Levenshtein) {
  EXPECT_TRUE(WithinEditDistance("ranked", "ranked", 0));
  EXPECT_FALSE(WithinEditDistance("ranked", "rankd", 0));
  EXPECT_TRUE(WithinEditDistance("ranked", "rankd", 1));
  EXPECT_TRUE(WithinEditDistance("ranked", "rnkd", 2));
  EXPECT_FALSE(WithinEditDistance("ranked", "rnk", 2));
  EXPECT_TRUE(WithinEditDistance("", "ab", 2));
}

}  // namespace
}  // namespace glfm::index
