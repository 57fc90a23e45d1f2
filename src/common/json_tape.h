// A JSON value as one flat run of bytes, a "tape": how the start-up load hands the metadata
// of stored game sessions from the thread that decodes them to the thread that indexes them.
// A tree of Json maps built on one core and walked and freed on another costs more than it
// saves; a tape is written once and read once, front to back. Not part of the public API.
//
// Each value is a tag byte (TapeTag), then:
//   kNull, kFalse, kTrue   nothing
//   kInt                   the int64, zigzag, as a varint
//   kDouble                8 bytes, the double's own
//   kString                varint length, the bytes
//   kArray                 varint count, the values
//   kObject                varint count, then per member: varint key length, the key, the
//                          value. Keys in increasing byte order, each once: what a Json::Object
//                          holds, so a tape and the Json it was written from mean the same.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "glfm/json.h"

namespace glfm::internal {

enum class TapeTag : uint8_t { kNull, kFalse, kTrue, kInt, kDouble, kString, kArray, kObject };

inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline uint64_t GetVarint(const uint8_t*& p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    uint8_t b = *p++;
    v |= uint64_t(b & 0x7f) << shift;
    if (b < 0x80) return v;
  }
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t z) { return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1)); }

// Writes one value's tape, or the head of an array or object (its tag and count) or a key:
// what AppendJsonTape and AppendDomTape write each value with.
inline void PutTapeTag(std::string& out, TapeTag tag) { out.push_back(static_cast<char>(tag)); }
inline void PutTapeInt(std::string& out, int64_t v) {
  PutTapeTag(out, TapeTag::kInt);
  PutVarint(out, ZigZag(v));
}
inline void PutTapeDouble(std::string& out, double v) {
  PutTapeTag(out, TapeTag::kDouble);
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
inline void PutTapeBytes(std::string& out, std::string_view s) {  // a key, or a string's bytes
  PutVarint(out, s.size());
  out.append(s);
}
inline void PutTapeString(std::string& out, std::string_view s) {
  PutTapeTag(out, TapeTag::kString);
  PutTapeBytes(out, s);
}
inline void PutTapeHead(std::string& out, TapeTag array_or_object, uint64_t count) {
  PutTapeTag(out, array_or_object);
  PutVarint(out, count);
}

// Reads a tape from its start; each call consumes what it names. The tape must be one that
// AppendJsonTape or AppendDomTape wrote (nothing is checked).
class TapeReader {
 public:
  explicit TapeReader(std::string_view tape) : p_(reinterpret_cast<const uint8_t*>(tape.data())) {}

  TapeTag Tag() { return static_cast<TapeTag>(*p_++); }
  uint64_t Count() { return GetVarint(p_); }  // of an array or object, after its tag
  int64_t Int() { return UnZigZag(GetVarint(p_)); }
  double Double() {
    double v;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  std::string_view String() {  // a string's bytes, or a member's key
    auto n = static_cast<size_t>(GetVarint(p_));
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const uint8_t* p_;
};

// Appends the tape of `j` to `out`.
void AppendJsonTape(const Json& j, std::string& out);

// Returns the value the tape at the start of `tape` holds.
Json JsonFromTape(std::string_view tape);

}  // namespace glfm::internal
