#include "common/heap.h"

#include <mutex>

namespace glfm {
namespace {

// Orders the hooks of scopes opened and closed on different threads.
std::mutex& ScopeMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

std::atomic<int>& BulkHeapGrowthScopes() {
  static std::atomic<int> scopes{0};
  return scopes;
}

BulkHeapGrowthHooks& BulkHeapGrowthHooksForHeap() {
  static BulkHeapGrowthHooks hooks;
  return hooks;
}

BulkHeapGrowth::BulkHeapGrowth() {
  std::lock_guard lock(ScopeMutex());
  if (BulkHeapGrowthScopes().fetch_add(1, std::memory_order_relaxed) == 0 &&
      BulkHeapGrowthHooksForHeap().begin != nullptr) {
    BulkHeapGrowthHooksForHeap().begin();
  }
}

BulkHeapGrowth::~BulkHeapGrowth() {
  std::lock_guard lock(ScopeMutex());
  if (BulkHeapGrowthScopes().fetch_sub(1, std::memory_order_relaxed) == 1 &&
      BulkHeapGrowthHooksForHeap().end != nullptr) {
    BulkHeapGrowthHooksForHeap().end();
  }
}

}  // namespace glfm
