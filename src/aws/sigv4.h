// AWS Signature Version 4 (SigV4): signing requests and verifying signed requests.
//
// Spec: "Signature Version 4 signing process" (AWS General Reference) and the published
// aws-sig-v4-test-suite (../shared/testdata/sigv4/v4), which sigv4_test.cc runs whole.
//
// Every step is exposed on its own, from parsed request parts, so that both sides use the
// same code: the client signs with SignRequest(); the emulator parses the Authorization
// header with ParseAuthorization() and checks it with VerifySignature() (or recomputes any
// step: CanonicalRequest, StringToSign, DeriveSigningKey, SignatureHex).
//
// Path rule: the canonical URI is UriEncode(normalize(path)) where `path` is taken as given.
// Pass the path as it appears on the wire: an already %-encoded path is then encoded a
// second time, which is what AWS does for every service but S3 (and what botocore does).
// Query rule: each key and value is %-decoded and re-encoded with SigV4's unreserved set,
// so raw and encoded query strings canonicalise alike.
//
// Thread-safety: free functions are pure. SigningKeyCache is safe for concurrent use.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "glfm/status.h"

namespace glfm::aws {

using Headers = std::vector<std::pair<std::string, std::string>>;

// An AWS access key pair, with a session token for temporary credentials.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  // When temporary credentials stop working; nullopt for long-term keys.
  std::optional<std::chrono::system_clock::time_point> expiration;
  // Where they came from ("environment", "shared-file", "ecs", "imds", "config"); for logs.
  std::string source;

  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// The SHA-256 of the empty string, hex.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using SigningKey = std::array<uint8_t, 32>;

// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Returns HMAC-SHA256(key, data).
std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view data);
// Returns lower-case hex of `bytes`.
std::string HexEncode(const uint8_t* bytes, size_t n);

// Formats `t` as "20150830T123600Z" (X-Amz-Date).
std::string FormatAmzDate(std::chrono::system_clock::time_point t);
// Parses "20150830T123600Z". Errors: invalid-argument.
Result<std::chrono::system_clock::time_point> ParseAmzDate(std::string_view s);

// Appends UriEncode(s) per SigV4: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (upper
// case); '/' stays when `keep_slash`.
void AppendUriEncoded(std::string& out, std::string_view s, bool keep_slash);

// Returns the canonical URI of `path` (see the path rule above). `normalize` removes "." and
// ".." segments and collapses "//" (false: S3's rule, the path is only encoded).
std::string CanonicalUri(std::string_view path, bool normalize);

// Returns the canonical query string of `query` (no leading '?'): pairs decoded, re-encoded,
// sorted by key then value, "k=v" joined with '&'.
std::string CanonicalQuery(std::string_view query);

struct CanonicalHeaderSet {
  std::string canonical;       // "name:value\n" per header, sorted by lower-case name
  std::string signed_headers;  // "content-type;host;x-amz-date"
};

// Canonicalises `headers`: names lower-cased, values trimmed with inner whitespace runs
// collapsed to one space, repeated names joined with ',' in order. When `only` is non-null,
// only those lower-case names are included (the verifier's case).
CanonicalHeaderSet CanonicalizeHeaders(const Headers& headers,
                                       const std::vector<std::string>* only = nullptr);

// Returns True when botocore would sign a header of this name (it skips user-agent, expect,
// connection, x-amzn-trace-id, ... and authorization).
bool ShouldSignHeader(std::string_view name);

// The parts of a request that SigV4 covers.
struct RequestParts {
  std::string_view method;
  std::string_view path;   // see the path rule above
  std::string_view query;  // without '?'
  const Headers* headers = nullptr;
  std::string_view payload_sha256_hex;  // Sha256Hex(body), or UNSIGNED-PAYLOAD
  bool normalize_path = true;
};

// Returns the canonical request for `parts` over the header set `signed_set`.
std::string CanonicalRequest(const RequestParts& parts, const CanonicalHeaderSet& signed_set);

// Returns "DATE/REGION/SERVICE/aws4_request".
std::string CredentialScope(std::string_view date8, std::string_view region,
                            std::string_view service);

// Returns the string to sign: algorithm, X-Amz-Date, scope, hex SHA-256 of the canonical
// request, joined with '\n'.
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// Returns kSigning = HMAC chain over "AWS4"+secret, date8, region, service, "aws4_request".
SigningKey DeriveSigningKey(std::string_view secret, std::string_view date8,
                            std::string_view region, std::string_view service);

// Returns hex HMAC-SHA256(key, string_to_sign).
std::string SignatureHex(const SigningKey& key, std::string_view string_to_sign);

// Caches the signing key of the current day: deriving it costs four HMACs per request.
class SigningKeyCache {
 public:
  SigningKey Get(std::string_view secret, std::string_view date8, std::string_view region,
                 std::string_view service);

 private:
  std::mutex mu_;
  std::string secret_, date_, region_, service_;  // GUARDED_BY(mu_)
  SigningKey key_{};                              // GUARDED_BY(mu_)
};

struct SigningParams {
  const Credentials* credentials = nullptr;
  std::string_view region;
  std::string_view service;
  std::chrono::system_clock::time_point time;
  // Adds a signed X-Amz-Content-Sha256 header (S3 style); off for GameLift and SQS.
  bool add_content_sha256_header = false;
  bool normalize_path = true;
  // Signs the session token (true) or adds it after signing (false).
  bool sign_session_token = true;
  SigningKeyCache* key_cache = nullptr;  // optional
};

// The intermediate values of one signing, for tests and debugging.
struct SigningResult {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  std::string authorization;  // the Authorization header value
};

// Signs a request in place with the Authorization header: removes any previous
// Authorization / X-Amz-Date / X-Amz-Security-Token, adds X-Amz-Date (and the token and
// content hash as asked), then Authorization. Signs every header ShouldSignHeader() accepts.
// `path` and `query` as in RequestParts. Errors: invalid-argument for missing credentials,
// region or service, or no Host header.
Result<SigningResult> SignRequest(std::string_view method, std::string_view path,
                                  std::string_view query, Headers& headers, std::string_view body,
                                  const SigningParams& params);

// Computes a presigned-URL signature (X-Amz-* query parameters). Returns the new query
// string (the original parameters followed by the X-Amz-* ones and X-Amz-Signature) in
// `out_query`. Errors as SignRequest.
Result<SigningResult> PresignQuery(std::string_view method, std::string_view path,
                                   std::string_view query, const Headers& headers,
                                   std::string_view body, const SigningParams& params,
                                   std::chrono::seconds expires, std::string& out_query);

// A parsed "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex" header.
struct ParsedAuthorization {
  std::string access_key_id;
  std::string date8;
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;
  std::string signature;
};

// Parses an Authorization header value. Errors: invalid-argument naming the bad part
// (AWS answers these with IncompleteSignatureException).
Result<ParsedAuthorization> ParseAuthorization(std::string_view value);

// Verifies a received request: recomputes the signature over the headers the Authorization
// header names, with `secret_access_key` and the request's X-Amz-Date, and compares in
// constant time. `path` as received on the wire. Errors: invalid-argument for a malformed
// or incomplete header (missing X-Amz-Date, host not signed, scope date != X-Amz-Date day);
// unauthenticated "signature does not match" on a mismatch (AWS's
// SignatureDoesNotMatch / InvalidSignatureException).
Status VerifySignature(std::string_view method, std::string_view path, std::string_view query,
                       const Headers& headers, std::string_view body,
                       const ParsedAuthorization& auth, std::string_view secret_access_key);

}  // namespace glfm::aws
