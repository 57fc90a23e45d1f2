// Helpers shared by the GameLift and SQS operations to read AWS JSON answers: absent fields
// read as empty, a field of the wrong type is remembered as an internal error naming the
// shape and field. Timestamps are epoch seconds with fractions (the JSON protocols'
// default), or an RFC 3339 string.
//
// Thread-safety: a Decoder belongs to one thread.
#pragma once

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glfm/codec.h"
#include "glfm/json.h"
#include "glfm/status.h"

namespace glfm::gamelift::wire {

// Parses an answer body. Errors: internal "<op>: the answer is not a JSON object".
inline Result<Json> ParseBody(std::string_view op, std::string_view body) {
  auto j = Json::Parse(body.empty() ? std::string_view("{}") : body);
  if (!j.ok() || !j->is_object()) {
    return InternalError(std::string(op) + ": the answer is not a JSON object");
  }
  return std::move(j).value();
}

// Converts epoch seconds with a fraction to a Timestamp (microsecond precision).
inline Timestamp FromEpochSeconds(double s) {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(
      std::chrono::microseconds(static_cast<int64_t>(std::llround(s * 1e6)))));
}

class Decoder {
 public:
  explicit Decoder(std::string_view shape) : shape_(shape) {}

  std::string Str(const Json& j, const char* key) {
    const Json* v = j.Find(key);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_string()) {
      Fail(key, "a string");
      return {};
    }
    return v->as_string();
  }
  int Int(const Json& j, const char* key) {
    const Json* v = j.Find(key);
    if (v == nullptr || v->is_null()) return 0;
    if (!v->is_number()) {
      Fail(key, "a number");
      return 0;
    }
    return static_cast<int>(v->as_int64());
  }
  std::optional<Timestamp> Time(const Json& j, const char* key) {
    const Json* v = j.Find(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_number()) return FromEpochSeconds(v->as_double());
    if (v->is_string()) {
      auto t = ParseRfc3339(v->as_string());
      if (t.ok()) return *t;
    }
    Fail(key, "epoch seconds");
    return std::nullopt;
  }
  const Json::Array& Array(const Json& j, const char* key) {
    static const Json::Array kEmpty;
    const Json* v = j.Find(key);
    if (v == nullptr || v->is_null()) return kEmpty;
    if (!v->is_array()) {
      Fail(key, "an array");
      return kEmpty;
    }
    return v->as_array();
  }
  // Returns the string → string map under `key` (SQS attributes).
  std::vector<std::pair<std::string, std::string>> StringMap(const Json& j, const char* key) {
    std::vector<std::pair<std::string, std::string>> out;
    const Json* v = j.Find(key);
    if (v == nullptr || v->is_null()) return out;
    if (!v->is_object()) {
      Fail(key, "an object");
      return out;
    }
    for (const auto& [k, val] : v->as_object()) {
      if (!val.is_string()) {
        Fail(key, "an object of strings");
        continue;
      }
      out.emplace_back(k, val.as_string());
    }
    return out;
  }

  Status status() const { return status_; }

 private:
  void Fail(const char* key, const char* want) {
    if (status_.ok()) {
      status_ = InternalError(std::string(shape_) + ": field " + key + " is not " + want);
    }
  }

  std::string_view shape_;
  Status status_;
};

}  // namespace glfm::gamelift::wire
