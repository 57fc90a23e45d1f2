// Status and Result<T>: how every fallible glfm function reports failure.
//
// The codes and their numbers are gRPC's canonical codes (the same as Abseil's and as
// Nakama's runtime errors), so an error crosses the HTTP and Nakama RPC boundaries without a
// translation table. Project code never throws: expected failures travel in these types.
//
// Thread-safety: values; a const Status or Result may be read from many threads at once.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace glfm {

// gRPC canonical status codes; the numbers are part of the wire contract.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// Returns the canonical upper-case name of `code` ("INVALID_ARGUMENT"), or "UNKNOWN" for a
// number outside the table.
std::string_view StatusCodeName(StatusCode code);

// Returns the HTTP status grpc-gateway answers for `code` (3→400, 5→404, 16→401, ...).
int HttpStatusForCode(StatusCode code);

// An outcome: OK, or a code with a message that names what went wrong
// ("game session arn:...:gamesession/fleet-1/abc not found").
class [[nodiscard]] Status {
 public:
  // Constructs OK.
  Status() = default;
  // Constructs a status with `code` and `message`. An OK code drops the message.
  Status(StatusCode code, std::string message);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  int raw_code() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }

  // Returns "OK" or "INVALID_ARGUMENT: message".
  std::string ToString() const;

  // Returns a copy whose message is `prefix + ": " + message()`; OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // Marks a status as deliberately ignored.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
Status CancelledError(std::string message);
Status UnknownError(std::string message);
Status InvalidArgumentError(std::string message);
Status DeadlineExceededError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status ResourceExhaustedError(std::string message);
Status FailedPreconditionError(std::string message);
Status AbortedError(std::string message);
Status OutOfRangeError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);
Status DataLossError(std::string message);
Status UnauthenticatedError(std::string message);

namespace internal {
// Aborts the process: a Result was read without a value, or built from an OK status.
[[noreturn]] void DieBadResultAccess(const Status& status);
}  // namespace internal

// A value of type T, or the non-OK Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is meaningless");

 public:
  // Constructs from a value.
  Result(const T& value) : rep_(std::in_place_index<1>, value) {}  // NOLINT: implicit by design
  Result(T&& value) : rep_(std::in_place_index<1>, std::move(value)) {}  // NOLINT
  template <typename U,
            typename = std::enable_if_t<
                std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Status> &&
                !std::is_same_v<std::decay_t<U>, Result<T>> && !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : rep_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT
  // Constructs from an error. An OK status is a programming error and aborts.
  Result(Status status) : rep_(std::in_place_index<0>, std::move(status)) {  // NOLINT
    if (std::get<0>(rep_).ok()) {
      internal::DieBadResultAccess(std::get<0>(rep_));
    }
  }

  bool ok() const { return rep_.index() == 1; }

  // Returns OK when a value is present, else the error.
  Status status() const { return ok() ? Status() : std::get<0>(rep_); }

  // Returns the value; aborts when there is none (check ok() first).
  const T& value() const& {
    Check();
    return std::get<1>(rep_);
  }
  T& value() & {
    Check();
    return std::get<1>(rep_);
  }
  T&& value() && {
    Check();
    return std::get<1>(std::move(rep_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // Returns the value, or `fallback` when there is none.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<1>(rep_) : static_cast<T>(std::forward<U>(fallback));
  }

  void IgnoreError() const {}

 private:
  void Check() const {
    if (!ok()) {
      internal::DieBadResultAccess(std::get<0>(rep_));
    }
  }

  std::variant<Status, T> rep_;
};

namespace internal {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
Status AsStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace glfm

#define GLFM_STATUS_CONCAT_INNER_(a, b) a##b
#define GLFM_STATUS_CONCAT_(a, b) GLFM_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (a Status or Result) and returns its status from the enclosing function
// when it is not OK.
#define GLFM_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                              \
    if (auto glfm_status_ = ::glfm::internal::AsStatus(expr); !glfm_status_.ok()) { \
      return glfm_status_;                                                          \
    }                                                                               \
  } while (false)

// Evaluates `rexpr` (a Result<T>); on error returns its status, otherwise moves the value
// into `lhs` (a declaration such as `auto x` or an existing variable).
#define GLFM_ASSIGN_OR_RETURN(lhs, rexpr) \
  GLFM_ASSIGN_OR_RETURN_IMPL_(GLFM_STATUS_CONCAT_(glfm_result_, __LINE__), lhs, rexpr)

#define GLFM_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                                \
  if (!result.ok()) {                                   \
    return result.status();                             \
  }                                                     \
  lhs = std::move(result).value()
