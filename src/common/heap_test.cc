#include "common/heap.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

namespace glfm {
namespace {

// The process's resident memory, in bytes.
size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Whether this kernel has MADV_POPULATE_WRITE, which the runway's thread uses.
bool KernelPopulates() {
  const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  bool ok = madvise(p, size, MADV_POPULATE_WRITE) == 0;
  munmap(p, size);
  return ok;
}

// How many bytes of [p, p + size) are resident.
size_t ResidentIn(const void* p, size_t size) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p) + size;
  std::vector<unsigned char> pages((end - begin + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(begin), end - begin, pages.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : pages) n += v & 1;
  return n * page;
}

bool HeapGrowsInBulk() { return BulkHeapGrowthHooksForHeap().begin != nullptr; }

constexpr size_t kMiB = size_t{1} << 20;

TEST(BulkHeapGrowthTest, MemoryTakenInAScopeKeepsItsContentsAfterTheScopeCloses) {
  std::vector<std::unique_ptr<uint8_t[]>> blocks;
  for (int round = 0; round < 8; ++round) {
    BulkHeapGrowth bulk;
    BulkHeapGrowth nested;  // scopes nest: the heap grows in bulk until the last one closes
    EXPECT_GE(BulkHeapGrowthScopes().load(), 2);
    for (int i = 0; i < 16; ++i) {
      auto block = std::make_unique<uint8_t[]>(kMiB);
      std::memset(block.get(), round * 16 + i, kMiB);
      blocks.push_back(std::move(block));
    }
  }
  EXPECT_EQ(BulkHeapGrowthScopes().load(), 0);
  // Outside any scope the heap still grows, the ordinary way.
  auto after = std::make_unique<uint8_t[]>(64 * kMiB);
  std::memset(after.get(), 0xee, 64 * kMiB);
  for (size_t b = 0; b < blocks.size(); ++b) {
    const uint8_t want = static_cast<uint8_t>(b);
    ASSERT_EQ(blocks[b][0], want) << "block " << b;
    ASSERT_EQ(blocks[b][kMiB / 2], want) << "block " << b;
    ASSERT_EQ(blocks[b][kMiB - 1], want) << "block " << b;
  }
  EXPECT_EQ(after[64 * kMiB - 1], 0xee);
}

TEST(BulkHeapGrowthTest, MemoryAheadOfTheHeapIsMadeResidentAndReturnedWhenTheScopeCloses) {
  if (!HeapGrowsInBulk()) GTEST_SKIP() << "this build's heap does not grow in bulk (no tcmalloc)";
  if (!KernelPopulates()) {
    GTEST_SKIP() << "no MADV_POPULATE_WRITE (Linux 5.14): the heap touches its pages itself";
  }
  const size_t before = ResidentBytes();
  // The heap takes this block from the system in the scope (larger than anything freed before,
  // so that it is new), and nothing writes to it. Part of it may be resident (the runway's
  // thread may populate its front before the heap takes it); the rest of what the process
  // gains is the runway ahead of the heap.
  constexpr size_t kBlock = 256 * kMiB;
  uint8_t* block = nullptr;
  std::unique_ptr<uint8_t, decltype(&std::free)> hold(nullptr, &std::free);
  // Resident bytes gained since `before`, less the block's own.
  auto gained_beside_block = [&] {
    return static_cast<int64_t>(ResidentBytes()) - static_cast<int64_t>(before) -
           static_cast<int64_t>(ResidentIn(block, kBlock));
  };
  int64_t ahead = 0;
  {
    BulkHeapGrowth bulk;
    block = static_cast<uint8_t*>(std::malloc(kBlock));
    ASSERT_NE(block, nullptr);
    hold.reset(block);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ahead = gained_beside_block();
    } while (ahead < int64_t{30 * kMiB} && std::chrono::steady_clock::now() < deadline);
  }
  EXPECT_GE(ahead, int64_t{30 * kMiB}) << "the runway's thread populates 32 MiB ahead of the heap";
  // What the heap did not take goes back to the system with the scope.
  EXPECT_LT(gained_beside_block(), int64_t{8 * kMiB});
}

}  // namespace
}  // namespace glfm
