#include "index/query.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "glfm/codec.h"

namespace glfm::index {
namespace {

// The characters Bleve's query-string lexer lets a backslash escape, plus space.
bool IsEscapable(char c) {
  static constexpr std::string_view kEscapable = "+-=&|><!(){}[]^\"~*?:\\/ ";
  return kEscapable.find(c) != std::string_view::npos || c == '\t' || c == '\n' || c == '\r';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Quotes a token for an error message, cut to a readable length.
std::string Quote(std::string_view token) {
  std::string out = "\"";
  out.append(token.substr(0, 40));
  if (token.size() > 40) out.append("...");
  out.push_back('"');
  return out;
}

// Returns whether `s` is a Bleve number token: digits with at most one '.', as its lexer
// reads them ("5", "2.5", ".5" is not one).
bool IsNumberToken(std::string_view s) {
  if (s.empty() || !(s[0] >= '0' && s[0] <= '9')) return false;
  bool dot = false;
  for (char c : s) {
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (!(c >= '0' && c <= '9')) {
      return false;
    }
  }
  return s.back() != '.';
}

Result<double> ToDouble(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) {
    return InvalidArgumentError("bad number");
  }
  return v;
}

// Parses a date bound: RFC 3339, or a bare YYYY-MM-DD meaning midnight UTC (the Nakama docs
// write `created:>"2021-12-25"`).
Result<int64_t> ParseDateNs(std::string_view text) {
  // Dates are nanoseconds in an int64: years 1678 through 2261 only.
  int year = 0;
  if (text.size() < 4 ||
      std::from_chars(text.data(), text.data() + 4, year).ptr != text.data() + 4 || year < 1678 ||
      year > 2261) {
    return InvalidArgumentError("bad date");
  }
  std::string full(text);
  if (text.size() == 10) full.append("T00:00:00Z");
  GLFM_ASSIGN_OR_RETURN(Timestamp t, ParseRfc3339(full));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct Alias {
  std::string_view from, to;
};
constexpr Alias kAliases[] = {
    {"value.playerCount", "value.player_count"},
    {"value.createTime", "value.create_time"},
    {"value.connectionInfo.ipAddress", "value.connection_info.ip_address"},
    {"value.connectionInfo.dnsName", "value.connection_info.dns_name"},
    {"value.connectionInfo.port", "value.connection_info.port"},
    {"createTime", "create_time"},
    {"updateTime", "update_time"},
};

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  Result<Query> Parse() {
    Query q;
    bool only_stars = true;
    SkipSpaces();
    while (pos_ < in_.size()) {
      GLFM_ASSIGN_OR_RETURN(Clause c, ParseClause());
      if (c.kind != ClauseKind::kMatchAll || c.occur == Occur::kMustNot) only_stars = false;
      switch (c.occur) {
        case Occur::kMust:
          ++q.must_count;
          break;
        case Occur::kShould:
          ++q.should_count;
          break;
        case Occur::kMustNot:
          ++q.must_not_count;
          break;
      }
      q.clauses.push_back(std::move(c));
      SkipSpaces();
    }
    q.match_all = only_stars;
    return q;
  }

 private:
  Status Error(size_t at, std::string_view what, std::string_view token) {
    return InvalidArgumentError("query: " + std::string(what) + " " + Quote(token) +
                                " at position " + std::to_string(at + 1));
  }
  Status ErrorAtEnd(std::string_view what) {
    return InvalidArgumentError("query: " + std::string(what) + " at end of query (position " +
                                std::to_string(in_.size() + 1) + ")");
  }

  void SkipSpaces() {
    while (pos_ < in_.size() && IsSpace(in_[pos_])) ++pos_;
  }
  bool AtClauseEnd() const { return pos_ >= in_.size() || IsSpace(in_[pos_]); }
  std::string_view Rest() const {
    size_t end = pos_;
    while (end < in_.size() && !IsSpace(in_[end])) ++end;
    return in_.substr(pos_, end - pos_);
  }

  // A bare word: up to an unescaped space, ':', '^' or '~' (and '"' which may only open a
  // phrase). Escapes are resolved into `out`; `wild` records unescaped '*' and '?'.
  Status ReadWord(std::string& out, std::vector<bool>* wild, bool stop_at_colon) {
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (IsSpace(c) || c == '^' || c == '~' || (stop_at_colon && c == ':')) break;
      if (c == '"') return Error(pos_, "unexpected", "\"");
      if (c == '\\') {
        if (pos_ + 1 >= in_.size()) return ErrorAtEnd("dangling backslash");
        char e = in_[pos_ + 1];
        if (!IsEscapable(e)) return Error(pos_, "invalid escape", in_.substr(pos_, 2));
        out.push_back(e);
        if (wild) wild->push_back(false);
        pos_ += 2;
        continue;
      }
      if (c == '(' || c == ')' || c == '{' || c == '}' || c == '[' || c == ']') {
        // Bleve has no grouping; say so instead of matching a literal parenthesis.
        return Error(pos_, "unexpected", std::string_view(&in_[pos_], 1));
      }
      out.push_back(c);
      if (wild) wild->push_back(c == '*' || c == '?');
      ++pos_;
    }
    return OkStatus();
  }

  // A phrase starting at the opening quote; escapes resolved.
  Status ReadPhrase(std::string& out) {
    size_t start = pos_;
    ++pos_;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '"') {
        ++pos_;
        return OkStatus();
      }
      if (c == '\\') {
        if (pos_ + 1 >= in_.size()) break;
        char e = in_[pos_ + 1];
        if (!IsEscapable(e)) return Error(pos_, "invalid escape", in_.substr(pos_, 2));
        out.push_back(e);
        pos_ += 2;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    return Error(start, "unterminated phrase", in_.substr(start));
  }

  // A regex from the opening '/' to the next unescaped '/'; `\/` stands for '/', any other
  // backslash pair is kept for RE2.
  Status ReadRegex(std::string& out) {
    size_t start = pos_;
    ++pos_;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == '/') {
        ++pos_;
        return OkStatus();
      }
      if (c == '\\' && pos_ + 1 < in_.size()) {
        if (in_[pos_ + 1] == '/') {
          out.push_back('/');
        } else {
          out.append(in_.substr(pos_, 2));
        }
        pos_ += 2;
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
    return Error(start, "unterminated regex", in_.substr(start));
  }

  // `^N` / `~N`: digits (and '.') after the operator; empty means `default_value`.
  Result<double> ReadSuffixNumber(double default_value, std::string_view what) {
    size_t start = pos_;
    ++pos_;
    size_t num_start = pos_;
    while (pos_ < in_.size() && ((in_[pos_] >= '0' && in_[pos_] <= '9') || in_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == num_start) return default_value;
    auto v = ToDouble(in_.substr(num_start, pos_ - num_start));
    if (!v.ok()) return Error(start, what, in_.substr(start, pos_ - start));
    return *v;
  }

  Result<Clause> ParseClause() {
    Clause c;
    size_t clause_start = pos_;
    if (in_[pos_] == '+' || in_[pos_] == '-') {
      c.occur = in_[pos_] == '+' ? Occur::kMust : Occur::kMustNot;
      ++pos_;
      if (AtClauseEnd())
        return Error(clause_start, "operator without a clause", in_.substr(clause_start, 1));
    }
    // The first token: a field name, or an unqualified value.
    size_t first_start = pos_;
    std::string first;
    std::vector<bool> first_wild;
    bool first_phrase = false, first_regex = false;
    if (in_[pos_] == '"') {
      GLFM_RETURN_IF_ERROR(ReadPhrase(first));
      first_phrase = true;
    } else if (in_[pos_] == '/') {
      GLFM_RETURN_IF_ERROR(ReadRegex(first));
      first_regex = true;
    } else {
      GLFM_RETURN_IF_ERROR(ReadWord(first, &first_wild, /*stop_at_colon=*/true));
    }
    if (pos_ < in_.size() && in_[pos_] == ':' && !first_regex) {
      if (first.empty()) return Error(first_start, "empty field name before", ":");
      c.field = CanonicalField(first);
      ++pos_;
      if (AtClauseEnd())
        return Error(clause_start, "missing value after",
                     in_.substr(clause_start, pos_ - clause_start));
      GLFM_RETURN_IF_ERROR(ParseValue(c));
    } else {
      // Unqualified: the value itself, searched in every field.
      if (first_regex) {
        GLFM_RETURN_IF_ERROR(SetRegex(c, first, first_start));
      } else if (first_phrase) {
        c.kind = ClauseKind::kTerm;
        c.text = std::move(first);
      } else {
        if (first.empty()) return Error(first_start, "unexpected", Rest());
        GLFM_RETURN_IF_ERROR(SetWord(c, std::move(first), std::move(first_wild), first_start));
      }
    }
    if (pos_ < in_.size() && in_[pos_] == '^') {
      size_t at = pos_;
      GLFM_ASSIGN_OR_RETURN(c.boost, ReadSuffixNumber(1, "invalid boost"));
      (void)at;
    }
    if (!AtClauseEnd()) return Error(pos_, "unexpected", Rest());
    return c;
  }

  Status SetRegex(Clause& c, const std::string& re, size_t at) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(1 << 20);
    // Bleve's regexp query matches whole terms; anchor like it does.
    auto compiled = std::make_shared<RE2>("(?s:" + re + ")", options);
    if (!compiled->ok()) {
      return Error(at, "invalid regex (" + compiled->error() + ")", re);
    }
    c.kind = ClauseKind::kRegex;
    c.text = re;
    c.regex = std::move(compiled);
    return OkStatus();
  }

  // A bare word value: number, wildcard or term, optionally fuzzy.
  Status SetWord(Clause& c, std::string word, std::vector<bool> wild, size_t at) {
    bool has_wild = std::find(wild.begin(), wild.end(), true) != wild.end();
    if (pos_ < in_.size() && in_[pos_] == '~') {
      size_t tilde = pos_;
      GLFM_ASSIGN_OR_RETURN(double f, ReadSuffixNumber(1, "invalid fuzziness"));
      // Bleve's fuzzy searcher refuses more than 2 edits (search.MaxFuzziness).
      if (f > 2 || f != std::floor(f)) {
        return Error(tilde, "fuzziness must be 0, 1 or 2, got", in_.substr(tilde, pos_ - tilde));
      }
      if (has_wild) return Error(at, "fuzzy wildcard is not supported", word);
      c.kind = ClauseKind::kFuzzy;
      c.fuzziness = static_cast<int>(f);
      c.text = std::move(word);
      return OkStatus();
    }
    if (has_wild) {
      if (word == "*" && c.field.empty()) {
        c.kind = ClauseKind::kMatchAll;
        return OkStatus();
      }
      c.kind = ClauseKind::kWildcard;
      c.pattern = std::move(word);
      c.wild = std::move(wild);
      return OkStatus();
    }
    if (IsNumberToken(word)) {
      auto v = ToDouble(word);
      if (v.ok()) {
        c.kind = ClauseKind::kNumber;
        c.number = *v;
        c.text = std::move(word);
        return OkStatus();
      }
    }
    c.kind = ClauseKind::kTerm;
    c.text = std::move(word);
    return OkStatus();
  }

  Status ParseValue(Clause& c) {
    size_t at = pos_;
    char ch = in_[pos_];
    if (ch == '>' || ch == '<') {
      bool greater = ch == '>';
      ++pos_;
      bool inclusive = false;
      if (pos_ < in_.size() && in_[pos_] == '=') {
        inclusive = true;
        ++pos_;
      }
      if (AtClauseEnd()) return Error(at, "range without a bound", in_.substr(at, pos_ - at));
      if (in_[pos_] == '"') {
        size_t phrase_at = pos_;
        std::string text;
        GLFM_RETURN_IF_ERROR(ReadPhrase(text));
        auto ns = ParseDateNs(text);
        if (!ns.ok()) return Error(phrase_at, "invalid date (want RFC 3339)", text);
        c.kind = ClauseKind::kDateRange;
        if (greater) {
          c.has_min = true;
          c.min_inclusive = inclusive;
          c.min_ns = *ns;
        } else {
          c.has_max = true;
          c.max_inclusive = inclusive;
          c.max_ns = *ns;
        }
        return OkStatus();
      }
      size_t num_at = pos_;
      std::string text;
      if (in_[pos_] == '-') {
        text.push_back('-');
        ++pos_;
      }
      while (pos_ < in_.size() && !IsSpace(in_[pos_]) && in_[pos_] != '^') {
        text.push_back(in_[pos_++]);
      }
      std::string_view digits = std::string_view(text).substr(text[0] == '-' ? 1 : 0);
      auto v = IsNumberToken(digits) ? ToDouble(text) : Result<double>(InvalidArgumentError(""));
      if (!v.ok()) return Error(num_at, "expected a number or a quoted date, got", text);
      c.kind = ClauseKind::kNumericRange;
      if (greater) {
        c.has_min = true;
        c.min_inclusive = inclusive;
        c.min = *v;
      } else {
        c.has_max = true;
        c.max_inclusive = inclusive;
        c.max = *v;
      }
      return OkStatus();
    }
    if (ch == '"') {
      std::string text;
      GLFM_RETURN_IF_ERROR(ReadPhrase(text));
      c.kind = ClauseKind::kTerm;
      c.text = std::move(text);
      return OkStatus();
    }
    if (ch == '/') {
      std::string re;
      GLFM_RETURN_IF_ERROR(ReadRegex(re));
      return SetRegex(c, re, at);
    }
    // A negative number (Bleve's posOrNegNumber) or a word.
    std::string word;
    std::vector<bool> wild;
    GLFM_RETURN_IF_ERROR(ReadWord(word, &wild, /*stop_at_colon=*/false));
    if (word.empty()) return Error(at, "unexpected", Rest());
    if (word.size() > 1 && word[0] == '-' && IsNumberToken(std::string_view(word).substr(1)) &&
        !(pos_ < in_.size() && in_[pos_] == '~')) {
      auto v = ToDouble(word);
      if (v.ok()) {
        c.kind = ClauseKind::kNumber;
        c.number = *v;
        c.text = std::move(word);
        return OkStatus();
      }
    }
    return SetWord(c, std::move(word), std::move(wild), at);
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

std::string CanonicalField(std::string_view field) {
  for (const Alias& a : kAliases) {
    if (field == a.from) return std::string(a.to);
  }
  return std::string(field);
}

Result<Query> ParseQuery(std::string_view text) { return Parser(text).Parse(); }

bool WildcardMatch(std::string_view pattern, const std::vector<bool>& wild, std::string_view text) {
  // Iterative glob matching with single-star backtracking: O(|pattern| * |text|) worst case.
  size_t p = 0, t = 0, star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && wild[p] && pattern[p] == '*') {
      star_p = p++;
      star_t = t;
    } else if (p < pattern.size() &&
               ((wild[p] && pattern[p] == '?') || (!wild[p] && pattern[p] == text[t]))) {
      ++p;
      ++t;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && wild[p] && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool WithinEditDistance(std::string_view a, std::string_view b, int max) {
  size_t la = a.size(), lb = b.size();
  if ((la > lb ? la - lb : lb - la) > static_cast<size_t>(max)) return false;
  if (max == 0) return a == b;
  // Two-row Levenshtein with an early exit when a whole row exceeds `max`.
  std::vector<int> prev(lb + 1), cur(lb + 1);
  for (size_t j = 0; j <= lb; ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= la; ++i) {
    cur[0] = static_cast<int>(i);
    int row_min = cur[0];
    for (size_t j = 1; j <= lb; ++j) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > max) return false;
    std::swap(prev, cur);
  }
  return prev[lb] <= max;
}

}  // namespace glfm::index
