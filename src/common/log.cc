#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "glfm/codec.h"
#include "glfm/json.h"

namespace glfm::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{false};
std::mutex g_mu;  // serialises output and guards g_sink
std::function<void(std::string_view)> g_sink;
thread_local std::string t_request_id;

bool ResolveJson(Format f) {
  switch (f) {
    case Format::kText:
      return false;
    case Format::kJson:
      return true;
    case Format::kAuto:
      return isatty(STDERR_FILENO) == 0;
  }
  return false;
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Quotes a text-format value when it holds spaces, quotes or '='.
void AppendTextValue(std::string& out, std::string_view v) {
  bool plain = !v.empty() && v.find_first_of(" \"=\t\n") == std::string_view::npos;
  if (plain) {
    out += v;
  } else {
    AppendJsonString(out, v);
  }
}

struct AutoConfigure {
  AutoConfigure() { g_json = ResolveJson(Format::kAuto); }
} g_auto_configure;

}  // namespace

void Configure(Format format, Level min_level) {
  g_json = ResolveJson(format);
  g_min_level = static_cast<int>(min_level);
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

bool ParseLevel(std::string_view t, Level& out) {
  if (t == "debug") {
    out = Level::kDebug;
    return true;
  }
  if (t == "info") {
    out = Level::kInfo;
    return true;
  }
  if (t == "warn" || t == "warning") {
    out = Level::kWarn;
    return true;
  }
  if (t == "error") {
    out = Level::kError;
    return true;
  }
  return false;
}

bool ParseFormat(std::string_view t, Format& out) {
  if (t == "auto") {
    out = Format::kAuto;
    return true;
  }
  if (t == "text") {
    out = Format::kText;
    return true;
  }
  if (t == "json") {
    out = Format::kJson;
    return true;
  }
  return false;
}

void SetSinkForTesting(std::function<void(std::string_view)> sink) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_sink = std::move(sink);
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) {
    return;
  }
  std::string ts = FormatRfc3339(Clock::now());
  std::string line;
  line.reserve(128);
  if (g_json) {
    line += "{\"ts\":";
    AppendJsonString(line, ts);
    line += ",\"level\":";
    AppendJsonString(line, LevelName(level));
    line += ",\"msg\":";
    AppendJsonString(line, msg);
    if (!t_request_id.empty()) {
      line += ",\"request_id\":";
      AppendJsonString(line, t_request_id);
    }
    for (const Field& f : fields) {
      line.push_back(',');
      AppendJsonString(line, f.key);
      line.push_back(':');
      AppendJsonString(line, f.value);
    }
    line.push_back('}');
  } else {
    line += ts;
    line.push_back(' ');
    std::string lv(LevelName(level));
    for (char& c : lv) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    line += lv;
    line.push_back(' ');
    line += msg;
    if (!t_request_id.empty()) {
      line += " request_id=";
      line += t_request_id;
    }
    for (const Field& f : fields) {
      line.push_back(' ');
      line += f.key;
      line.push_back('=');
      AppendTextValue(line, f.value);
    }
  }
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_sink) {
    g_sink(line);
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(t_request_id)) {
  t_request_id = std::move(id);
}

ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return t_request_id; }

}  // namespace glfm::log
