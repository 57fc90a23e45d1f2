// GoogleTest matchers for Status and Result<T>.
//
//   EXPECT_OK(status_or_result);
//   EXPECT_THAT(result, IsOkAndHolds(42));
//   EXPECT_THAT(status, StatusIs(StatusCode::kNotFound, HasSubstr("fleet-1")));
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>

#include "glfm/status.h"

namespace glfm {

inline void PrintTo(const Status& s, std::ostream* os) { *os << s.ToString(); }
template <typename T>
void PrintTo(const Result<T>& r, std::ostream* os) {
  *os << (r.ok() ? std::string("OK (value)") : r.status().ToString());
}

namespace testing_internal {
inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
Status GetStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace testing_internal

// Matches a Status or Result whose code is `code` and whose message matches `message`.
MATCHER_P2(StatusIs, code, message_matcher,
           std::string("has code ") + std::string(StatusCodeName(code))) {
  Status s = testing_internal::GetStatus(arg);
  if (s.code() != code) {
    *result_listener << "whose status is " << s.ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, s.message(), result_listener);
}

// Matches a Status or Result whose code is `code`, whatever the message.
MATCHER_P(StatusCodeIs, code, std::string("has code ") + std::string(StatusCodeName(code))) {
  Status s = testing_internal::GetStatus(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.code() == code;
}

// Matches an OK Result whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

MATCHER(IsOk, "is OK") {
  Status s = testing_internal::GetStatus(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.ok();
}

}  // namespace glfm

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::glfm::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::glfm::IsOk())
