#include "emulator/wire.h"

#include <gtest/gtest.h>

#include "testing/status_matchers.h"

namespace glfm::emulator {
namespace {

TEST(WireTest, Md5MatchesSqsMd5OfBody) {
  EXPECT_EQ(Md5Hex("hello"), "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(WireTest, Iso8601Millis) {
  EXPECT_EQ(Iso8601Millis(1614613849741), "2021-03-01T15:50:49.741Z");
  EXPECT_EQ(Iso8601Millis(0), "1970-01-01T00:00:00.000Z");
}

TEST(WireTest, ParseFormDecodes) {
  auto f = ParseForm("Action=SendMessage&MessageBody=a%26b+c&AttributeName.1=All&empty");
  ASSERT_OK(f.status());
  EXPECT_EQ((*f)["MessageBody"], "a&b c");
  EXPECT_EQ((*f)["AttributeName.1"], "All");
  EXPECT_EQ((*f)["empty"], "");
  EXPECT_THAT(ParseForm("a=%zz").status(), StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST(WireTest, XmlEscapes) {
  std::string out;
  AppendXmlEscaped(out, "<a href=\"x\">&'\x01");
  EXPECT_EQ(out, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#x1;");
}

TEST(WireTest, UuidsAreReproducibleFromASeed) {
  uint64_t a = 7, b = 7;
  std::string first = UuidFrom(a);
  EXPECT_EQ(first, UuidFrom(b));
  EXPECT_EQ(first.size(), 36u);
  EXPECT_NE(first, UuidFrom(a));
}

}  // namespace
}  // namespace glfm::emulator
