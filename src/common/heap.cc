#include "common/heap.h"

namespace glfm {

std::atomic<int>& BulkHeapGrowthScopes() {
  static std::atomic<int> scopes{0};
  return scopes;
}

}  // namespace glfm
