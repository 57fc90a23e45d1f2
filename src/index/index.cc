#include "index/index.h"

#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/check.h"
#include "index/query.h"

namespace glfm::index {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kAnyField = kNone - 1;

int64_t ToNs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

enum class Kind : uint8_t { kKeyword, kNumber, kDate };

// One indexed value of a document. Keywords point into the term dictionary and remember
// their position in the posting list so that removal is O(1).
struct FieldValue {
  uint32_t field;
  Kind kind;
  uint32_t term;  // kKeyword
  uint32_t pos;   // kKeyword: index in the posting list
  union {
    double num;  // kNumber
    int64_t ns;  // kDate
  };
};

struct Doc {
  std::shared_ptr<const InstanceInfo> info;  // null when the slot is free
  std::vector<FieldValue> fields;
  int64_t create_ns = 0;
  int32_t player_count = 0;
  uint64_t seq = 0;        // sequence of the last change of anything
  uint64_t order_seq = 0;  // sequence of insertion or the last change of the default order key
};

// A sort key value: missing, a number, a date or a keyword.
struct KeyVal {
  uint8_t rank = 3;  // 0 number, 1 date, 2 keyword, 3 missing
  double num = 0;
  int64_t ns = 0;
  std::string str;
};

// Compares two key values for one order field: missing last in either direction.
int CompareKey(const KeyVal& a, const KeyVal& b, bool descending) {
  if (a.rank == 3 || b.rank == 3) return (a.rank == 3) - (b.rank == 3);
  int c = 0;
  if (a.rank != b.rank) {
    c = a.rank < b.rank ? -1 : 1;
  } else if (a.rank == 0) {
    c = a.num < b.num ? -1 : (a.num > b.num ? 1 : 0);
  } else if (a.rank == 1) {
    c = a.ns < b.ns ? -1 : (a.ns > b.ns ? 1 : 0);
  } else {
    c = a.str.compare(b.str);
    c = c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return descending ? -c : c;
}

// FNV-1a, for tying a cursor to its query.
uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64Url(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    if (i + 1 < in.size()) out.push_back(kB64[(v >> 6) & 63]);
  }
  return out;
}

bool UnBase64Url(std::string_view in, std::string& out) {
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = std::strchr(kB64, c);
    if (c == '\0' || p == nullptr) return false;
    acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

// The cursor: which query it belongs to, the sequence number of the first page, and the
// sort key and id of the last instance returned.
struct Cursor {
  uint64_t tie = 0;
  uint64_t snapshot = 0;
  std::vector<KeyVal> keys;
  std::string id;
};

constexpr uint8_t kCursorVersion = 1;

void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
bool GetU64(std::string_view& s, uint64_t& v) {
  if (s.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(s[i])) << (8 * i);
  s.remove_prefix(8);
  return true;
}
void PutStr(std::string& s, std::string_view v) {
  PutU64(s, v.size());
  s.append(v);
}
bool GetStr(std::string_view& s, std::string& v) {
  uint64_t n = 0;
  if (!GetU64(s, n) || n > s.size()) return false;
  v.assign(s.substr(0, n));
  s.remove_prefix(n);
  return true;
}

std::string EncodeCursor(const Cursor& c) {
  std::string s;
  s.push_back(static_cast<char>(kCursorVersion));
  PutU64(s, c.tie);
  PutU64(s, c.snapshot);
  s.push_back(static_cast<char>(c.keys.size()));
  for (const KeyVal& k : c.keys) {
    s.push_back(static_cast<char>(k.rank));
    if (k.rank == 0) {
      uint64_t bits;
      std::memcpy(&bits, &k.num, 8);
      PutU64(s, bits);
    } else if (k.rank == 1) {
      PutU64(s, static_cast<uint64_t>(k.ns));
    } else if (k.rank == 2) {
      PutStr(s, k.str);
    }
  }
  PutStr(s, c.id);
  return Base64Url(s);
}

Result<Cursor> DecodeCursor(std::string_view text, uint64_t tie, size_t order_size) {
  Status bad = InvalidArgumentError("cursor: malformed");
  std::string raw;
  if (text.size() > 8192 || !UnBase64Url(text, raw) || raw.empty()) return bad;
  std::string_view s(raw);
  if (uint8_t(s[0]) != kCursorVersion) return bad;
  s.remove_prefix(1);
  Cursor c;
  if (!GetU64(s, c.tie) || !GetU64(s, c.snapshot) || s.empty()) return bad;
  if (c.tie != tie) {
    return InvalidArgumentError(
        "cursor: issued for a different query, limit or order; start again without a cursor");
  }
  size_t n = uint8_t(s[0]);
  s.remove_prefix(1);
  if (n != order_size) return bad;
  c.keys.resize(n);
  for (KeyVal& k : c.keys) {
    if (s.empty()) return bad;
    k.rank = uint8_t(s[0]);
    s.remove_prefix(1);
    uint64_t v = 0;
    if (k.rank == 0) {
      if (!GetU64(s, v)) return bad;
      std::memcpy(&k.num, &v, 8);
    } else if (k.rank == 1) {
      if (!GetU64(s, v)) return bad;
      k.ns = static_cast<int64_t>(v);
    } else if (k.rank == 2) {
      if (!GetStr(s, k.str)) return bad;
    } else if (k.rank != 3) {
      return bad;
    }
  }
  if (!GetStr(s, c.id) || !s.empty()) return bad;
  return c;
}

bool IsDefaultOrder(const std::vector<OrderField>& order) { return order == DefaultOrder(); }

// A clause bound to the index's dictionaries for one query.
struct Bound {
  const Clause* clause;
  uint32_t field;  // kAnyField, kNone (unknown field: matches nothing) or an id
  uint32_t term;   // the keyword's term id, or kNone
};

}  // namespace

const std::vector<OrderField>& DefaultOrder() {
  static const std::vector<OrderField> kDefault = {{"value.player_count", false},
                                                   {"create_time", true}};
  return kDefault;
}

Result<std::vector<OrderField>> ParseOrder(const std::vector<std::string>& order) {
  if (order.empty()) return DefaultOrder();
  if (order.size() > 16) return InvalidArgumentError("order: at most 16 fields");
  std::vector<OrderField> out;
  for (size_t i = 0; i < order.size(); ++i) {
    std::string_view f = order[i];
    OrderField of;
    if (!f.empty() && (f[0] == '-' || f[0] == '+')) {
      of.descending = f[0] == '-';
      f.remove_prefix(1);
    }
    if (f.empty() || f.find_first_of(" \t\r\n") != std::string_view::npos) {
      return InvalidArgumentError("order[" + std::to_string(i) + "]: invalid field \"" + order[i] +
                                  "\"");
    }
    of.field = CanonicalField(f);
    out.push_back(std::move(of));
  }
  return out;
}

struct InstanceIndex::Impl {
  explicit Impl(IndexOptions o) : options(o), by_default_order(DefaultLess{this}) {}

  // Orders by value.player_count, then create_time descending, then id. The two numbers live
  // in the set's nodes so that a lookup reads the documents only on a tie.
  struct OrderKey {
    int32_t player_count;
    int64_t create_ns;
    uint32_t slot;
  };
  struct Probe {
    int32_t player_count;
    int64_t create_ns;
    std::string_view id;
  };
  struct DefaultLess {
    using is_transparent = void;
    const Impl* impl;
    std::string_view Id(uint32_t slot) const { return impl->docs[slot].info->id; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.player_count != b.player_count) return a.player_count < b.player_count;
      if (a.create_ns != b.create_ns) return a.create_ns > b.create_ns;
      return IdOf(a) < IdOf(b);
    }
    std::string_view IdOf(const OrderKey& k) const { return Id(k.slot); }
    static std::string_view IdOf(const Probe& p) { return p.id; }
  };
  static OrderKey KeyFor(const Doc& d, uint32_t slot) {
    return {d.player_count, d.create_ns, slot};
  }

  struct Term {
    std::string text;
    uint32_t refs = 0;
  };

  IndexOptions options;
  mutable std::shared_mutex mu;
  // SetPlayerCount's updates not applied yet (slot, count, update time), guarded by
  // pending_mu. They are applied under `mu` held exclusively by the next query, Get, writer
  // or when kMaxPending accumulate, so the hot path never waits for readers to drain.
  struct PendingCount {
    uint32_t slot;
    int32_t player_count;
    int64_t update_ns;
  };
  static constexpr size_t kMaxPending = 512;
  std::mutex pending_mu;
  std::vector<PendingCount> pending;
  std::vector<PendingCount> applying;  // only touched with `mu` held exclusively
  std::atomic<size_t> pending_size{0};
  std::vector<Doc> docs;
  std::vector<uint32_t> free_slots;
  // Keys view the id inside docs[slot].info.
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> ids;
  std::vector<std::string> field_names;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> field_ids;
  std::deque<Term> terms;
  std::vector<uint32_t> free_terms;
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> term_ids;
  std::unordered_map<uint64_t, std::vector<uint32_t>> postings;
  std::set<OrderKey, DefaultLess> by_default_order;
  uint64_t seq = 0;
  uint32_t f_player_count = 0, f_create_time = 0, f_update_time = 0;
  // value.id is answered from `ids` and the snapshot rather than from postings.
  uint32_t f_id = 0;
  uint32_t f_status = 0, f_value_create_time = 0, f_ip_address = 0, f_dns_name = 0, f_port = 0;

  static uint64_t PostingKey(uint32_t field, uint32_t term) {
    return (uint64_t(field) << 32) | term;
  }

  uint32_t FieldId(std::string_view name) {
    auto it = field_ids.find(name);
    if (it != field_ids.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(field_names.size());
    field_names.emplace_back(name);
    field_ids.emplace(std::string(name), id);
    return id;
  }
  uint32_t LookupField(std::string_view name) const {
    auto it = field_ids.find(name);
    return it == field_ids.end() ? kNone : it->second;
  }
  uint32_t LookupTerm(std::string_view text) const {
    auto it = term_ids.find(text);
    return it == term_ids.end() ? kNone : it->second;
  }

  uint32_t Intern(std::string_view text) {
    auto it = term_ids.find(text);
    if (it != term_ids.end()) {
      ++terms[it->second].refs;
      return it->second;
    }
    uint32_t id;
    if (!free_terms.empty()) {
      id = free_terms.back();
      free_terms.pop_back();
      terms[id].text.assign(text);
    } else {
      id = static_cast<uint32_t>(terms.size());
      terms.push_back(Term{std::string(text), 0});
    }
    terms[id].refs = 1;
    term_ids.emplace(terms[id].text, id);
    return id;
  }
  void Unref(uint32_t term) {
    Term& t = terms[term];
    if (--t.refs == 0) {
      term_ids.erase(t.text);
      t.text.clear();
      t.text.shrink_to_fit();
      free_terms.push_back(term);
    }
  }

  // Flattening: appends the document's values to `out`.
  void AddKeyword(std::vector<FieldValue>& out, uint32_t field, std::string_view text) {
    uint32_t term = Intern(text);
    for (const FieldValue& v : out) {
      if (v.kind == Kind::kKeyword && v.field == field && v.term == term) {
        Unref(term);  // an array repeating a value indexes it once
        return;
      }
    }
    FieldValue v{};
    v.field = field;
    v.kind = Kind::kKeyword;
    v.term = term;
    out.push_back(v);
  }
  void AddNumber(std::vector<FieldValue>& out, uint32_t field, double num) {
    FieldValue v{};
    v.field = field;
    v.kind = Kind::kNumber;
    v.term = kNone;
    v.num = num;
    out.push_back(v);
  }
  void AddDate(std::vector<FieldValue>& out, uint32_t field, int64_t ns) {
    FieldValue v{};
    v.field = field;
    v.kind = Kind::kDate;
    v.term = kNone;
    v.ns = ns;
    out.push_back(v);
  }
  void AddJson(std::vector<FieldValue>& out, std::string& path, const Json& j) {
    switch (j.type()) {
      case Json::Type::kNull:
        return;
      case Json::Type::kBool:
        AddKeyword(out, FieldId(path), j.as_bool() ? "T" : "F");
        return;
      case Json::Type::kNumber:
        AddNumber(out, FieldId(path), j.as_double());
        return;
      case Json::Type::kString:
        AddKeyword(out, FieldId(path), j.as_string());
        return;
      case Json::Type::kArray:
        for (const Json& e : j.as_array()) AddJson(out, path, e);
        return;
      case Json::Type::kObject: {
        size_t len = path.size();
        for (const auto& [k, v] : j.as_object()) {
          path.push_back('.');
          path.append(k);
          AddJson(out, path, v);
          path.resize(len);
        }
        return;
      }
    }
  }
  std::vector<FieldValue> scratch;
  std::vector<FieldValue> Flatten(const InstanceInfo& info, int64_t update_ns) {
    std::vector<FieldValue>& out = scratch;
    out.clear();
    int64_t create_ns = ToNs(info.create_time);
    AddKeyword(out, f_status, info.status);
    AddNumber(out, f_player_count, info.player_count);
    AddDate(out, f_create_time, create_ns);
    AddDate(out, f_value_create_time, create_ns);
    AddDate(out, f_update_time, update_ns);
    AddKeyword(out, f_ip_address, info.connection_info.ip_address);
    AddKeyword(out, f_dns_name, info.connection_info.dns_name);
    AddNumber(out, f_port, info.connection_info.port);
    std::string path = "value.metadata";
    AddJson(out, path, info.metadata);
    return std::vector<FieldValue>(out.begin(), out.end());
  }

  void Post(uint32_t slot, FieldValue& v) {
    std::vector<uint32_t>& p = postings[PostingKey(v.field, v.term)];
    v.pos = static_cast<uint32_t>(p.size());
    p.push_back(slot);
  }
  void Unpost(const FieldValue& v) {
    auto it = postings.find(PostingKey(v.field, v.term));
    GLFM_CHECK(it != postings.end());
    std::vector<uint32_t>& p = it->second;
    uint32_t moved = p.back();
    p[v.pos] = moved;
    p.pop_back();
    if (v.pos < p.size()) {
      for (FieldValue& o : docs[moved].fields) {
        if (o.kind == Kind::kKeyword && o.field == v.field && o.term == v.term) {
          o.pos = v.pos;
          break;
        }
      }
    }
    if (p.empty()) postings.erase(it);
  }
  void Unindex(Doc& d) {
    for (const FieldValue& v : d.fields) {
      if (v.kind == Kind::kKeyword) {
        Unpost(v);
        Unref(v.term);
      }
    }
    d.fields.clear();
  }

  // Applies the pending player counts in arrival order. Requires `mu` held exclusively.
  void ApplyPendingLocked() {
    {
      std::lock_guard guard(pending_mu);
      applying.swap(pending);
      pending_size.store(0, std::memory_order_relaxed);
    }
    for (const PendingCount& p : applying) {
      Doc& d = docs[p.slot];
      ++seq;
      // The snapshot keeps its old count; readers patch it (Snapshot), so this path neither
      // copies nor frees an InstanceInfo.
      for (FieldValue& v : d.fields) {
        if (v.field == f_player_count && v.kind == Kind::kNumber) v.num = p.player_count;
        if (v.field == f_update_time && v.kind == Kind::kDate) v.ns = p.update_ns;
      }
      if (d.player_count != p.player_count) {
        by_default_order.erase(KeyFor(d, p.slot));
        d.player_count = p.player_count;
        by_default_order.insert(KeyFor(d, p.slot));
        d.order_seq = seq;
      }
      d.seq = seq;
    }
    applying.clear();
  }
  // Applies pending player counts before a read, so that a read sees every update that
  // returned before it began.
  void SyncForRead() {
    if (pending_size.load(std::memory_order_acquire) == 0) return;
    std::unique_lock lock(mu);
    ApplyPendingLocked();
  }

  // Returns the instance as the index knows it: the stored snapshot, or a copy with the
  // player count SetPlayerCount recorded since.
  static std::shared_ptr<const InstanceInfo> Snapshot(const Doc& d) {
    if (d.info->player_count == d.player_count) return d.info;
    auto copy = std::make_shared<InstanceInfo>(*d.info);
    copy->player_count = d.player_count;
    return copy;
  }

  // The key of `d` for one order field.
  KeyVal KeyOf(const Doc& d, uint32_t field) const {
    KeyVal k;
    if (field == f_id) {
      k.rank = 2;
      k.str = d.info->id;
      return k;
    }
    for (const FieldValue& v : d.fields) {
      if (v.field != field) continue;
      if (v.kind == Kind::kNumber) {
        k.rank = 0;
        k.num = v.num;
      } else if (v.kind == Kind::kDate) {
        k.rank = 1;
        k.ns = v.ns;
      } else {
        k.rank = 2;
        k.str = terms[v.term].text;
      }
      return k;
    }
    return k;
  }

  // Matches a keyword that is not in the term dictionary (value.id).
  static bool MatchText(const Bound& b, std::string_view text) {
    const Clause& c = *b.clause;
    switch (c.kind) {
      case ClauseKind::kMatchAll:
        return true;
      case ClauseKind::kTerm:
      case ClauseKind::kNumber:
        return text == c.text;
      case ClauseKind::kWildcard:
        return WildcardMatch(c.pattern, c.wild, text);
      case ClauseKind::kRegex:
        return RE2::FullMatch(text, *c.regex);
      case ClauseKind::kFuzzy:
        return WithinEditDistance(c.text, text, c.fuzziness);
      default:
        return false;
    }
  }

  bool MatchValue(const Bound& b, const FieldValue& v) const {
    const Clause& c = *b.clause;
    switch (c.kind) {
      case ClauseKind::kMatchAll:
        return true;
      case ClauseKind::kTerm:
        return v.kind == Kind::kKeyword && v.term == b.term;
      case ClauseKind::kNumber:
        return (v.kind == Kind::kNumber && v.num == c.number) ||
               (v.kind == Kind::kKeyword && v.term == b.term);
      case ClauseKind::kNumericRange:
        if (v.kind != Kind::kNumber) return false;
        if (c.has_min && (c.min_inclusive ? v.num < c.min : v.num <= c.min)) return false;
        if (c.has_max && (c.max_inclusive ? v.num > c.max : v.num >= c.max)) return false;
        return true;
      case ClauseKind::kDateRange:
        if (v.kind != Kind::kDate) return false;
        if (c.has_min && (c.min_inclusive ? v.ns < c.min_ns : v.ns <= c.min_ns)) return false;
        if (c.has_max && (c.max_inclusive ? v.ns > c.max_ns : v.ns >= c.max_ns)) return false;
        return true;
      case ClauseKind::kWildcard:
        return v.kind == Kind::kKeyword && WildcardMatch(c.pattern, c.wild, terms[v.term].text);
      case ClauseKind::kRegex:
        return v.kind == Kind::kKeyword && RE2::FullMatch(terms[v.term].text, *c.regex);
      case ClauseKind::kFuzzy:
        return v.kind == Kind::kKeyword &&
               WithinEditDistance(c.text, terms[v.term].text, c.fuzziness);
    }
    return false;
  }

  bool MatchClause(const Bound& b, const Doc& d) const {
    if (b.clause->kind == ClauseKind::kMatchAll) return true;
    if (b.field == kNone) return false;
    if (b.field == f_id || b.field == kAnyField) {
      if (MatchText(b, d.info->id)) return true;
      if (b.field == f_id) return false;
    }
    for (const FieldValue& v : d.fields) {
      if ((b.field == kAnyField || v.field == b.field) && MatchValue(b, v)) return true;
    }
    return false;
  }

  bool Matches(const struct Query& q, const std::vector<Bound>& bound, const Doc& d) const {
    if (q.match_all) return true;
    int must = 0, should = 0, must_not = 0;
    for (const Bound& b : bound) {
      switch (b.clause->occur) {
        case Occur::kMust:
          if (!MatchClause(b, d)) return false;
          ++must;
          break;
        case Occur::kMustNot:
          if (MatchClause(b, d)) return false;
          break;
        case Occur::kShould:
          if (should == 0 && MatchClause(b, d)) ++should;
          break;
      }
    }
    return q.Accepts(must, should, must_not);
  }

  // Compares document `d` (its keys `dk`) with the cursor position: <0 before, >0 after.
  static int CompareToCursor(const std::vector<KeyVal>& dk, const std::string& id, const Cursor& c,
                             const std::vector<OrderField>& order) {
    for (size_t i = 0; i < order.size(); ++i) {
      int r = CompareKey(dk[i], c.keys[i], order[i].descending);
      if (r != 0) return r;
    }
    return id.compare(c.id) < 0 ? -1 : (id == c.id ? 0 : 1);
  }
};

InstanceIndex::InstanceIndex(IndexOptions options) : impl_(std::make_unique<Impl>(options)) {
  impl_->f_player_count = impl_->FieldId("value.player_count");
  impl_->f_create_time = impl_->FieldId("create_time");
  impl_->f_update_time = impl_->FieldId("update_time");
  impl_->f_id = impl_->FieldId("value.id");
  impl_->f_status = impl_->FieldId("value.status");
  impl_->f_value_create_time = impl_->FieldId("value.create_time");
  impl_->f_ip_address = impl_->FieldId("value.connection_info.ip_address");
  impl_->f_dns_name = impl_->FieldId("value.connection_info.dns_name");
  impl_->f_port = impl_->FieldId("value.connection_info.port");
}

InstanceIndex::~InstanceIndex() = default;

Status InstanceIndex::Upsert(InstanceInfo info, Timestamp update_time) {
  if (info.id.empty()) return InvalidArgumentError("instance id: empty");
  Impl& m = *impl_;
  std::shared_ptr<const InstanceInfo> old;  // freed after the lock is released
  std::unique_lock lock(m.mu);
  m.ApplyPendingLocked();
  auto it = m.ids.find(info.id);
  uint32_t slot;
  bool fresh = it == m.ids.end();
  if (fresh) {
    if (m.ids.size() >= m.options.max_entries) {
      return ResourceExhaustedError("instance index is full (" +
                                    std::to_string(m.options.max_entries) +
                                    " instances); cannot add " + info.id);
    }
    if (!m.free_slots.empty()) {
      slot = m.free_slots.back();
      m.free_slots.pop_back();
    } else {
      slot = static_cast<uint32_t>(m.docs.size());
      m.docs.emplace_back();
    }
  } else {
    slot = it->second;
  }
  ++m.seq;
  std::vector<FieldValue> fields = m.Flatten(info, ToNs(update_time));
  Doc& d = m.docs[slot];
  int64_t create_ns = ToNs(info.create_time);
  bool key_changed = fresh || d.player_count != info.player_count || d.create_ns != create_ns;
  if (!fresh) {
    if (key_changed) m.by_default_order.erase(Impl::KeyFor(d, slot));
    m.Unindex(d);
  }
  d.fields = std::move(fields);
  for (FieldValue& v : d.fields) {
    if (v.kind == Kind::kKeyword) m.Post(slot, v);
  }
  d.player_count = info.player_count;
  d.create_ns = create_ns;
  d.seq = m.seq;
  if (key_changed) d.order_seq = m.seq;
  old = std::move(d.info);
  d.info = std::make_shared<const InstanceInfo>(std::move(info));
  if (fresh) {
    m.ids.emplace(d.info->id, slot);
  } else {
    auto node = m.ids.extract(it);
    node.key() = d.info->id;
    m.ids.insert(std::move(node));
  }
  if (key_changed) m.by_default_order.insert(Impl::KeyFor(d, slot));
  return OkStatus();
}

Status InstanceIndex::SetPlayerCount(std::string_view id, int player_count, Timestamp update_time) {
  Impl& m = *impl_;
  int64_t update_ns = ToNs(update_time);
  bool drain = false;
  {
    // Shared: the slot stays valid until the update is applied, because Upsert and Delete
    // apply pending updates (exclusively) before they change any slot.
    std::shared_lock lock(m.mu);
    auto it = m.ids.find(id);
    if (it == m.ids.end()) return NotFoundError("instance " + std::string(id) + " not found");
    std::lock_guard guard(m.pending_mu);
    m.pending.push_back({it->second, player_count, update_ns});
    drain = m.pending.size() >= Impl::kMaxPending;
    m.pending_size.store(m.pending.size(), std::memory_order_release);
  }
  if (drain) {
    std::unique_lock lock(m.mu);
    m.ApplyPendingLocked();
  }
  return OkStatus();
}

bool InstanceIndex::Delete(std::string_view id) {
  Impl& m = *impl_;
  std::shared_ptr<const InstanceInfo> dropped;  // released after the lock
  std::unique_lock lock(m.mu);
  m.ApplyPendingLocked();
  auto it = m.ids.find(id);
  if (it == m.ids.end()) return false;
  uint32_t slot = it->second;
  Doc& d = m.docs[slot];
  ++m.seq;
  m.by_default_order.erase(Impl::KeyFor(d, slot));
  m.Unindex(d);
  m.ids.erase(it);
  dropped = std::move(d.info);
  d.fields.shrink_to_fit();
  m.free_slots.push_back(slot);
  return true;
}

std::shared_ptr<const InstanceInfo> InstanceIndex::Get(std::string_view id) const {
  impl_->SyncForRead();
  std::shared_lock lock(impl_->mu);
  auto it = impl_->ids.find(id);
  return it == impl_->ids.end() ? nullptr : Impl::Snapshot(impl_->docs[it->second]);
}

size_t InstanceIndex::size() const {
  std::shared_lock lock(impl_->mu);
  return impl_->ids.size();
}

Result<QueryResult> InstanceIndex::Query(std::string_view query_text, int limit,
                                         std::string_view cursor_text,
                                         const std::vector<std::string>& order_spec) const {
  if (limit < 1 || limit > kMaxLimit) {
    return InvalidArgumentError("limit: must be between 1 and 10000, got " + std::to_string(limit));
  }
  GLFM_ASSIGN_OR_RETURN(struct Query q, ParseQuery(query_text));
  GLFM_ASSIGN_OR_RETURN(std::vector<OrderField> order, ParseOrder(order_spec));
  std::string tie_text(query_text);
  tie_text.push_back('\0');
  tie_text.append(std::to_string(limit));
  for (const OrderField& o : order) {
    tie_text.push_back('\0');
    tie_text.push_back(o.descending ? '-' : '+');
    tie_text.append(o.field);
  }
  uint64_t tie = Fnv1a(tie_text);
  std::optional<Cursor> cursor;
  if (!cursor_text.empty()) {
    GLFM_ASSIGN_OR_RETURN(cursor, DecodeCursor(cursor_text, tie, order.size()));
  }
  bool default_order = IsDefaultOrder(order);

  impl_->SyncForRead();
  const Impl& m = *impl_;
  std::shared_lock lock(m.mu);
  uint64_t snapshot = cursor ? cursor->snapshot : m.seq;

  // Bind clauses to the dictionaries.
  std::vector<Bound> bound;
  bound.reserve(q.clauses.size());
  for (const Clause& c : q.clauses) {
    Bound b{&c, c.field.empty() ? kAnyField : m.LookupField(c.field), kNone};
    if (c.kind == ClauseKind::kTerm || c.kind == ClauseKind::kNumber) b.term = m.LookupTerm(c.text);
    bound.push_back(b);
  }
  std::vector<uint32_t> order_fields;
  for (const OrderField& o : order) order_fields.push_back(m.LookupField(o.field));

  // The most selective must-term posting list, if any.
  const std::vector<uint32_t>* best = nullptr;
  std::vector<uint32_t> id_slot(1);
  bool empty_must = false;
  double selectivity = 1;
  size_t n = m.ids.size();
  for (const Bound& b : bound) {
    if (b.clause->occur != Occur::kMust || b.clause->kind != ClauseKind::kTerm ||
        b.field == kAnyField) {
      continue;
    }
    if (b.field == m.f_id) {
      auto id_it = m.ids.find(b.clause->text);
      if (id_it == m.ids.end()) {
        empty_must = true;
        break;
      }
      id_slot[0] = id_it->second;
      best = &id_slot;
      selectivity = 0;
      continue;
    }
    if (b.field == kNone || b.term == kNone) {
      empty_must = true;
      break;
    }
    auto it = m.postings.find(Impl::PostingKey(b.field, b.term));
    if (it == m.postings.end()) {
      empty_must = true;
      break;
    }
    if (best != &id_slot && (best == nullptr || it->second.size() < best->size())) {
      best = &it->second;
    }
    selectivity *= n == 0 ? 1 : double(it->second.size()) / double(n);
  }
  QueryResult result;
  if (empty_must || n == 0) return result;

  auto excluded = [&](const Doc& d) {
    return cursor && (default_order ? d.order_seq : d.seq) > snapshot;
  };
  auto make_cursor = [&](const Doc& last) {
    Cursor c;
    c.tie = tie;
    c.snapshot = snapshot;
    for (uint32_t f : order_fields) c.keys.push_back(m.KeyOf(last, f));
    c.id = last.info->id;
    return EncodeCursor(c);
  };

  // Plan A: walk the default order from the cursor, filtering, when the expected walk is
  // shorter than the smallest posting list.
  double expected_walk = double(limit + 1) / std::max(selectivity, 1e-9);
  if (default_order && (best == nullptr || expected_walk < double(best->size()) * 4)) {
    auto it = m.by_default_order.begin();
    if (cursor) {
      const KeyVal& pc = cursor->keys[0];
      const KeyVal& ct = cursor->keys[1];
      if (pc.rank != 0 || ct.rank != 1) return InvalidArgumentError("cursor: malformed");
      double pcv = std::clamp(pc.num, -2147483648.0, 2147483647.0);
      Impl::Probe probe{static_cast<int32_t>(pcv), ct.ns, cursor->id};
      it = m.by_default_order.upper_bound(probe);
    }
    const Doc* last = nullptr;
    for (; it != m.by_default_order.end(); ++it) {
      const Doc& d = m.docs[it->slot];
      if (excluded(d) || !m.Matches(q, bound, d)) continue;
      if (static_cast<int>(result.instances.size()) == limit) {
        result.cursor = make_cursor(*last);
        break;
      }
      result.instances.push_back(Impl::Snapshot(d));
      last = &d;
    }
    return result;
  }

  // Plan B: candidates from the posting list (or every instance), filtered, then the first
  // `limit` after the cursor in the requested order.
  struct Hit {
    uint32_t slot;
    std::vector<KeyVal> keys;
  };
  std::vector<Hit> hits;
  auto consider = [&](uint32_t slot) {
    const Doc& d = m.docs[slot];
    if (!d.info || excluded(d) || !m.Matches(q, bound, d)) return;
    Hit h{slot, {}};
    h.keys.reserve(order_fields.size());
    for (uint32_t f : order_fields) h.keys.push_back(m.KeyOf(d, f));
    if (cursor && Impl::CompareToCursor(h.keys, d.info->id, *cursor, order) <= 0) return;
    hits.push_back(std::move(h));
  };
  if (best != nullptr) {
    for (uint32_t slot : *best) consider(slot);
  } else {
    for (uint32_t slot = 0; slot < m.docs.size(); ++slot) consider(slot);
  }
  auto less = [&](const Hit& a, const Hit& b) {
    for (size_t i = 0; i < order.size(); ++i) {
      int r = CompareKey(a.keys[i], b.keys[i], order[i].descending);
      if (r != 0) return r < 0;
    }
    return m.docs[a.slot].info->id < m.docs[b.slot].info->id;
  };
  size_t take = std::min<size_t>(hits.size(), static_cast<size_t>(limit));
  std::partial_sort(hits.begin(), hits.begin() + take, hits.end(), less);
  for (size_t i = 0; i < take; ++i)
    result.instances.push_back(Impl::Snapshot(m.docs[hits[i].slot]));
  if (hits.size() > take) result.cursor = make_cursor(m.docs[hits[take - 1].slot]);
  return result;
}

}  // namespace glfm::index
