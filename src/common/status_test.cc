#include "glfm/status.h"

#include <memory>

#include "testing/status_matchers.h"

namespace glfm {
namespace {

using ::testing::HasSubstr;

TEST(StatusTest, CodesHaveGrpcNumbers) {
  EXPECT_EQ(InvalidArgumentError("x").raw_code(), 3);
  EXPECT_EQ(NotFoundError("x").raw_code(), 5);
  EXPECT_EQ(ResourceExhaustedError("x").raw_code(), 8);
  EXPECT_EQ(FailedPreconditionError("x").raw_code(), 9);
  EXPECT_EQ(InternalError("x").raw_code(), 13);
  EXPECT_EQ(UnavailableError("x").raw_code(), 14);
  EXPECT_EQ(UnauthenticatedError("x").raw_code(), 16);
}

TEST(StatusTest, HttpStatusFollowsGrpcGateway) {
  EXPECT_EQ(HttpStatusForCode(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusForCode(StatusCode::kUnauthenticated), 401);
}

TEST(StatusTest, ToStringAndPrefix) {
  EXPECT_EQ(OkStatus().ToString(), "OK");
  Status s = NotFoundError("game session g1 not found");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: game session g1 not found");
  EXPECT_EQ(s.WithPrefix("Get").message(), "Get: game session g1 not found");
  EXPECT_TRUE(OkStatus().WithPrefix("x").ok());
  EXPECT_EQ(Status(StatusCode::kOk, "dropped").message(), "");
}

Result<int> Half(int v) {
  if (v % 2 != 0) {
    return InvalidArgumentError("value " + std::to_string(v) + " is odd");
  }
  return v / 2;
}

Result<int> Quarter(int v) {
  GLFM_ASSIGN_OR_RETURN(int h, Half(v));
  GLFM_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

Status CheckEven(int v) {
  GLFM_RETURN_IF_ERROR(Half(v));
  return OkStatus();
}

TEST(ResultTest, PropagatesErrorsAndValues) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, HasSubstr("value 3 is odd")));
  EXPECT_OK(CheckEven(4));
  EXPECT_THAT(CheckEven(5), StatusCodeIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(Half(3).value_or(-1), -1);
}

TEST(ResultTest, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> r = NotFoundError("nothing");
  EXPECT_DEATH({ (void)r.value(); }, "NOT_FOUND: nothing");
}

TEST(ResultDeathTest, OkStatusIsNotAnError) {
  EXPECT_DEATH({ Result<int> r = OkStatus(); }, "Result accessed without a value");
}

}  // namespace
}  // namespace glfm
