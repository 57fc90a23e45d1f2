#include "aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <initializer_list>

#include "common/ascii.h"

namespace glfm::aws {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %-decodes leniently: a '%' not followed by two hex digits stays as it is.
std::string LenientPercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  return a.size() == lower.size() && std::equal(a.begin(), a.end(), lower.begin(),
                                                [](char x, char y) { return LowerAscii(x) == y; });
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Trims `v` and collapses inner whitespace runs to one space (botocore: ' '.join(v.split())).
void AppendTrimmedValue(std::string& out, std::string_view v) {
  bool pending_space = false;
  bool any = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = any;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    any = true;
    out.push_back(c);
  }
}

// RFC 3986 5.2.4 dot-segment removal plus collapsing of empty segments, exactly as
// botocore.utils.remove_dot_segments does.
std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (!seg.empty() && seg != ".") {
      if (seg == "..") {
        if (!out.empty()) out.pop_back();
      } else {
        out.push_back(seg);
      }
    }
    start = end + 1;
  }
  std::string result;
  if (path.front() == '/') result.push_back('/');
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result.push_back('/');
    result.append(out[i]);
  }
  if (path.back() == '/' && !out.empty()) result.push_back('/');
  return result;
}

std::string_view FindHeader(const Headers& headers, std::string_view lower_name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == lower_name.size() &&
        std::equal(k.begin(), k.end(), lower_name.begin(),
                   [](char a, char b) { return LowerAscii(a) == b; })) {
      return v;
    }
  }
  return {};
}

bool HasHeader(const Headers& headers, std::string_view lower_name) {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, lower_name)) return true;
  }
  return false;
}

void RemoveHeader(Headers& headers, std::string_view lower_name) {
  std::erase_if(headers, [&](const auto& kv) { return EqualsIgnoreCase(kv.first, lower_name); });
}

Status CheckParams(const SigningParams& p) {
  if (p.credentials == nullptr || p.credentials->empty()) {
    return InvalidArgumentError("sigv4: no credentials to sign with");
  }
  if (p.region.empty()) return InvalidArgumentError("sigv4: region is empty");
  if (p.service.empty()) return InvalidArgumentError("sigv4: service is empty");
  return OkStatus();
}

}  // namespace

std::string HexEncode(const uint8_t* bytes, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

namespace {

// SHA-256 with the algorithm fetched once and a context per thread: OpenSSL 3's one-shot
// SHA256() and HMAC() fetch the algorithm on every call, a third of a signing's cost.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
};

void Sha256Parts(std::initializer_list<std::string_view> parts, uint8_t out[32]) {
  thread_local MdCtx holder;
  EVP_DigestInit_ex(holder.ctx, Sha256Md(), nullptr);
  for (auto p : parts) EVP_DigestUpdate(holder.ctx, p.data(), p.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(holder.ctx, out, &len);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  uint8_t md[32];
  Sha256Parts({data}, md);
  return HexEncode(md, sizeof(md));
}

// HMAC-SHA256 per RFC 2104 over the cached digest.
std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data) {
  uint8_t k0[64] = {0};
  if (key.size() > 64) {
    Sha256Parts({key}, k0);
  } else {
    std::memcpy(k0, key.data(), key.size());
  }
  uint8_t ipad[64], opad[64];
  for (int i = 0; i < 64; ++i) {
    ipad[i] = k0[i] ^ 0x36;
    opad[i] = k0[i] ^ 0x5c;
  }
  auto view = [](const uint8_t* p, size_t n) {
    return std::string_view(reinterpret_cast<const char*>(p), n);
  };
  uint8_t inner[32];
  Sha256Parts({view(ipad, 64), data}, inner);
  std::array<uint8_t, 32> out{};
  Sha256Parts({view(opad, 64), view(inner, 32)}, out.data());
  OPENSSL_cleanse(k0, sizeof(k0));
  OPENSSL_cleanse(ipad, sizeof(ipad));
  OPENSSL_cleanse(opad, sizeof(opad));
  return out;
}

std::string FormatAmzDate(std::chrono::system_clock::time_point t) {
  std::time_t tt =
      std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<std::chrono::system_clock::time_point> ParseAmzDate(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
    return InvalidArgumentError("X-Amz-Date '" + std::string(s) +
                                "' is not in the form YYYYMMDDTHHMMSSZ");
  }
  int v[6];
  const int pos[6] = {0, 4, 6, 9, 11, 13};
  const int len[6] = {4, 2, 2, 2, 2, 2};
  for (int i = 0; i < 6; ++i) {
    int n = 0;
    for (int j = 0; j < len[i]; ++j) {
      char c = s[pos[i] + j];
      if (c < '0' || c > '9') {
        return InvalidArgumentError("X-Amz-Date '" + std::string(s) + "' has a non-digit");
      }
      n = n * 10 + (c - '0');
    }
    v[i] = n;
  }
  using namespace std::chrono;
  year_month_day ymd{year{v[0]}, month{static_cast<unsigned>(v[1])},
                     day{static_cast<unsigned>(v[2])}};
  if (!ymd.ok() || v[3] > 23 || v[4] > 59 || v[5] > 60) {
    return InvalidArgumentError("X-Amz-Date '" + std::string(s) + "' is not a valid time");
  }
  return sys_days(ymd) + hours(v[3]) + minutes(v[4]) + seconds(v[5]);
}

void AppendUriEncoded(std::string& out, std::string_view s, bool keep_slash) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
}

std::string CanonicalUri(std::string_view path, bool normalize) {
  std::string out;
  if (normalize) {
    AppendUriEncoded(out, NormalizePath(path), true);
  } else {
    AppendUriEncoded(out, path.empty() ? std::string_view("/") : path, true);
  }
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  if (query.empty()) return {};
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view item = query.substr(start, end - start);
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string_view k = item.substr(0, eq);
      std::string_view v = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
      std::string ek, ev;
      AppendUriEncoded(ek, LenientPercentDecode(k), false);
      AppendUriEncoded(ev, LenientPercentDecode(v), false);
      pairs.emplace_back(std::move(ek), std::move(ev));
    }
    start = end + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out.push_back('&');
    out.append(pairs[i].first);
    out.push_back('=');
    out.append(pairs[i].second);
  }
  return out;
}

bool ShouldSignHeader(std::string_view name) {
  static constexpr std::string_view kSkip[] = {"authorization",
                                               "connection",
                                               "expect",
                                               "keep-alive",
                                               "proxy-authenticate",
                                               "proxy-authorization",
                                               "te",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "user-agent",
                                               "x-amzn-trace-id"};
  for (auto s : kSkip) {
    if (EqualsIgnoreCase(name, s)) return false;
  }
  return true;
}

CanonicalHeaderSet CanonicalizeHeaders(const Headers& headers,
                                       const std::vector<std::string>* only) {
  // (lower name, index) sorted stably by name keeps repeated headers in their order.
  std::vector<std::pair<std::string, size_t>> order;
  order.reserve(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    std::string lower = ToLowerAscii(headers[i].first);
    if (only != nullptr && std::find(only->begin(), only->end(), lower) == only->end()) {
      continue;
    }
    order.emplace_back(std::move(lower), i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaderSet out;
  out.canonical.reserve(256);
  for (size_t i = 0; i < order.size(); ++i) {
    bool repeat = i > 0 && order[i].first == order[i - 1].first;
    if (repeat) {
      out.canonical.pop_back();  // the '\n' of the previous value
      out.canonical.push_back(',');
    } else {
      if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
      out.signed_headers.append(order[i].first);
      out.canonical.append(order[i].first);
      out.canonical.push_back(':');
    }
    AppendTrimmedValue(out.canonical, headers[order[i].second].second);
    out.canonical.push_back('\n');
  }
  return out;
}

std::string CanonicalRequest(const RequestParts& parts, const CanonicalHeaderSet& signed_set) {
  std::string out;
  out.reserve(256 + signed_set.canonical.size());
  out.append(parts.method);
  out.push_back('\n');
  out.append(CanonicalUri(parts.path, parts.normalize_path));
  out.push_back('\n');
  out.append(CanonicalQuery(parts.query));
  out.push_back('\n');
  out.append(signed_set.canonical);
  out.push_back('\n');
  out.append(signed_set.signed_headers);
  out.push_back('\n');
  out.append(parts.payload_sha256_hex);
  return out;
}

std::string CredentialScope(std::string_view date8, std::string_view region,
                            std::string_view service) {
  std::string out;
  out.reserve(64);
  out.append(date8).append("/").append(region).append("/").append(service).append("/aws4_request");
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out;
  out.reserve(160);
  out.append(kAlgorithm).append("\n").append(amz_date).append("\n").append(scope).append("\n");
  out.append(Sha256Hex(canonical_request));
  return out;
}

SigningKey DeriveSigningKey(std::string_view secret, std::string_view date8,
                            std::string_view region, std::string_view service) {
  std::string k = "AWS4";
  k.append(secret);
  auto k_date = HmacSha256(k, date8);
  OPENSSL_cleanse(k.data(), k.size());
  auto as_view = [](const std::array<uint8_t, 32>& a) {
    return std::string_view(reinterpret_cast<const char*>(a.data()), a.size());
  };
  auto k_region = HmacSha256(as_view(k_date), region);
  auto k_service = HmacSha256(as_view(k_region), service);
  return HmacSha256(as_view(k_service), "aws4_request");
}

std::string SignatureHex(const SigningKey& key, std::string_view string_to_sign) {
  auto mac = HmacSha256(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
                        string_to_sign);
  return HexEncode(mac.data(), mac.size());
}

SigningKey SigningKeyCache::Get(std::string_view secret, std::string_view date8,
                                std::string_view region, std::string_view service) {
  std::lock_guard<std::mutex> lock(mu_);
  if (secret_ != secret || date_ != date8 || region_ != region || service_ != service) {
    key_ = DeriveSigningKey(secret, date8, region, service);
    secret_.assign(secret);
    date_.assign(date8);
    region_.assign(region);
    service_.assign(service);
  }
  return key_;
}

namespace {
SigningKey KeyFor(const SigningParams& params, std::string_view date8) {
  if (params.key_cache != nullptr) {
    return params.key_cache->Get(params.credentials->secret_access_key, date8, params.region,
                                 params.service);
  }
  return DeriveSigningKey(params.credentials->secret_access_key, date8, params.region,
                          params.service);
}
}  // namespace

Result<SigningResult> SignRequest(std::string_view method, std::string_view path,
                                  std::string_view query, Headers& headers, std::string_view body,
                                  const SigningParams& params) {
  GLFM_RETURN_IF_ERROR(CheckParams(params));
  RemoveHeader(headers, "authorization");
  RemoveHeader(headers, "x-amz-date");
  RemoveHeader(headers, "x-amz-security-token");
  if (!HasHeader(headers, "host")) {
    return InvalidArgumentError("sigv4: the request has no Host header");
  }
  const Credentials& creds = *params.credentials;
  std::string amz_date = FormatAmzDate(params.time);
  std::string_view date8 = std::string_view(amz_date).substr(0, 8);
  std::string payload_hash = Sha256Hex(body);
  if (params.add_content_sha256_header) {
    RemoveHeader(headers, "x-amz-content-sha256");
    headers.emplace_back("X-Amz-Content-Sha256", payload_hash);
  }
  headers.emplace_back("X-Amz-Date", amz_date);
  bool token_signed = !creds.session_token.empty() && params.sign_session_token;
  if (token_signed) headers.emplace_back("X-Amz-Security-Token", creds.session_token);

  Headers to_sign;
  to_sign.reserve(headers.size());
  for (const auto& h : headers) {
    if (ShouldSignHeader(h.first)) to_sign.push_back(h);
  }
  CanonicalHeaderSet set = CanonicalizeHeaders(to_sign);
  RequestParts parts{method, path, query, &to_sign, payload_hash, params.normalize_path};
  SigningResult r;
  r.canonical_request = CanonicalRequest(parts, set);
  std::string scope = CredentialScope(date8, params.region, params.service);
  r.string_to_sign = StringToSign(amz_date, scope, r.canonical_request);
  r.signature = SignatureHex(KeyFor(params, date8), r.string_to_sign);
  r.authorization.reserve(200);
  r.authorization.append(kAlgorithm)
      .append(" Credential=")
      .append(creds.access_key_id)
      .append("/")
      .append(scope)
      .append(", SignedHeaders=")
      .append(set.signed_headers)
      .append(", Signature=")
      .append(r.signature);
  if (!creds.session_token.empty() && !params.sign_session_token) {
    headers.emplace_back("X-Amz-Security-Token", creds.session_token);
  }
  headers.emplace_back("Authorization", r.authorization);
  return r;
}

Result<SigningResult> PresignQuery(std::string_view method, std::string_view path,
                                   std::string_view query, const Headers& headers,
                                   std::string_view body, const SigningParams& params,
                                   std::chrono::seconds expires, std::string& out_query) {
  GLFM_RETURN_IF_ERROR(CheckParams(params));
  if (!HasHeader(headers, "host")) {
    return InvalidArgumentError("sigv4: the request has no Host header");
  }
  const Credentials& creds = *params.credentials;
  std::string amz_date = FormatAmzDate(params.time);
  std::string_view date8 = std::string_view(amz_date).substr(0, 8);
  std::string scope = CredentialScope(date8, params.region, params.service);
  Headers to_sign;
  for (const auto& h : headers) {
    std::string lower = ToLowerAscii(h.first);
    if (ShouldSignHeader(lower) && lower != "x-amz-date" && lower != "x-amz-security-token" &&
        lower != "x-amz-content-sha256") {
      to_sign.push_back(h);
    }
  }
  CanonicalHeaderSet set = CanonicalizeHeaders(to_sign);
  std::string q(query);
  auto add = [&q](std::string_view k, std::string_view v) {
    if (!q.empty()) q.push_back('&');
    q.append(k).push_back('=');
    AppendUriEncoded(q, v, false);
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", creds.access_key_id + "/" + scope);
  add("X-Amz-Date", amz_date);
  add("X-Amz-SignedHeaders", set.signed_headers);
  add("X-Amz-Expires", std::to_string(expires.count()));
  if (!creds.session_token.empty() && params.sign_session_token) {
    add("X-Amz-Security-Token", creds.session_token);
  }
  std::string payload_hash = Sha256Hex(body);
  RequestParts parts{method, path, q, &to_sign, payload_hash, params.normalize_path};
  SigningResult r;
  r.canonical_request = CanonicalRequest(parts, set);
  r.string_to_sign = StringToSign(amz_date, scope, r.canonical_request);
  r.signature = SignatureHex(KeyFor(params, date8), r.string_to_sign);
  if (!creds.session_token.empty() && !params.sign_session_token) {
    add("X-Amz-Security-Token", creds.session_token);
  }
  add("X-Amz-Signature", r.signature);
  out_query = std::move(q);
  return r;
}

Result<ParsedAuthorization> ParseAuthorization(std::string_view value) {
  auto bad = [&](std::string_view what) {
    return InvalidArgumentError("Authorization header: " + std::string(what));
  };
  if (value.substr(0, kAlgorithm.size()) != kAlgorithm) {
    return bad("algorithm is not AWS4-HMAC-SHA256");
  }
  value.remove_prefix(kAlgorithm.size());
  ParsedAuthorization out;
  bool have_cred = false, have_signed = false, have_sig = false;
  size_t start = 0;
  while (start < value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view part = value.substr(start, end - start);
    while (!part.empty() && IsSpace(part.front())) part.remove_prefix(1);
    while (!part.empty() && IsSpace(part.back())) part.remove_suffix(1);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      if (!part.empty()) return bad("component '" + std::string(part) + "' has no '='");
    } else {
      std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
      if (k == "Credential") {
        // AK/DATE/REGION/SERVICE/aws4_request; the key id itself has no '/'.
        std::vector<std::string_view> f;
        size_t s = 0;
        while (true) {
          size_t e = v.find('/', s);
          f.push_back(v.substr(s, e == std::string_view::npos ? e : e - s));
          if (e == std::string_view::npos) break;
          s = e + 1;
        }
        if (f.size() != 5 || f[4] != "aws4_request" || f[0].empty() || f[1].size() != 8) {
          return bad("Credential '" + std::string(v) +
                     "' is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request");
        }
        out.access_key_id = f[0];
        out.date8 = f[1];
        out.region = f[2];
        out.service = f[3];
        have_cred = true;
      } else if (k == "SignedHeaders") {
        size_t s = 0;
        while (s <= v.size()) {
          size_t e = v.find(';', s);
          if (e == std::string_view::npos) e = v.size();
          if (e > s) out.signed_headers.emplace_back(v.substr(s, e - s));
          s = e + 1;
        }
        have_signed = !out.signed_headers.empty();
      } else if (k == "Signature") {
        out.signature = v;
        have_sig = v.size() == 64;
      }
    }
    start = end + 1;
  }
  if (!have_cred) return bad("missing Credential");
  if (!have_signed) return bad("missing SignedHeaders");
  if (!have_sig) return bad("missing or malformed Signature");
  return out;
}

Status VerifySignature(std::string_view method, std::string_view path, std::string_view query,
                       const Headers& headers, std::string_view body,
                       const ParsedAuthorization& auth, std::string_view secret_access_key) {
  std::string_view amz_date = FindHeader(headers, "x-amz-date");
  if (amz_date.empty()) {
    return InvalidArgumentError("request has no X-Amz-Date header");
  }
  if (amz_date.substr(0, 8) != auth.date8) {
    return InvalidArgumentError("credential scope date " + auth.date8 +
                                " does not match X-Amz-Date " + std::string(amz_date));
  }
  if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), "host") ==
      auth.signed_headers.end()) {
    return InvalidArgumentError("the host header is not signed");
  }
  for (const auto& name : auth.signed_headers) {
    if (!HasHeader(headers, name)) {
      return InvalidArgumentError("signed header " + name + " is missing from the request");
    }
  }
  CanonicalHeaderSet set = CanonicalizeHeaders(headers, &auth.signed_headers);
  std::string_view content_sha = FindHeader(headers, "x-amz-content-sha256");
  std::string payload_hash = Sha256Hex(body);
  if (!content_sha.empty() && content_sha != "UNSIGNED-PAYLOAD") {
    if (content_sha != payload_hash) {
      return UnauthenticatedError(
          "The provided x-amz-content-sha256 header does not match what was computed");
    }
  } else if (content_sha == "UNSIGNED-PAYLOAD") {
    payload_hash = std::string(content_sha);
  }
  RequestParts parts{method, path, query, &headers, payload_hash, true};
  std::string canonical = CanonicalRequest(parts, set);
  std::string sts =
      StringToSign(amz_date, CredentialScope(auth.date8, auth.region, auth.service), canonical);
  std::string expected =
      SignatureHex(DeriveSigningKey(secret_access_key, auth.date8, auth.region, auth.service), sts);
  if (expected.size() != auth.signature.size() ||
      CRYPTO_memcmp(expected.data(), auth.signature.data(), expected.size()) != 0) {
    return UnauthenticatedError(
        "The request signature we calculated does not match the signature you provided");
  }
  return OkStatus();
}

}  // namespace glfm::aws
