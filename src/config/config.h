// Config: glfm's one options tree, loaded from defaults, a YAML file, the environment and
// command-line flags (later sources win: flags > environment > file > defaults).
//
//   config::Input in;
//   in.env = config::ProcessEnvironment();
//   GLFM_ASSIGN_OR_RETURN(in.flags, config::ParseFlags(args));   // --config FILE, --listen ...
//   GLFM_ASSIGN_OR_RETURN(config::Config cfg, config::Load(in));
//
// Every setting is described once, in Settings() (YAML key, environment variables, flag,
// default, help, secret or not); docs/configuration.md and `glfm help serve` list the same
// table. Load() validates everything and reports every problem in one invalid-argument
// status, one line per problem, each naming the setting and where its value came from.
// Secret values (credentials, keys, the PostgreSQL DSN) never appear in an error message or in
// Describe()'s output.
//
// Thread-safety: pure functions over values; a const Config may be shared between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "glfm/status.h"

namespace glfm::config {

struct ServerOptions {
  std::string listen = "127.0.0.1:7350";  // HOST:PORT; port 0 = any free port
  std::string host = "127.0.0.1";         // parsed from listen
  uint16_t port = 7350;                   // parsed from listen
  int io_threads = 0;                     // 0 = one per usable CPU (server::DefaultIoThreads)
  int workers = 64;                       // threads for blocking API work (store, GameLift)
  size_t max_body_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{75000};
  std::chrono::milliseconds shutdown_grace{10000};
};

struct LogOptions {
  std::string format = "auto";  // auto | text | json
  std::string level = "info";   // debug | info | warn | error
};

// Amazon GameLift and SQS. Empty strings mean "not set".
struct AwsOptions {
  std::string access_key_id;
  std::string secret_access_key;  // secret
  std::string session_token;      // secret
  std::string region;
  std::string profile;
  std::string alias_id;
  std::string placement_queue_name;
  std::string placement_events_sqs_url;
  std::string endpoint_url;           // every service
  std::string gamelift_endpoint_url;  // overrides endpoint_url for GameLift
  std::string sqs_endpoint_url;       // overrides endpoint_url for SQS
  // Time limit of one attempt of a GameLift or SQS call (a long poll gets its wait on top).
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct StoreOptions {
  std::string driver = "sqlite";            // sqlite | postgres
  std::string sqlite_path;                  // "" = <data_dir>/glfm.db
  std::string sqlite_synchronous = "FULL";  // FULL | NORMAL
  std::string postgres_dsn;                 // secret (may hold a password)
};

struct AuthOptions {
  std::string http_key;               // secret; the server key of the status RPCs
  std::vector<std::string> api_keys;  // secret; Bearer keys of the /v1 API
};

// Webhooks: placement outcomes POSTed to the placement's webhook_url or the default one.
struct WebhookOptions {
  std::string url;     // default receiver of every outcome; "" = only per-placement URLs
  std::string secret;  // secret; HMAC-SHA256 key of X-Glfm-Signature ("" = webhooks off,
                       // except in local mode, where one is generated under data_dir)
  std::chrono::milliseconds max_age{std::chrono::hours(24)};    // then a delivery is given up
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // one attempt
};

// The fleet manager's own settings.
struct FleetSettings {
  int receivers = 2;  // concurrent SQS long-poll receivers of placement events
  // The SQS long-poll wait (0-20 s); shutdown waits up to this long for polls in flight.
  std::chrono::milliseconds receive_wait{std::chrono::seconds(20)};
  // The placement queue's timeout: a placement with no event by this (plus 30 s) is resolved
  // by asking GameLift.
  std::chrono::milliseconds queue_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};  // 0 = at start only
  std::chrono::milliseconds adopt_after{std::chrono::minutes(10)};        // 0 = never
  std::chrono::milliseconds placement_retention{std::chrono::hours(24)};  // 0 = for ever
  std::string reconcile = "on";  // on | off (never: another node reconciles the shared store)
};

// Local mode (no AWS settings): the built-in emulator.
struct LocalOptions {
  std::string emulator_listen = "127.0.0.1:0";
};

struct Config {
  ServerOptions server;
  LogOptions log;
  AwsOptions aws;
  StoreOptions store;
  AuthOptions auth;
  WebhookOptions webhook;
  FleetSettings fleet;
  LocalOptions local;
  std::string data_dir = "data";
  std::string node_name;  // default: this machine's host name

  // True when no AWS setting was given from any source: glfm then runs against its built-in
  // emulator instead of AWS.
  bool local_mode = true;

  // Where each setting's value came from, by YAML key: "default", "file glfm.yaml line 3",
  // "env GL_AWS_REGION", "flag --listen".
  std::map<std::string, std::string, std::less<>> origins;

  // Returns the effective configuration as YAML with a comment naming each value's source;
  // secrets print as "<redacted>" (or "" when unset).
  std::string Describe() const;
};

// One setting of the options tree.
struct Setting {
  std::string_view key;               // YAML path: "server.listen"
  std::vector<std::string_view> env;  // environment variables, first set one wins
  std::string_view flag;              // "--listen"
  std::string_view default_text;      // as shown in docs and help
  std::string_view help;
  bool secret = false;
  bool list = false;  // a YAML sequence, or a comma-separated string in env and flags
  bool aws = false;   // setting it leaves local mode
};

// Returns every setting, in documentation order.
const std::vector<Setting>& Settings();

// Values given on the command line: the config file and each setting flag, in order.
struct Flags {
  std::optional<std::string> config_file;
  std::vector<std::pair<std::string, std::string>> values;  // flag ("--listen") -> value
};

struct Input {
  std::optional<std::string> config_file;  // overridden by flags.config_file
  std::map<std::string, std::string, std::less<>> env;
  Flags flags;
};

// Parses `args` (after the subcommand): `--flag VALUE`, `--flag=VALUE`, `--config FILE`.
// Errors: invalid-argument naming an unknown flag, a flag without its value, or a positional
// argument.
Result<Flags> ParseFlags(const std::vector<std::string>& args);

// Returns the process environment.
std::map<std::string, std::string, std::less<>> ProcessEnvironment();

// Loads, merges and validates. Errors: invalid-argument with one line per problem (unreadable
// or malformed file, unknown YAML key, bad value, missing required setting outside local
// mode), each naming the setting and its source; secrets are never quoted.
Result<Config> Load(const Input& input);

// Parses a duration such as "30s", "250ms", "2m", "1h", "1m30s". Errors: invalid-argument.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);
// Formats a duration the way ParseDuration reads it ("30s", "250ms", "1m30s").
std::string FormatDuration(std::chrono::milliseconds d);
// Parses HOST:PORT (IPv4, or [IPv6]:PORT). Errors: invalid-argument.
Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);

}  // namespace glfm::config
