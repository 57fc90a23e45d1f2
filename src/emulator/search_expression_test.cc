#include "emulator/search_expression.h"

#include <gtest/gtest.h>

#include <map>

#include "testing/status_matchers.h"

namespace glfm::emulator {
namespace {

SearchFieldLookup Session(std::map<std::string, SearchValue> fields) {
  return [fields](const std::string& operand) -> SearchValue {
    auto it = fields.find(operand);
    return it == fields.end() ? SearchValue{} : it->second;
  };
}

bool Match(const std::string& expr, const SearchFieldLookup& s) {
  auto f = FilterExpression::Parse(expr);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() && f->Matches(s);
}

TEST(SearchExpressionTest, ComparesNumbersStringsAndBooleans) {
  auto s = Session({{"playerSessionCount", 3.0},
                    {"gameSessionName", std::string("Matt's game")},
                    {"hasAvailablePlayerSessions", true},
                    {"gameSessionProperties.level", std::string("10")}});
  EXPECT_TRUE(Match("playerSessionCount < 4", s));
  EXPECT_FALSE(Match("playerSessionCount>=4", s));
  EXPECT_TRUE(Match("gameSessionName = 'Matt\\'s game'", s));
  EXPECT_TRUE(Match("hasAvailablePlayerSessions=true", s));
  EXPECT_TRUE(Match("gameSessionProperties.level > 9", s));  // numeric, not "10" < "9"
  EXPECT_TRUE(Match("gameSessionProperties.missing <> 'x'", s));
  EXPECT_FALSE(Match("gameSessionProperties.missing = 'x'", s));
}

TEST(SearchExpressionTest, AndOrNotAndParentheses) {
  auto s = Session({{"playerSessionCount", 3.0}, {"maximumSessions", 10.0}});
  EXPECT_TRUE(Match("playerSessionCount = 1 OR maximumSessions = 10", s));
  EXPECT_FALSE(
      Match("playerSessionCount = 1 or maximumSessions = 10 and playerSessionCount = 9", s));
  EXPECT_TRUE(Match("NOT (playerSessionCount = 1 OR maximumSessions = 9)", s));
  EXPECT_FALSE(Match("not playerSessionCount = 3", s));
}

TEST(SearchExpressionTest, RejectsBadExpressions) {
  EXPECT_THAT(FilterExpression::Parse("size = 3").status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "FilterExpression: unknown operand 'size' at position 0"));
  EXPECT_THAT(FilterExpression::Parse("playerSessionCount 3").status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "FilterExpression: expected a comparison operator at position 19"));
  EXPECT_THAT(FilterExpression::Parse("(playerSessionCount = 3").status(),
              StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FilterExpression::Parse("gameSessionName = 'open").status(),
              StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST(SearchExpressionTest, SortExpression) {
  auto s = SortExpression::Parse("creationTimeMillis DESC");
  ASSERT_OK(s.status());
  EXPECT_EQ(s->operand, "creationTimeMillis");
  EXPECT_TRUE(s->descending);
  EXPECT_FALSE(SortExpression::Parse("playerSessionCount asc")->descending);
  EXPECT_THAT(SortExpression::Parse("playerSessionCount UP").status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "SortExpression: order must be ASC or DESC, not 'UP'"));
  EXPECT_LT(CompareSearchValues(SearchValue{1.0}, SearchValue{}), 0);  // absent sorts last
}

}  // namespace
}  // namespace glfm::emulator
