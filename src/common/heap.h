#pragma once
// Heap growth during bulk work: see BulkHeapGrowth.
#include <atomic>

namespace glfm {

// The number of BulkHeapGrowth scopes alive in the process.
std::atomic<int>& BulkHeapGrowthScopes();

// What a heap that supports bulk growth does when the first scope opens and the last one
// closes (both null where the heap does not: src/common/huge_page_heap.cc sets them). They
// run on the thread that opens or closes the scope, never inside the allocator.
struct BulkHeapGrowthHooks {
  void (*begin)() = nullptr;
  void (*end)() = nullptr;
};
BulkHeapGrowthHooks& BulkHeapGrowthHooksForHeap();

// While one is alive, a heap that supports it takes new memory from the system in 2 MiB
// pieces marked for transparent huge pages (src/common/huge_page_heap.cc, linked into the
// programs that allocate through tcmalloc; elsewhere this changes nothing), and a thread of
// its own touches them ahead of the heap, so that the first touch of each (the kernel zeroing
// it) runs on another core. For bulk loads, which touch hundreds of MB at once with no one
// waiting on them: on this kind of VM a first touch costs ~10 µs per 4 KiB page. Outside
// them the heap grows 4 KiB pages at a time: a 2 MiB first touch (zeroing it, maybe
// compacting memory for it) stalls whichever request makes it (bench_fleet's receive →
// callback p99 rose from ~4.5 to ~6 ms with huge pages throughout).
class BulkHeapGrowth {
 public:
  BulkHeapGrowth();
  ~BulkHeapGrowth();
  BulkHeapGrowth(const BulkHeapGrowth&) = delete;
  BulkHeapGrowth& operator=(const BulkHeapGrowth&) = delete;
};

}  // namespace glfm
