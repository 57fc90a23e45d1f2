#include "common/id_locks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace glfm {
namespace {

TEST(IdLocksTest, OneHolderPerIdAndNoneLeftBehind) {
  IdLocks locks;
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  int counter = 0;  // guarded by the lock of "a"
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto g = locks.Lock("a");
        int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        ++counter;
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 16000);
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(locks.in_use(), 0u);
}

TEST(IdLocksTest, OtherIdsDoNotWait) {
  IdLocks locks;
  auto a = locks.Lock("a");
  // Every other id is free while "a" is held, whatever shard it hashes to.
  for (int i = 0; i < 200; ++i) {
    auto f = std::async(std::launch::async, [&] { return locks.Lock("id-" + std::to_string(i)); });
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << i;
  }
  EXPECT_EQ(locks.in_use(), 1u);
  // "a" itself waits until released.
  auto waiter = std::async(std::launch::async, [&] { return locks.Lock("a"); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  a.unlock();
  EXPECT_EQ(waiter.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  waiter.get().unlock();
  EXPECT_EQ(locks.in_use(), 0u);
}

TEST(IdLocksTest, TryLockTakesOnlyAFreeId) {
  IdLocks locks;
  auto a = locks.TryLock("a");
  EXPECT_TRUE(a.held());
  EXPECT_FALSE(locks.TryLock("a").held());
  EXPECT_TRUE(locks.TryLock("b").held());
  EXPECT_EQ(locks.in_use(), 1u);  // "b" was released at the end of its statement
  a.unlock();
  EXPECT_FALSE(a.held());
  EXPECT_TRUE(locks.TryLock("a").held());
  EXPECT_EQ(locks.in_use(), 0u);
}

}  // namespace
}  // namespace glfm
