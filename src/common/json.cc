#include "glfm/json.h"

#include <emmintrin.h>
#include <tmmintrin.h>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/check.h"
#include "common/json_dom.h"
#include "common/json_tape.h"

namespace glfm {
namespace internal {

Json JsonFromDom(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      return Json();
    case simdjson::dom::element_type::BOOL:
      return Json(bool(e.get_bool().value_unsafe()));
    case simdjson::dom::element_type::INT64:
      return Json(int64_t(e.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64:
      return Json(uint64_t(e.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE:
      return Json(double(e.get_double().value_unsafe()));
    case simdjson::dom::element_type::STRING:
      return Json(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::ARRAY: {
      Json::Array a;
      simdjson::dom::array arr;
      if (e.get_array().get(arr) != simdjson::SUCCESS) {
        return Json::MakeArray();
      }
      for (simdjson::dom::element child : arr) {
        a.push_back(JsonFromDom(child));
      }
      return Json(std::move(a));
    }
    case simdjson::dom::element_type::OBJECT: {
      Json::Object o;
      simdjson::dom::object obj;
      if (e.get_object().get(obj) != simdjson::SUCCESS) {
        return Json::MakeObject();
      }
      for (simdjson::dom::key_value_pair kv : obj) {
        // Keys in order (as glfm writes them) append with one comparison each; a repeated
        // key keeps its last value, as most parsers do.
        if (o.empty() || o.rbegin()->first < kv.key) {
          o.emplace_hint(o.end(), std::string(kv.key), JsonFromDom(kv.value));
        } else {
          o.insert_or_assign(std::string(kv.key), JsonFromDom(kv.value));
        }
      }
      return Json(std::move(o));
    }
  }
  return Json();
}

void AppendJsonTape(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::Type::kNull:
      PutTapeTag(out, TapeTag::kNull);
      return;
    case Json::Type::kBool:
      PutTapeTag(out, j.as_bool() ? TapeTag::kTrue : TapeTag::kFalse);
      return;
    case Json::Type::kNumber:
      if (j.is_integer()) {
        PutTapeInt(out, j.as_int64());
      } else {
        PutTapeDouble(out, j.as_double());
      }
      return;
    case Json::Type::kString:
      PutTapeString(out, j.as_string());
      return;
    case Json::Type::kArray:
      PutTapeHead(out, TapeTag::kArray, j.as_array().size());
      for (const Json& e : j.as_array()) AppendJsonTape(e, out);
      return;
    case Json::Type::kObject:
      PutTapeHead(out, TapeTag::kObject, j.as_object().size());
      for (const auto& [k, v] : j.as_object()) {
        PutTapeBytes(out, k);
        AppendJsonTape(v, out);
      }
      return;
  }
}

namespace {

Json ReadTapeValue(TapeReader& r) {
  switch (r.Tag()) {
    case TapeTag::kNull:
      return Json();
    case TapeTag::kFalse:
      return Json(false);
    case TapeTag::kTrue:
      return Json(true);
    case TapeTag::kInt:
      return Json(r.Int());
    case TapeTag::kDouble:
      return Json(r.Double());
    case TapeTag::kString:
      return Json(r.String());
    case TapeTag::kArray: {
      Json::Array a(r.Count());
      for (Json& e : a) e = ReadTapeValue(r);
      return Json(std::move(a));
    }
    case TapeTag::kObject: {
      Json::Object o;
      for (uint64_t n = r.Count(); n > 0; --n) {
        std::string key(r.String());
        o.emplace_hint(o.end(), std::move(key), ReadTapeValue(r));
      }
      return Json(std::move(o));
    }
  }
  GLFM_CHECK(false);  // not a tape AppendJsonTape or AppendDomTape wrote
  return Json();
}

}  // namespace

Json JsonFromTape(std::string_view tape) {
  TapeReader r(tape);
  return ReadTapeValue(r);
}

void AppendDomTape(simdjson::dom::element e, std::string& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      PutTapeTag(out, TapeTag::kNull);
      return;
    case simdjson::dom::element_type::BOOL:
      PutTapeTag(out, e.get_bool().value_unsafe() ? TapeTag::kTrue : TapeTag::kFalse);
      return;
    case simdjson::dom::element_type::INT64:
      PutTapeInt(out, e.get_int64().value_unsafe());
      return;
    case simdjson::dom::element_type::UINT64:
      // simdjson types a number UINT64 only past int64's range, where Json holds a double.
      AppendJsonTape(JsonFromDom(e), out);
      return;
    case simdjson::dom::element_type::DOUBLE:
      PutTapeDouble(out, e.get_double().value_unsafe());
      return;
    case simdjson::dom::element_type::STRING:
      PutTapeString(out, e.get_string().value_unsafe());
      return;
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array arr = e.get_array().value_unsafe();
      PutTapeHead(out, TapeTag::kArray, arr.size());
      for (simdjson::dom::element child : arr) AppendDomTape(child, out);
      return;
    }
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object obj = e.get_object().value_unsafe();
      // Keys in increasing order, each once, as glfm writes them, go straight to the tape;
      // any other object goes through a Json::Object, which sorts them and keeps the last
      // value of a repeated key.
      std::string_view prev;
      bool first = true;
      for (simdjson::dom::key_value_pair kv : obj) {
        if (!first && !(prev < kv.key)) {
          AppendJsonTape(JsonFromDom(e), out);
          return;
        }
        prev = kv.key;
        first = false;
      }
      PutTapeHead(out, TapeTag::kObject, obj.size());
      for (simdjson::dom::key_value_pair kv : obj) {
        PutTapeBytes(out, kv.key);
        AppendDomTape(kv.value, out);
      }
      return;
    }
  }
}

}  // namespace internal

Json::Json(uint64_t u) {
  if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    rep_ = static_cast<int64_t>(u);
  } else {
    rep_ = static_cast<double>(u);
  }
}

Result<Json> Json::Parse(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto error = parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root);
  if (error) {
    return InvalidArgumentError(std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  return internal::JsonFromDom(root);
}

Json::Type Json::type() const {
  switch (rep_.index()) {
    case 0:
      return Type::kNull;
    case 1:
      return Type::kBool;
    case 2:
    case 3:
      return Type::kNumber;
    case 4:
      return Type::kString;
    case 5:
      return Type::kArray;
    default:
      return Type::kObject;
  }
}

std::string_view Json::TypeName() const {
  switch (type()) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "null";
}

bool Json::as_bool() const {
  GLFM_CHECK(is_bool());
  return std::get<bool>(rep_);
}

int64_t Json::as_int64() const {
  GLFM_CHECK(is_number());
  if (is_integer()) {
    return std::get<int64_t>(rep_);
  }
  return static_cast<int64_t>(std::get<double>(rep_));
}

double Json::as_double() const {
  GLFM_CHECK(is_number());
  if (is_integer()) {
    return static_cast<double>(std::get<int64_t>(rep_));
  }
  return std::get<double>(rep_);
}

const std::string& Json::as_string() const {
  GLFM_CHECK(is_string());
  return std::get<std::string>(rep_);
}

const Json::Array& Json::as_array() const {
  GLFM_CHECK(is_array());
  return std::get<Array>(rep_);
}

Json::Array& Json::as_array() {
  GLFM_CHECK(is_array());
  return std::get<Array>(rep_);
}

const Json::Object& Json::as_object() const {
  GLFM_CHECK(is_object());
  return std::get<Object>(rep_);
}

Json::Object& Json::as_object() {
  GLFM_CHECK(is_object());
  return std::get<Object>(rep_);
}

const Json* Json::Find(std::string_view key) const {
  if (!is_object()) {
    return nullptr;
  }
  const auto& o = std::get<Object>(rep_);
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->second;
}

Json* Json::Find(std::string_view key) {
  return const_cast<Json*>(static_cast<const Json*>(this)->Find(key));
}

Json& Json::operator[](std::string_view key) {
  if (is_null()) {
    rep_ = Object{};
  }
  GLFM_CHECK(is_object());
  auto& o = std::get<Object>(rep_);
  auto it = o.find(key);
  if (it == o.end()) {
    it = o.emplace(std::string(key), Json()).first;
  }
  return it->second;
}

namespace {

// What each byte becomes inside a JSON string literal: itself, a short escape, or \u00XX
// for the other control characters. `bytes` holds 8 so that it is always copied whole.
struct Escaped {
  char bytes[8];
  uint8_t size;
};
constexpr std::array<Escaped, 256> kEscaped = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<Escaped, 256> table{};
  for (int c = 0; c < 256; ++c) {
    Escaped& e = table[static_cast<size_t>(c)];
    char short_escape = 0;
    switch (c) {
      case '"':
        short_escape = '"';
        break;
      case '\\':
        short_escape = '\\';
        break;
      case '\n':
        short_escape = 'n';
        break;
      case '\r':
        short_escape = 'r';
        break;
      case '\t':
        short_escape = 't';
        break;
      case '\b':
        short_escape = 'b';
        break;
      case '\f':
        short_escape = 'f';
        break;
    }
    if (short_escape != 0) {
      e = {{'\\', short_escape}, 2};
    } else if (c < 0x20) {
      e = {{'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]}, 6};
    } else {
      e = {{static_cast<char>(c)}, 1};
    }
  }
  return table;
}();

// The bytes of a 16-byte block that need escaping, as bits: `quote` for '"' and '\\' (a
// backslash goes before them), `control` for the control characters (other escapes).
struct EscapeMasks {
  uint32_t quote;
  uint32_t control;
};
EscapeMasks Masks(__m128i v) {
  // Unsigned v < 0x20, as a signed compare of both sides shifted by 0x80.
  __m128i control = _mm_cmplt_epi8(_mm_xor_si128(v, _mm_set1_epi8(static_cast<char>(0x80))),
                                   _mm_set1_epi8(static_cast<char>(0x20 ^ 0x80)));
  __m128i quote =
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
  return {static_cast<uint32_t>(_mm_movemask_epi8(quote)),
          static_cast<uint32_t>(_mm_movemask_epi8(control))};
}

__m128i Load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// For 8 bytes with '"' or '\\' at the bits of the index: the shuffle that writes them with a
// backslash (source byte 8) before each marked one, and how many bytes that makes.
struct Expansion {
  uint8_t shuffle[16];
  uint8_t size;
};
constexpr std::array<Expansion, 256> kExpansions = [] {
  std::array<Expansion, 256> table{};
  for (size_t m = 0; m < 256; ++m) {
    Expansion& e = table[m];
    uint8_t o = 0;
    for (uint8_t i = 0; i < 8; ++i) {
      if ((m >> i) & 1) e.shuffle[o++] = 8;
      e.shuffle[o++] = i;
    }
    e.size = o;
    while (o < 16) e.shuffle[o++] = 0x80;  // zero
  }
  return table;
}();

// (Before this is set, during other files' static initialization, blocks take the SSE2 path.)
const bool kHaveSsse3 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("ssse3") != 0;
}();

// Writes the 16 bytes of `v`, whose '"' and '\\' are at the bits of `quote` (and which hold
// no control character), with a backslash before each of those: 8 bytes at a time, by a byte
// shuffle from the bytes and backslashes. Returns the end; writes up to 16 bytes past it.
__attribute__((target("ssse3"))) char* ExpandQuotes(char* p, __m128i v, uint32_t quote) {
  const __m128i backslashes = _mm_set1_epi8('\\');
  for (int half = 0; half < 2; ++half) {
    __m128i bytes = half == 0 ? v : _mm_srli_si128(v, 8);
    const Expansion& e = kExpansions[(quote >> (8 * half)) & 0xFF];
    __m128i out = _mm_shuffle_epi8(_mm_unpacklo_epi64(bytes, backslashes),
                                   Load16(reinterpret_cast<const char*>(e.shuffle)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), out);
    p += e.size;
  }
  return p;
}

// Writes `c` escaped at p (a fixed 8-byte copy from kEscaped) and returns the end.
char* PutEscaped(char* p, char c) {
  const Escaped& e = kEscaped[static_cast<unsigned char>(c)];
  std::memcpy(p, e.bytes, sizeof e.bytes);
  return p + e.size;
}

// Writes the escaped s[0, n) at p, 16 bytes at a time, and returns the end. A block with
// nothing to escape is stored whole; one with only '"' and '\\' goes to ExpandQuotes (with
// SSSE3, every x86-64 CPU since 2006); any other byte by byte from kEscaped. Writes up to 16
// bytes past the end it returns.
char* WriteEscaped(char* p, const char* s, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i v = Load16(s + i);
    EscapeMasks m = Masks(v);
    if ((m.quote | m.control) == 0) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
      p += 16;
      continue;
    }
    if (m.control == 0 && kHaveSsse3) {
      p = ExpandQuotes(p, v, m.quote);
      continue;
    }
    for (size_t k = 0; k < 16; ++k) {
      p = PutEscaped(p, s[i + k]);
    }
  }
  for (; i < n; ++i) {
    p = PutEscaped(p, s[i]);
  }
  return p;
}

}  // namespace

// Two passes, 16 bytes at a time: the escaped size first, then the bytes (WriteEscaped).
// Event bodies are escaped whole, in the emulator's ReceiveMessage answers and in stored
// outcomes, and an SNS envelope of escaped JSON has a '"' or '\\' every few bytes: one byte
// at a time with a branch each, this was a tenth of bench_fleet's instructions.
void AppendJsonString(std::string& out, std::string_view s) {
  const size_t n = s.size();
  size_t size = n + 2;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    EscapeMasks m = Masks(Load16(s.data() + i));
    size += static_cast<size_t>(std::popcount(m.quote));
    for (uint32_t c = m.control; c != 0; c &= c - 1) {
      size += kEscaped[static_cast<unsigned char>(s[i + static_cast<size_t>(std::countr_zero(c))])]
                  .size -
              1u;
    }
  }
  for (; i < n; ++i) {
    size += kEscaped[static_cast<unsigned char>(s[i])].size - 1u;
  }
  const size_t at = out.size();
  out.resize(at + size + 16);  // room for the last block's whole store
  char* p = out.data() + at;
  *p++ = '"';
  p = WriteEscaped(p, s.data(), n);
  *p = '"';
  out.resize(at + size);
}

void Json::DumpTo(std::string& out) const {
  switch (rep_.index()) {
    case 0:
      out += "null";
      return;
    case 1:
      out += std::get<bool>(rep_) ? "true" : "false";
      return;
    case 2: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, std::get<int64_t>(rep_));
      out.append(buf, r.ptr);
      return;
    }
    case 3: {
      double d = std::get<double>(rep_);
      if (!std::isfinite(d)) {
        out += "null";  // JSON has no NaN or infinity
        return;
      }
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      std::string_view text(buf, r.ptr - buf);
      out += text;
      // Keep a double a double when read back (and within parsers' integer range).
      if (text.find_first_of(".eE") == std::string_view::npos) {
        out += ".0";
      }
      return;
    }
    case 4:
      AppendJsonString(out, std::get<std::string>(rep_));
      return;
    case 5: {
      out.push_back('[');
      bool first = true;
      for (const Json& v : std::get<Array>(rep_)) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        v.DumpTo(out);
      }
      out.push_back(']');
      return;
    }
    default: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : std::get<Object>(rep_)) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        AppendJsonString(out, k);
        out.push_back(':');
        v.DumpTo(out);
      }
      out.push_back('}');
      return;
    }
  }
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(out);
  return out;
}

}  // namespace glfm
