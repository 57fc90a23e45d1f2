// The query language of the instance index: Nakama's storage-index syntax, which is Bleve's
// query-string syntax (https://heroiclabs.com/docs/nakama/concepts/multiplayer/query-syntax/,
// blevesearch/bleve search/query/query_string.y). See docs/queries.md for the user's view.
//
//   +clause   must match           -clause   must not match         clause   should match
//   field:term  field:"a phrase"  field:5  field:>5 >= < <= (negatives too)
//   field:>"2024-01-01T00:00:00Z" (RFC 3339 or YYYY-MM-DD date ranges)
//   field:wild*car?d   field:/regex/   field:term~2 (fuzzy)   clause^3 (boost)
//   backslash escapes any of +-=&|><!(){}[]^"~*?:\/ and space
//
// ParseQuery turns a string into a Query; the index evaluates it. Parsing is pure.
//
// Thread-safety: pure functions; a parsed Query is an immutable value that any number of
// threads may read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "glfm/status.h"

namespace re2 {
class RE2;
}

namespace glfm::index {

// What one clause asks of one field.
enum class ClauseKind {
  kMatchAll,      // a bare `*`: every document
  kTerm,          // field:term or field:"phrase": a keyword equal to the text
  kNumber,        // field:5: a number equal to the value, or a keyword equal to the text
                  // (Bleve makes `field:5` a disjunction of both)
  kNumericRange,  // field:>5 ... : a number in the range
  kDateRange,     // field:>"2024-01-01T00:00:00Z": a date in the range
  kWildcard,      // field:ab*c?: a keyword matching the whole pattern
  kRegex,         // field:/re/: a keyword the RE2 regex matches whole (Go regexp syntax)
  kFuzzy,         // field:term~N: a keyword within Levenshtein distance N (N <= 2)
};

enum class Occur { kMust, kShould, kMustNot };

// One parsed clause. `field` is the canonical field name (aliases resolved) or empty for
// "any field".
struct Clause {
  Occur occur = Occur::kShould;
  ClauseKind kind = ClauseKind::kTerm;
  std::string field;
  std::string text;   // the term, phrase or number text, unescaped
  double number = 0;  // kNumber
  // kNumericRange (as doubles) and kDateRange (as nanoseconds since the epoch, stored in
  // min_ns/max_ns). A missing bound is open.
  bool has_min = false, has_max = false;
  bool min_inclusive = false, max_inclusive = false;
  double min = 0, max = 0;
  int64_t min_ns = 0, max_ns = 0;
  // kWildcard: the pattern with escapes resolved; `wild` marks which bytes are operators
  // ('*' or '?') rather than literal characters.
  std::string pattern;
  std::vector<bool> wild;
  std::shared_ptr<const re2::RE2> regex;  // kRegex
  int fuzziness = 0;                      // kFuzzy
  double boost = 1;  // parsed and kept; results are ordered explicitly, never scored
};

struct Query {
  std::vector<Clause> clauses;
  int must_count = 0, should_count = 0, must_not_count = 0;
  bool match_all = false;  // empty query, or only `*`

  // Returns whether a document passes given which clauses it matches, per Bleve's
  // query-string boolean: every must, no must-not, and at least one should when there is no
  // must (should clauses alongside a must only affect scoring, which glfm does not do).
  bool Accepts(int musts_matched, int shoulds_matched, int must_nots_matched) const {
    if (musts_matched != must_count || must_nots_matched != 0) return false;
    if (must_count == 0 && should_count > 0) return shoulds_matched > 0;
    return true;
  }
};

// Parses `text`. Errors: invalid-argument naming the 1-based position and the offending
// token, e.g. `query: unexpected "(" at position 7`.
Result<Query> ParseQuery(std::string_view text);

// Returns the canonical spelling of a field name: the README's camelCase spellings
// (value.playerCount, value.connectionInfo.ipAddress, createTime, ...) become the JSON
// names (value.player_count, ...). Other names are returned unchanged.
std::string CanonicalField(std::string_view field);

// Returns whether `text` matches the wildcard `pattern` (see Clause::wild) as a whole.
bool WildcardMatch(std::string_view pattern, const std::vector<bool>& wild, std::string_view text);

// Returns whether the Levenshtein distance between `a` and `b` is at most `max`.
bool WithinEditDistance(std::string_view a, std::string_view b, int max);

}  // namespace glfm::index
