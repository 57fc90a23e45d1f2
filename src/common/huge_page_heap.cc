// Linked into the programs that allocate through tcmalloc (GLFM_MALLOC_SOURCES): while a
// BulkHeapGrowth scope is alive (common/heap.h), the heap grows in 2 MiB-aligned pieces marked
// MADV_HUGEPAGE, so that with transparent huge pages in "madvise" mode (Debian's default) the
// kernel backs them with 2 MiB pages. Touching 1 GiB here took 2.3-2.9 s in 4 KiB pages and
// 0.8-1.8 s in huge ones; the index of 1M sessions that start-up loads is ~400 MB. Where THP
// is off ("never") the advice does nothing.
//
// The pieces come from a runway: one reservation of address space that the heap takes from
// front to back, and that a thread of its own populates (MADV_POPULATE_WRITE: the kernel
// allocates and zeroes each page, as a first write would, without writing to it) up to
// kAhead bytes past what the heap has taken. The zeroing, ~15% of a 1M-session start-up's
// CPU on this VM, so runs on the other core. A heap outgrowing the runway, or a kernel without
// MADV_POPULATE_WRITE (before 5.14), gets what it got before.
#include <gperftools/malloc_extension.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/heap.h"

namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kRunway = size_t{2} << 30;  // address space only, until populated
constexpr size_t kAhead = size_t{32} << 20;

// Maps `want` bytes (a multiple of kHugePage) aligned to `align` (a power of two, at least
// kHugePage), marked for huge pages; nullptr when the system has no such mapping to give.
void* MapAligned(size_t want, size_t align, int extra_flags = 0) {
  // Over-map by one alignment, then trim both ends to the aligned piece.
  size_t span = want + align;
  void* raw =
      mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto begin = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (begin + align - 1) & ~(uintptr_t{align} - 1);
  if (aligned > begin) munmap(raw, aligned - begin);
  uintptr_t end = begin + span;
  if (end > aligned + want) munmap(reinterpret_cast<void*>(aligned + want), end - aligned - want);
  madvise(reinterpret_cast<void*>(aligned), want, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

class Runway {
 public:
  // Reserves the runway and starts its thread (called outside the allocator: both allocate).
  void Open() {
    void* at = MapAligned(kRunway, kHugePage, MAP_NORESERVE);
    if (at == nullptr) return;
    std::lock_guard lock(mu_);
    taken_ = populated_ = reinterpret_cast<uintptr_t>(at);
    end_ = taken_ + kRunway;
    stop_ = false;
    try {
      thread_ = std::thread([this] { Populate(); });
    } catch (const std::system_error&) {
      // No thread: the heap still takes the runway, and touches it itself.
    }
  }

  // Stops the thread and unmaps what the heap did not take; the heap keeps what it took.
  void Close() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    if (end_ > taken_) munmap(reinterpret_cast<void*>(taken_), end_ - taken_);
    taken_ = populated_ = end_ = 0;
  }

  // Takes `want` bytes (a multiple of kHugePage) from the front, or returns nullptr when the
  // runway is closed or too short. Called by the allocator, with its lock held: allocates
  // nothing.
  void* Take(size_t want) {
    std::unique_lock lock(mu_);
    if (end_ - taken_ < want) return nullptr;
    uintptr_t at = taken_;
    taken_ += want;
    lock.unlock();
    cv_.notify_one();
    return reinterpret_cast<void*>(at);
  }

 private:
  void Populate() {
    pthread_setname_np(pthread_self(), "glfm-heap");
    std::unique_lock lock(mu_);
    while (!stop_) {
      uintptr_t at = std::max(populated_, taken_);
      if (at >= end_ || at >= taken_ + kAhead) {
        cv_.wait(lock);
        continue;
      }
      populated_ = at + kHugePage;
      lock.unlock();
      // Safe beside the heap's own use of the piece: populating writes nothing.
      bool ok = madvise(reinterpret_cast<void*>(at), kHugePage, MADV_POPULATE_WRITE) == 0;
      lock.lock();
      if (!ok) return;  // not supported here, or no memory: the heap's own touch will tell
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  uintptr_t end_ = 0;
  uintptr_t taken_ = 0;      // the heap has the reservation up to here
  uintptr_t populated_ = 0;  // the thread has populated up to here (or the heap took past it)
  bool stop_ = false;
  std::thread thread_;
};

Runway& TheRunway() {
  static Runway* runway = new Runway;  // never destroyed: the allocator may outlive statics
  return *runway;
}

class HugePageSysAllocator : public SysAllocator {
 public:
  explicit HugePageSysAllocator(SysAllocator* fallback) : fallback_(fallback) {}

  void* Alloc(size_t size, size_t* actual_size, size_t alignment) override {
    if (glfm::BulkHeapGrowthScopes().load(std::memory_order_relaxed) == 0) {
      return fallback_->Alloc(size, actual_size, alignment);
    }
    size_t want = (size + kHugePage - 1) & ~(kHugePage - 1);
    void* at = alignment <= kHugePage ? TheRunway().Take(want) : nullptr;
    if (at == nullptr) at = MapAligned(want, std::max(alignment, kHugePage));
    if (at == nullptr) return fallback_->Alloc(size, actual_size, alignment);
    if (actual_size != nullptr) *actual_size = want;
    return at;
  }

 private:
  SysAllocator* fallback_;
};

// Installed before main, as MallocExtension asks, while only this thread exists.
const bool kInstalled = [] {
  MallocExtension* ext = MallocExtension::instance();
  static HugePageSysAllocator allocator(ext->GetSystemAllocator());
  ext->SetSystemAllocator(&allocator);
  glfm::BulkHeapGrowthHooksForHeap() = {[] { TheRunway().Open(); }, [] { TheRunway().Close(); }};
  return true;
}();

}  // namespace
