// GameLift SearchGameSessions filter and sort expressions.
//
// Filter: comparisons `operand op value` joined by AND / OR / NOT and parentheses, where op is
// one of = <> != < > <= >= and value is a number, true/false, or a quoted string ('x' or
// "x"). Operands: gameSessionId, gameSessionName, gameSessionProperties.<key>,
// creationTimeMillis, playerSessionCount, maximumSessions, hasAvailablePlayerSessions.
// Sort: `operand ASC|DESC`.
//
// Thread-safety: a parsed expression is immutable; Matches may run on many threads at once.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "glfm/status.h"

namespace glfm::emulator {

// A field value: a string, a number or a boolean; monostate when the field is absent.
using SearchValue = std::variant<std::monostate, std::string, double, bool>;
// Returns the value of an operand ("playerSessionCount", "gameSessionProperties.mode").
using SearchFieldLookup = std::function<SearchValue(const std::string& operand)>;

class FilterExpression {
 public:
  // Parses `text`. Errors: invalid-argument naming the position and what was expected.
  static Result<FilterExpression> Parse(const std::string& text);
  // True when the session described by `lookup` satisfies the expression.
  bool Matches(const SearchFieldLookup& lookup) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

struct SortExpression {
  std::string operand;
  bool descending = false;
  // Parses "creationTimeMillis DESC". Errors: invalid-argument for an unknown operand or
  // order.
  static Result<SortExpression> Parse(const std::string& text);
};

// Orders two values: negative, zero, positive; absent values sort last.
int CompareSearchValues(const SearchValue& a, const SearchValue& b);

}  // namespace glfm::emulator
