#include "glfm/codec.h"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

#include "common/codec_internal.h"

namespace glfm {
namespace {

std::string Join(std::string_view path, std::string_view field) {
  if (path.empty()) {
    return std::string(field);
  }
  std::string out(path);
  out += '.';
  out += field;
  return out;
}

Status TypeError(std::string_view path, std::string_view field, std::string_view expected,
                 const Json& got) {
  return InvalidArgumentError(Join(path, field) + ": expected " + std::string(expected) + ", got " +
                              std::string(got.TypeName()));
}

Status RequireObject(const Json& json, std::string_view path) {
  if (!json.is_object()) {
    return InvalidArgumentError((path.empty() ? std::string("body") : std::string(path)) +
                                ": expected an object, got " + std::string(json.TypeName()));
  }
  return OkStatus();
}

// Reads an optional string member; absent or null leaves `out` unchanged.
Status ReadString(const Json& obj, std::string_view path, std::string_view field,
                  std::string& out) {
  const Json* v = obj.Find(field);
  if (v == nullptr || v->is_null()) {
    return OkStatus();
  }
  if (!v->is_string()) {
    return TypeError(path, field, "a string", *v);
  }
  out = v->as_string();
  return OkStatus();
}

// Reads an optional integer member that must fit in int.
Status ReadInt(const Json& obj, std::string_view path, std::string_view field, int& out) {
  const Json* v = obj.Find(field);
  if (v == nullptr || v->is_null()) {
    return OkStatus();
  }
  if (!v->is_number() ||
      (!v->is_integer() && v->as_double() != static_cast<double>(v->as_int64()))) {
    return TypeError(path, field, "an integer", *v);
  }
  int64_t i = v->as_int64();
  if (i < INT32_MIN || i > INT32_MAX) {
    return InvalidArgumentError(Join(path, field) + ": integer out of range");
  }
  out = static_cast<int>(i);
  return OkStatus();
}

int ParseDigits(std::string_view s, size_t pos, size_t n, bool& ok) {
  int v = 0;
  if (pos + n > s.size()) {
    ok = false;
    return 0;
  }
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      ok = false;
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::string_view CreateStatusName(CreateStatus status) {
  switch (status) {
    case CreateStatus::kSuccess:
      return "success";
    case CreateStatus::kTimeout:
      return "timeout";
    case CreateStatus::kError:
      return "error";
  }
  return "error";
}

// Writes the digits by hand: with two snprintf calls this took ~4,700 instructions, and it
// runs for every instance written (each status report), in EncodeInstance.
std::string FormatRfc3339(Timestamp t) {
  using namespace std::chrono;
  auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    secs -= 1;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  int year = tm.tm_year + 1900;  // 1677-2262: what 64-bit nanoseconds reach
  char buf[40];
  char* p = buf;
  for (int i = 3; i >= 0; --i, year /= 10) p[i] = static_cast<char>('0' + year % 10);
  p += 4;
  auto put2 = [&p](char before, int v) {
    *p++ = before;
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  put2('-', tm.tm_mon + 1);
  put2('-', tm.tm_mday);
  put2('T', tm.tm_hour);
  put2(':', tm.tm_min);
  put2(':', tm.tm_sec);
  if (frac != 0) {
    *p++ = '.';
    int digits = 9;
    while (frac % 10 == 0) {
      frac /= 10;
      --digits;
    }
    for (int i = digits - 1; i >= 0; --i, frac /= 10) p[i] = static_cast<char>('0' + frac % 10);
    p += digits;
  }
  *p++ = 'Z';
  return std::string(buf, p);
}

Result<Timestamp> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return InvalidArgumentError("invalid RFC 3339 timestamp \"" + std::string(s) + "\"");
  };
  bool ok = true;
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return bad();
  }
  int year = ParseDigits(s, 0, 4, ok), mon = ParseDigits(s, 5, 2, ok),
      day = ParseDigits(s, 8, 2, ok), hour = ParseDigits(s, 11, 2, ok),
      min = ParseDigits(s, 14, 2, ok), sec = ParseDigits(s, 17, 2, ok);
  if (!ok || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t frac_ns = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) {
      return bad();
    }
  }
  int offset_sec = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    if (pos + 6 != s.size() || s[pos + 3] != ':') {
      return bad();
    }
    int oh = ParseDigits(s, pos + 1, 2, ok), om = ParseDigits(s, pos + 4, 2, ok);
    if (!ok || oh > 23 || om > 59) {
      return bad();
    }
    offset_sec = sign * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) {
    return bad();
  }
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(unsigned(mon)),
                     std::chrono::day(unsigned(day))};
  if (!ymd.ok()) {
    return bad();
  }
  auto tp = sys_days(ymd) + hours(hour) + minutes(min) + seconds(sec) - seconds(offset_sec);
  // Timestamp counts int64 nanoseconds: about 1677-09-21 to 2262-04-11. Check in seconds
  // before converting, so an out-of-range date is an error and not an overflow.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000000000 - 1;
  int64_t secs = tp.time_since_epoch().count();
  if (secs > kMaxSeconds || secs < -kMaxSeconds) {
    return InvalidArgumentError("RFC 3339 timestamp \"" + std::string(s) +
                                "\" is outside the years 1678-2261");
  }
  return time_point_cast<Clock::duration>(tp + nanoseconds(frac_ns));
}

Json ToJson(const ConnectionInfo& v) {
  Json::Object o;
  o["ip_address"] = v.ip_address;
  o["dns_name"] = v.dns_name;
  o["port"] = v.port;
  return o;
}

Json ToJson(const InstanceInfo& v) {
  Json::Object o;
  o["id"] = v.id;
  o["connection_info"] = ToJson(v.connection_info);
  o["create_time"] = FormatRfc3339(v.create_time);
  o["player_count"] = v.player_count;
  o["status"] = v.status;
  o["metadata"] = v.metadata.is_null() ? Json::MakeObject() : v.metadata;
  return o;
}

void AppendJson(std::string& out, const InstanceInfo& v) {
  internal::AppendInstanceJson(out, v, /*with_id=*/true);
}

void internal::AppendInstanceJson(std::string& out, const InstanceInfo& v, bool with_id) {
  // Keys in sorted order, as Json dumps them (codec_test checks the two agree).
  char num[24];
  out += "{\"connection_info\":{\"dns_name\":";
  AppendJsonString(out, v.connection_info.dns_name);
  out += ",\"ip_address\":";
  AppendJsonString(out, v.connection_info.ip_address);
  out += ",\"port\":";
  out.append(num, std::to_chars(num, num + sizeof num, v.connection_info.port).ptr);
  out += "},\"create_time\":";
  AppendJsonString(out, FormatRfc3339(v.create_time));
  if (with_id) {
    out += ",\"id\":";
    AppendJsonString(out, v.id);
  }
  out += ",\"metadata\":";
  if (v.metadata.is_null()) {
    out += "{}";
  } else {
    v.metadata.DumpTo(out);
  }
  out += ",\"player_count\":";
  out.append(num, std::to_chars(num, num + sizeof num, v.player_count).ptr);
  out += ",\"status\":";
  AppendJsonString(out, v.status);
  out += '}';
}

void AppendJson(std::string& out, const SessionInfo& v) {
  out += "{\"session_id\":";
  AppendJsonString(out, v.session_id);
  out += ",\"user_id\":";
  AppendJsonString(out, v.user_id);
  out += '}';
}

Json ToJson(const SessionInfo& v) {
  Json::Object o;
  o["user_id"] = v.user_id;
  o["session_id"] = v.session_id;
  return o;
}

Json ToJson(const JoinInfo& v) {
  Json::Object o;
  o["instance_info"] = ToJson(v.instance_info);
  Json::Array sessions;
  for (const auto& s : v.session_info) {
    sessions.push_back(ToJson(s));
  }
  o["session_info"] = std::move(sessions);
  return o;
}

Json ToJson(const FleetUserLatency& v) {
  Json::Object o;
  o["user_id"] = v.user_id;
  o["latency_ms"] = v.latency_ms;
  o["region"] = v.region;
  return o;
}

Result<ConnectionInfo> ConnectionInfoFromJson(const Json& json, std::string_view path) {
  GLFM_RETURN_IF_ERROR(RequireObject(json, path));
  ConnectionInfo v;
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "ip_address", v.ip_address));
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "dns_name", v.dns_name));
  GLFM_RETURN_IF_ERROR(ReadInt(json, path, "port", v.port));
  if (v.port < 0 || v.port > 65535) {
    return InvalidArgumentError(Join(path, "port") + ": must be 0-65535, got " +
                                std::to_string(v.port));
  }
  return v;
}

Result<InstanceInfo> InstanceInfoFromJson(const Json& json, std::string_view path) {
  GLFM_RETURN_IF_ERROR(RequireObject(json, path));
  InstanceInfo v;
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "id", v.id));
  if (const Json* c = json.Find("connection_info"); c != nullptr && !c->is_null()) {
    GLFM_ASSIGN_OR_RETURN(v.connection_info,
                          ConnectionInfoFromJson(*c, Join(path, "connection_info")));
  }
  std::string create_time;
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "create_time", create_time));
  if (!create_time.empty()) {
    auto t = ParseRfc3339(create_time);
    if (!t.ok()) {
      return t.status().WithPrefix(Join(path, "create_time"));
    }
    v.create_time = *t;
  }
  GLFM_RETURN_IF_ERROR(ReadInt(json, path, "player_count", v.player_count));
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "status", v.status));
  if (const Json* m = json.Find("metadata"); m != nullptr && !m->is_null()) {
    if (!m->is_object()) {
      return TypeError(path, "metadata", "an object", *m);
    }
    v.metadata = *m;
  }
  return v;
}

Result<SessionInfo> SessionInfoFromJson(const Json& json, std::string_view path) {
  GLFM_RETURN_IF_ERROR(RequireObject(json, path));
  SessionInfo v;
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "user_id", v.user_id));
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "session_id", v.session_id));
  return v;
}

Result<JoinInfo> JoinInfoFromJson(const Json& json, std::string_view path) {
  GLFM_RETURN_IF_ERROR(RequireObject(json, path));
  JoinInfo v;
  if (const Json* i = json.Find("instance_info"); i != nullptr && !i->is_null()) {
    GLFM_ASSIGN_OR_RETURN(v.instance_info, InstanceInfoFromJson(*i, Join(path, "instance_info")));
  }
  if (const Json* s = json.Find("session_info"); s != nullptr && !s->is_null()) {
    if (!s->is_array()) {
      return TypeError(path, "session_info", "an array", *s);
    }
    const auto& arr = s->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      GLFM_ASSIGN_OR_RETURN(
          auto si,
          SessionInfoFromJson(arr[i], Join(path, "session_info[" + std::to_string(i) + "]")));
      v.session_info.push_back(std::move(si));
    }
  }
  return v;
}

Result<FleetUserLatency> FleetUserLatencyFromJson(const Json& json, std::string_view path) {
  GLFM_RETURN_IF_ERROR(RequireObject(json, path));
  FleetUserLatency v;
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "user_id", v.user_id));
  GLFM_RETURN_IF_ERROR(ReadString(json, path, "region", v.region));
  if (const Json* l = json.Find("latency_ms"); l != nullptr && !l->is_null()) {
    if (!l->is_number()) {
      return TypeError(path, "latency_ms", "a number", *l);
    }
    v.latency_ms = l->as_double();
    if (v.latency_ms < 0) {
      return InvalidArgumentError(Join(path, "latency_ms") + ": must not be negative");
    }
  }
  return v;
}

}  // namespace glfm
