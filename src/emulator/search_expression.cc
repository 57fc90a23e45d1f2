#include "emulator/search_expression.h"

#include <cctype>
#include <cstdlib>
#include <vector>

namespace glfm::emulator {

struct FilterExpression::Node {
  enum class Kind { kAnd, kOr, kNot, kCompare } kind = Kind::kCompare;
  std::shared_ptr<const Node> left, right;
  std::string operand;
  std::string op;
  SearchValue value;
};

namespace {

using Node = FilterExpression::Node;

bool KnownOperand(const std::string& s) {
  static const char* kNames[] = {"gameSessionId",      "gameSessionName",
                                 "creationTimeMillis", "playerSessionCount",
                                 "maximumSessions",    "hasAvailablePlayerSessions"};
  for (const char* n : kNames) {
    if (s == n) {
      return true;
    }
  }
  return s.rfind("gameSessionProperties.", 0) == 0 && s.size() > 22;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Result<std::shared_ptr<const Node>> Run() {
    GLFM_ASSIGN_OR_RETURN(auto n, Or());
    Skip();
    if (pos_ != s_.size()) {
      return Error("unexpected text");
    }
    return n;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("FilterExpression: " + what + " at position " +
                                std::to_string(pos_));
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) {
      ++pos_;
    }
  }
  // Consumes keyword `kw` (case-insensitive) when followed by a non-word character.
  bool Keyword(const char* kw) {
    Skip();
    size_t n = std::char_traits<char>::length(kw);
    if (s_.size() - pos_ < n) {
      return false;
    }
    for (size_t i = 0; i < n; ++i) {
      if (std::toupper(static_cast<unsigned char>(s_[pos_ + i])) != kw[i]) {
        return false;
      }
    }
    if (pos_ + n < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[pos_ + n])) || s_[pos_ + n] == '_')) {
      return false;
    }
    pos_ += n;
    return true;
  }
  Result<std::shared_ptr<const Node>> Or() {
    GLFM_ASSIGN_OR_RETURN(auto left, And());
    while (Keyword("OR")) {
      GLFM_ASSIGN_OR_RETURN(auto right, And());
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kOr;
      n->left = left;
      n->right = right;
      left = n;
    }
    return left;
  }
  Result<std::shared_ptr<const Node>> And() {
    GLFM_ASSIGN_OR_RETURN(auto left, Not());
    while (Keyword("AND")) {
      GLFM_ASSIGN_OR_RETURN(auto right, Not());
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kAnd;
      n->left = left;
      n->right = right;
      left = n;
    }
    return left;
  }
  Result<std::shared_ptr<const Node>> Not() {
    if (Keyword("NOT")) {
      GLFM_ASSIGN_OR_RETURN(auto inner, Not());
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kNot;
      n->left = inner;
      return std::shared_ptr<const Node>(n);
    }
    return Primary();
  }
  Result<std::shared_ptr<const Node>> Primary() {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      ++pos_;
      GLFM_ASSIGN_OR_RETURN(auto n, Or());
      Skip();
      if (pos_ >= s_.size() || s_[pos_] != ')') {
        return Error("expected ')'");
      }
      ++pos_;
      return n;
    }
    auto n = std::make_shared<Node>();
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '.' || s_[pos_] == '_' || s_[pos_] == '-')) {
      ++pos_;
    }
    n->operand = s_.substr(start, pos_ - start);
    if (!KnownOperand(n->operand)) {
      pos_ = start;
      return Error("unknown operand '" + n->operand + "'");
    }
    Skip();
    static const char* kOps[] = {"<>", "!=", "<=", ">=", "=", "<", ">"};
    for (const char* op : kOps) {
      if (s_.compare(pos_, std::char_traits<char>::length(op), op) == 0) {
        n->op = op;
        pos_ += n->op.size();
        break;
      }
    }
    if (n->op.empty()) {
      return Error("expected a comparison operator");
    }
    Skip();
    if (pos_ >= s_.size()) {
      return Error("expected a value");
    }
    char c = s_[pos_];
    if (c == '\'' || c == '"') {
      ++pos_;
      std::string v;
      while (pos_ < s_.size() && s_[pos_] != c) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) {
          ++pos_;
        }
        v += s_[pos_++];
      }
      if (pos_ >= s_.size()) {
        return Error("unterminated string");
      }
      ++pos_;
      n->value = v;
    } else {
      size_t vs = pos_;
      while (pos_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[pos_])) &&
             s_[pos_] != ')') {
        ++pos_;
      }
      std::string word = s_.substr(vs, pos_ - vs);
      if (word == "true" || word == "false") {
        n->value = word == "true";
      } else {
        char* end = nullptr;
        double d = std::strtod(word.c_str(), &end);
        if (end != nullptr && *end == '\0' && !word.empty()) {
          n->value = d;
        } else {
          n->value = word;
        }
      }
    }
    return std::shared_ptr<const Node>(n);
  }

  const std::string& s_;
  size_t pos_ = 0;
};

// Returns `v` as a number when it is one or a string that parses fully as one.
std::optional<double> AsNumber(const SearchValue& v) {
  if (const double* d = std::get_if<double>(&v)) {
    return *d;
  }
  if (const std::string* s = std::get_if<std::string>(&v)) {
    char* end = nullptr;
    double d = std::strtod(s->c_str(), &end);
    if (!s->empty() && end != nullptr && *end == '\0') {
      return d;
    }
  }
  return std::nullopt;
}

std::string AsText(const SearchValue& v) {
  if (const std::string* s = std::get_if<std::string>(&v)) {
    return *s;
  }
  if (const bool* b = std::get_if<bool>(&v)) {
    return *b ? "true" : "false";
  }
  if (const double* d = std::get_if<double>(&v)) {
    return std::to_string(*d);
  }
  return "";
}

bool Evaluate(const Node& n, const SearchFieldLookup& lookup) {
  switch (n.kind) {
    case Node::Kind::kAnd:
      return Evaluate(*n.left, lookup) && Evaluate(*n.right, lookup);
    case Node::Kind::kOr:
      return Evaluate(*n.left, lookup) || Evaluate(*n.right, lookup);
    case Node::Kind::kNot:
      return !Evaluate(*n.left, lookup);
    case Node::Kind::kCompare:
      break;
  }
  SearchValue have = lookup(n.operand);
  if (std::holds_alternative<std::monostate>(have)) {
    return n.op == "<>" || n.op == "!=";
  }
  int cmp = CompareSearchValues(have, n.value);
  if (n.op == "=") {
    return cmp == 0;
  }
  if (n.op == "<>" || n.op == "!=") {
    return cmp != 0;
  }
  if (n.op == "<") {
    return cmp < 0;
  }
  if (n.op == ">") {
    return cmp > 0;
  }
  if (n.op == "<=") {
    return cmp <= 0;
  }
  return cmp >= 0;
}

}  // namespace

int CompareSearchValues(const SearchValue& a, const SearchValue& b) {
  bool a_none = std::holds_alternative<std::monostate>(a);
  bool b_none = std::holds_alternative<std::monostate>(b);
  if (a_none || b_none) {
    return a_none == b_none ? 0 : (a_none ? 1 : -1);
  }
  auto an = AsNumber(a);
  auto bn = AsNumber(b);
  if (an && bn) {
    return *an < *bn ? -1 : (*an > *bn ? 1 : 0);
  }
  std::string at = AsText(a), bt = AsText(b);
  return at.compare(bt) < 0 ? -1 : (at == bt ? 0 : 1);
}

Result<FilterExpression> FilterExpression::Parse(const std::string& text) {
  Parser p(text);
  GLFM_ASSIGN_OR_RETURN(auto root, p.Run());
  FilterExpression f;
  f.root_ = root;
  return f;
}

bool FilterExpression::Matches(const SearchFieldLookup& lookup) const {
  return root_ == nullptr || Evaluate(*root_, lookup);
}

Result<SortExpression> SortExpression::Parse(const std::string& text) {
  SortExpression s;
  size_t sp = text.find_first_of(" \t");
  s.operand = text.substr(0, sp);
  std::string order =
      sp == std::string::npos ? "ASC" : text.substr(text.find_first_not_of(" \t", sp));
  while (!order.empty() && std::isspace(static_cast<unsigned char>(order.back()))) {
    order.pop_back();
  }
  for (char& c : order) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (!KnownOperand(s.operand)) {
    return InvalidArgumentError("SortExpression: unknown operand '" + s.operand + "'");
  }
  if (order != "ASC" && order != "DESC") {
    return InvalidArgumentError("SortExpression: order must be ASC or DESC, not '" + order + "'");
  }
  s.descending = order == "DESC";
  return s;
}

}  // namespace glfm::emulator
