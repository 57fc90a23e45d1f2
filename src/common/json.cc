#include "glfm/json.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common/check.h"
#include "common/json_dom.h"

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
        // A repeated key keeps its last value, as most parsers do.
        o.insert_or_assign(std::string(kv.key), JsonFromDom(kv.value));
      }
      return Json(std::move(o));
    }
  }
  return Json();
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

// How many bytes each byte takes inside a JSON string literal: 1 as it is, 2 for the short
// escapes, 6 for the other control characters (\u00XX).
constexpr std::array<uint8_t, 256> kEscapedSize = [] {
  std::array<uint8_t, 256> size{};
  for (int c = 0; c < 256; ++c) {
    size[c] = c < 0x20 ? 6 : 1;
  }
  for (char c : {'"', '\\', '\n', '\r', '\t', '\b', '\f'}) {
    size[static_cast<unsigned char>(c)] = 2;
  }
  return size;
}();

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Two passes: the escaped size first, then the bytes written straight into the grown string
  // (one append per character cost several times more; event bodies are escaped whole).
  size_t size = 2;
  for (char c : s) {
    size += kEscapedSize[static_cast<unsigned char>(c)];
  }
  size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  *p++ = '"';
  if (size == s.size() + 2) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  } else {
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (kEscapedSize[u] == 1) {
        *p++ = c;
        continue;
      }
      *p++ = '\\';
      switch (c) {
        case '"':
          *p++ = '"';
          break;
        case '\\':
          *p++ = '\\';
          break;
        case '\n':
          *p++ = 'n';
          break;
        case '\r':
          *p++ = 'r';
          break;
        case '\t':
          *p++ = 't';
          break;
        case '\b':
          *p++ = 'b';
          break;
        case '\f':
          *p++ = 'f';
          break;
        default:
          *p++ = 'u';
          *p++ = '0';
          *p++ = '0';
          *p++ = kHex[u >> 4];
          *p++ = kHex[u & 0xF];
      }
    }
  }
  *p = '"';
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
