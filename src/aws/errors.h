// Decoding of AWS JSON-protocol errors (awsJson1_0 for SQS, awsJson1_1 for GameLift) and
// their mapping to glfm Status codes and to the standard retry mode's error classes.
// docs/errors.md is the table in prose; keep the two in step.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "aws/http_transport.h"
#include "glfm/status.h"

namespace glfm::aws {

// One error answer from an AWS service.
struct AwsError {
  int http_status = 0;
  // The error code with any "namespace#" prefix and ":suffix" removed
  // ("ThrottlingException"). For SQS in query-compatible mode, the legacy code from
  // x-amzn-query-error ("AWS.SimpleQueueService.NonExistentQueue").
  std::string code;
  std::string message;
  std::string request_id;  // x-amzn-requestid
  std::string fault;       // "Sender" / "Receiver" from x-amzn-query-error, else ""
};

// Decodes an error reply: the code from x-amzn-query-error (when `query_compatible`), else
// X-Amzn-ErrorType, else the body's "__type" or "code"; the message from "message",
// "Message" or "errorMessage". A body that is not JSON leaves the code empty and keeps up to
// 200 bytes of it as the message.
AwsError DecodeJsonError(const HttpReply& reply, bool query_compatible);

// How the standard retry mode treats an error.
enum class ErrorClass {
  kThrottling,  // retried, throttling codes (ThrottlingException, RequestLimitExceeded, ...)
  kTransient,   // retried: 500/502/503/504, RequestTimeout, network errors
  kClockSkew,   // retried once the clock offset has been corrected
  kTerminal,    // not retried: every other 4xx
};

// Classifies an error as the AWS SDKs' standard retry mode does.
ErrorClass ClassifyError(const AwsError& error);

// True for the error codes that mean "your clock is off" (RequestTimeTooSkewed,
// InvalidSignatureException, SignatureDoesNotMatch, RequestExpired, AuthFailure, ...).
bool IsClockSkewCode(std::string_view code);

// Returns the Status code for `error` (docs/errors.md).
StatusCode StatusCodeForError(const AwsError& error);

// Returns the Status for `error`: "<Service>.<Operation>: <code>: <message>".
Status ErrorToStatus(std::string_view what, const AwsError& error);

}  // namespace glfm::aws
