#include "glfm/status.h"

#include <cstdio>

namespace glfm {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kCancelled:
      return "CANCELLED";
    case StatusCode::kUnknown:
      return "UNKNOWN";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kAborted:
      return "ABORTED";
    case StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

// grpc-gateway's runtime.HTTPStatusFromCode.
int HttpStatusForCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kUnknown:
      return 500;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kInternal:
      return 500;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDataLoss:
      return 500;
    case StatusCode::kUnauthenticated:
      return 401;
  }
  return 500;
}

Status::Status(StatusCode code, std::string message) : code_(code) {
  if (code != StatusCode::kOk) {
    message_ = std::move(message);
  }
}

std::string Status::ToString() const {
  if (ok()) {
    return "OK";
  }
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithPrefix(std::string_view prefix) const {
  if (ok()) {
    return *this;
  }
  std::string m(prefix);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

#define GLFM_DEFINE_ERROR_(Name, Code) \
  Status Name(std::string message) { return Status(StatusCode::Code, std::move(message)); }
GLFM_DEFINE_ERROR_(CancelledError, kCancelled)
GLFM_DEFINE_ERROR_(UnknownError, kUnknown)
GLFM_DEFINE_ERROR_(InvalidArgumentError, kInvalidArgument)
GLFM_DEFINE_ERROR_(DeadlineExceededError, kDeadlineExceeded)
GLFM_DEFINE_ERROR_(NotFoundError, kNotFound)
GLFM_DEFINE_ERROR_(AlreadyExistsError, kAlreadyExists)
GLFM_DEFINE_ERROR_(PermissionDeniedError, kPermissionDenied)
GLFM_DEFINE_ERROR_(ResourceExhaustedError, kResourceExhausted)
GLFM_DEFINE_ERROR_(FailedPreconditionError, kFailedPrecondition)
GLFM_DEFINE_ERROR_(AbortedError, kAborted)
GLFM_DEFINE_ERROR_(OutOfRangeError, kOutOfRange)
GLFM_DEFINE_ERROR_(UnimplementedError, kUnimplemented)
GLFM_DEFINE_ERROR_(InternalError, kInternal)
GLFM_DEFINE_ERROR_(UnavailableError, kUnavailable)
GLFM_DEFINE_ERROR_(DataLossError, kDataLoss)
GLFM_DEFINE_ERROR_(UnauthenticatedError, kUnauthenticated)
#undef GLFM_DEFINE_ERROR_

namespace internal {
void DieBadResultAccess(const Status& status) {
  std::fprintf(stderr, "glfm: fatal: Result accessed without a value (status: %s)\n",
               status.ToString().c_str());
  std::abort();
}
}  // namespace internal

}  // namespace glfm
