#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "glfm/json.h"

namespace glfm::log {
namespace {

using ::testing::HasSubstr;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetSinkForTesting([this](std::string_view l) { lines_.emplace_back(l); });
  }
  void TearDown() override {
    SetSinkForTesting(nullptr);
    Configure(Format::kText, Level::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, JsonLinesCarryFieldsAndRequestId) {
  Configure(Format::kJson, Level::kInfo);
  {
    ScopedRequestId rid("req-1");
    Info("placed", {{"placement_id", "p-1"}, {"players", 3}});
  }
  Info("after");
  ASSERT_EQ(lines_.size(), 2u);
  auto j = Json::Parse(lines_[0]);
  ASSERT_TRUE(j.ok()) << lines_[0];
  EXPECT_EQ(j->Find("level")->as_string(), "info");
  EXPECT_EQ(j->Find("msg")->as_string(), "placed");
  EXPECT_EQ(j->Find("request_id")->as_string(), "req-1");
  EXPECT_EQ(j->Find("placement_id")->as_string(), "p-1");
  EXPECT_EQ(j->Find("players")->as_string(), "3");
  EXPECT_EQ(Json::Parse(lines_[1])->Find("request_id"), nullptr);
}

TEST_F(LogTest, TextLinesQuoteValuesWithSpaces) {
  Configure(Format::kText, Level::kInfo);
  Warn("listening on http://127.0.0.1:1", {{"why", "two words"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr(" WARN listening on http://127.0.0.1:1 why=\"two words\""));
}

TEST_F(LogTest, BelowMinimumLevelIsDropped) {
  Configure(Format::kText, Level::kWarn);
  Info("quiet");
  Error("loud");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("ERROR loud"));
}

TEST(LogParseTest, LevelsAndFormats) {
  Level l;
  Format f;
  EXPECT_TRUE(ParseLevel("debug", l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(ParseLevel("verbose", l));
  EXPECT_TRUE(ParseFormat("json", f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_FALSE(ParseFormat("xml", f));
}

}  // namespace
}  // namespace glfm::log
