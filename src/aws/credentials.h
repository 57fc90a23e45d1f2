// Where AWS credentials, region and profile settings come from: the default chain in the AWS
// SDKs' order, plus the original fleet manager's GL_AWS_* variables.
//
//   1. explicit credentials from glfm's configuration (flags / YAML);
//   2. GL_AWS_ACCESS_KEY + GL_AWS_SECRET_ACCESS_KEY (the original's names);
//   3. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//   4. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials)
//      and config file (AWS_CONFIG_FILE, default ~/.aws/config), profile AWS_PROFILE or
//      "default";
//   5. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
//      http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or plain http to a
//      loopback or ECS/EKS link-local host), with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE);
//   6. EC2 instance metadata, IMDSv2 only (a session token first), at
//      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254) unless
//      AWS_EC2_METADATA_DISABLED=true.
// Temporary credentials are fetched again `refresh_before_expiry` before they expire; when a
// refresh fails the old ones are used while still valid.
//
// The environment is read through EnvLookup so that tests never touch the process
// environment. Secrets are never logged.
//
// Thread-safety: a CredentialsProvider is safe for concurrent use; Get() may block on
// network I/O (ECS, IMDS) and so must not run on an HTTP-server IO thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aws/http_transport.h"
#include "aws/sigv4.h"
#include "glfm/status.h"

namespace glfm::aws {

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Returns a lookup of the process environment (std::getenv).
EnvLookup ProcessEnv();
// Returns a lookup of a fixed map (for tests and embedding hosts).
EnvLookup MapEnv(std::map<std::string, std::string> values);

using IniSection = std::map<std::string, std::string>;
// Parses an AWS shared config/credentials file ("[section]", "key = value", '#'/';'
// comments, indented continuation lines for nested settings are skipped).
// Errors: invalid-argument naming the line for a line that is neither.
Result<std::map<std::string, IniSection>> ParseIni(std::string_view text);

// The settings of one profile: the credentials file's [name] over the config file's
// [profile name] ([default] for "default"). Missing files are not an error.
struct Profile {
  std::string name;
  IniSection values;
  bool found = false;
};

// Returns the profile `name`, or AWS_PROFILE / "default" when `name` is empty.
// Errors: invalid-argument for a file that does not parse.
Result<Profile> LoadProfile(const EnvLookup& env, std::string_view name);

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Returns usable credentials, fetching or refreshing them when needed.
  // Errors: unauthenticated when no source has any ("no AWS credentials found ..."),
  // unavailable / deadline-exceeded when a configured ECS or IMDS endpoint fails,
  // invalid-argument for a malformed file or disallowed container URI.
  virtual Result<Credentials> Get() = 0;
};

struct CredentialsChainOptions {
  Credentials explicit_credentials;  // used when access key and secret are both set
  std::string profile;               // overrides AWS_PROFILE
  EnvLookup env;                     // default: ProcessEnv()
  // Needed for ECS and IMDS; without it those two sources are skipped.
  HttpTransport* transport = nullptr;
  std::function<std::chrono::system_clock::time_point()> now;  // default: system clock
  std::chrono::seconds refresh_before_expiry{300};
  std::chrono::milliseconds metadata_timeout{2000};
};

// Returns the default chain described above.
std::unique_ptr<CredentialsProvider> NewDefaultCredentialsChain(CredentialsChainOptions options);

// Returns a provider that always answers `credentials`.
std::unique_ptr<CredentialsProvider> NewStaticCredentialsProvider(Credentials credentials);

// Returns the region: GL_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION, then the profile's
// `region`; "" when none is set.
std::string ResolveRegion(const EnvLookup& env, std::string_view profile);

}  // namespace glfm::aws
