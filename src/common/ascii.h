// ASCII case mapping for protocol text (HTTP header names, RPC names, AWS Signature V4): only
// A-Z change, whatever the C locale says about other bytes.
#pragma once

#include <string>
#include <string_view>

namespace glfm {

inline char LowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline void LowerAsciiInPlace(std::string& s) {
  for (char& c : s) c = LowerAscii(c);
}

inline std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  LowerAsciiInPlace(out);
  return out;
}

}  // namespace glfm
