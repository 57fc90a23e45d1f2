#include "index/index.h"

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>
#include <re2/re2.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/check.h"
#include "common/json_tape.h"
#include "index/query.h"

// AddressSanitizer (GCC's macro, or Clang's feature test): DocArena poisons freed documents.
#if defined(__SANITIZE_ADDRESS__)
#define GLFM_INDEX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLFM_INDEX_ASAN 1
#endif
#endif
#if defined(GLFM_INDEX_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace glfm::index {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kAnyField = kNone - 1;

int64_t ToNs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Timestamp FromNs(int64_t ns) {
  return Timestamp(std::chrono::duration_cast<Timestamp::duration>(std::chrono::nanoseconds(ns)));
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

enum class Kind : uint8_t { kKeyword, kNumber, kDate };

// One indexed value of a document, as a clause sees it.
struct Value {
  Kind kind;
  uint32_t term = kNone;  // kKeyword: the term (one keyword of one field)
  double num = 0;         // kNumber
  int64_t ns = 0;         // kDate
};

Value KeywordValue(uint32_t term) { return {Kind::kKeyword, term, 0, 0}; }
Value NumberValue(double num) { return {Kind::kNumber, kNone, num, 0}; }
Value DateValue(int64_t ns) { return {Kind::kDate, kNone, 0, ns}; }

// The slots of the documents that hold one term, in no particular order; each document
// remembers its position in the list, so removal is O(1). Two slots fit inline (a session's
// name is usually unique to it); more live in a malloc'd array that grows and shrinks by
// halves.
class Posting {
 public:
  Posting() : heap_(nullptr) {}
  ~Posting() {
    if (cap_ != 0) std::free(heap_);
  }
  Posting(const Posting&) = delete;
  Posting& operator=(const Posting&) = delete;

  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint32_t* data() const { return cap_ != 0 ? heap_ : inline_; }
  uint32_t* data() { return cap_ != 0 ? heap_ : inline_; }
  uint32_t back() const { return data()[size_ - 1]; }

  void push_back(uint32_t slot) {
    if (size_ == capacity()) Resize(size_ * 2);
    data()[size_++] = slot;
  }
  void pop_back() {
    --size_;
    if (cap_ != 0 && size_ <= kInline) {
      uint32_t keep[kInline];
      std::memcpy(keep, heap_, size_ * sizeof(uint32_t));
      std::free(heap_);
      cap_ = 0;
      std::memcpy(inline_, keep, size_ * sizeof(uint32_t));
    } else if (cap_ > 16 && size_ < cap_ / 4) {
      Resize(cap_ / 2);
    }
  }

 private:
  static constexpr uint32_t kInline = 2;
  uint32_t capacity() const { return cap_ != 0 ? cap_ : kInline; }
  void Resize(uint32_t n) {
    if (cap_ == 0) {
      auto* p = static_cast<uint32_t*>(std::malloc(n * sizeof(uint32_t)));
      GLFM_CHECK(p != nullptr);
      std::memcpy(p, inline_, size_ * sizeof(uint32_t));
      heap_ = p;
    } else {
      auto* p = static_cast<uint32_t*>(std::realloc(heap_, n * sizeof(uint32_t)));
      GLFM_CHECK(p != nullptr);
      heap_ = p;
    }
    cap_ = n;
  }

  union {
    uint32_t* heap_;
    uint32_t inline_[kInline];
  };
  uint32_t size_ = 0;
  uint32_t cap_ = 0;  // 0: the slots are inline
};
static_assert(sizeof(Posting) == 16);

// One keyword of one field, with the documents that hold it. Term ids are reused once free.
struct Term {
  std::string text;
  uint32_t field = kNone;  // kNone: this id is free
  bool in_dict = false;    // listed in its field's sorted dictionary
  Posting posting;
};

// A document's keyword: its term and its position in the term's posting list.
struct KwEntry {
  uint32_t term;
  uint32_t pos;
};

// A document, in one allocation: this head, then
//   the id's bytes (padded to 8), right after the head, so that finding a document by id
//     (SetPlayerCount's look-up) reads the head's cache lines only
//   n_kw KwEntry: value.status, value.connection_info.ip_address and .dns_name, then the
//                 metadata's distinct keywords by term id
//   the metadata, encoded (kMeta* below) with strings as term ids and object keys as the
//   field ids of their paths
// so that a look-up by id, a match and a default-order move read one or two cache lines of
// one allocation. The bytes come from DocArena; the head is constructed in place and the
// entries are an implicit-lifetime array in them.
struct Doc {
  int64_t create_ns;
  int64_t update_ns;
  uint64_t seq;        // sequence of the last change of anything
  uint64_t order_seq;  // sequence of insertion or the last change of the default order key
  int32_t player_count;
  int32_t port;
  uint32_t n_kw;
  uint32_t id_len;
  uint32_t meta_len;
};
static_assert(sizeof(Doc) == 56 && alignof(Doc) == 8);
constexpr uint32_t kKwStatus = 0, kKwIp = 1, kKwDns = 2, kFixedKw = 3;

size_t IdSpace(uint32_t id_len) { return (size_t{id_len} + 7) & ~size_t{7}; }
std::string_view IdText(const Doc* d) { return {reinterpret_cast<const char*>(d + 1), d->id_len}; }
KwEntry* Kw(Doc* d) {
  return reinterpret_cast<KwEntry*>(reinterpret_cast<char*>(d + 1) + IdSpace(d->id_len));
}
const KwEntry* Kw(const Doc* d) {
  return reinterpret_cast<const KwEntry*>(reinterpret_cast<const char*>(d + 1) +
                                          IdSpace(d->id_len));
}
const uint8_t* Meta(const Doc* d) { return reinterpret_cast<const uint8_t*>(Kw(d) + d->n_kw); }

size_t DocSize(const Doc* d) {
  return sizeof(Doc) + IdSpace(d->id_len) + sizeof(KwEntry) * d->n_kw + d->meta_len;
}

// Big arrays and document blocks: malloc'd (so heap statistics count them), 2 MB-aligned and
// marked for transparent huge pages once they are 2 MB or more. On this kind of VM a page
// fault costs microseconds; a million documents then fault in a few hundred pages rather than
// a hundred thousand.
constexpr size_t kHugePage = size_t{2} << 20;
void* HugeAlloc(size_t bytes) {
  void* p = nullptr;
  if (bytes >= kHugePage) {
    bytes = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    p = std::aligned_alloc(kHugePage, bytes);
    if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);  // a hint; failure changes nothing
  } else {
    p = std::malloc(bytes);
  }
  GLFM_CHECK(p != nullptr);
  return p;
}

// Allocates documents from big blocks: sizes rounded to 16 bytes, freed blocks kept per size
// for reuse, no per-document malloc header. Blocks grow from 64 KB to 2 MB (HugeAlloc) and go
// back to malloc when the index is destroyed. Requires the index's exclusive lock.
class DocArena {
 public:
  DocArena() = default;
  DocArena(const DocArena&) = delete;
  DocArena& operator=(const DocArena&) = delete;
  ~DocArena() {
    for (void* b : blocks_) std::free(b);
  }

  void* Allocate(size_t n) {
    n = Round(n);
    if (n > kMaxSize) return std::malloc(n);
    std::vector<void*>& fl = free_[n / 16];
    void* p;
    if (!fl.empty()) {
      p = fl.back();
      fl.pop_back();
    } else {
      if (static_cast<size_t>(end_ - cur_) < n) NewBlock();
      p = cur_;
      cur_ += n;
    }
    Unpoison(p, n);
    return p;
  }
  void Free(void* p, size_t n) {
    n = Round(n);
    if (n > kMaxSize) {
      std::free(p);
      return;
    }
    Poison(p, n);
    free_[n / 16].push_back(p);
  }

 private:
  static constexpr size_t kMaxSize = 4096;  // larger documents come from malloc
  static size_t Round(size_t n) { return (n + 15) & ~size_t{15}; }
  void NewBlock() {
    size_t size = std::min(next_, kHugePage);
    next_ = size * 2;
    cur_ = static_cast<char*>(HugeAlloc(size));
    end_ = cur_ + size;
    blocks_.push_back(cur_);
    Poison(cur_, size);
  }
#if defined(GLFM_INDEX_ASAN)
  static void Poison(void* p, size_t n) { ASAN_POISON_MEMORY_REGION(p, n); }
  static void Unpoison(void* p, size_t n) { ASAN_UNPOISON_MEMORY_REGION(p, n); }
#else
  static void Poison(void*, size_t) {}
  static void Unpoison(void*, size_t) {}
#endif

  std::vector<void*> blocks_;
  char* cur_ = nullptr;
  char* end_ = nullptr;
  size_t next_ = size_t{64} << 10;
  std::array<std::vector<void*>, kMaxSize / 16 + 1> free_;
};

// The metadata encoding: a tag byte, then
enum MetaTag : uint8_t {
  kMetaNull = 0,    // nothing
  kMetaFalse = 1,   // varint term ("F")
  kMetaTrue = 2,    // varint term ("T")
  kMetaInt = 3,     // zigzag varint
  kMetaDouble = 4,  // 8 bytes
  kMetaString = 5,  // varint term
  kMetaArray = 6,   // varint n, n values (indexed under the array's own path)
  kMetaObject = 7,  // varint n, n × (varint field id of the member's path, value)
};

using internal::GetVarint;
using internal::PutVarint;
using internal::TapeReader;
using internal::TapeTag;

// 8 bytes of `s` from `at`, big-endian, zero-padded: comparing these compares the strings,
// except that equal prefixes need the full strings.
uint64_t Prefix8(std::string_view s, size_t at) {
  uint64_t v = 0;
  if (s.size() >= at + 8) {
    std::memcpy(&v, s.data() + at, 8);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
  }
  for (size_t i = at; i < at + 8; ++i) v = (v << 8) | (i < s.size() ? uint8_t(s[i]) : 0);
  return v;
}

// 32 bits of a hash, kept beside each id in an IdTable. Abseil's hash of its own
// string_view (Debian's is not std::string_view, whose absl::Hash falls back to std::hash).
uint32_t Hash32(std::string_view s) {
  return static_cast<uint32_t>(
      absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size())));
}
uint32_t Hash32(uint32_t field, std::string_view text) {
  return static_cast<uint32_t>(absl::Hash<std::pair<uint32_t, absl::string_view>>{}(
      {field, absl::string_view(text.data(), text.size())}));
}

// A set of 32-bit ids (slots, terms) found by a key they stand for: open addressing with
// linear probing, each entry the id and 32 bits of its key's hash, at most 3/4 full. A probe
// reads one cache line in the common case and the keyed object only when the 32 bits agree;
// growing reads no keyed object at all. Deletion shifts later entries back (no tombstones).
class IdTable {
 public:
  IdTable() = default;
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;
  ~IdTable() { std::free(slots_); }

  size_t size() const { return size_; }

  // Returns the id whose entry has `hash` and for which same(id) holds, or kNone.
  template <typename Same>
  uint32_t Find(uint32_t hash, Same same) const {
    if (size_ == 0) return kNone;
    for (size_t i = Home(hash);; i = (i + 1) & mask_) {
      uint64_t e = slots_[i];
      if (e == kEmpty) return kNone;
      if (static_cast<uint32_t>(e >> 32) == hash && same(static_cast<uint32_t>(e))) {
        return static_cast<uint32_t>(e);
      }
    }
  }
  // Adds `id`, which must be absent.
  void Insert(uint32_t hash, uint32_t id) {
    if ((size_ + 1) * 4 > cap_ * 3) Grow(std::max<size_t>(16, cap_ * 2));
    Place(Entry(hash, id));
    ++size_;
  }
  // Removes `id` (present, with `hash`).
  void Erase(uint32_t hash, uint32_t id) {
    const uint64_t e = Entry(hash, id);
    size_t i = Home(hash);
    while (slots_[i] != e) {
      GLFM_CHECK(slots_[i] != kEmpty);
      i = (i + 1) & mask_;
    }
    // Backward shift: move up every later entry of the run that may live at `i`.
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      uint64_t f = slots_[j];
      if (f == kEmpty) break;
      size_t home = Home(static_cast<uint32_t>(f >> 32));
      // f may move to i when its home is not cyclically within (i, j].
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = f;
        i = j;
      }
    }
    slots_[i] = kEmpty;
    --size_;
  }
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap * 3 < n * 4) cap *= 2;
    if (cap > cap_) Grow(cap);
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t Entry(uint32_t hash, uint32_t id) { return (uint64_t{hash} << 32) | id; }
  size_t Home(uint32_t hash) const {
    return static_cast<size_t>((uint64_t{hash} * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }
  void Place(uint64_t e) {
    size_t i = Home(static_cast<uint32_t>(e >> 32));
    while (slots_[i] != kEmpty) i = (i + 1) & mask_;
    slots_[i] = e;
  }
  void Grow(size_t cap) {
    uint64_t* old = slots_;
    size_t old_cap = cap_;
    slots_ = static_cast<uint64_t*>(HugeAlloc(cap * sizeof(uint64_t)));
    std::fill(slots_, slots_ + cap, kEmpty);
    cap_ = cap;
    mask_ = cap - 1;
    shift_ = 64 - std::countr_zero(cap);
    for (size_t i = 0; i < old_cap; ++i) {
      if (old[i] != kEmpty) Place(old[i]);
    }
    std::free(old);
  }

  uint64_t* slots_ = nullptr;
  size_t cap_ = 0;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

// A vector that grows by chunks of 2^kShift elements: indexing is a shift and a mask (a
// deque's is a division and a call), and growing never moves or copies an element.
template <typename T, int kShift>
class ChunkedVector {
 public:
  size_t size() const { return size_; }
  T& operator[](size_t i) { return chunks_[i >> kShift][i & kMask]; }
  const T& operator[](size_t i) const { return chunks_[i >> kShift][i & kMask]; }
  T& emplace_back() {
    if ((size_ >> kShift) == chunks_.size()) chunks_.push_back(std::make_unique<T[]>(kChunk));
    return (*this)[size_++];
  }

 private:
  static constexpr size_t kChunk = size_t{1} << kShift, kMask = kChunk - 1;
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

// A bitmap over the ranks of the default order's base, with a summary bit per 64-bit word so
// that finding the next set bit reads a few words however sparse the bitmap is.
class RankBits {
 public:
  explicit RankBits(size_t n) : words_((n + 63) / 64), summary_((words_.size() + 63) / 64) {}

  size_t count() const { return count_; }
  void Set(uint32_t r) {
    uint64_t& w = words_[r >> 6];
    if (w == 0) summary_[r >> 12] |= uint64_t{1} << ((r >> 6) & 63);
    w |= uint64_t{1} << (r & 63);
    ++count_;
  }
  void Clear(uint32_t r) {
    uint64_t& w = words_[r >> 6];
    w &= ~(uint64_t{1} << (r & 63));
    if (w == 0) summary_[r >> 12] &= ~(uint64_t{1} << ((r >> 6) & 63));
    --count_;
  }
  // Returns the first set bit at or after `r`, or kNone.
  uint32_t Next(uint32_t r) const {
    size_t w = r >> 6;
    if (w >= words_.size()) return kNone;
    uint64_t bits = words_[w] & (~uint64_t{0} << (r & 63));
    if (bits != 0) return static_cast<uint32_t>((w << 6) + std::countr_zero(bits));
    ++w;
    for (size_t s = w >> 6; s < summary_.size(); ++s) {
      uint64_t sb = summary_[s];
      if (s == (w >> 6)) sb &= ~uint64_t{0} << (w & 63);
      if (sb != 0) {
        size_t nw = (s << 6) + std::countr_zero(sb);
        return static_cast<uint32_t>((nw << 6) + std::countr_zero(words_[nw]));
      }
    }
    return kNone;
  }

 private:
  std::vector<uint64_t> words_;
  std::vector<uint64_t> summary_;
  size_t count_ = 0;
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
struct Bound {
  const Clause* clause;
  uint32_t field;  // kAnyField, kNone (unknown field: matches nothing) or an id
  uint32_t term;   // kTerm/kNumber on one field: the term of the text there, or kNone
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
  explicit Impl(IndexOptions o) : options(o), overlay(DefaultLess{this}) {
    options.max_entries = std::min(options.max_entries, size_t{1} << 31);
    f_player_count = FieldId("value.player_count");
    f_create_time = FieldId("create_time");
    f_update_time = FieldId("update_time");
    f_id = FieldId("value.id");
    f_status = FieldId("value.status");
    f_ip_address = FieldId("value.connection_info.ip_address");
    f_dns_name = FieldId("value.connection_info.dns_name");
    f_port = FieldId("value.connection_info.port");
    f_metadata = FieldId("value.metadata");
  }

  // ---- dictionaries ----

  // Orders a field's terms by text, for prefix and range scans.
  struct TermLess {
    using is_transparent = void;
    const ChunkedVector<Term, 10>* terms;
    std::string_view Text(uint32_t term) const { return (*terms)[term].text; }
    static std::string_view Text(std::string_view s) { return s; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Text(a) < Text(b);
    }
  };
  struct FieldInfo {
    FieldInfo(std::string n, TermLess less) : name(std::move(n)), dict(less) {}
    std::string name;
    absl::btree_set<uint32_t, TermLess> dict;  // the field's terms in text order
    // The first few object keys seen under this path and their fields, so that encoding a
    // document rarely builds and hashes a whole path.
    std::vector<std::pair<std::string, uint32_t>> children;
  };

  // Orders by value.player_count, then create_time descending, then id. The two numbers live
  // in the set's nodes so that a lookup reads the documents only on a tie.
  struct OrderKey {
    int64_t create_ns;
    int32_t player_count;
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
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.player_count != b.player_count) return a.player_count < b.player_count;
      if (a.create_ns != b.create_ns) return a.create_ns > b.create_ns;
      return IdOf(a) < IdOf(b);
    }
    std::string_view IdOf(const OrderKey& k) const { return impl->IdOf(k.slot); }
    static std::string_view IdOf(const Probe& p) { return p.id; }
  };
  static OrderKey KeyFor(const Doc& d, uint32_t slot) {
    return {d.create_ns, d.player_count, slot};
  }

  std::string_view IdOf(uint32_t slot) const { return IdText(docs[slot]); }
  static std::string_view IdOf(const Doc& d) { return IdText(&d); }

  IndexOptions options;
  // The locks and the queue each have a cache line of their own: readers take `mu` all the
  // time and SetPlayerCount takes `ids_mu` and `pending_mu`; on a shared line each would
  // bounce the others' line between cores.
  alignas(64) mutable std::shared_mutex mu;
  // SetPlayerCount's updates not applied yet (slot, count, update time), guarded by
  // pending_mu. They are applied under `mu` held exclusively by the next query, Get, writer
  // or when kMaxPending accumulate, so the hot path never waits for readers to drain.
  struct PendingCount {
    uint32_t slot;
    int32_t player_count;
    int64_t update_ns;
  };
  static constexpr size_t kMaxPending = 4096;
  alignas(64) std::mutex pending_mu;
  std::vector<PendingCount> pending;
  std::atomic<size_t> pending_size{0};
  alignas(64) std::vector<PendingCount> applying;  // only touched with `mu` held exclusively

  // Everything below is guarded by `mu`. `ids`, `docs` (which slots exist) and each
  // document's allocation (docs[slot] and the id in it) change only with `ids_mu` held
  // exclusively as well, so that SetPlayerCount can find a slot holding only `ids_mu` shared.
  alignas(64) mutable std::shared_mutex ids_mu;
  DocArena arena;
  ChunkedVector<Doc*, 12> docs;  // in `arena`; null when the slot is free
  std::vector<uint32_t> free_slots;
  IdTable ids;  // slots, by Hash32(id)
  // Field names are kept for good: a query names few. Each FieldInfo stays where it is as
  // the vector grows.
  std::vector<std::unique_ptr<FieldInfo>> fields;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> field_ids;
  ChunkedVector<Term, 10> terms;
  std::vector<uint32_t> free_terms;
  IdTable term_ids;  // terms, by Hash32(field, text)
  // The default order (player_count, create_time descending, id) in two parts. The base:
  // documents sorted once by (create_time descending, id) — rank r holds base_slot[r]
  // (kNone once it left), created at base_create[r] — and, for each player count below
  // kBasePcLimit, a bitmap of the ranks that have it. A walk scans one count's bitmap in rank
  // order; a count change flips two bits. The overlay: a B-tree of the documents added or
  // re-keyed since the base was built (and of counts outside the bitmaps), merged into a new
  // base when it outgrows a quarter of the base (Rebuild), so that its cost stays amortized.
  static constexpr int32_t kBasePcLimit = 256;
  static constexpr uint32_t kPending = kNone - 1;  // slot_rank: waiting for FinishBulk
  std::vector<uint32_t> base_slot;
  std::vector<int64_t> base_create;
  size_t base_live = 0;
  std::vector<std::unique_ptr<RankBits>> pc_bits =
      std::vector<std::unique_ptr<RankBits>>(kBasePcLimit);
  std::vector<uint32_t> slot_rank;  // by slot: base rank, kNone (overlay) or kPending
  absl::btree_set<OrderKey, DefaultLess> overlay;
  size_t overlay_fixed = 0;  // overlay entries the last Rebuild could not move (counts)
  uint64_t seq = 0;
  uint32_t f_player_count = 0, f_create_time = 0, f_update_time = 0;
  // value.id is answered from `ids` and the document rather than from postings.
  uint32_t f_id = 0;
  uint32_t f_status = 0, f_ip_address = 0, f_dns_name = 0, f_port = 0, f_metadata = 0;
  // While UpsertMany runs: terms and slots whose dictionary / default-order entries wait to be
  // added, sorted, at the end of the batch.
  bool bulk = false;
  std::vector<uint32_t> bulk_terms;
  struct BulkOrder {
    int64_t create_ns;
    int32_t player_count;
    uint32_t slot;
  };
  std::vector<BulkOrder> bulk_order;  // in arrival order; the last one of a slot counts
  // Scratch for Encode.
  std::string enc;
  std::vector<uint32_t> enc_terms;

  uint32_t FieldId(std::string_view name) {
    auto it = field_ids.find(name);
    if (it != field_ids.end()) return it->second;
    auto id = static_cast<uint32_t>(fields.size());
    fields.push_back(std::make_unique<FieldInfo>(std::string(name), TermLess{&terms}));
    field_ids.emplace(std::string(name), id);
    return id;
  }
  // Returns the field of member `key` of an object at field `parent`: "<parent>.<key>".
  uint32_t ChildField(uint32_t parent, std::string_view key) {
    for (const auto& [k, id] : fields[parent]->children) {
      if (k == key) return id;
    }
    std::string path = fields[parent]->name;
    path.push_back('.');
    path.append(key);
    uint32_t id = FieldId(path);
    if (fields[parent]->children.size() < 16) fields[parent]->children.emplace_back(key, id);
    return id;
  }
  uint32_t LookupField(std::string_view name) const {
    auto it = field_ids.find(name);
    return it == field_ids.end() ? kNone : it->second;
  }
  uint32_t FindTerm(uint32_t field, std::string_view text, uint32_t hash) const {
    return term_ids.Find(hash, [&](uint32_t term) {
      const Term& t = terms[term];
      return t.field == field && t.text == text;
    });
  }
  uint32_t LookupTerm(uint32_t field, std::string_view text) const {
    return FindTerm(field, text, Hash32(field, text));
  }
  // Returns the slot of the instance with `id`, or kNone.
  uint32_t FindSlot(std::string_view id) const { return FindSlot(id, Hash32(id)); }
  uint32_t FindSlot(std::string_view id, uint32_t hash) const {
    return ids.Find(hash, [&](uint32_t slot) { return IdOf(slot) == id; });
  }

  // Returns the term of `text` in `field`, creating it (with an empty posting list) if new.
  uint32_t Intern(uint32_t field, std::string_view text) {
    uint32_t hash = Hash32(field, text);
    uint32_t found = FindTerm(field, text, hash);
    if (found != kNone) return found;
    uint32_t id;
    if (!free_terms.empty()) {
      id = free_terms.back();
      free_terms.pop_back();
    } else {
      id = static_cast<uint32_t>(terms.size());
      terms.emplace_back();
    }
    Term& t = terms[id];
    t.text.assign(text);
    t.field = field;
    t.in_dict = false;
    term_ids.Insert(hash, id);
    if (bulk) {
      bulk_terms.push_back(id);
    } else {
      fields[field]->dict.insert(id);
      t.in_dict = true;
    }
    return id;
  }
  // Frees `term` once no document holds it.
  void ReleaseIfUnused(uint32_t term) {
    Term& t = terms[term];
    if (!t.posting.empty() || t.field == kNone) return;
    if (t.in_dict) fields[t.field]->dict.erase(term);
    term_ids.Erase(Hash32(t.field, t.text), term);
    t.text.clear();
    t.text.shrink_to_fit();
    t.field = kNone;
    t.in_dict = false;
    free_terms.push_back(term);
  }

  // ---- documents ----

  // Encodes the value at `r` (a metadata tape, json_tape.h) into `enc`, interning its keywords.
  void EncodeTape(TapeReader& r, uint32_t field) {
    switch (TapeTag tag = r.Tag()) {
      case TapeTag::kNull:
        enc.push_back(static_cast<char>(kMetaNull));
        return;
      case TapeTag::kFalse:
      case TapeTag::kTrue: {
        bool b = tag == TapeTag::kTrue;
        uint32_t t = Intern(field, b ? "T" : "F");
        enc_terms.push_back(t);
        enc.push_back(static_cast<char>(b ? kMetaTrue : kMetaFalse));
        PutVarint(enc, t);
        return;
      }
      case TapeTag::kInt:
        enc.push_back(static_cast<char>(kMetaInt));
        PutVarint(enc, internal::ZigZag(r.Int()));
        return;
      case TapeTag::kDouble: {
        double v = r.Double();
        char bytes[8];
        std::memcpy(bytes, &v, 8);
        enc.push_back(static_cast<char>(kMetaDouble));
        enc.append(bytes, 8);
        return;
      }
      case TapeTag::kString: {
        uint32_t t = Intern(field, r.String());
        enc_terms.push_back(t);
        enc.push_back(static_cast<char>(kMetaString));
        PutVarint(enc, t);
        return;
      }
      case TapeTag::kArray: {
        uint64_t n = r.Count();
        enc.push_back(static_cast<char>(kMetaArray));
        PutVarint(enc, n);
        for (uint64_t i = 0; i < n; ++i) EncodeTape(r, field);
        return;
      }
      case TapeTag::kObject: {
        uint64_t n = r.Count();
        enc.push_back(static_cast<char>(kMetaObject));
        PutVarint(enc, n);
        for (uint64_t i = 0; i < n; ++i) {
          uint32_t child = ChildField(field, r.String());
          PutVarint(enc, child);
          EncodeTape(r, child);
        }
        return;
      }
    }
  }

  // Returns the document of `info` (its head's numbers are the caller's to set), interning
  // its keywords; positions are set by PostAll.
  Doc* Encode(const IndexEntryView& info) {
    enc.clear();
    enc_terms.clear();
    uint32_t fixed[kFixedKw] = {Intern(f_status, info.status),
                                Intern(f_ip_address, info.ip_address),
                                Intern(f_dns_name, info.dns_name)};
    TapeReader metadata(info.metadata_tape);
    EncodeTape(metadata, f_metadata);
    // An array repeating a keyword indexes it once.
    std::sort(enc_terms.begin(), enc_terms.end());
    enc_terms.erase(std::unique(enc_terms.begin(), enc_terms.end()), enc_terms.end());
    auto n_kw = static_cast<uint32_t>(kFixedKw + enc_terms.size());
    GLFM_CHECK(info.id.size() <= std::numeric_limits<uint32_t>::max() &&
               enc.size() <= std::numeric_limits<uint32_t>::max());
    size_t size = sizeof(Doc) + IdSpace(static_cast<uint32_t>(info.id.size())) +
                  sizeof(KwEntry) * n_kw + enc.size();
    Doc* d = new (arena.Allocate(size)) Doc{};
    d->n_kw = n_kw;
    d->id_len = static_cast<uint32_t>(info.id.size());
    d->meta_len = static_cast<uint32_t>(enc.size());
    KwEntry* kw = Kw(d);
    for (uint32_t i = 0; i < kFixedKw; ++i) kw[i] = {fixed[i], kNone};
    for (size_t i = 0; i < enc_terms.size(); ++i) kw[kFixedKw + i] = {enc_terms[i], kNone};
    std::memcpy(reinterpret_cast<char*>(d + 1), info.id.data(), info.id.size());
    std::memcpy(reinterpret_cast<char*>(kw + n_kw), enc.data(), enc.size());
    return d;
  }

  Json DecodeJson(const uint8_t*& p, uint32_t field) const {
    switch (*p++) {
      case kMetaNull:
        return Json();
      case kMetaFalse:
        GetVarint(p);
        return Json(false);
      case kMetaTrue:
        GetVarint(p);
        return Json(true);
      case kMetaInt:
        return Json(internal::UnZigZag(GetVarint(p)));
      case kMetaDouble: {
        double v;
        std::memcpy(&v, p, 8);
        p += 8;
        return Json(v);
      }
      case kMetaString:
        return Json(terms[GetVarint(p)].text);
      case kMetaArray: {
        uint64_t n = GetVarint(p);
        Json::Array a;
        a.reserve(n);
        for (uint64_t i = 0; i < n; ++i) a.push_back(DecodeJson(p, field));
        return Json(std::move(a));
      }
      case kMetaObject: {
        uint64_t n = GetVarint(p);
        Json::Object o;
        size_t prefix = fields[field]->name.size() + 1;  // the member's path is "<path>.<key>"
        for (uint64_t i = 0; i < n; ++i) {
          auto child = static_cast<uint32_t>(GetVarint(p));
          o.emplace_hint(o.end(), fields[child]->name.substr(prefix), DecodeJson(p, child));
        }
        return Json(std::move(o));
      }
    }
    GLFM_CHECK(false);
    return Json();
  }

  // Returns the instance as the index holds it.
  std::shared_ptr<const InstanceInfo> Materialize(const Doc& d) const {
    auto info = std::make_shared<InstanceInfo>();
    const KwEntry* kw = Kw(&d);
    info->id.assign(IdText(&d));
    info->status = terms[kw[kKwStatus].term].text;
    info->connection_info.ip_address = terms[kw[kKwIp].term].text;
    info->connection_info.dns_name = terms[kw[kKwDns].term].text;
    info->connection_info.port = d.port;
    info->create_time = FromNs(d.create_ns);
    info->player_count = d.player_count;
    const uint8_t* p = Meta(&d);
    info->metadata = DecodeJson(p, f_metadata);
    return info;
  }

  // Calls fn(field, value) for each indexed scalar of the encoded metadata value at `p`, in
  // document order, until fn returns true; returns whether it did.
  template <typename Fn>
  bool VisitMeta(const uint8_t*& p, uint32_t field, Fn& fn) const {
    switch (*p++) {
      case kMetaNull:
        return false;
      case kMetaFalse:
      case kMetaTrue:
      case kMetaString:
        return fn(field, KeywordValue(static_cast<uint32_t>(GetVarint(p))));
      case kMetaInt:
        return fn(field, NumberValue(static_cast<double>(internal::UnZigZag(GetVarint(p)))));
      case kMetaDouble: {
        double v;
        std::memcpy(&v, p, 8);
        p += 8;
        return fn(field, NumberValue(v));
      }
      case kMetaArray: {
        uint64_t n = GetVarint(p);
        for (uint64_t i = 0; i < n; ++i) {
          if (VisitMeta(p, field, fn)) return true;
        }
        return false;
      }
      case kMetaObject: {
        uint64_t n = GetVarint(p);
        for (uint64_t i = 0; i < n; ++i) {
          auto child = static_cast<uint32_t>(GetVarint(p));
          if (VisitMeta(p, child, fn)) return true;
        }
        return false;
      }
    }
    GLFM_CHECK(false);
    return false;
  }

  // Calls fn(field, value) for each indexed value of `d` until fn returns true; returns
  // whether it did. The order is the document's: status, player_count, create_time,
  // update_time, ip_address, dns_name, port, then the metadata's values (an order by a
  // metadata array sorts by its first element).
  template <typename Fn>
  bool VisitValues(const Doc& d, Fn&& fn) const {
    const KwEntry* kw = Kw(&d);
    if (fn(f_status, KeywordValue(kw[kKwStatus].term)) ||
        fn(f_player_count, NumberValue(d.player_count)) ||
        fn(f_create_time, DateValue(d.create_ns)) || fn(f_update_time, DateValue(d.update_ns)) ||
        fn(f_ip_address, KeywordValue(kw[kKwIp].term)) ||
        fn(f_dns_name, KeywordValue(kw[kKwDns].term)) || fn(f_port, NumberValue(d.port))) {
      return true;
    }
    const uint8_t* p = Meta(&d);
    return VisitMeta(p, f_metadata, fn);
  }

  static bool HasTerm(const Doc& d, uint32_t term) {
    const KwEntry* kw = Kw(&d);
    for (uint32_t i = 0; i < d.n_kw; ++i) {
      if (kw[i].term == term) return true;
    }
    return false;
  }

  // Adds the keywords of docs[slot] to their posting lists.
  void PostAll(uint32_t slot) {
    Doc* d = docs[slot];
    KwEntry* kw = Kw(d);
    for (uint32_t i = 0; i < d->n_kw; ++i) {
      Posting& p = terms[kw[i].term].posting;
      kw[i].pos = p.size();
      p.push_back(slot);
    }
  }
  // Removes the keywords of docs[slot] from their posting lists (leaving the terms, even if
  // now unused: see ReleaseUnused).
  void UnpostAll(uint32_t slot) {
    const Doc* d = docs[slot];
    const KwEntry* kw = Kw(d);
    for (uint32_t i = 0; i < d->n_kw; ++i) {
      uint32_t term = kw[i].term, pos = kw[i].pos;
      Posting& p = terms[term].posting;
      uint32_t moved = p.back();
      p.data()[pos] = moved;
      p.pop_back();
      if (pos < p.size()) {
        Doc* other = docs[moved];
        KwEntry* okw = Kw(other);
        uint32_t j = 0, on = other->n_kw;
        while (j < on && okw[j].term != term) ++j;
        GLFM_CHECK(j < on);
        okw[j].pos = pos;
      }
    }
  }
  void ReleaseUnused(const Doc* d) {
    const KwEntry* kw = Kw(d);
    for (uint32_t i = 0; i < d->n_kw; ++i) ReleaseIfUnused(kw[i].term);
  }

  // Inserts or replaces `info`. Requires `mu` and `ids_mu` held exclusively and a non-empty id.
  Status UpsertLocked(const IndexEntryView& info) {
    uint32_t id_hash = Hash32(info.id);
    uint32_t slot = FindSlot(info.id, id_hash);
    bool fresh = slot == kNone;
    if (fresh) {
      if (ids.size() >= options.max_entries) {
        return ResourceExhaustedError("instance index is full (" +
                                      std::to_string(options.max_entries) +
                                      " instances); cannot add " + std::string(info.id));
      }
      if (!free_slots.empty()) {
        slot = free_slots.back();
        free_slots.pop_back();
      } else {
        slot = static_cast<uint32_t>(docs.size());
        docs.emplace_back();
        slot_rank.push_back(kNone);
      }
    }
    ++seq;
    Doc* d = Encode(info);
    d->player_count = info.player_count;
    d->create_ns = ToNs(info.create_time);
    d->update_ns = ToNs(info.update_time);
    d->port = info.port;
    d->seq = seq;
    d->order_seq = seq;
    Doc* old = nullptr;
    bool place = fresh;
    if (!fresh) {
      Doc& o = *docs[slot];
      if (o.player_count == d->player_count && o.create_ns == d->create_ns) {
        d->order_seq = o.order_seq;  // same place in the default order
      } else if (o.create_ns == d->create_ns && slot_rank[slot] != kPending) {
        OrderSetCount(slot, o, d->player_count);
      } else {
        OrderRemove(slot, o);
        place = true;
      }
      UnpostAll(slot);
      old = docs[slot];
    }
    Doc& n = *d;
    docs[slot] = d;
    PostAll(slot);
    if (old != nullptr) {
      ReleaseUnused(old);
      arena.Free(old, DocSize(old));
    }
    if (fresh) ids.Insert(id_hash, slot);
    if (place) OrderAdd(slot, n);
    return OkStatus();
  }

  // Adds what UpsertMany deferred: dictionary entries and default-order keys, each sorted
  // once and inserted in order (appending, when the index started empty). The two halves
  // write disjoint structures and only read documents and terms, so a large batch runs the
  // dictionary half on a second thread (for the length of this call).
  void FinishBulk() {
    constexpr size_t kParallel = 50'000;
    if (bulk_terms.size() >= kParallel && bulk_order.size() >= kParallel) {
      std::optional<std::thread> helper;
      try {
        helper.emplace([this] { FinishBulkDictionaries(); });
      } catch (const std::system_error&) {
        // No thread to be had: do both halves here.
      }
      FinishBulkOrder();
      if (helper) {
        helper->join();
      } else {
        FinishBulkDictionaries();
      }
      return;
    }
    FinishBulkDictionaries();
    FinishBulkOrder();
  }
  void FinishBulkDictionaries() {
    struct PendingTerm {
      uint64_t k0, k1;  // Prefix8 of the text at 0 and 8: most comparisons read no term
      uint32_t field;
      uint32_t term;
    };
    std::vector<PendingTerm> pt;
    pt.reserve(bulk_terms.size());
    for (uint32_t id : bulk_terms) {
      Term& t = terms[id];
      if (t.field == kNone || t.in_dict) continue;  // freed again, or listed twice
      t.in_dict = true;
      pt.push_back({Prefix8(t.text, 0), Prefix8(t.text, 8), t.field, id});
    }
    std::vector<uint32_t>().swap(bulk_terms);
    std::sort(pt.begin(), pt.end(), [&](const PendingTerm& a, const PendingTerm& b) {
      if (a.field != b.field) return a.field < b.field;
      if (a.k0 != b.k0) return a.k0 < b.k0;
      if (a.k1 != b.k1) return a.k1 < b.k1;
      return terms[a.term].text < terms[b.term].text;
    });
    for (size_t i = 0; i < pt.size();) {
      auto& dict = fields[pt[i].field]->dict;
      auto hint = dict.end();
      for (uint32_t f = pt[i].field; i < pt.size() && pt[i].field == f; ++i) {
        hint = std::next(dict.insert(hint, pt[i].term));
      }
    }
  }
  void FinishBulkOrder() {
    // The last record of each slot holds its key (the record was made when the document was
    // at hand, so this reads no document).
    // Kept in place, from the back.
    std::vector<BulkOrder> taken = std::move(bulk_order);
    bulk_order = {};
    size_t w = taken.size();
    for (size_t r = taken.size(); r-- > 0;) {
      if (slot_rank[taken[r].slot] != kPending) continue;
      slot_rank[taken[r].slot] = kNone;
      taken[--w] = taken[r];
    }
    taken.erase(taken.begin(), taken.begin() + static_cast<ptrdiff_t>(w));
    if (OverlayGrowth() + taken.size() > RebuildThreshold()) {
      Rebuild(std::move(taken));
      return;
    }
    std::vector<OrderKey> keys;
    keys.reserve(taken.size());
    for (const BulkOrder& b : taken) keys.push_back({b.create_ns, b.player_count, b.slot});
    DefaultLess less{this};
    std::sort(keys.begin(), keys.end(), less);
    auto hint = overlay.end();
    for (const OrderKey& k : keys) hint = std::next(overlay.insert(hint, k));
  }

  // ---- the default order ----

  static bool InBaseRange(int32_t pc) { return pc >= 0 && pc < kBasePcLimit; }
  RankBits& Bits(int32_t pc) {
    auto& b = pc_bits[pc];
    if (!b) b = std::make_unique<RankBits>(base_slot.size());
    return *b;
  }
  // Whether (ca, sa) comes before (cb, sb) in create_time descending, id order.
  bool TimeBefore(int64_t ca, uint32_t sa, int64_t cb, uint32_t sb) const {
    return ca != cb ? ca > cb : IdOf(sa) < IdOf(sb);
  }
  size_t OverlayGrowth() const {
    return overlay.size() > overlay_fixed ? overlay.size() - overlay_fixed : 0;
  }
  size_t RebuildThreshold() const { return std::max(options.order_overlay_min, base_live / 4); }

  // Places docs[slot] (in no part yet) in the overlay, or, inside UpsertMany, records it for
  // FinishBulk.
  void OrderAdd(uint32_t slot, const Doc& d) {
    if (bulk) {
      bulk_order.push_back({d.create_ns, d.player_count, slot});
      slot_rank[slot] = kPending;
      return;
    }
    overlay.insert(KeyFor(d, slot));
  }
  // Takes docs[slot] out of the default order.
  void OrderRemove(uint32_t slot, const Doc& d) {
    uint32_t r = slot_rank[slot];
    if (r == kPending) return;  // its record is overridden by the next one or ignored
    if (r != kNone) {
      pc_bits[d.player_count]->Clear(r);
      base_slot[r] = kNone;
      slot_rank[slot] = kNone;
      --base_live;
    } else {
      overlay.erase(KeyFor(d, slot));
    }
  }
  // Changes the player count of docs[slot], which is in the base or the overlay.
  void OrderSetCount(uint32_t slot, Doc& d, int32_t pc) {
    uint32_t r = slot_rank[slot];
    if (r != kNone && InBaseRange(pc)) {
      pc_bits[d.player_count]->Clear(r);
      Bits(pc).Set(r);
      d.player_count = pc;
    } else if (r != kNone) {
      OrderRemove(slot, d);
      d.player_count = pc;
      overlay.insert(KeyFor(d, slot));
    } else {
      // Move the node rather than free one and allocate another.
      auto node = overlay.extract(KeyFor(d, slot));
      GLFM_CHECK(!node.empty());
      d.player_count = pc;
      node.value().player_count = pc;
      overlay.insert(std::move(node));
    }
  }
  void MaybeRebuild() {
    if (OverlayGrowth() > RebuildThreshold() ||
        base_slot.size() - base_live > std::max(options.order_overlay_min, base_live)) {
      Rebuild({});
    }
  }
  // Merges the overlay (and `extra`, documents in no part) into a new base; what cannot go
  // in the base (counts outside the bitmaps) stays in the overlay. O(base + overlay log
  // overlay); reads only the documents whose create times tie.
  void Rebuild(std::vector<BulkOrder> extra) {
    std::vector<BulkOrder>& add = extra;
    std::vector<OrderKey> keep;
    // Counts outside the bitmaps stay in the overlay.
    std::erase_if(add, [&](const BulkOrder& b) {
      if (InBaseRange(b.player_count)) return false;
      keep.push_back({b.create_ns, b.player_count, b.slot});
      return true;
    });
    for (const OrderKey& k : overlay) {
      if (InBaseRange(k.player_count)) {
        add.push_back({k.create_ns, k.player_count, k.slot});
      } else {
        keep.push_back(k);
      }
    }
    std::sort(add.begin(), add.end(), [&](const BulkOrder& a, const BulkOrder& b) {
      return TimeBefore(a.create_ns, a.slot, b.create_ns, b.slot);
    });
    std::vector<uint32_t> nslot;
    std::vector<int64_t> ncreate;
    nslot.reserve(base_live + add.size());
    ncreate.reserve(base_live + add.size());
    std::vector<uint32_t> remap(base_slot.size(), kNone);
    std::vector<uint32_t> add_rank(add.size());
    size_t i = 0, j = 0;
    while (true) {
      while (i < base_slot.size() && base_slot[i] == kNone) ++i;
      bool has_i = i < base_slot.size(), has_j = j < add.size();
      if (!has_i && !has_j) break;
      auto r = static_cast<uint32_t>(nslot.size());
      if (has_i &&
          (!has_j || TimeBefore(base_create[i], base_slot[i], add[j].create_ns, add[j].slot))) {
        remap[i] = r;
        nslot.push_back(base_slot[i]);
        ncreate.push_back(base_create[i]);
        ++i;
      } else {
        add_rank[j] = r;
        nslot.push_back(add[j].slot);
        ncreate.push_back(add[j].create_ns);
        ++j;
      }
    }
    std::vector<std::unique_ptr<RankBits>> nbits(kBasePcLimit);
    for (int32_t pc = 0; pc < kBasePcLimit; ++pc) {
      const RankBits* old = pc_bits[pc].get();
      if (old == nullptr || old->count() == 0) continue;
      nbits[pc] = std::make_unique<RankBits>(nslot.size());
      for (uint32_t r = old->Next(0); r != kNone; r = old->Next(r + 1)) nbits[pc]->Set(remap[r]);
    }
    for (size_t k = 0; k < add.size(); ++k) {
      auto& b = nbits[add[k].player_count];
      if (!b) b = std::make_unique<RankBits>(nslot.size());
      b->Set(add_rank[k]);
    }
    for (uint32_t r = 0; r < nslot.size(); ++r) slot_rank[nslot[r]] = r;
    base_slot = std::move(nslot);
    base_create = std::move(ncreate);
    base_live = base_slot.size();
    pc_bits = std::move(nbits);
    overlay.clear();
    for (const OrderKey& k : keep) overlay.insert(k);
    overlay_fixed = overlay.size();
  }

  // The first base rank created at or before `ns`, or after it (create_time descending).
  uint32_t RankAtOrBefore(int64_t ns) const {
    return static_cast<uint32_t>(std::partition_point(base_create.begin(), base_create.end(),
                                                      [&](int64_t c) { return c > ns; }) -
                                 base_create.begin());
  }
  uint32_t RankBefore(int64_t ns) const {
    return static_cast<uint32_t>(std::partition_point(base_create.begin(), base_create.end(),
                                                      [&](int64_t c) { return c >= ns; }) -
                                 base_create.begin());
  }
  // The first base rank after the position (create_ns, id).
  uint32_t RankAfter(int64_t create_ns, std::string_view id) const {
    uint32_t r = RankAtOrBefore(create_ns);
    while (r < base_slot.size() && base_create[r] == create_ns &&
           (base_slot[r] == kNone || IdOf(base_slot[r]) <= id)) {
      ++r;
    }
    return r;
  }

  // Calls visit(slot) for each document in the default order, after `after` when set and
  // created within [lo, hi], until visit returns false. Per player count it merges the base
  // (that count's bitmap, in rank order) with the overlay's entries.
  template <typename Visit>
  void WalkDefault(const std::optional<Probe>& after, int64_t lo, int64_t hi, Visit&& visit) const {
    const auto end = overlay.end();
    auto ov = after ? overlay.upper_bound(*after) : overlay.begin();
    uint32_t r_begin = RankAtOrBefore(hi), r_end = RankBefore(lo);
    if (lo == std::numeric_limits<int64_t>::min()) r_end = static_cast<uint32_t>(base_slot.size());
    int64_t pc = after ? after->player_count : std::numeric_limits<int64_t>::min();
    while (true) {
      // The next count with documents: the overlay's next entry, or a non-empty bitmap.
      int64_t next = ov != end ? ov->player_count : std::numeric_limits<int64_t>::max();
      for (int64_t b = std::max<int64_t>(pc, 0); b < kBasePcLimit && b < next; ++b) {
        if (pc_bits[b] && pc_bits[b]->count() != 0) {
          next = b;
          break;
        }
      }
      if (next == std::numeric_limits<int64_t>::max()) return;
      auto p = static_cast<int32_t>(next);
      const RankBits* bits = InBaseRange(p) ? pc_bits[p].get() : nullptr;
      uint32_t a = kNone;
      if (bits != nullptr) {
        uint32_t from = r_begin;
        if (after && p == after->player_count) {
          from = std::max(from, RankAfter(after->create_ns, after->id));
        }
        a = from < r_end ? bits->Next(from) : kNone;
        if (a >= r_end) a = kNone;
      }
      if (ov != end && ov->player_count == p && ov->create_ns > hi) {
        Probe window{p, hi, {}};
        if (DefaultLess{this}(*ov, window)) ov = overlay.lower_bound(window);
      }
      while (true) {
        bool has_o = ov != end && ov->player_count == p && ov->create_ns >= lo;
        if (a == kNone && !has_o) break;
        uint32_t slot;
        if (a != kNone &&
            (!has_o || TimeBefore(base_create[a], base_slot[a], ov->create_ns, ov->slot))) {
          slot = base_slot[a];
          a = bits->Next(a + 1);
          if (a >= r_end) a = kNone;
        } else {
          slot = ov->slot;
          ++ov;
        }
        if (!visit(slot)) return;
      }
      if (p == std::numeric_limits<int32_t>::max()) return;
      if (ov != end && ov->player_count == p) {
        ov = overlay.lower_bound(Probe{p + 1, std::numeric_limits<int64_t>::max(), {}});
      }
      pc = int64_t{p} + 1;
    }
  }

  // Requires `mu` and `ids_mu` held exclusively.
  bool DeleteLocked(std::string_view id) {
    uint32_t slot = FindSlot(id);
    if (slot == kNone) return false;
    Doc& d = *docs[slot];
    ++seq;
    OrderRemove(slot, d);
    UnpostAll(slot);
    ids.Erase(Hash32(id), slot);
    Doc* old = docs[slot];
    docs[slot] = nullptr;
    ReleaseUnused(old);
    arena.Free(old, DocSize(old));
    free_slots.push_back(slot);
    return true;
  }

  void ApplyCount(uint32_t slot, int32_t player_count, int64_t update_ns) {
    Doc& d = *docs[slot];
    ++seq;
    d.update_ns = update_ns;
    if (d.player_count != player_count) {
      OrderSetCount(slot, d, player_count);
      d.order_seq = seq;
    }
    d.seq = seq;
  }

  // Applies the pending player counts in arrival order. Requires `mu` held exclusively; a
  // caller about to change slots holds `ids_mu` exclusively too, so that no SetPlayerCount
  // is between its look-up and its push.
  void ApplyPendingLocked() {
    if (pending_size.load(std::memory_order_acquire) == 0) return;
    {
      std::lock_guard guard(pending_mu);
      applying.swap(pending);
      pending_size.store(0, std::memory_order_relaxed);
    }
    for (const PendingCount& p : applying) ApplyCount(p.slot, p.player_count, p.update_ns);
    applying.clear();
  }
  // Applies pending player counts before a read, so that a read sees every update that
  // returned before it began.
  void SyncForRead() {
    if (pending_size.load(std::memory_order_acquire) == 0) return;
    std::unique_lock lock(mu);
    ApplyPendingLocked();
  }

  // ---- matching ----

  // The key of `d` for one order field.
  KeyVal KeyOf(const Doc& d, uint32_t field) const {
    KeyVal k;
    if (field == f_id) {
      k.rank = 2;
      k.str = IdOf(d);
      return k;
    }
    if (field == kNone) return k;
    VisitValues(d, [&](uint32_t f, const Value& v) {
      if (f != field) return false;
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
      return true;
    });
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

  // Whether keyword `term` is the clause's text: by term id on one field (terms are per
  // field), by text on any field.
  bool KeywordIs(const Bound& b, uint32_t term) const {
    return b.field == kAnyField ? terms[term].text == b.clause->text : term == b.term;
  }

  bool MatchValue(const Bound& b, const Value& v) const {
    const Clause& c = *b.clause;
    switch (c.kind) {
      case ClauseKind::kMatchAll:
        return true;
      case ClauseKind::kTerm:
        return v.kind == Kind::kKeyword && KeywordIs(b, v.term);
      case ClauseKind::kNumber:
        return (v.kind == Kind::kNumber && v.num == c.number) ||
               (v.kind == Kind::kKeyword && KeywordIs(b, v.term));
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
    const Clause& c = *b.clause;
    if (c.kind == ClauseKind::kMatchAll) return true;
    if (b.field == kNone) return false;
    if (b.field == f_id || b.field == kAnyField) {
      if (MatchText(b, IdOf(d))) return true;
      if (b.field == f_id) return false;
    }
    if (b.field != kAnyField) {
      // One field: answer from the document's fixed part or its keyword list where possible.
      if (c.kind == ClauseKind::kTerm) return b.term != kNone && HasTerm(d, b.term);
      if (b.field == f_player_count) return MatchValue(b, NumberValue(d.player_count));
      if (b.field == f_create_time) return MatchValue(b, DateValue(d.create_ns));
      if (b.field == f_update_time) return MatchValue(b, DateValue(d.update_ns));
      if (b.field == f_port) return MatchValue(b, NumberValue(d.port));
      const KwEntry* kw = Kw(&d);
      if (b.field == f_status) return MatchValue(b, KeywordValue(kw[kKwStatus].term));
      if (b.field == f_ip_address) return MatchValue(b, KeywordValue(kw[kKwIp].term));
      if (b.field == f_dns_name) return MatchValue(b, KeywordValue(kw[kKwDns].term));
    }
    return VisitValues(d, [&](uint32_t f, const Value& v) {
      return (b.field == kAnyField || f == b.field) && MatchValue(b, v);
    });
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

  // Appends to `out` the slots holding a keyword of b's field that b (a wildcard, regex or
  // fuzzy clause) matches, looking only at the range of the field's sorted dictionary that
  // can match: the literal prefix of a wildcard, RE2's possible-match range of a regex,
  // everything for a fuzzy term. Returns false, leaving `out` incomplete, when the range holds
  // more than `budget` keywords.
  bool ScanDictionary(const Bound& b, size_t budget, std::vector<uint32_t>& out) const {
    const Clause& c = *b.clause;
    const auto& dict = fields[b.field]->dict;
    auto it = dict.begin();
    std::string lo, hi;
    bool prefix = false, range = false;
    if (c.kind == ClauseKind::kWildcard) {
      while (lo.size() < c.pattern.size() && !c.wild[lo.size()]) lo.push_back(c.pattern[lo.size()]);
      prefix = !lo.empty();
    } else if (c.kind == ClauseKind::kRegex) {
      range = c.regex->PossibleMatchRange(&lo, &hi, 64);
    }
    if (prefix || range) it = dict.lower_bound(std::string_view(lo));
    size_t examined = 0;
    for (; it != dict.end(); ++it) {
      const Term& t = terms[*it];
      if (prefix && !std::string_view(t.text).starts_with(lo)) break;
      if (range && t.text > hi) break;
      if (++examined > budget) return false;
      if (!MatchValue(b, KeywordValue(*it))) continue;
      out.insert(out.end(), t.posting.data(), t.posting.data() + t.posting.size());
    }
    return true;
  }

  // Compares document `d` (its keys `dk`) with the cursor position: <0 before, >0 after.
  static int CompareToCursor(const std::vector<KeyVal>& dk, std::string_view id, const Cursor& c,
                             const std::vector<OrderField>& order) {
    for (size_t i = 0; i < order.size(); ++i) {
      int r = CompareKey(dk[i], c.keys[i], order[i].descending);
      if (r != 0) return r;
    }
    int r = id.compare(c.id);
    return r < 0 ? -1 : (r == 0 ? 0 : 1);
  }
};

InstanceIndex::InstanceIndex(IndexOptions options) : impl_(std::make_unique<Impl>(options)) {}

InstanceIndex::~InstanceIndex() = default;

IndexEntryView ViewOf(const InstanceInfo& info, Timestamp update_time,
                      std::string_view metadata_tape) {
  return {.id = info.id,
          .status = info.status,
          .ip_address = info.connection_info.ip_address,
          .dns_name = info.connection_info.dns_name,
          .port = info.connection_info.port,
          .player_count = info.player_count,
          .create_time = info.create_time,
          .update_time = update_time,
          .metadata_tape = metadata_tape};
}

Status InstanceIndex::Upsert(const InstanceInfo& info, Timestamp update_time) {
  if (info.id.empty()) return InvalidArgumentError("instance id: empty");
  thread_local std::string tape;  // kept between calls: status reports upsert all the time
  tape.clear();
  internal::AppendJsonTape(info.metadata, tape);
  Impl& m = *impl_;
  std::unique_lock lock(m.mu);
  std::unique_lock ids_lock(m.ids_mu);
  m.ApplyPendingLocked();
  Status s = m.UpsertLocked(ViewOf(info, update_time, tape));
  m.MaybeRebuild();
  return s;
}

Status InstanceIndex::UpsertMany(std::span<const IndexEntry> entries) {
  std::string tapes;
  std::vector<size_t> ends;
  ends.reserve(entries.size());
  for (const IndexEntry& e : entries) {
    internal::AppendJsonTape(e.info.metadata, tapes);
    ends.push_back(tapes.size());
  }
  std::vector<IndexEntryView> views;
  views.reserve(entries.size());
  for (size_t i = 0, at = 0; i < entries.size(); at = ends[i++]) {
    views.push_back(ViewOf(entries[i].info, entries[i].update_time,
                           std::string_view(tapes).substr(at, ends[i] - at)));
  }
  return UpsertViews(views);
}

Status InstanceIndex::UpsertViews(std::span<const IndexEntryView> entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].id.empty()) {
      return InvalidArgumentError("entries[" + std::to_string(i) + "]: instance id: empty");
    }
  }
  Impl& m = *impl_;
  std::unique_lock lock(m.mu);
  std::unique_lock ids_lock(m.ids_mu);
  m.ApplyPendingLocked();
  size_t fresh = entries.size();
  if (m.ids.size() + entries.size() > m.options.max_entries) {
    // Count the new ids exactly (an id may repeat) before changing anything.
    absl::flat_hash_set<std::string_view> seen;
    for (const IndexEntryView& e : entries) {
      if (m.FindSlot(e.id) == kNone) seen.insert(e.id);
    }
    fresh = seen.size();
    if (m.ids.size() + fresh > m.options.max_entries) {
      return ResourceExhaustedError("instance index is full (" +
                                    std::to_string(m.options.max_entries) +
                                    " instances); cannot add " + std::to_string(fresh) +
                                    " new instances to " + std::to_string(m.ids.size()));
    }
  }
  m.ids.Reserve(m.ids.size() + fresh);
  m.bulk_order.reserve(entries.size());
  m.bulk_terms.reserve(entries.size());
  m.bulk = true;
  for (const IndexEntryView& e : entries) {
    Status s = m.UpsertLocked(e);
    GLFM_CHECK(s.ok());  // ids and capacity were checked above
  }
  m.bulk = false;
  m.FinishBulk();
  m.MaybeRebuild();
  return OkStatus();
}

Status InstanceIndex::SetPlayerCount(std::string_view id, int player_count, Timestamp update_time) {
  Impl& m = *impl_;
  int64_t update_ns = ToNs(update_time);
  // With no reader in the way, apply at once (after the queue, to keep arrival order). A
  // non-empty queue means readers were in the way a moment ago: join it without trying.
  if (m.pending_size.load(std::memory_order_relaxed) == 0) {
    std::unique_lock lock(m.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      m.ApplyPendingLocked();
      uint32_t slot = m.FindSlot(id);
      if (slot == kNone) return NotFoundError("instance " + std::string(id) + " not found");
      m.ApplyCount(slot, player_count, update_ns);
      return OkStatus();
    }
  }
  bool drain = false;
  {
    // Readers hold `mu`: find the slot under `ids_mu` alone and queue the update. The slot
    // stays valid until the update is applied, because Upsert and Delete take `ids_mu`
    // exclusively and apply the queue before they change any slot.
    std::shared_lock lock(m.ids_mu);
    uint32_t slot = m.FindSlot(id);
    if (slot == kNone) return NotFoundError("instance " + std::string(id) + " not found");
    std::lock_guard guard(m.pending_mu);
    m.pending.push_back({slot, player_count, update_ns});
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
  std::unique_lock lock(m.mu);
  std::unique_lock ids_lock(m.ids_mu);
  m.ApplyPendingLocked();
  bool found = m.DeleteLocked(id);
  m.MaybeRebuild();
  return found;
}

std::shared_ptr<const InstanceInfo> InstanceIndex::Get(std::string_view id) const {
  impl_->SyncForRead();
  std::shared_lock lock(impl_->mu);
  uint32_t slot = impl_->FindSlot(id);
  return slot == kNone ? nullptr : impl_->Materialize(*impl_->docs[slot]);
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
    if ((c.kind == ClauseKind::kTerm || c.kind == ClauseKind::kNumber) && b.field != kAnyField &&
        b.field != kNone) {
      b.term = m.LookupTerm(b.field, c.text);
    }
    bound.push_back(b);
  }
  std::vector<uint32_t> order_fields;
  for (const OrderField& o : order) order_fields.push_back(m.LookupField(o.field));

  // The smallest candidate list of a must clause, if any: a term's posting list, the slot of
  // an id, or the slots of a narrow dictionary range.
  std::optional<std::span<const uint32_t>> best;
  uint32_t id_slot = 0;
  bool empty_must = false;
  double selectivity = 1;
  size_t n = m.ids.size();
  for (const Bound& b : bound) {
    if (b.clause->occur != Occur::kMust || b.clause->kind != ClauseKind::kTerm ||
        b.field == kAnyField) {
      continue;
    }
    if (b.field == m.f_id) {
      id_slot = m.FindSlot(b.clause->text);
      if (id_slot == kNone) {
        empty_must = true;
        break;
      }
      best = std::span<const uint32_t>(&id_slot, 1);
      selectivity = 0;
      continue;
    }
    if (b.field == kNone || b.term == kNone) {
      empty_must = true;
      break;
    }
    const Posting& p = m.terms[b.term].posting;
    if (!best || p.size() < best->size()) best = std::span<const uint32_t>(p.data(), p.size());
    selectivity *= n == 0 ? 1 : double(p.size()) / double(n);
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
    c.id = Impl::IdOf(last);
    return EncodeCursor(c);
  };

  // A must-clause with a wildcard, regex or fuzzy term on one field finds its candidates in
  // that field's sorted dictionary: at once when they lie in a narrow range (a literal
  // prefix), otherwise only if the walk below does not satisfy the query quickly.
  const Bound* term_scan = nullptr;
  for (const Bound& b : bound) {
    ClauseKind k = b.clause->kind;
    if (b.clause->occur == Occur::kMust && b.field != kAnyField && b.field != kNone &&
        b.field != m.f_id &&
        (k == ClauseKind::kWildcard || k == ClauseKind::kRegex || k == ClauseKind::kFuzzy)) {
      term_scan = &b;
      break;
    }
  }
  std::vector<uint32_t> scanned;
  auto finish_scan = [&] {
    std::sort(scanned.begin(), scanned.end());
    scanned.erase(std::unique(scanned.begin(), scanned.end()), scanned.end());
  };
  if (term_scan != nullptr) {
    if (m.ScanDictionary(*term_scan, m.options.dictionary_range_budget, scanned)) {
      finish_scan();
      if (scanned.empty()) return result;
      selectivity *= double(scanned.size()) / double(n);
      if (!best || scanned.size() < best->size()) best = std::span<const uint32_t>(scanned);
    } else {
      scanned.clear();
    }
  }

  // Plan A: walk the default order from the cursor, filtering, when the expected walk is
  // shorter than the smallest candidate list. With a dictionary scan still possible the walk
  // has a budget; past it the query goes on as plan B.
  std::vector<uint32_t> hits_slots;
  double expected_walk = double(limit + 1) / std::max(selectivity, 1e-9);
  bool walk_done = false;
  if (default_order && (!best || expected_walk < double(best->size()) * 4)) {
    std::optional<Impl::Probe> after;
    if (cursor) {
      const KeyVal& pc = cursor->keys[0];
      const KeyVal& ct = cursor->keys[1];
      if (pc.rank != 0 || ct.rank != 1 || !std::isfinite(pc.num)) {
        return InvalidArgumentError("cursor: malformed");
      }
      double pcv = std::clamp(pc.num, -2147483648.0, 2147483647.0);
      after = Impl::Probe{static_cast<int32_t>(pcv), ct.ns, cursor->id};
    }
    // A must date range on create_time: within one player_count the default order is
    // create_time descending, so the walk only visits each count's window.
    int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    for (const Bound& b : bound) {
      const Clause& c = *b.clause;
      if (c.occur == Occur::kMust && c.kind == ClauseKind::kDateRange &&
          b.field == m.f_create_time) {
        // Inclusive bounds; nanoseconds are integers.
        if (c.has_min) lo = std::max(lo, c.min_inclusive ? c.min_ns : c.min_ns + 1);
        if (c.has_max) hi = std::min(hi, c.max_inclusive ? c.max_ns : c.max_ns - 1);
      }
    }
    const Doc* last = nullptr;
    size_t visited = 0;
    walk_done = true;
    m.WalkDefault(after, lo, hi, [&](uint32_t slot) {
      if (++visited > m.options.walk_budget && term_scan != nullptr && !best) {
        walk_done = false;
        hits_slots.clear();
        return false;
      }
      const Doc& d = *m.docs[slot];
      if (excluded(d) || !m.Matches(q, bound, d)) return true;
      if (static_cast<int>(hits_slots.size()) == limit) {
        result.cursor = make_cursor(*last);
        return false;
      }
      hits_slots.push_back(slot);
      last = &d;
      return true;
    });
    if (walk_done) {
      result.instances.reserve(hits_slots.size());
      for (uint32_t slot : hits_slots) result.instances.push_back(m.Materialize(*m.docs[slot]));
      return result;
    }
  }
  if (!best && term_scan != nullptr) {
    m.ScanDictionary(*term_scan, std::numeric_limits<size_t>::max(), scanned);
    finish_scan();
    best = std::span<const uint32_t>(scanned);
  }

  // Plan B: candidates from the smallest list (or every instance), filtered, then the first
  // `limit` after the cursor in the requested order.
  struct Hit {
    uint32_t slot;
    std::vector<KeyVal> keys;
  };
  std::vector<Hit> hits;
  auto consider = [&](uint32_t slot) {
    const Doc* dp = m.docs[slot];
    if (dp == nullptr) return;
    const Doc& d = *dp;
    if (excluded(d) || !m.Matches(q, bound, d)) return;
    Hit h{slot, {}};
    h.keys.reserve(order_fields.size());
    for (uint32_t f : order_fields) h.keys.push_back(m.KeyOf(d, f));
    if (cursor && Impl::CompareToCursor(h.keys, Impl::IdOf(d), *cursor, order) <= 0) return;
    hits.push_back(std::move(h));
  };
  if (best) {
    for (uint32_t slot : *best) consider(slot);
  } else {
    for (uint32_t slot = 0; slot < m.docs.size(); ++slot) consider(slot);
  }
  auto less = [&](const Hit& a, const Hit& b) {
    for (size_t i = 0; i < order.size(); ++i) {
      int r = CompareKey(a.keys[i], b.keys[i], order[i].descending);
      if (r != 0) return r < 0;
    }
    return m.IdOf(a.slot) < m.IdOf(b.slot);
  };
  size_t take = std::min<size_t>(hits.size(), static_cast<size_t>(limit));
  std::partial_sort(hits.begin(), hits.begin() + take, hits.end(), less);
  result.instances.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    result.instances.push_back(m.Materialize(*m.docs[hits[i].slot]));
  }
  if (hits.size() > take) result.cursor = make_cursor(*m.docs[hits[take - 1].slot]);
  return result;
}

}  // namespace glfm::index
