// Wire helpers for the emulator's AWS protocols: form (Query protocol) bodies, XML text,
// MD5 digests (SQS MD5OfBody), ISO 8601 times and random identifiers.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "glfm/status.h"

namespace glfm::emulator {

// Decodes an application/x-www-form-urlencoded body into name → value (a repeated name keeps
// the last value). Errors: invalid-argument on a bad percent escape.
Result<std::map<std::string, std::string>> ParseForm(std::string_view body);

// Appends `s` to `out` with &, <, >, " and ' escaped, and control characters as &#xN;.
void AppendXmlEscaped(std::string& out, std::string_view s);

// Returns the lower-case hex MD5 of `data`.
std::string Md5Hex(std::string_view data);

// Formats milliseconds since the epoch as "2021-03-01T15:50:49.741Z".
std::string Iso8601Millis(int64_t epoch_ms);

// Writes one JSON object with its members in the order given (AWS documents events and SNS
// envelopes in a fixed order; glfm::Json sorts keys).
class JsonObjectWriter {
 public:
  JsonObjectWriter() : out_("{") {}
  // Adds a string member.
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  // Adds a member whose value is already JSON text.
  JsonObjectWriter& Raw(std::string_view key, std::string_view json);
  // Returns the object text; the writer is spent.
  std::string Finish() { return std::move(out_) + "}"; }

 private:
  void Key(std::string_view key);
  std::string out_;
};

// Returns a random UUID-shaped string (8-4-4-4-12 lower-case hex) drawn from `state`.
std::string UuidFrom(uint64_t& state);

}  // namespace glfm::emulator
