// Json: a small JSON value type for metadata and placement events in the public API.
//
// Objects keep their keys sorted (std::map), so Dump() is deterministic. Integers that fit in
// int64 stay integers; other numbers are doubles. Parse() accepts RFC 8259 JSON.
//
// Thread-safety: a value type; concurrent reads of one const Json are safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "glfm/status.h"

namespace glfm {

class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;

  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  Json(std::nullptr_t) {}                              // NOLINT: implicit by design
  Json(bool b) : rep_(b) {}                            // NOLINT
  Json(int i) : rep_(static_cast<int64_t>(i)) {}       // NOLINT
  Json(unsigned i) : rep_(static_cast<int64_t>(i)) {}  // NOLINT
  Json(int64_t i) : rep_(i) {}                         // NOLINT
  // Stays an integer when it fits in int64, else becomes a double.
  Json(uint64_t u);                                   // NOLINT
  Json(double d) : rep_(d) {}                         // NOLINT
  Json(std::string s) : rep_(std::move(s)) {}         // NOLINT
  Json(std::string_view s) : rep_(std::string(s)) {}  // NOLINT
  Json(const char* s) : rep_(std::string(s)) {}       // NOLINT
  Json(Array a) : rep_(std::move(a)) {}               // NOLINT
  Json(Object o) : rep_(std::move(o)) {}              // NOLINT

  // Returns an empty object / array.
  static Json MakeObject() { return Json(Object{}); }
  static Json MakeArray() { return Json(Array{}); }

  // Parses `text` as one JSON document. Errors: invalid-argument naming what is wrong.
  static Result<Json> Parse(std::string_view text);

  Type type() const;
  // Returns "null", "boolean", "number", "string", "array" or "object".
  std::string_view TypeName() const;

  bool is_null() const { return rep_.index() == 0; }
  bool is_bool() const { return rep_.index() == 1; }
  bool is_integer() const { return rep_.index() == 2; }
  bool is_number() const { return rep_.index() == 2 || rep_.index() == 3; }
  bool is_string() const { return rep_.index() == 4; }
  bool is_array() const { return rep_.index() == 5; }
  bool is_object() const { return rep_.index() == 6; }

  // Accessors abort when the type does not match; check with is_*() first.
  bool as_bool() const;
  int64_t as_int64() const;  // a double is truncated toward zero
  double as_double() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Returns the member `key` of an object, or nullptr when absent or not an object.
  const Json* Find(std::string_view key) const;
  Json* Find(std::string_view key);

  // Returns the member `key`, turning a null into an empty object first; aborts on other
  // types.
  Json& operator[](std::string_view key);

  // Serialises compactly (no spaces), keys in sorted order.
  std::string Dump() const;
  void DumpTo(std::string& out) const;

  friend bool operator==(const Json& a, const Json& b) { return a.rep_ == b.rep_; }

 private:
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> rep_;
};

// Appends `s` to `out` as a JSON string literal (quotes and escapes included).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace glfm
