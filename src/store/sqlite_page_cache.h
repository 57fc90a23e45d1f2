// SQLite's default page cache (pcache1) with one change: a truncate that has nothing to
// discard returns at once.
//
// Why: every write transaction ends with a truncate of the writer's cache to the database
// size. pcache1 scans for pages above it only when its largest key ever seen (iMaxKey) is
// above it, and then the whole hash table when that key is far above. SQLite 3.40's B-tree
// balance (a page split) parks a page at the lock-byte page number (1 GiB / page size + 1,
// 524289 for 2 KiB pages) while it renumbers the new pages in order, and moves it back
// before the transaction ends; pcache1 keeps that key as its largest, so every transaction
// with a split scanned the entire 64 MiB writer cache (up to 32k pages) to discard nothing.
// In bench_fleet that scan took about a fifth of the committer's time (perf).
//
// This cache tracks the keys that can be present: the largest key fetched since the last
// truncate that covered it, and the pages moved to a key above that (by page, until they
// move again or are discarded). A truncate below all of them cannot discard a page and is
// not passed on; any other goes to pcache1 unchanged. A page pcache1 recycles without
// telling (an unpinned page reused for another key) stays counted: a truncate is then passed
// on that had nothing to discard, which is safe.
#pragma once

#include <cstdint>

namespace glfm::store::internal {

// Installs the cache for every connection opened after it (once per process; later calls
// return true). SQLite takes a page cache only while it is not initialized (the first open,
// VFS lookup or registration initializes it; sqlite3_shutdown ends that): returns false,
// changing nothing, when it is. Not thread-safe with other SQLite calls: call it before the
// process's first one (SqliteStore::Open does).
bool InstallPageCache();

// Counts of truncates since the process started: passed on to pcache1, and returned early.
struct PageCacheCounts {
  uint64_t truncates_passed = 0;
  uint64_t truncates_skipped = 0;
};
PageCacheCounts GetPageCacheCounts();

}  // namespace glfm::store::internal
