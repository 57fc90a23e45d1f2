#include "config/config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <variant>

#include "glfm/json.h"

extern char** environ;

namespace glfm::config {
namespace {

using std::chrono::milliseconds;

// Where a setting writes its parsed value.
using Target = std::variant<std::string& (*)(Config&), int& (*)(Config&), size_t& (*)(Config&),
                            milliseconds& (*)(Config&), std::vector<std::string>& (*)(Config&)>;
// Returns "" when `value` is acceptable, else what is wrong (never quoting a secret).
using Check = std::string (*)(std::string_view value);

struct Spec {
  Setting setting;
  Target target;
  Check check = nullptr;
  int min = 0;  // integers and durations (in ms)
  int64_t max = 0;
};

std::string OneOf(std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) {
      return "";
    }
  }
  std::string out = "must be one of";
  for (auto a : allowed) {
    out += " ";
    out += a;
  }
  return out;
}

std::string CheckHostPort(std::string_view v) {
  auto r = ParseHostPort(v);
  return r.ok() ? "" : r.status().message();
}

std::string CheckUrl(std::string_view v) {
  if (v.empty()) {
    return "";
  }
  bool scheme = v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0;
  size_t host_at = v.find("://") + 3;
  if (!scheme || host_at >= v.size() || v.find_first_of(" \t\r\n") != std::string_view::npos) {
    return "must be an http:// or https:// URL";
  }
  return "";
}

std::string CheckRegion(std::string_view v) {
  if (v.empty()) {
    return "";
  }
  for (char c : v) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return "must be an AWS region name such as us-east-1";
    }
  }
  return "";
}

// GameLift queue names: 1-128 of [a-zA-Z0-9-], or the queue's ARN.
std::string CheckQueueName(std::string_view v) {
  if (v.empty() || v.rfind("arn:", 0) == 0) {
    return "";
  }
  if (v.size() > 128) {
    return "must be at most 128 characters";
  }
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) {
      return "must hold only letters, digits and '-' (or be the queue's ARN)";
    }
  }
  return "";
}

std::string CheckNotEmpty(std::string_view v) { return v.empty() ? "must not be empty" : ""; }

std::string CheckNoSpace(std::string_view v) {
  return v.find_first_of(" \t\r\n") == std::string_view::npos ? "" : "must not contain white space";
}

const std::vector<Spec>& Specs() {
  static const std::vector<Spec> specs = [] {
    std::vector<Spec> s;
    auto add = [&](Setting setting, Target target, Check check = nullptr, int min = 0,
                   int64_t max = 0) {
      s.push_back({std::move(setting), target, check, min, max});
    };
    add(
        {"data_dir",
         {"GLFM_DATA_DIR"},
         "--data-dir",
         "data",
         "Directory for glfm's files (the SQLite database by default); created if missing."},
        [](Config& c) -> std::string& { return c.data_dir; }, CheckNotEmpty);
    add(
        {"node_name",
         {"GLFM_NODE_NAME"},
         "--node-name",
         "the host name",
         "This node's name in logs, metrics and the store (several nodes share one PostgreSQL)."},
        [](Config& c) -> std::string& { return c.node_name; }, CheckNoSpace);
    add(
        {"server.listen",
         {"GLFM_LISTEN"},
         "--listen",
         "127.0.0.1:7350",
         "Address of the HTTP server, HOST:PORT (IPv6 as [::1]:PORT); port 0 picks a free port."},
        [](Config& c) -> std::string& { return c.server.listen; }, CheckHostPort);
    add(
        {"server.io_threads",
         {"GLFM_IO_THREADS"},
         "--io-threads",
         "0",
         "HTTP IO threads, each with its own event loop; 0 = one per CPU the process may run "
         "on (its CPU affinity, as taskset or a cpuset sets it)."},
        [](Config& c) -> int& { return c.server.io_threads; }, nullptr, 0, 256);
    add(
        {"server.workers",
         {"GLFM_WORKERS"},
         "--workers",
         "64",
         "Threads that run the API's blocking work (durable store writes, GameLift calls). "
         "Concurrent status RPCs share one store commit, so more in flight means fewer fsyncs."},
        [](Config& c) -> int& { return c.server.workers; }, nullptr, 1, 1024);
    add(
        {"server.max_body_bytes",
         {"GLFM_MAX_BODY_BYTES"},
         "--max-body-bytes",
         "4MiB",
         "Largest request body accepted (bytes; KiB/MiB suffixes allowed)."},
        [](Config& c) -> size_t& { return c.server.max_body_bytes; }, nullptr, 1, int64_t{1} << 30);
    add(
        {"server.read_timeout",
         {"GLFM_READ_TIMEOUT"},
         "--read-timeout",
         "30s",
         "Time allowed to receive a whole request once it has started."},
        [](Config& c) -> milliseconds& { return c.server.read_timeout; }, nullptr, 1,
        int64_t{24} * 3600 * 1000);
    add(
        {"server.idle_timeout",
         {"GLFM_IDLE_TIMEOUT"},
         "--idle-timeout",
         "75s",
         "Time a keep-alive connection may stay idle between requests."},
        [](Config& c) -> milliseconds& { return c.server.idle_timeout; }, nullptr, 1,
        int64_t{24} * 3600 * 1000);
    add(
        {"server.shutdown_grace",
         {"GLFM_SHUTDOWN_GRACE"},
         "--shutdown-grace",
         "10s",
         "On SIGINT/SIGTERM, how long in-flight requests may take to finish."},
        [](Config& c) -> milliseconds& { return c.server.shutdown_grace; }, nullptr, 0,
        int64_t{3600} * 1000);
    add(
        {"log.format",
         {"GLFM_LOG_FORMAT"},
         "--log-format",
         "auto",
         "auto (text on a terminal, JSON lines otherwise), text or json."},
        [](Config& c) -> std::string& { return c.log.format; },
        [](std::string_view v) {
          return OneOf(v, {"auto", "text", "json"});
        });
    add(
        {"log.level",
         {"GLFM_LOG_LEVEL"},
         "--log-level",
         "info",
         "Lowest level written: debug (adds one access-log line per request), info, warn, "
         "error."},
        [](Config& c) -> std::string& { return c.log.level; },
        [](std::string_view v) {
          return OneOf(v, {"debug", "info", "warn", "error"});
        });
    Setting aws;
    aws.aws = true;
    auto aws_setting = [&](std::string_view key, std::vector<std::string_view> env,
                           std::string_view flag, std::string_view help, bool secret = false) {
      Setting st = aws;
      st.key = key;
      st.env = std::move(env);
      st.flag = flag;
      st.default_text = "";
      st.help = help;
      st.secret = secret;
      return st;
    };
    add(
        aws_setting("aws.access_key_id", {"GL_AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID"},
                    "--aws-access-key-id",
                    "Static AWS access key id; unset = the default credential chain "
                    "(environment, shared credentials file, profile)."),
        [](Config& c) -> std::string& { return c.aws.access_key_id; }, CheckNoSpace);
    add(
        aws_setting("aws.secret_access_key", {"GL_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"},
                    "--aws-secret-access-key", "The secret of aws.access_key_id.", true),
        [](Config& c) -> std::string& { return c.aws.secret_access_key; }, CheckNoSpace);
    add(
        aws_setting("aws.session_token", {"AWS_SESSION_TOKEN"}, "--aws-session-token",
                    "Session token of temporary credentials.", true),
        [](Config& c) -> std::string& { return c.aws.session_token; }, CheckNoSpace);
    add(
        aws_setting("aws.region", {"GL_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"},
                    "--aws-region", "AWS region of the fleet, queue and SQS queue. Required."),
        [](Config& c) -> std::string& { return c.aws.region; }, CheckRegion);
    add(
        aws_setting("aws.profile", {"AWS_PROFILE"}, "--aws-profile",
                    "Profile of the shared AWS config and credentials files."),
        [](Config& c) -> std::string& { return c.aws.profile; }, CheckNoSpace);
    add(
        aws_setting("aws.alias_id", {"GL_AWS_ALIAS_ID"}, "--aws-alias-id",
                    "GameLift alias (id or ARN) that names the fleet. Required."),
        [](Config& c) -> std::string& { return c.aws.alias_id; }, CheckNoSpace);
    add(
        aws_setting("aws.placement_queue_name", {"GL_PLACEMENT_QUEUE_NAME"},
                    "--placement-queue-name",
                    "GameLift game session placement queue (name or ARN). Required."),
        [](Config& c) -> std::string& { return c.aws.placement_queue_name; }, CheckQueueName);
    add(
        aws_setting("aws.placement_events_sqs_url", {"GL_PLACEMENT_EVENTS_SQS_URL"},
                    "--placement-events-sqs-url",
                    "URL of the SQS queue subscribed to the placement queue's SNS topic. "
                    "Required."),
        [](Config& c) -> std::string& { return c.aws.placement_events_sqs_url; }, CheckUrl);
    add(
        aws_setting("aws.endpoint_url", {"AWS_ENDPOINT_URL"}, "--aws-endpoint-url",
                    "Endpoint override for every AWS service (e.g. a separately run "
                    "`glfm emulator`)."),
        [](Config& c) -> std::string& { return c.aws.endpoint_url; }, CheckUrl);
    add(
        aws_setting("aws.gamelift_endpoint_url", {"AWS_ENDPOINT_URL_GAMELIFT"},
                    "--gamelift-endpoint-url", "Endpoint override for GameLift only."),
        [](Config& c) -> std::string& { return c.aws.gamelift_endpoint_url; }, CheckUrl);
    add(
        aws_setting("aws.sqs_endpoint_url", {"AWS_ENDPOINT_URL_SQS"}, "--sqs-endpoint-url",
                    "Endpoint override for SQS only."),
        [](Config& c) -> std::string& { return c.aws.sqs_endpoint_url; }, CheckUrl);
    add(
        {"aws.timeout",
         {"GLFM_AWS_TIMEOUT"},
         "--aws-timeout",
         "10s",
         "Time limit of one attempt of a GameLift or SQS call (an SQS long poll gets its wait "
         "time plus 10 s). A call is tried up to 3 times, so a create waits at most ~35 s for "
         "an AWS that does not answer, and then fails with code 4 (HTTP 504)."},
        [](Config& c) -> milliseconds& { return c.aws.timeout; }, nullptr, 100,
        int64_t{600} * 1000);
    add(
        {"store.driver",
         {"GLFM_STORE_DRIVER"},
         "--store-driver",
         "sqlite",
         "sqlite (one node, a file under data_dir) or postgres (several nodes share it)."},
        [](Config& c) -> std::string& { return c.store.driver; },
        [](std::string_view v) {
          return OneOf(v, {"sqlite", "postgres"});
        });
    add(
        {"store.sqlite_path",
         {"GLFM_SQLITE_PATH"},
         "--sqlite-path",
         "<data_dir>/glfm.db",
         "SQLite database file."},
        [](Config& c) -> std::string& { return c.store.sqlite_path; }, CheckNotEmpty);
    add(
        {"store.sqlite_synchronous",
         {"GLFM_SQLITE_SYNCHRONOUS"},
         "--sqlite-synchronous",
         "FULL",
         "FULL (every acknowledged write survives power loss) or NORMAL (faster; the last "
         "commits may be lost on power loss, never on a crash of glfm)."},
        [](Config& c) -> std::string& { return c.store.sqlite_synchronous; },
        [](std::string_view v) {
          return OneOf(v, {"FULL", "NORMAL"});
        });
    add({"store.postgres_dsn",
         {"GLFM_POSTGRES_DSN"},
         "--postgres-dsn",
         "",
         "libpq connection string or URI; required when store.driver is postgres.",
         true},
        [](Config& c) -> std::string& { return c.store.postgres_dsn; });
    add(
        {"auth.http_key",
         {"GLFM_HTTP_KEY"},
         "--http-key",
         "",
         "Server key of the game-server status RPCs (?http_key= or Basic auth). Required "
         "outside local mode.",
         true},
        [](Config& c) -> std::string& { return c.auth.http_key; }, CheckNoSpace);
    Setting api_keys{"auth.api_keys",
                     {"GLFM_API_KEYS"},
                     "--api-keys",
                     "",
                     "API keys accepted as `Authorization: Bearer KEY` on /v1 (comma-separated "
                     "in env and flags). At least one is required outside local mode.",
                     true,
                     true};
    add(api_keys, [](Config& c) -> std::vector<std::string>& { return c.auth.api_keys; });
    add(
        {"webhook.url",
         {"GLFM_WEBHOOK_URL"},
         "--webhook-url",
         "",
         "Default webhook: every placement outcome without a webhook_url of its own is POSTed "
         "here (signed; retried until a 2xx or webhook.max_age). Redacted in output: a Nakama "
         "RPC URL holds its http_key.",
         true},
        [](Config& c) -> std::string& { return c.webhook.url; }, CheckUrl);
    add(
        {"webhook.secret",
         {"GLFM_WEBHOOK_SECRET"},
         "--webhook-secret",
         "",
         "HMAC-SHA256 key of the X-Glfm-Signature header of webhooks. Unset: webhooks are off "
         "(in local mode one is generated and kept in <data_dir>/local_webhook_secret).",
         true},
        [](Config& c) -> std::string& { return c.webhook.secret; }, CheckNoSpace);
    add(
        {"webhook.max_age",
         {"GLFM_WEBHOOK_MAX_AGE"},
         "--webhook-max-age",
         "24h",
         "How long a webhook delivery is retried before it is given up (and logged)."},
        [](Config& c) -> milliseconds& { return c.webhook.max_age; }, nullptr, 1000,
        int64_t{30} * 24 * 3600 * 1000);
    add(
        {"webhook.timeout",
         {"GLFM_WEBHOOK_TIMEOUT"},
         "--webhook-timeout",
         "10s",
         "Time limit of one webhook attempt."},
        [](Config& c) -> milliseconds& { return c.webhook.timeout; }, nullptr, 100,
        int64_t{600} * 1000);
    add(
        {"fleet.receivers",
         {"GLFM_FLEET_RECEIVERS"},
         "--fleet-receivers",
         "2",
         "Concurrent SQS long-poll receivers of placement events (10 messages a receive)."},
        [](Config& c) -> int& { return c.fleet.receivers; }, nullptr, 0, 64);
    add(
        {"fleet.receive_wait",
         {"GLFM_RECEIVE_WAIT"},
         "--receive-wait",
         "20s",
         "SQS long-poll wait of each receive (whole seconds, 0-20s). Graceful shutdown waits up "
         "to this long for the polls in flight."},
        [](Config& c) -> milliseconds& { return c.fleet.receive_wait; }, nullptr, 0, 20 * 1000);
    add(
        {"fleet.queue_timeout",
         {"GLFM_QUEUE_TIMEOUT"},
         "--queue-timeout",
         "10m",
         "The placement queue's timeout. A placement with no event by then (plus 30s) is "
         "resolved by asking GameLift, so every Create ends even when events are lost."},
        [](Config& c) -> milliseconds& { return c.fleet.queue_timeout; }, nullptr, 0,
        int64_t{24} * 3600 * 1000);
    add(
        {"fleet.reconcile_interval",
         {"GLFM_RECONCILE_INTERVAL"},
         "--reconcile-interval",
         "5m",
         "How often the index is reconciled with GameLift's ACTIVE game sessions (also at "
         "start); 0s = at start only."},
        [](Config& c) -> milliseconds& { return c.fleet.reconcile_interval; }, nullptr, 0,
        int64_t{24} * 3600 * 1000);
    add(
        {"fleet.adopt_after",
         {"GLFM_ADOPT_AFTER"},
         "--adopt-after",
         "10m",
         "Outcomes another node has left undelivered, and webhooks it has left unsent, for this "
         "long are taken over by this node (their node is gone, or came back under another "
         "node_name); 0s = never. With SQLite at most 1s: its file has one node, so another "
         "name in it is this node's earlier one."},
        [](Config& c) -> milliseconds& { return c.fleet.adopt_after; }, nullptr, 0,
        int64_t{7} * 24 * 3600 * 1000);
    add(
        {"fleet.placement_retention",
         {"GLFM_PLACEMENT_RETENTION"},
         "--placement-retention",
         "24h",
         "How long a placement is kept once its outcome has been delivered (GET "
         "/v1/placements/{id} answers it until then, not-found after); then it is deleted from "
         "the store. Pending placements and undelivered outcomes are always kept. 0s = keep "
         "every placement for ever (the store grows by ~2 KB a placement)."},
        [](Config& c) -> milliseconds& { return c.fleet.placement_retention; }, nullptr, 0,
        int64_t{365} * 24 * 3600 * 1000);
    add(
        {"fleet.reconcile",
         {"GLFM_RECONCILE"},
         "--reconcile",
         "on",
         "on: mirror GameLift's ACTIVE sessions at start and every fleet.reconcile_interval. "
         "off: never (when another node sharing the PostgreSQL store reconciles it)."},
        [](Config& c) -> std::string& { return c.fleet.reconcile; },
        [](std::string_view v) {
          return OneOf(v, {"on", "off"});
        });
    add(
        {"local.emulator_listen",
         {"GLFM_EMULATOR_LISTEN"},
         "--emulator-listen",
         "127.0.0.1:0",
         "Local mode: address of the built-in GameLift + SQS emulator."},
        [](Config& c) -> std::string& { return c.local.emulator_listen; }, CheckHostPort);
    return s;
  }();
  return specs;
}

const Spec* FindByKey(std::string_view key) {
  for (const auto& s : Specs()) {
    if (s.setting.key == key) {
      return &s;
    }
  }
  return nullptr;
}

const Spec* FindByFlag(std::string_view flag) {
  for (const auto& s : Specs()) {
    if (s.setting.flag == flag) {
      return &s;
    }
  }
  return nullptr;
}

// One given value: a scalar, or the items of a list setting.
struct Raw {
  std::string value;
  std::vector<std::string> items;
  bool is_list = false;
  std::string origin;
};

std::vector<std::string> SplitList(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    auto comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) {
      item.remove_prefix(1);
    }
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) {
      item.remove_suffix(1);
    }
    if (!item.empty()) {
      out.emplace_back(item);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    v.remove_prefix(comma + 1);
  }
  return out;
}

std::string Quote(std::string_view v) {
  std::string out;
  AppendJsonString(out, v);
  return out;
}

// Reads the YAML file into `raw`, appending problems to `errors`.
void ReadFile(const std::string& path, std::map<std::string, Raw, std::less<>>& raw,
              std::vector<std::string>& errors) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    errors.push_back("config file " + path + ": cannot be read");
    return;
  } catch (const YAML::Exception& e) {
    errors.push_back("config file " + path + ": " + e.what());
    return;
  }
  if (root.IsNull()) {
    return;  // an empty file sets nothing
  }
  auto where = [&](const YAML::Node& n) {
    return "file " + path + " line " + std::to_string(n.Mark().line + 1);
  };
  if (!root.IsMap()) {
    errors.push_back("config file " + path + ": must be a mapping of settings");
    return;
  }
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& map,
                                                                        const std::string& prefix) {
    for (const auto& kv : map) {
      std::string key = prefix + kv.first.as<std::string>("");
      const YAML::Node& v = kv.second;
      const Spec* spec = FindByKey(key);
      if (spec == nullptr) {
        bool section = false;
        for (const auto& s : Specs()) {
          section = section || s.setting.key.rfind(key + ".", 0) == 0;
        }
        if (section && v.IsMap()) {
          walk(v, key + ".");
        } else if (section) {
          errors.push_back(key + " (" + where(kv.first) + "): must be a mapping of settings");
        } else {
          errors.push_back("unknown setting \"" + key + "\" (" + where(kv.first) + ")");
        }
        continue;
      }
      if (v.IsNull()) {
        continue;  // `key:` with no value leaves the default
      }
      Raw r;
      r.origin = where(kv.first);
      if (spec->setting.list && v.IsSequence()) {
        r.is_list = true;
        bool ok = true;
        for (const auto& item : v) {
          if (!item.IsScalar()) {
            ok = false;
            break;
          }
          r.items.push_back(item.Scalar());
        }
        if (!ok) {
          errors.push_back(key + " (" + r.origin + "): must be a list of strings");
          continue;
        }
      } else if (!v.IsScalar()) {
        errors.push_back(key + " (" + r.origin + "): must be a single value" +
                         (spec->setting.list ? " or a list" : ""));
        continue;
      } else {
        r.value = v.Scalar();
      }
      raw[key] = std::move(r);
    }
  };
  walk(root, "");
}

Result<int64_t> ParseInt(std::string_view v) {
  int64_t n = 0;
  auto res = std::from_chars(v.data(), v.data() + v.size(), n);
  if (res.ec != std::errc() || res.ptr != v.data() + v.size() || v.empty()) {
    return InvalidArgumentError("not an integer");
  }
  return n;
}

// Parses "4194304", "512KiB", "4MiB", "1GiB".
Result<int64_t> ParseSize(std::string_view v) {
  int64_t mult = 1;
  for (auto [suffix, m] : {std::pair<std::string_view, int64_t>{"KiB", 1024},
                           {"MiB", 1024 * 1024},
                           {"GiB", int64_t{1024} * 1024 * 1024}}) {
    if (v.size() > suffix.size() && v.substr(v.size() - suffix.size()) == suffix) {
      v.remove_suffix(suffix.size());
      mult = m;
      break;
    }
  }
  GLFM_ASSIGN_OR_RETURN(int64_t n, ParseInt(v));
  if (n < 0 || n > (int64_t{1} << 40)) {
    return InvalidArgumentError("out of range");
  }
  return n * mult;
}

std::string FormatSize(size_t n) {
  if (n > 0 && n % (1024 * 1024 * 1024) == 0) {
    return std::to_string(n / (1024 * 1024 * 1024)) + "GiB";
  }
  if (n > 0 && n % (1024 * 1024) == 0) {
    return std::to_string(n / (1024 * 1024)) + "MiB";
  }
  if (n > 0 && n % 1024 == 0) {
    return std::to_string(n / 1024) + "KiB";
  }
  return std::to_string(n);
}

// Applies one raw value to `cfg`; returns what is wrong, or "".
std::string Apply(const Spec& spec, const Raw& raw, Config& cfg) {
  const Setting& st = spec.setting;
  std::string shown = st.secret ? "" : ", got " + Quote(raw.value);
  return std::visit(
      [&](auto target) -> std::string {
        using T = std::decay_t<decltype(target(cfg))>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string err = spec.check ? spec.check(raw.value) : "";
          if (!err.empty()) {
            return err + shown;
          }
          target(cfg) = raw.value;
        } else if constexpr (std::is_same_v<T, int>) {
          auto n = ParseInt(raw.value);
          if (!n.ok() || *n < spec.min || *n > spec.max) {
            return "must be an integer from " + std::to_string(spec.min) + " to " +
                   std::to_string(spec.max) + shown;
          }
          target(cfg) = static_cast<int>(*n);
        } else if constexpr (std::is_same_v<T, size_t>) {
          auto n = ParseSize(raw.value);
          if (!n.ok() || *n < spec.min || *n > spec.max) {
            return "must be a size from " + std::to_string(spec.min) + " bytes to " +
                   FormatSize(static_cast<size_t>(spec.max)) + " (e.g. 65536, 512KiB, 4MiB)" +
                   shown;
          }
          target(cfg) = static_cast<size_t>(*n);
        } else if constexpr (std::is_same_v<T, milliseconds>) {
          auto d = ParseDuration(raw.value);
          if (!d.ok() || d->count() < spec.min || d->count() > spec.max) {
            return "must be a duration from " + FormatDuration(milliseconds(spec.min)) + " to " +
                   FormatDuration(milliseconds(spec.max)) + " such as 500ms, 30s, 2m" + shown;
          }
          target(cfg) = *d;
        } else {
          std::vector<std::string> items = raw.is_list ? raw.items : SplitList(raw.value);
          for (const auto& item : items) {
            if (item.empty() || item.find_first_of(" \t\r\n,") != std::string::npos) {
              return "every item must be non-empty, without commas or white space";
            }
          }
          target(cfg) = std::move(items);
        }
        return "";
      },
      spec.target);
}

std::string Join(const std::vector<std::string_view>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += sep;
    }
    out += parts[i];
  }
  return out;
}

// "set GL_AWS_REGION, AWS_REGION or AWS_DEFAULT_REGION, aws.region in the file, or
// --aws-region".
std::string HowToSet(const Setting& st) {
  std::string out = "set ";
  if (!st.env.empty()) {
    out += Join(st.env, " or ") + ", ";
  }
  out += std::string(st.key) + " in the config file, or " + std::string(st.flag);
  return out;
}

std::string ValueText(const Spec& spec, const Config& cfg) {
  Config& c = const_cast<Config&>(cfg);  // the targets take a mutable Config; read only here
  return std::visit(
      [&](auto target) -> std::string {
        using T = std::decay_t<decltype(target(c))>;
        if constexpr (std::is_same_v<T, std::string>) {
          const std::string& v = target(c);
          if (spec.setting.secret && !v.empty()) {
            return Quote("<redacted>");
          }
          return Quote(v);
        } else if constexpr (std::is_same_v<T, int>) {
          return std::to_string(target(c));
        } else if constexpr (std::is_same_v<T, size_t>) {
          return FormatSize(target(c));
        } else if constexpr (std::is_same_v<T, milliseconds>) {
          return FormatDuration(target(c));
        } else {
          std::string out = "[";
          const auto& items = target(c);
          for (size_t i = 0; i < items.size(); ++i) {
            out += i > 0 ? ", " : "";
            out += Quote(spec.setting.secret ? "<redacted>" : items[i]);
          }
          return out + "]";
        }
      },
      spec.target);
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "glfm";
  }
  return buf;
}

}  // namespace

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = [] {
    std::vector<Setting> out;
    for (const auto& s : Specs()) {
      out.push_back(s.setting);
    }
    return out;
  }();
  return settings;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::string_view v = text;
  if (v.empty()) {
    return InvalidArgumentError("empty duration");
  }
  double total_ms = 0;
  while (!v.empty()) {
    size_t i = 0;
    while (i < v.size() && (std::isdigit(static_cast<unsigned char>(v[i])) || v[i] == '.')) {
      ++i;
    }
    if (i == 0) {
      return InvalidArgumentError("bad duration \"" + std::string(text) + "\"");
    }
    double n = 0;
    auto res = std::from_chars(v.data(), v.data() + i, n);
    if (res.ec != std::errc() || res.ptr != v.data() + i) {
      return InvalidArgumentError("bad duration \"" + std::string(text) + "\"");
    }
    v.remove_prefix(i);
    size_t j = 0;
    while (j < v.size() && std::isalpha(static_cast<unsigned char>(v[j]))) {
      ++j;
    }
    std::string_view unit = v.substr(0, j);
    v.remove_prefix(j);
    double mult = 0;
    if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60000;
    } else if (unit == "h") {
      mult = 3600000;
    } else {
      return InvalidArgumentError("duration \"" + std::string(text) +
                                  "\" needs a unit: ms, s, m or h");
    }
    total_ms += n * mult;
  }
  if (total_ms > 1e15) {
    return InvalidArgumentError("duration \"" + std::string(text) + "\" is too long");
  }
  return milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  if (ms % 1000 != 0) {
    if (ms < 1000) {
      return std::to_string(ms) + "ms";
    }
  }
  int64_t h = ms / 3600000;
  int64_t m = ms % 3600000 / 60000;
  int64_t s = ms % 60000 / 1000;
  int64_t rest = ms % 1000;
  if (h > 0) {
    out += std::to_string(h) + "h";
  }
  if (m > 0) {
    out += std::to_string(m) + "m";
  }
  if (s > 0) {
    out += std::to_string(s) + "s";
  }
  if (rest > 0) {
    out += std::to_string(rest) + "ms";
  }
  return out;
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("must be HOST:PORT with an IP address host, e.g. 127.0.0.1:7350 " +
                                std::string(why));
  };
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos) {
      return bad("(IPv6 as [::1]:7350)");
    }
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return bad("(IPv6 as [::1]:7350)");
    }
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  auto n = ParseInt(port);
  if (!n.ok() || *n < 0 || *n > 65535) {
    return bad("(port 0-65535)");
  }
  bool v6 = host.find(':') != std::string::npos;
  bool ok = !host.empty();
  if (ok && !v6) {
    int dots = 0;
    for (char c : host) {
      dots += c == '.';
      ok = ok && (std::isdigit(static_cast<unsigned char>(c)) || c == '.');
    }
    ok = ok && dots == 3;
  } else if (ok) {
    for (char c : host) {
      ok = ok && (std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.');
    }
  }
  if (!ok) {
    return bad("(the host must be an IP address, not a name)");
  }
  return std::make_pair(host, static_cast<uint16_t>(*n));
}

Result<Flags> ParseFlags(const std::vector<std::string>& args) {
  Flags out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return InvalidArgumentError("unexpected argument \"" + std::string(a) + "\"");
    }
    std::string name(a);
    std::optional<std::string> value;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      name = std::string(a.substr(0, eq));
      value = std::string(a.substr(eq + 1));
    }
    const Spec* spec = FindByFlag(name);
    if (spec == nullptr && name != "--config") {
      return InvalidArgumentError("unknown flag " + name);
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return InvalidArgumentError("flag " + name + " needs a value");
      }
      value = args[++i];
    }
    if (name == "--config") {
      out.config_file = *value;
    } else {
      out.values.emplace_back(name, *value);
    }
  }
  return out;
}

std::map<std::string, std::string, std::less<>> ProcessEnvironment() {
  std::map<std::string, std::string, std::less<>> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) {
      env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  return env;
}

Result<Config> Load(const Input& input) {
  std::vector<std::string> errors;
  std::map<std::string, Raw, std::less<>> raw;

  // File: --config, else Input::config_file, else GLFM_CONFIG.
  std::optional<std::string> file = input.flags.config_file;
  if (!file) {
    file = input.config_file;
  }
  if (!file) {
    if (auto it = input.env.find("GLFM_CONFIG"); it != input.env.end() && !it->second.empty()) {
      file = it->second;
    }
  }
  if (file) {
    ReadFile(*file, raw, errors);
  }
  // Environment: the first non-empty variable of each setting.
  for (const auto& spec : Specs()) {
    for (std::string_view name : spec.setting.env) {
      auto it = input.env.find(name);
      if (it != input.env.end() && !it->second.empty()) {
        raw[std::string(spec.setting.key)] = Raw{it->second, {}, false, "env " + std::string(name)};
        break;
      }
    }
  }
  // Flags, in order: a repeated flag keeps its last value.
  for (const auto& [flag, value] : input.flags.values) {
    const Spec* spec = FindByFlag(flag);
    if (spec == nullptr) {
      errors.push_back("unknown flag " + flag);
      continue;
    }
    raw[std::string(spec->setting.key)] = Raw{value, {}, false, "flag " + flag};
  }

  Config cfg;
  for (const auto& spec : Specs()) {
    std::string key(spec.setting.key);
    auto it = raw.find(key);
    if (it == raw.end()) {
      cfg.origins[key] = "default";
      continue;
    }
    cfg.origins[key] = it->second.origin;
    std::string err = Apply(spec, it->second, cfg);
    if (!err.empty()) {
      errors.push_back(key + " (" + it->second.origin + "): " + err);
    }
  }

  // Derived values.
  if (auto hp = ParseHostPort(cfg.server.listen); hp.ok()) {
    cfg.server.host = hp->first;
    cfg.server.port = hp->second;
  }
  if (cfg.store.sqlite_path.empty()) {
    cfg.store.sqlite_path = cfg.data_dir + "/glfm.db";
  }
  if (cfg.node_name.empty()) {
    cfg.node_name = HostName();
  }

  // Local mode: no AWS setting from any source.
  std::string aws_reason;
  for (const auto& spec : Specs()) {
    auto it = raw.find(spec.setting.key);
    if (spec.setting.aws && it != raw.end()) {
      cfg.local_mode = false;
      if (aws_reason.empty()) {
        aws_reason = std::string(spec.setting.key) + " is set (" + it->second.origin + ")";
      }
    }
  }
  auto origin = [&](std::string_view key) { return cfg.origins.find(key)->second; };
  if (!cfg.local_mode) {
    // A setting given with a bad value was reported above; only absent ones are missing.
    auto need = [&](std::string_view key, bool present) {
      if (!present && raw.find(key) == raw.end()) {
        errors.push_back(std::string(key) + ": required outside local mode (" +
                         HowToSet(FindByKey(key)->setting) + ")");
      }
    };
    need("aws.region", !cfg.aws.region.empty());
    need("aws.alias_id", !cfg.aws.alias_id.empty());
    need("aws.placement_queue_name", !cfg.aws.placement_queue_name.empty());
    need("aws.placement_events_sqs_url", !cfg.aws.placement_events_sqs_url.empty());
    need("auth.http_key", !cfg.auth.http_key.empty());
    need("auth.api_keys", !cfg.auth.api_keys.empty());
    if (!cfg.aws.access_key_id.empty() && cfg.aws.secret_access_key.empty()) {
      errors.push_back("aws.secret_access_key: required with aws.access_key_id (" +
                       origin("aws.access_key_id") + ")");
    }
    if (cfg.aws.access_key_id.empty() && !cfg.aws.secret_access_key.empty()) {
      errors.push_back("aws.access_key_id: required with aws.secret_access_key (" +
                       origin("aws.secret_access_key") + ")");
    }
    if (!cfg.aws.session_token.empty() && cfg.aws.access_key_id.empty()) {
      errors.push_back("aws.session_token (" + origin("aws.session_token") +
                       "): needs aws.access_key_id and aws.secret_access_key");
    }
  }
  if (!cfg.webhook.url.empty() && cfg.webhook.secret.empty() && !cfg.local_mode) {
    errors.push_back("webhook.secret: required with webhook.url (" + origin("webhook.url") +
                     "); receivers check the signature with it");
  }
  if (cfg.store.driver == "postgres" && cfg.store.postgres_dsn.empty()) {
    errors.push_back("store.postgres_dsn: required when store.driver is postgres (" +
                     origin("store.driver") + ")");
  }

  if (!errors.empty()) {
    std::string msg = "invalid configuration (" + std::to_string(errors.size()) +
                      (errors.size() == 1 ? " problem" : " problems") + "):";
    for (const auto& e : errors) {
      msg += "\n  " + e;
    }
    if (!aws_reason.empty() && !cfg.local_mode) {
      msg += "\n  (AWS mode because " + aws_reason +
             "; local mode, with the built-in emulator, needs no AWS setting at all)";
    }
    return InvalidArgumentError(msg);
  }
  return cfg;
}

std::string Config::Describe() const {
  std::string out = "# glfm effective configuration: ";
  out += local_mode ? "local mode (no AWS settings; the built-in emulator stands in for AWS)\n"
                    : "AWS mode\n";
  std::string section;
  for (const auto& spec : Specs()) {
    std::string_view key = spec.setting.key;
    auto dot = key.find('.');
    std::string sec = dot == std::string_view::npos ? "" : std::string(key.substr(0, dot));
    std::string leaf(dot == std::string_view::npos ? key : key.substr(dot + 1));
    if (sec != section) {
      out += sec + ":\n";
      section = sec;
    }
    std::string line = (sec.empty() ? "" : "  ") + leaf + ": " + ValueText(spec, *this);
    if (line.size() < 48) {
      line.resize(48, ' ');
    } else {
      line.push_back(' ');
    }
    auto it = origins.find(key);
    out += line + "# " + (it == origins.end() ? std::string("default") : it->second) + "\n";
  }
  return out;
}

}  // namespace glfm::config
