#include "aws/credentials.h"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/log.h"
#include "glfm/codec.h"
#include "glfm/json.h"

namespace glfm::aws {
namespace {

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<std::string> NonEmpty(const EnvLookup& env, std::string_view name) {
  auto v = env(name);
  if (v.has_value() && v->empty()) return std::nullopt;
  return v;
}

// Reads a whole file; nullopt when it does not exist or cannot be read.
std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HomePath(const EnvLookup& env, std::string_view rest) {
  auto home = NonEmpty(env, "HOME");
  return (home ? *home : std::string(".")) + std::string(rest);
}

std::string ExpandHome(const EnvLookup& env, const std::string& path) {
  if (path.size() >= 2 && path[0] == '~' && path[1] == '/') {
    return HomePath(env, path.substr(1));
  }
  return path;
}

bool IsAllowedContainerHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]" || host == "169.254.170.2" ||
      host == "169.254.170.23" || host == "[fd00:ec2::23]") {
    return true;
  }
  return host.substr(0, 4) == "127.";
}

// Splits "scheme://host[:port]/path" into scheme and host (without port).
bool SplitUrl(std::string_view url, std::string& scheme, std::string& host) {
  size_t p = url.find("://");
  if (p == std::string_view::npos) return false;
  scheme = std::string(url.substr(0, p));
  std::string_view rest = url.substr(p + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (!authority.empty() && authority.front() == '[') {
    host = std::string(authority.substr(0, authority.find(']') + 1));
  } else {
    host = std::string(authority.substr(0, authority.find(':')));
  }
  return !host.empty();
}

// Parses the JSON both ECS and IMDS answer with.
Result<Credentials> ParseCredentialsJson(std::string_view body, std::string_view source) {
  auto j = Json::Parse(body);
  if (!j.ok() || !j->is_object()) {
    return UnavailableError(std::string(source) + " credentials: the answer is not JSON");
  }
  auto str = [&](const char* k) -> std::string {
    const Json* v = j->Find(k);
    return v != nullptr && v->is_string() ? v->as_string() : "";
  };
  Credentials c;
  c.access_key_id = str("AccessKeyId");
  c.secret_access_key = str("SecretAccessKey");
  c.session_token = str("Token");
  c.source = std::string(source);
  if (c.empty()) {
    std::string code = str("Code");
    return UnavailableError(std::string(source) +
                            " credentials: the answer has no AccessKeyId/SecretAccessKey" +
                            (code.empty() ? "" : " (Code " + code + ")"));
  }
  std::string exp = str("Expiration");
  if (!exp.empty()) {
    auto t = ParseRfc3339(exp);
    if (!t.ok()) {
      return UnavailableError(std::string(source) + " credentials: bad Expiration '" + exp + "'");
    }
    c.expiration = *t;
  }
  return c;
}

Result<HttpReply> Fetch(HttpTransport& transport, HttpCall call, std::string_view what) {
  std::string url = call.url;
  GLFM_ASSIGN_OR_RETURN(HttpReply reply, transport.SendAndWait(std::move(call)));
  if (reply.status != 200) {
    return UnavailableError(std::string(what) + ": " + url + " answered HTTP " +
                            std::to_string(reply.status));
  }
  return reply;
}

class StaticProvider final : public CredentialsProvider {
 public:
  explicit StaticProvider(Credentials c) : c_(std::move(c)) {}
  Result<Credentials> Get() override {
    if (c_.empty()) return UnauthenticatedError("static AWS credentials are empty");
    return c_;
  }

 private:
  Credentials c_;
};

class DefaultChain final : public CredentialsProvider {
 public:
  explicit DefaultChain(CredentialsChainOptions o) : o_(std::move(o)) {
    if (!o_.env) o_.env = ProcessEnv();
    if (!o_.now) o_.now = [] { return std::chrono::system_clock::now(); };
  }

  Result<Credentials> Get() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = o_.now();
    if (cached_.has_value() &&
        (!cached_->expiration || now < *cached_->expiration - o_.refresh_before_expiry)) {
      return *cached_;
    }
    Result<Credentials> fresh = Resolve();
    if (fresh.ok()) {
      if (!cached_.has_value() || cached_->source != fresh->source) {
        log::Info("aws credentials resolved", {{"source", fresh->source}});
      }
      cached_ = *fresh;
      return fresh;
    }
    if (cached_.has_value() && cached_->expiration && now < *cached_->expiration) {
      log::Warn("aws credentials refresh failed; using the current ones until they expire",
                {{"source", cached_->source}, {"error", fresh.status().ToString()}});
      return *cached_;
    }
    return fresh;
  }

 private:
  // Each source answers nullopt when it is not configured.
  using Source = std::optional<Result<Credentials>>;

  Result<Credentials> Resolve() {
    for (auto fn :
         {&DefaultChain::FromExplicit, &DefaultChain::FromGlEnv, &DefaultChain::FromAwsEnv,
          &DefaultChain::FromProfile, &DefaultChain::FromContainer, &DefaultChain::FromImds}) {
      Source s = (this->*fn)();
      if (s.has_value()) return std::move(*s);
    }
    return UnauthenticatedError(
        "no AWS credentials found: set GL_AWS_ACCESS_KEY and GL_AWS_SECRET_ACCESS_KEY, "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in the shared credentials "
        "file, or run with ECS container or EC2 instance credentials");
  }

  Source FromExplicit() {
    if (o_.explicit_credentials.empty()) return std::nullopt;
    Credentials c = o_.explicit_credentials;
    c.source = "config";
    return Result<Credentials>(c);
  }

  Source FromPair(const char* key, const char* secret, const char* token, const char* source) {
    auto k = NonEmpty(o_.env, key);
    auto s = NonEmpty(o_.env, secret);
    if (!k && !s) return std::nullopt;
    if (!k || !s) {
      return Result<Credentials>(InvalidArgumentError(
          std::string(k ? secret : key) + " is not set but " + (k ? key : secret) + " is"));
    }
    Credentials c;
    c.access_key_id = *k;
    c.secret_access_key = *s;
    if (token != nullptr) {
      if (auto t = NonEmpty(o_.env, token)) c.session_token = *t;
    }
    c.source = source;
    return Result<Credentials>(c);
  }

  Source FromGlEnv() {
    return FromPair("GL_AWS_ACCESS_KEY", "GL_AWS_SECRET_ACCESS_KEY", nullptr, "environment");
  }
  Source FromAwsEnv() {
    return FromPair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                    "environment");
  }

  Source FromProfile() {
    auto p = LoadProfile(o_.env, o_.profile);
    if (!p.ok()) return Result<Credentials>(p.status());
    if (!p->found) return std::nullopt;
    auto get = [&](const char* k) -> std::string {
      auto it = p->values.find(k);
      return it == p->values.end() ? "" : it->second;
    };
    Credentials c;
    c.access_key_id = get("aws_access_key_id");
    c.secret_access_key = get("aws_secret_access_key");
    c.session_token = get("aws_session_token");
    c.source = "shared-file:" + p->name;
    if (c.access_key_id.empty() && c.secret_access_key.empty()) return std::nullopt;
    if (c.empty()) {
      return Result<Credentials>(InvalidArgumentError(
          "profile " + p->name + " has only one of aws_access_key_id and aws_secret_access_key"));
    }
    return Result<Credentials>(c);
  }

  Source FromContainer() {
    if (o_.transport == nullptr) return std::nullopt;
    std::string url;
    if (auto rel = NonEmpty(o_.env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
      url = "http://169.254.170.2" + *rel;
    } else if (auto full = NonEmpty(o_.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
      url = *full;
      std::string scheme, host;
      if (!SplitUrl(url, scheme, host) ||
          !(scheme == "https" || (scheme == "http" && IsAllowedContainerHost(host)))) {
        return Result<Credentials>(InvalidArgumentError(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or http to a loopback or "
            "ECS/EKS host, got " +
            url));
      }
    } else {
      return std::nullopt;
    }
    HttpCall call;
    call.method = "GET";
    call.url = url;
    call.timeout = o_.metadata_timeout;
    if (auto file = NonEmpty(o_.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      auto token = ReadWholeFile(*file);
      if (!token) {
        return Result<Credentials>(InvalidArgumentError("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " +
                                                        *file + " cannot be read"));
      }
      call.headers.emplace_back("Authorization", std::string(Trim(*token)));
    } else if (auto token = NonEmpty(o_.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      call.headers.emplace_back("Authorization", *token);
    }
    auto reply = Fetch(*o_.transport, std::move(call), "ECS container credentials");
    if (!reply.ok()) return Result<Credentials>(reply.status());
    return ParseCredentialsJson(reply->body, "ecs");
  }

  Source FromImds() {
    if (o_.transport == nullptr) return std::nullopt;
    auto disabled = NonEmpty(o_.env, "AWS_EC2_METADATA_DISABLED");
    if (disabled && (*disabled == "true" || *disabled == "TRUE" || *disabled == "True")) {
      return std::nullopt;
    }
    std::string base =
        NonEmpty(o_.env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
    while (!base.empty() && base.back() == '/') base.pop_back();
    HttpCall token_call;
    token_call.method = "PUT";
    token_call.url = base + "/latest/api/token";
    token_call.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    token_call.timeout = o_.metadata_timeout;
    auto token = o_.transport->SendAndWait(std::move(token_call));
    if (!token.ok()) {
      // Not on EC2 (nothing answers): this source is simply absent.
      if (token.status().code() == StatusCode::kUnavailable ||
          token.status().code() == StatusCode::kDeadlineExceeded) {
        return std::nullopt;
      }
      return Result<Credentials>(token.status());
    }
    if (token->status != 200) {
      return Result<Credentials>(UnavailableError(
          "EC2 metadata: the IMDSv2 token request answered HTTP " + std::to_string(token->status)));
    }
    Headers auth = {{"X-aws-ec2-metadata-token", token->body}};
    const std::string prefix = base + "/latest/meta-data/iam/security-credentials/";
    HttpCall role_call{"GET", prefix, auth, "", o_.metadata_timeout};
    auto role = Fetch(*o_.transport, std::move(role_call), "EC2 metadata role");
    if (!role.ok()) return Result<Credentials>(role.status());
    std::string name(Trim(std::string_view(role->body).substr(0, role->body.find('\n'))));
    if (name.empty()) {
      return Result<Credentials>(
          UnavailableError("EC2 metadata: the instance has no IAM role attached"));
    }
    HttpCall cred_call{"GET", prefix + name, auth, "", o_.metadata_timeout};
    auto creds = Fetch(*o_.transport, std::move(cred_call), "EC2 metadata credentials");
    if (!creds.ok()) return Result<Credentials>(creds.status());
    return ParseCredentialsJson(creds->body, "imds");
  }

  CredentialsChainOptions o_;
  std::mutex mu_;
  std::optional<Credentials> cached_;  // GUARDED_BY(mu_)
};

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup MapEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

Result<std::map<std::string, IniSection>> ParseIni(std::string_view text) {
  std::map<std::string, IniSection> out;
  std::string section;
  bool in_section = false;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (raw[0] == ' ' || raw[0] == '\t') continue;  // nested setting (s3 = ...), skipped
    if (line.front() == '[') {
      if (line.back() != ']') {
        return InvalidArgumentError("line " + std::to_string(line_no) +
                                    ": section header has no ']'");
      }
      section = std::string(Trim(line.substr(1, line.size() - 2)));
      out[section];
      in_section = true;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || !in_section) {
      return InvalidArgumentError(
          "line " + std::to_string(line_no) +
          (in_section ? ": expected key = value" : ": setting outside any [section]"));
    }
    std::string key(Trim(line.substr(0, eq)));
    std::string_view value = Trim(line.substr(eq + 1));
    // Inline comments need a space before '#' or ';', as in botocore.
    for (size_t i = 1; i < value.size(); ++i) {
      if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
        value = Trim(value.substr(0, i));
        break;
      }
    }
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[section][key] = std::string(value);
  }
  return out;
}

Result<Profile> LoadProfile(const EnvLookup& env, std::string_view name) {
  Profile p;
  p.name = !name.empty() ? std::string(name) : NonEmpty(env, "AWS_PROFILE").value_or("default");
  std::string config_path =
      ExpandHome(env, NonEmpty(env, "AWS_CONFIG_FILE").value_or(HomePath(env, "/.aws/config")));
  std::string creds_path = ExpandHome(
      env,
      NonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE").value_or(HomePath(env, "/.aws/credentials")));
  if (auto text = ReadWholeFile(config_path)) {
    auto ini = ParseIni(*text);
    if (!ini.ok()) return ini.status().WithPrefix("AWS config file " + config_path);
    std::string section = p.name == "default" ? "default" : "profile " + p.name;
    auto it = ini->find(section);
    if (it == ini->end() && p.name == "default") it = ini->find("profile default");
    if (it != ini->end()) {
      p.values = it->second;
      p.found = true;
    }
  }
  if (auto text = ReadWholeFile(creds_path)) {
    auto ini = ParseIni(*text);
    if (!ini.ok()) return ini.status().WithPrefix("AWS credentials file " + creds_path);
    auto it = ini->find(p.name);
    if (it != ini->end()) {
      for (const auto& [k, v] : it->second) p.values[k] = v;
      p.found = true;
    }
  }
  return p;
}

std::unique_ptr<CredentialsProvider> NewDefaultCredentialsChain(CredentialsChainOptions options) {
  return std::make_unique<DefaultChain>(std::move(options));
}

std::unique_ptr<CredentialsProvider> NewStaticCredentialsProvider(Credentials credentials) {
  return std::make_unique<StaticProvider>(std::move(credentials));
}

std::string ResolveRegion(const EnvLookup& env, std::string_view profile) {
  for (const char* k : {"GL_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (auto v = NonEmpty(env, k)) return *v;
  }
  auto p = LoadProfile(env, profile);
  if (p.ok() && p->found) {
    auto it = p->values.find("region");
    if (it != p->values.end()) return it->second;
  }
  return "";
}

}  // namespace glfm::aws
