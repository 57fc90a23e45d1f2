// A SQLite VFS for the SQLite store's write connection: the default VFS ("unix") with two
// changes to the WAL file, both in service of group commit.
//
//   - Frame writes are coalesced. SQLite writes each WAL frame with two pwrite calls (the
//     24-byte header, then the page); a batch of 64 upserts writes about 180 frames, so 360
//     system calls. The VFS appends contiguous writes to a buffer and writes it out in
//     64 KiB pieces when SQLite syncs the WAL (at every commit with synchronous=FULL, before
//     the commit is published in the WAL index, so other connections never read a frame that
//     is not in the file), and before any read, truncate, size query, file control or close
//     of that file, or a write that is not contiguous.
//   - Inside a DeferWalSyncScope, a sync of the WAL only writes the buffer out; the fsync is
//     left to the caller, which must fdatasync the WAL before it tells anyone that the
//     commit is durable (the store's syncer thread does, once for many commits). Every other
//     sync — of the database file, and of the WAL outside a scope (checkpoints, close) — is
//     the default VFS's, unchanged.
//
//   - Inside a CheckpointIoScope (around a WAL checkpoint), the WAL is read through a
//     read-only mapping kept from one checkpoint to the next, instead of one read per frame, and
//     contiguous writes to the database file are coalesced as the WAL's are (written out
//     before any sync, read, lock change or WAL-index change of that file, and when the
//     scope ends).
//
// Use the WAL batching only for a connection whose synchronous is FULL (so that SQLite syncs, and
// thus flushes, at commit) and with mmap off for the WAL (SQLite never maps the WAL).
//
// Thread-safety: registration is thread-safe. A file opened through the VFS is used by its
// connection's thread only, as SQLite does; DeferWalSyncScope is per thread.
#pragma once

#include "glfm/status.h"

namespace glfm::store::internal {

// Registers the VFS on first use (not as the default) and returns its name for
// sqlite3_open_v2. Errors: internal when SQLite has no default VFS or registration fails.
Result<const char*> BatchedWalVfsName();

// While alive, WAL syncs on this thread through the VFS only write the buffered frames.
class DeferWalSyncScope {
 public:
  DeferWalSyncScope();
  ~DeferWalSyncScope();
  DeferWalSyncScope(const DeferWalSyncScope&) = delete;
  DeferWalSyncScope& operator=(const DeferWalSyncScope&) = delete;

 private:
  bool previous_;
};

// While alive, checkpoints run on this thread by connections opened through the VFS read
// the WAL through its mapping and coalesce their database writes (see above). Hold it only
// around sqlite3_wal_checkpoint_v2 (reads outside one never use the mapping). A
// write that fails when it ends is returned by the next call on that file.
class CheckpointIoScope {
 public:
  CheckpointIoScope();
  ~CheckpointIoScope();
  CheckpointIoScope(const CheckpointIoScope&) = delete;
  CheckpointIoScope& operator=(const CheckpointIoScope&) = delete;

 private:
  bool previous_;
};

}  // namespace glfm::store::internal
