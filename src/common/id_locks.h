// IdLocks: mutual exclusion per id (a game session ARN, a placement id) without ids that hash
// alike waiting for each other, as a fixed set of lock stripes would make them: each id in use
// gets a mutex of its own, created on first use and dropped when its last holder leaves.
//
//   IdLocks locks;
//   {
//     IdLocks::Guard g = locks.Lock(arn);  // other Lock(arn) calls wait; other ids do not
//     ... read, modify, write durably ...
//   }
//
// Thread-safety: Lock from any thread; a Guard is used by one thread and may be moved.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace glfm {

class IdLocks {
  struct Entry {
    std::mutex mu;
    int users = 0;  // guarded by the shard's mutex
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<Entry>> entries;  // guarded by mu
  };

 public:
  // Holds the lock of one id until destroyed or unlock().
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept { *this = std::move(o); }
    Guard& operator=(Guard&& o) noexcept {
      unlock();
      shard_ = std::exchange(o.shard_, nullptr);
      entry_ = std::exchange(o.entry_, nullptr);
      id_ = std::move(o.id_);
      return *this;
    }
    ~Guard() { unlock(); }

    // True while this guard holds a lock.
    bool held() const { return entry_ != nullptr; }

    // Releases the lock early. Idempotent.
    void unlock() {
      if (entry_ == nullptr) return;
      entry_->mu.unlock();
      std::lock_guard lock(shard_->mu);
      if (--entry_->users == 0) shard_->entries.erase(id_);
      entry_ = nullptr;
      shard_ = nullptr;
    }

   private:
    friend class IdLocks;
    Shard* shard_ = nullptr;
    Entry* entry_ = nullptr;
    std::string id_;
  };

  // Blocks until this thread holds the lock of `id`.
  Guard Lock(std::string_view id) {
    Shard& shard = shards_[std::hash<std::string_view>()(id) % shards_.size()];
    Guard g;
    {
      std::lock_guard lock(shard.mu);
      auto& slot = shard.entries[std::string(id)];
      if (slot == nullptr) slot = std::make_unique<Entry>();
      slot->users++;
      g.entry_ = slot.get();
    }
    g.shard_ = &shard;
    g.id_ = std::string(id);
    g.entry_->mu.lock();
    return g;
  }

  // Takes the lock of `id` if nobody holds it; otherwise returns a Guard that holds nothing
  // (test with held()).
  Guard TryLock(std::string_view id) {
    Shard& shard = shards_[std::hash<std::string_view>()(id) % shards_.size()];
    Guard g;
    std::lock_guard lock(shard.mu);
    auto& slot = shard.entries[std::string(id)];
    if (slot == nullptr) slot = std::make_unique<Entry>();
    if (!slot->mu.try_lock()) {
      if (slot->users == 0) shard.entries.erase(std::string(id));
      return g;
    }
    slot->users++;
    g.entry_ = slot.get();
    g.shard_ = &shard;
    g.id_ = std::string(id);
    return g;
  }

  // The number of ids locked or waited for now (tests).
  size_t in_use() {
    size_t n = 0;
    for (auto& s : shards_) {
      std::lock_guard lock(s.mu);
      n += s.entries.size();
    }
    return n;
  }

 private:
  std::array<Shard, 64> shards_;
};

}  // namespace glfm
