#include "glfm/json.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "common/json_dom.h"
#include "common/json_tape.h"
#include "testing/status_matchers.h"

namespace glfm {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, ParsesAndDumpsEveryType) {
  auto j = Json::Parse(R"({"b":true,"n":null,"i":-12,"d":1.5,"s":"x\"y\n","a":[1,"two"],
                           "o":{"k":"v"}})");
  ASSERT_OK(j);
  EXPECT_TRUE(j->Find("b")->as_bool());
  EXPECT_TRUE(j->Find("n")->is_null());
  EXPECT_TRUE(j->Find("i")->is_integer());
  EXPECT_EQ(j->Find("i")->as_int64(), -12);
  EXPECT_DOUBLE_EQ(j->Find("d")->as_double(), 1.5);
  EXPECT_EQ(j->Find("s")->as_string(), "x\"y\n");
  EXPECT_EQ(j->Find("a")->as_array().size(), 2u);
  EXPECT_EQ(j->Find("o")->Find("k")->as_string(), "v");
  EXPECT_EQ(j->Dump(),
            R"({"a":[1,"two"],"b":true,"d":1.5,"i":-12,"n":null,"o":{"k":"v"},"s":"x\"y\n"})");
}

TEST(JsonTest, RoundTripsThroughDump) {
  const char* text = R"({"arr":[[],{},0.1,-0.0,1e300,"\u0001é"],"big":18446744073709551615})";
  auto a = Json::Parse(text);
  ASSERT_OK(a);
  auto b = Json::Parse(a->Dump());
  ASSERT_OK(b);
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(a->Find("big")->is_integer());  // beyond int64: a double
}

TEST(JsonTest, KeysInAnyOrderAndRepeatedKeysParseToTheSameObject) {
  // In order (as glfm writes), out of order, and repeated: the last value of a key wins.
  for (const char* text :
       {R"({"a":1,"b":{"x":1,"y":2},"c":3})", R"({"c":3,"b":{"y":2,"x":1},"a":1})",
        R"({"b":{"y":2,"x":1},"a":1,"c":3})", R"({"a":0,"b":{"x":1,"y":0,"y":2},"c":3,"a":1})",
        R"({"c":0,"a":1,"b":{"x":1,"y":2},"c":3})"}) {
    auto j = Json::Parse(text);
    ASSERT_OK(j);
    EXPECT_EQ(j->Dump(), R"({"a":1,"b":{"x":1,"y":2},"c":3})") << text;
  }
}

// The tape (json_tape.h) of a parsed document, written straight from simdjson's DOM, is the
// tape of the Json that Json::Parse builds from it, and reads back to that Json.
TEST(JsonTest, TapeOfADocumentIsTheTapeOfItsJsonAndReadsBackToIt) {
  for (const char* text : {
           R"({"GameProperties":{"map":"m","mode":"ranked"},"GameSessionName":"s-1"})",
           R"({"c":3,"b":{"y":2,"x":1},"a":1})",              // keys out of order
           R"({"a":0,"b":{"x":1,"y":0,"y":2},"c":3,"a":1})",  // repeated keys: the last wins
           R"({"n":null,"t":true,"f":false,"i":-7,"z":0,"big":9223372036854775807})",
           R"({"min":-9223372036854775808,"u":18446744073709551615,"d":1.5,"e":-2e300})",
           R"({"s":"é \"q\" \\ \u0001","empty":"","arr":[1,[2,{"k":"v"}],[],{}],"o":{}})",
           R"([1,"two",null,{"b":1,"a":2}])",
           R"("just a string")",
           R"(42)",
       }) {
    auto j = Json::Parse(text);
    ASSERT_OK(j);
    std::string from_json;
    internal::AppendJsonTape(*j, from_json);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(text, std::strlen(text)).get(root), simdjson::SUCCESS) << text;
    std::string from_dom = "prefix";  // appends
    internal::AppendDomTape(root, from_dom);
    EXPECT_EQ(from_dom, "prefix" + from_json) << text;
    EXPECT_EQ(internal::JsonFromTape(from_json).Dump(), j->Dump()) << text;
  }
}

TEST(JsonTest, TapeKeepsIntegersAndDoublesApart) {
  std::string tape;
  internal::AppendJsonTape(Json::Parse(R"([3,3.0,-1,1e2])").value(), tape);
  Json back = internal::JsonFromTape(tape);
  ASSERT_TRUE(back.is_array());
  const Json::Array& a = back.as_array();
  ASSERT_EQ(a.size(), 4u);
  EXPECT_TRUE(a[0].is_integer());
  EXPECT_EQ(a[0].as_int64(), 3);
  EXPECT_FALSE(a[1].is_integer());
  EXPECT_EQ(a[1].as_double(), 3.0);
  EXPECT_EQ(a[2].as_int64(), -1);
  EXPECT_FALSE(a[3].is_integer());
  EXPECT_EQ(a[3].as_double(), 100.0);
}

TEST(JsonTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(Json(std::string("a\x01"
                             "b"))
                .Dump(),
            R"("a\u0001b")");
}

TEST(JsonTest, EveryCharacterThatNeedsItIsEscaped) {
  std::string out = "prefix:";
  AppendJsonString(out, std::string_view("plain \"q\" \\ \n\r\t\b\f\x1f\x00 end \xc3\xa9", 26));
  EXPECT_EQ(out, "prefix:\"plain \\\"q\\\" \\\\ \\n\\r\\t\\b\\f\\u001f\\u0000 end \xc3\xa9\"");
  out.clear();
  AppendJsonString(out, "");
  EXPECT_EQ(out, "\"\"");
  AppendJsonString(out, "\"");
  EXPECT_EQ(out, "\"\"\"\\\"\"");
  // Every ASCII character round-trips.
  std::string all;
  for (int c = 1; c < 128; ++c) {
    all.push_back(static_cast<char>(c));
  }
  auto back = Json::Parse(Json(all).Dump());
  ASSERT_OK(back);
  EXPECT_EQ(back->as_string(), all);
}

// The escaping of one byte, spelled out: what AppendJsonString must produce for it.
std::string EscapedByte(unsigned char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
  }
  if (c < 0x20) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\u%04x", c);
    return buf;
  }
  return std::string(1, static_cast<char>(c));
}

TEST(JsonTest, RandomMixesOfEscapesAreEscapedLikeTheReference) {
  // Blocks of 16 with '"' and '\\' at any places go through a byte shuffle, blocks with
  // control characters byte by byte: random strings mostly of those, of 0 to 100 bytes.
  const std::string alphabet = std::string("a\"\\\n\x01\x7f\xc3\xa9/ ") + '\0';
  std::mt19937 rng(11);
  for (int round = 0; round < 20000; ++round) {
    std::string in(rng() % 101, ' ');
    int kinds = 1 + static_cast<int>(rng() % alphabet.size());  // few kinds: long clean runs
    for (char& c : in) c = alphabet[rng() % static_cast<unsigned>(kinds)];
    std::string want = "\"";
    for (char b : in) want += EscapedByte(static_cast<unsigned char>(b));
    want += "\"";
    std::string out;
    AppendJsonString(out, in);
    ASSERT_EQ(out, want) << "round " << round;
  }
}

TEST(JsonTest, EveryByteIsEscapedAtEveryPlaceOfALongString) {
  // AppendJsonString looks at 16 bytes at a time: each byte value at each place of strings
  // of 1 to 40 bytes (blocks, block edges, tails), among plain bytes and among others that
  // need escaping. Bytes of 0x80 and above (UTF-8) pass unchanged.
  for (size_t len = 1; len <= 40; ++len) {
    for (char filler : {'a', '"'}) {
      for (size_t at = 0; at < len; ++at) {
        for (int c = 0; c < 256; ++c) {
          std::string in(len, filler);
          in[at] = static_cast<char>(c);
          std::string want = "x\"";
          for (char b : in) {
            want += EscapedByte(static_cast<unsigned char>(b));
          }
          want += "\"";
          std::string out = "x";
          AppendJsonString(out, in);
          ASSERT_EQ(out, want) << "length " << len << " byte " << c << " at " << at;
        }
      }
    }
  }
}

TEST(JsonTest, InvalidJsonIsInvalidArgument) {
  EXPECT_THAT(Json::Parse("{\"a\":"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid JSON")));
  EXPECT_THAT(Json::Parse(""), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Json::Parse("[1,]"), StatusCodeIs(StatusCode::kInvalidArgument));
}

TEST(JsonTest, IndexingCreatesObjects) {
  Json j;
  j["a"]["b"] = 3;
  EXPECT_EQ(j.Dump(), R"({"a":{"b":3}})");
  EXPECT_EQ(j.Find("missing"), nullptr);
  EXPECT_EQ(Json(5).Find("a"), nullptr);
}

}  // namespace
}  // namespace glfm
