#include "store/sqlite_page_cache.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace glfm::store::internal {
namespace {

sqlite3_pcache_methods2 g_inner;  // pcache1, read once by InstallPageCache
std::atomic<uint64_t> g_passed{0};
std::atomic<uint64_t> g_skipped{0};

// One connection's cache (SQLite calls a cache from one thread at a time).
struct Cache {
  sqlite3_pcache* inner;
  // No page fetched since the last truncate that covered it has a larger key.
  unsigned fetched_max = 0;
  // Pages moved to a key above fetched_max (at most a few, during a B-tree balance).
  std::vector<std::pair<sqlite3_pcache_page*, unsigned>> moved_high;

  void ForgetMoved(sqlite3_pcache_page* page) {
    std::erase_if(moved_high, [&](const auto& m) { return m.first == page; });
  }
};

Cache* Of(sqlite3_pcache* p) { return reinterpret_cast<Cache*>(p); }

int Init(void*) { return g_inner.xInit(g_inner.pArg); }

void Shutdown(void*) {
  if (g_inner.xShutdown != nullptr) {
    g_inner.xShutdown(g_inner.pArg);
  }
}

sqlite3_pcache* Create(int page_size, int extra_size, int purgeable) {
  sqlite3_pcache* inner = g_inner.xCreate(page_size, extra_size, purgeable);
  if (inner == nullptr) {
    return nullptr;
  }
  auto* c = new (std::nothrow) Cache{inner, 0, {}};
  if (c == nullptr) {
    g_inner.xDestroy(inner);
    return nullptr;
  }
  return reinterpret_cast<sqlite3_pcache*>(c);
}

void Cachesize(sqlite3_pcache* p, int pages) { g_inner.xCachesize(Of(p)->inner, pages); }

int Pagecount(sqlite3_pcache* p) { return g_inner.xPagecount(Of(p)->inner); }

sqlite3_pcache_page* Fetch(sqlite3_pcache* p, unsigned key, int create) {
  Cache* c = Of(p);
  sqlite3_pcache_page* page = g_inner.xFetch(c->inner, key, create);
  if (page != nullptr) {
    c->fetched_max = std::max(c->fetched_max, key);
  }
  return page;
}

void Unpin(sqlite3_pcache* p, sqlite3_pcache_page* page, int discard) {
  Cache* c = Of(p);
  if (discard != 0) {
    c->ForgetMoved(page);
  }
  g_inner.xUnpin(c->inner, page, discard);
}

void Rekey(sqlite3_pcache* p, sqlite3_pcache_page* page, unsigned old_key, unsigned new_key) {
  Cache* c = Of(p);
  g_inner.xRekey(c->inner, page, old_key, new_key);
  c->ForgetMoved(page);
  if (new_key > c->fetched_max) {
    c->moved_high.emplace_back(page, new_key);
  }
}

// Discards the pages with a key of `limit` or more.
void Truncate(sqlite3_pcache* p, unsigned limit) {
  Cache* c = Of(p);
  bool any =
      c->fetched_max >= limit || std::any_of(c->moved_high.begin(), c->moved_high.end(),
                                             [&](const auto& m) { return m.second >= limit; });
  if (!any) {
    g_skipped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  g_passed.fetch_add(1, std::memory_order_relaxed);
  g_inner.xTruncate(c->inner, limit);
  c->fetched_max = std::min(c->fetched_max, limit - 1);
  std::erase_if(c->moved_high, [&](const auto& m) { return m.second >= limit; });
}

void Destroy(sqlite3_pcache* p) {
  Cache* c = Of(p);
  g_inner.xDestroy(c->inner);
  delete c;
}

void Shrink(sqlite3_pcache* p) { g_inner.xShrink(Of(p)->inner); }

}  // namespace

bool InstallPageCache() {
  static std::mutex mu;
  static bool installed = false;  // guarded by mu
  std::lock_guard lock(mu);
  if (installed) {
    return true;
  }
  // Both fail (SQLITE_MISUSE) while SQLite is initialized.
  sqlite3_pcache_methods2 inner{};
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner) != SQLITE_OK || inner.xCreate == nullptr) {
    return false;
  }
  g_inner = inner;
  static const sqlite3_pcache_methods2 kMethods = {1,         nullptr,   Init,  Shutdown, Create,
                                                   Cachesize, Pagecount, Fetch, Unpin,    Rekey,
                                                   Truncate,  Destroy,   Shrink};
  installed = sqlite3_config(SQLITE_CONFIG_PCACHE2, &kMethods) == SQLITE_OK;
  return installed;
}

PageCacheCounts GetPageCacheCounts() {
  return {g_passed.load(std::memory_order_relaxed), g_skipped.load(std::memory_order_relaxed)};
}

}  // namespace glfm::store::internal
