// Logging: one line per event, readable text on a terminal, JSON lines otherwise.
//
//   log::Info("listening", {{"url", url}});
//   -> 2026-11-25T03:00:00.123Z INFO listening url=http://127.0.0.1:7350
//   -> {"ts":"2026-11-25T03:00:00.123Z","level":"info","msg":"listening","url":"..."}
//
// A ScopedRequestId puts `request_id` on every line written by its thread while it lives.
// Never pass a secret as a field: nothing here redacts.
//
// Thread-safety: every function may be called from any thread; lines never interleave.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace glfm::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kAuto, kText, kJson };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N n) : key(k), value(std::to_string(n)) {}
  std::string key;
  std::string value;
};

// Sets the format (kAuto: text when stderr is a terminal, else JSON) and the minimum level.
void Configure(Format format, Level min_level);
// Returns true when a line at `level` would be written (to skip building costly fields).
bool Enabled(Level level);
// Parses "debug" / "info" / "warn" / "error"; false when unknown.
bool ParseLevel(std::string_view text, Level& out);
// Parses "auto" / "text" / "json"; false when unknown.
bool ParseFormat(std::string_view text, Format& out);

// Replaces the output (default: stderr) with `sink`, which receives each whole line without
// its newline; nullptr restores stderr. For tests.
void SetSinkForTesting(std::function<void(std::string_view line)> sink);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

// While alive, every line this thread writes carries `request_id`.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// Returns the request id of the current thread, or "".
const std::string& CurrentRequestId();

}  // namespace glfm::log
