#include "aws/errors.h"

#include <algorithm>
#include <array>

#include "glfm/json.h"

namespace glfm::aws {
namespace {

// Strips "namespace#" before and ":http://..." after the code (botocore's rule for
// X-Amzn-ErrorType and __type).
std::string SanitizeCode(std::string_view code) {
  size_t colon = code.find(':');
  if (colon != std::string_view::npos) code = code.substr(0, colon);
  size_t hash = code.rfind('#');
  if (hash != std::string_view::npos) code = code.substr(hash + 1);
  while (!code.empty() && code.back() == ' ') code.remove_suffix(1);
  return std::string(code);
}

template <size_t N>
bool In(std::string_view code, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), code) != set.end();
}

// botocore.retries.standard.ThrottledRetryableChecker, plus the SQS/KMS spellings.
constexpr std::array<std::string_view, 17> kThrottling = {"Throttling",
                                                          "ThrottlingException",
                                                          "ThrottledException",
                                                          "RequestThrottledException",
                                                          "TooManyRequestsException",
                                                          "ProvisionedThroughputExceededException",
                                                          "TransactionInProgressException",
                                                          "RequestLimitExceeded",
                                                          "BandwidthLimitExceeded",
                                                          "LimitExceededException",
                                                          "RequestThrottled",
                                                          "SlowDown",
                                                          "PriorRequestNotComplete",
                                                          "EC2ThrottledException",
                                                          "KmsThrottled",
                                                          "AWS.SimpleQueueService.RequestThrottled",
                                                          "ThrottledRequest"};

// botocore.retries.standard.TransientRetryableChecker codes.
constexpr std::array<std::string_view, 3> kTransient = {"RequestTimeout", "RequestTimeoutException",
                                                        "PriorRequestNotComplete"};

constexpr std::array<std::string_view, 7> kClockSkew = {
    "RequestTimeTooSkewed",         "RequestExpired", "InvalidSignatureException",
    "SignatureDoesNotMatch",        "AuthFailure",    "RequestInTheFuture",
    "RequestTimeTooSkewedException"};

struct CodeRow {
  std::string_view code;
  StatusCode status;
};

// The table of docs/errors.md.
constexpr CodeRow kTable[] = {
    // Shared by every AWS JSON service.
    {"UnrecognizedClientException", StatusCode::kUnauthenticated},
    {"InvalidClientTokenId", StatusCode::kUnauthenticated},
    {"MissingAuthenticationToken", StatusCode::kUnauthenticated},
    {"MissingAuthenticationTokenException", StatusCode::kUnauthenticated},
    {"IncompleteSignature", StatusCode::kUnauthenticated},
    {"IncompleteSignatureException", StatusCode::kUnauthenticated},
    {"InvalidSignatureException", StatusCode::kUnauthenticated},
    {"SignatureDoesNotMatch", StatusCode::kUnauthenticated},
    {"ExpiredToken", StatusCode::kUnauthenticated},
    {"ExpiredTokenException", StatusCode::kUnauthenticated},
    {"RequestExpired", StatusCode::kUnauthenticated},
    {"RequestTimeTooSkewed", StatusCode::kUnauthenticated},
    {"AccessDenied", StatusCode::kPermissionDenied},
    {"AccessDeniedException", StatusCode::kPermissionDenied},
    {"ValidationException", StatusCode::kInvalidArgument},
    {"ValidationError", StatusCode::kInvalidArgument},
    {"SerializationException", StatusCode::kInvalidArgument},
    {"UnknownOperationException", StatusCode::kUnimplemented},
    {"InternalFailure", StatusCode::kInternal},
    {"InternalServerError", StatusCode::kInternal},
    {"ServiceUnavailable", StatusCode::kUnavailable},
    {"ServiceUnavailableException", StatusCode::kUnavailable},
    {"RequestTimeout", StatusCode::kUnavailable},
    {"RequestTimeoutException", StatusCode::kUnavailable},
    // GameLift.
    {"ConflictException", StatusCode::kAborted},
    {"FleetCapacityExceededException", StatusCode::kResourceExhausted},
    {"GameSessionFullException", StatusCode::kResourceExhausted},
    {"IdempotentParameterMismatchException", StatusCode::kAlreadyExists},
    {"InternalServiceException", StatusCode::kInternal},
    {"InvalidFleetStatusException", StatusCode::kFailedPrecondition},
    {"InvalidGameSessionStatusException", StatusCode::kFailedPrecondition},
    {"InvalidRequestException", StatusCode::kInvalidArgument},
    {"LimitExceededException", StatusCode::kResourceExhausted},
    {"NotFoundException", StatusCode::kNotFound},
    {"NotReadyException", StatusCode::kUnavailable},
    {"OutOfCapacityException", StatusCode::kResourceExhausted},
    {"TaggingFailedException", StatusCode::kInternal},
    {"TerminalRoutingStrategyException", StatusCode::kFailedPrecondition},
    {"UnauthorizedException", StatusCode::kPermissionDenied},
    {"UnsupportedRegionException", StatusCode::kInvalidArgument},
    // SQS (JSON names and the legacy query codes of x-amzn-query-error).
    {"QueueDoesNotExist", StatusCode::kNotFound},
    {"AWS.SimpleQueueService.NonExistentQueue", StatusCode::kNotFound},
    {"ResourceNotFoundException", StatusCode::kNotFound},
    {"QueueDeletedRecently", StatusCode::kFailedPrecondition},
    {"AWS.SimpleQueueService.QueueDeletedRecently", StatusCode::kFailedPrecondition},
    {"QueueNameExists", StatusCode::kAlreadyExists},
    {"QueueAlreadyExists", StatusCode::kAlreadyExists},
    {"ReceiptHandleIsInvalid", StatusCode::kInvalidArgument},
    {"InvalidParameterValue", StatusCode::kInvalidArgument},
    {"InvalidParameterCombination", StatusCode::kInvalidArgument},
    {"MissingParameter", StatusCode::kInvalidArgument},
    {"InvalidAddress", StatusCode::kInvalidArgument},
    {"InvalidAttributeName", StatusCode::kInvalidArgument},
    {"InvalidAttributeValue", StatusCode::kInvalidArgument},
    {"InvalidIdFormat", StatusCode::kInvalidArgument},
    {"InvalidMessageContents", StatusCode::kInvalidArgument},
    {"InvalidBatchEntryId", StatusCode::kInvalidArgument},
    {"AWS.SimpleQueueService.InvalidBatchEntryId", StatusCode::kInvalidArgument},
    {"BatchEntryIdsNotDistinct", StatusCode::kInvalidArgument},
    {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", StatusCode::kInvalidArgument},
    {"BatchRequestTooLong", StatusCode::kInvalidArgument},
    {"AWS.SimpleQueueService.BatchRequestTooLong", StatusCode::kInvalidArgument},
    {"EmptyBatchRequest", StatusCode::kInvalidArgument},
    {"AWS.SimpleQueueService.EmptyBatchRequest", StatusCode::kInvalidArgument},
    {"TooManyEntriesInBatchRequest", StatusCode::kInvalidArgument},
    {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", StatusCode::kInvalidArgument},
    {"MessageNotInflight", StatusCode::kFailedPrecondition},
    {"AWS.SimpleQueueService.MessageNotInflight", StatusCode::kFailedPrecondition},
    {"OverLimit", StatusCode::kResourceExhausted},
    {"PurgeQueueInProgress", StatusCode::kFailedPrecondition},
    {"AWS.SimpleQueueService.PurgeQueueInProgress", StatusCode::kFailedPrecondition},
    {"UnsupportedOperation", StatusCode::kUnimplemented},
    {"AWS.SimpleQueueService.UnsupportedOperation", StatusCode::kUnimplemented},
    {"InvalidSecurity", StatusCode::kPermissionDenied},
    {"AWS.SimpleQueueService.InvalidSecurity", StatusCode::kPermissionDenied},
    {"KmsAccessDenied", StatusCode::kPermissionDenied},
    {"KmsDisabled", StatusCode::kFailedPrecondition},
    {"KmsInvalidKeyUsage", StatusCode::kFailedPrecondition},
    {"KmsInvalidState", StatusCode::kFailedPrecondition},
    {"KmsNotFound", StatusCode::kFailedPrecondition},
    {"KmsOptInRequired", StatusCode::kFailedPrecondition},
};

}  // namespace

AwsError DecodeJsonError(const HttpReply& reply, bool query_compatible) {
  AwsError e;
  e.http_status = reply.status;
  if (const std::string* id = reply.Header("x-amzn-requestid")) e.request_id = *id;
  auto parsed = Json::Parse(reply.body);
  if (parsed.ok() && parsed->is_object()) {
    for (const char* key : {"__type", "code", "Code"}) {
      const Json* v = parsed->Find(key);
      if (v != nullptr && v->is_string() && !v->as_string().empty()) {
        e.code = SanitizeCode(v->as_string());
        break;
      }
    }
    for (const char* key : {"message", "Message", "errorMessage"}) {
      const Json* v = parsed->Find(key);
      if (v != nullptr && v->is_string()) {
        e.message = v->as_string();
        break;
      }
    }
  } else if (!reply.body.empty()) {
    e.message = reply.body.substr(0, 200);
  }
  if (const std::string* t = reply.Header("x-amzn-errortype"); t != nullptr && !t->empty()) {
    e.code = SanitizeCode(*t);
  }
  if (query_compatible) {
    // "AWS.SimpleQueueService.NonExistentQueue;Sender"
    if (const std::string* q = reply.Header("x-amzn-query-error"); q != nullptr) {
      size_t semi = q->find(';');
      if (semi != std::string::npos && semi > 0) {
        e.code = q->substr(0, semi);
        e.fault = q->substr(semi + 1);
      }
    }
  }
  return e;
}

bool IsClockSkewCode(std::string_view code) { return In(code, kClockSkew); }

ErrorClass ClassifyError(const AwsError& error) {
  if (In(error.code, kThrottling) || error.http_status == 429) return ErrorClass::kThrottling;
  if (In(error.code, kTransient)) return ErrorClass::kTransient;
  if (error.http_status == 500 || error.http_status == 502 || error.http_status == 503 ||
      error.http_status == 504) {
    return ErrorClass::kTransient;
  }
  if (IsClockSkewCode(error.code)) return ErrorClass::kClockSkew;
  return ErrorClass::kTerminal;
}

StatusCode StatusCodeForError(const AwsError& error) {
  if (In(error.code, kThrottling)) return StatusCode::kResourceExhausted;
  for (const auto& row : kTable) {
    if (row.code == error.code) return row.status;
  }
  int s = error.http_status;
  if (s == 400) return StatusCode::kInvalidArgument;
  if (s == 401) return StatusCode::kUnauthenticated;
  if (s == 403) return StatusCode::kPermissionDenied;
  if (s == 404) return StatusCode::kNotFound;
  if (s == 409) return StatusCode::kAborted;
  if (s == 429) return StatusCode::kResourceExhausted;
  if (s == 501) return StatusCode::kUnimplemented;
  if (s == 502 || s == 503 || s == 504) return StatusCode::kUnavailable;
  if (s >= 500) return StatusCode::kInternal;
  if (s >= 400) return StatusCode::kFailedPrecondition;
  return StatusCode::kUnknown;
}

Status ErrorToStatus(std::string_view what, const AwsError& error) {
  std::string msg(what);
  msg += ": ";
  msg += error.code.empty() ? "HTTP " + std::to_string(error.http_status) : error.code;
  if (!error.message.empty()) msg += ": " + error.message;
  return Status(StatusCodeForError(error), std::move(msg));
}

}  // namespace glfm::aws
