// Linked into the programs that allocate through tcmalloc (GLFM_MALLOC_SOURCES): while a
// BulkHeapGrowth scope is alive (common/heap.h), the heap grows in 2 MiB-aligned pieces marked
// MADV_HUGEPAGE, so that with transparent huge pages in "madvise" mode (Debian's default) the
// kernel backs them with 2 MiB pages. Touching 1 GiB here took 2.3-2.9 s in 4 KiB pages and
// 0.8-1.8 s in huge ones; the index of 1M sessions that start-up loads is ~400 MB. Where THP
// is off ("never") the advice does nothing.
#include <gperftools/malloc_extension.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include "common/heap.h"

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

class HugePageSysAllocator : public SysAllocator {
 public:
  explicit HugePageSysAllocator(SysAllocator* fallback) : fallback_(fallback) {}

  void* Alloc(size_t size, size_t* actual_size, size_t alignment) override {
    if (glfm::BulkHeapGrowthScopes().load(std::memory_order_relaxed) == 0) {
      return fallback_->Alloc(size, actual_size, alignment);
    }
    size_t align = alignment > kHugePage ? alignment : kHugePage;
    size_t want = (size + kHugePage - 1) & ~(kHugePage - 1);
    // Over-map by one alignment, then trim both ends to the aligned piece.
    size_t span = want + align;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      return fallback_->Alloc(size, actual_size, alignment);
    }
    auto begin = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (begin + align - 1) & ~(uintptr_t{align} - 1);
    if (aligned > begin) munmap(raw, aligned - begin);
    uintptr_t end = begin + span;
    if (end > aligned + want) munmap(reinterpret_cast<void*>(aligned + want), end - aligned - want);
    madvise(reinterpret_cast<void*>(aligned), want, MADV_HUGEPAGE);
    if (actual_size != nullptr) *actual_size = want;
    return reinterpret_cast<void*>(aligned);
  }

 private:
  SysAllocator* fallback_;
};

// Installed before main, as MallocExtension asks, while only this thread exists.
const bool kInstalled = [] {
  MallocExtension* ext = MallocExtension::instance();
  static HugePageSysAllocator allocator(ext->GetSystemAllocator());
  ext->SetSystemAllocator(&allocator);
  return true;
}();

}  // namespace
