#include "store/sqlite_wal_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace glfm::store::internal {
namespace {

constexpr char kVfsName[] = "glfm-batched-wal";
// The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWrite masks the length).
constexpr size_t kWriteChunk = 64 * 1024;
// Buffered bytes that trigger a write even before the sync (bounds the memory of one file).
constexpr size_t kMaxBuffered = 4 * 1024 * 1024;
thread_local bool t_defer_wal_sync = false;
thread_local bool t_checkpoint_io = false;

sqlite3_vfs* g_base = nullptr;  // the default VFS, set once before registration
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods;

// The VFS's file: the base VFS's file follows it in the same allocation (szOsFile).
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;      // a WAL file: writes are coalesced, syncs may be deferred
  bool main_db;  // the database file: writes are coalesced inside a CheckpointIoScope
  // WAL and database only: bytes not yet written, for offset `buf_offset`.
  std::string* buf;
  sqlite3_int64 buf_offset;
  // WAL only: the file's name, and a descriptor of it opened at the first checkpoint read.
  const char* path;
  int map_fd;
  // The WAL mapped read-only, `map_capacity` bytes (more than the file: only what is below
  // its size is ever read), kept from one checkpoint to the next.
  const char* map;
  size_t map_capacity;
  // Inside a CheckpointIoScope: the WAL's size at the scope's first read; -1 before it.
  sqlite3_int64 scope_size;
  bool in_scope;       // listed in t_scope_files
  int deferred_error;  // a write that failed when a scope ended, returned by the next call
};

// The files a CheckpointIoScope on this thread touched, to flush and forget when it ends.
thread_local std::vector<File*> t_scope_files;

void JoinScope(File* f) {
  if (!f->in_scope) {
    f->in_scope = true;
    t_scope_files.push_back(f);
  }
}

File* Cast(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* Real(File* f) { return f->real->pMethods; }

// Writes the buffered bytes out. Errors: the base VFS's write error.
int Flush(File* f) {
  if (f->buf == nullptr || f->buf->empty()) {
    return SQLITE_OK;
  }
  int rc = SQLITE_OK;
  for (size_t at = 0; at < f->buf->size() && rc == SQLITE_OK; at += kWriteChunk) {
    size_t n = std::min(kWriteChunk, f->buf->size() - at);
    rc = Real(f)->xWrite(f->real, f->buf->data() + at, static_cast<int>(n),
                         f->buf_offset + static_cast<sqlite3_int64>(at));
  }
  f->buf->clear();
  return rc;
}

// Writes the buffered bytes out and returns the error a scope's end left, if any.
int FlushAll(File* f) {
  if (f->deferred_error != SQLITE_OK) {
    int rc = f->deferred_error;
    f->deferred_error = SQLITE_OK;
    return rc;
  }
  return Flush(f);
}

// Undoes MappedRead's mapping (when the file closes, or to map it larger).
void Unmap(File* f) {
  if (f->map != nullptr) {
    munmap(const_cast<char*>(f->map), f->map_capacity);
  }
  f->map = nullptr;
  f->map_capacity = 0;
}

int Close(sqlite3_file* p) {
  File* f = Cast(p);
  int rc = FlushAll(f);
  if (f->in_scope) {
    std::erase(t_scope_files, f);
  }
  int close_rc = Real(f)->xClose(f->real);
  delete f->buf;
  f->buf = nullptr;
  Unmap(f);
  if (f->map_fd >= 0) {
    close(f->map_fd);
    f->map_fd = -1;
  }
  return rc != SQLITE_OK ? rc : close_rc;
}

// Reads the WAL inside a CheckpointIoScope. A checkpoint reads the last frame of each page
// it copies, in page order rather than file order, one system call each. Through a mapping
// it reads only those frames, and with no system call: the mapping is made once, larger
// than the WAL, and kept, and as the WAL is rewritten from its start after each checkpoint,
// the same pages of the page cache stay mapped. (Reading the whole WAL in 256 KiB pieces
// instead copied every frame, most of which a checkpoint does not need: in bench_store that
// copy was a quarter of the checkpointer's CPU. Mapping it anew at each checkpoint cost a
// page fault per 64 KiB and a TLB shootdown at every unmap: more CPU than those reads, in
// bench_checkpoint.)
// Within one checkpoint the frames it reads do not change, and the file does not shrink
// below them (they are committed, and the WAL is truncated only after a checkpoint): reads
// stay below the size the file had at the scope's first read. Falls back to reading when
// the WAL cannot be mapped.
constexpr size_t kMinMapBytes = size_t{256} << 20;
constexpr size_t kMapStepBytes = size_t{64} << 20;

int MappedRead(File* f, void* out, int n, sqlite3_int64 offset) {
  if (f->scope_size < 0) {
    JoinScope(f);
    sqlite3_int64 size = 0;
    if (int rc = Real(f)->xFileSize(f->real, &size); rc != SQLITE_OK) {
      return rc;
    }
    f->scope_size = size;
    if (static_cast<size_t>(size) > f->map_capacity) {
      Unmap(f);
      if (f->map_fd < 0) {
        f->map_fd = open(f->path, O_RDONLY | O_CLOEXEC);
      }
      size_t capacity = std::max(kMinMapBytes, (static_cast<size_t>(size) + kMapStepBytes - 1) /
                                                   kMapStepBytes * kMapStepBytes);
      void* m = f->map_fd >= 0 ? mmap(nullptr, capacity, PROT_READ, MAP_SHARED, f->map_fd, 0)
                               : MAP_FAILED;
      if (m != MAP_FAILED) {
        f->map = static_cast<const char*>(m);
        f->map_capacity = capacity;
      }
    }
  }
  if (f->map == nullptr || offset < 0 || offset + n > f->scope_size) {
    return Real(f)->xRead(f->real, out, n, offset);
  }
  std::memcpy(out, f->map + offset, static_cast<size_t>(n));
  return SQLITE_OK;
}

int Read(sqlite3_file* p, void* out, int n, sqlite3_int64 offset) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  if (f->wal && t_checkpoint_io) {
    return MappedRead(f, out, n, offset);
  }
  return Real(f)->xRead(f->real, out, n, offset);
}

int Write(sqlite3_file* p, const void* data, int n, sqlite3_int64 offset) {
  File* f = Cast(p);
  if (f->deferred_error != SQLITE_OK) {
    return FlushAll(f);
  }
  if (!f->wal && !(f->main_db && t_checkpoint_io)) {
    if (int rc = Flush(f); rc != SQLITE_OK) {
      return rc;
    }
    return Real(f)->xWrite(f->real, data, n, offset);
  }
  if (!f->wal) {
    JoinScope(f);
  }
  if (!f->buf->empty() && offset != f->buf_offset + static_cast<sqlite3_int64>(f->buf->size())) {
    if (int rc = Flush(f); rc != SQLITE_OK) {
      return rc;
    }
  }
  if (f->buf->empty()) {
    f->buf_offset = offset;
  }
  f->buf->append(static_cast<const char*>(data), static_cast<size_t>(n));
  return f->buf->size() >= kMaxBuffered ? Flush(f) : SQLITE_OK;
}

int Truncate(sqlite3_file* p, sqlite3_int64 size) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xTruncate(f->real, size);
}

int Sync(sqlite3_file* p, int flags) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  if (f->wal && t_defer_wal_sync) {
    return SQLITE_OK;  // the caller fdatasyncs before it acknowledges the commit
  }
  return Real(f)->xSync(f->real, flags);
}

int FileSize(sqlite3_file* p, sqlite3_int64* size) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xFileSize(f->real, size);
}

int Lock(sqlite3_file* p, int level) { return Real(Cast(p))->xLock(Cast(p)->real, level); }

int Unlock(sqlite3_file* p, int level) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xUnlock(f->real, level);
}

int CheckReservedLock(sqlite3_file* p, int* out) {
  return Real(Cast(p))->xCheckReservedLock(Cast(p)->real, out);
}

int FileControl(sqlite3_file* p, int op, void* arg) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* p) { return Real(Cast(p))->xSectorSize(Cast(p)->real); }

int DeviceCharacteristics(sqlite3_file* p) {
  return Real(Cast(p))->xDeviceCharacteristics(Cast(p)->real);
}

int ShmMap(sqlite3_file* p, int region, int size, int extend, void volatile** out) {
  File* f = Cast(p);
  if (Real(f)->iVersion < 2) {
    return SQLITE_IOERR_SHMMAP;
  }
  return Real(f)->xShmMap(f->real, region, size, extend, out);
}

// The WAL index (shm) belongs to the database file. Database pages a checkpoint buffered are
// written out before it changes what others see there (the WAL index's backfill mark), so
// that no reader ever looks for them in the file before they are in it.
int ShmLock(sqlite3_file* p, int offset, int n, int flags) {
  File* f = Cast(p);
  if (Real(f)->iVersion < 2) {
    return SQLITE_IOERR_SHMLOCK;
  }
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xShmLock(f->real, offset, n, flags);
}

void ShmBarrier(sqlite3_file* p) {
  File* f = Cast(p);
  if (int rc = Flush(f); rc != SQLITE_OK) {
    f->deferred_error = rc;
  }
  if (Real(f)->iVersion >= 2) {
    Real(f)->xShmBarrier(f->real);
  }
}

int ShmUnmap(sqlite3_file* p, int delete_flag) {
  File* f = Cast(p);
  if (Real(f)->iVersion < 2) {
    return SQLITE_OK;
  }
  return Real(f)->xShmUnmap(f->real, delete_flag);
}

int Fetch(sqlite3_file* p, sqlite3_int64 offset, int n, void** out) {
  File* f = Cast(p);
  if (int rc = FlushAll(f); rc != SQLITE_OK) {
    return rc;
  }
  if (f->wal || Real(f)->iVersion < 3) {
    *out = nullptr;  // no mapping: SQLite reads instead
    return SQLITE_OK;
  }
  return Real(f)->xFetch(f->real, offset, n, out);
}

int Unfetch(sqlite3_file* p, sqlite3_int64 offset, void* mapped) {
  File* f = Cast(p);
  if (f->wal || Real(f)->iVersion < 3) {
    return SQLITE_OK;
  }
  return Real(f)->xUnfetch(f->real, offset, mapped);
}

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  File* f = Cast(p);
  f->base.pMethods = nullptr;  // SQLite calls no method of a file whose open failed
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->buf = nullptr;
  f->buf_offset = 0;
  f->path = name;
  f->map_fd = -1;
  f->map = nullptr;
  f->map_capacity = 0;
  f->scope_size = -1;
  f->in_scope = false;
  f->deferred_error = SQLITE_OK;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  f->real->pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods != nullptr) {
      f->real->pMethods->xClose(f->real);  // a VFS may need closing even after a failed open
    }
    return rc;
  }
  if (f->wal || f->main_db) {
    f->buf = new std::string();
  }
  f->base.pMethods = &g_methods;
  return SQLITE_OK;
}

}  // namespace

Result<const char*> BatchedWalVfsName() {
  static int registered = [] {
    g_base = sqlite3_vfs_find(nullptr);
    if (g_base == nullptr) {
      return SQLITE_ERROR;
    }
    g_vfs = *g_base;
    g_vfs.pNext = nullptr;
    g_vfs.zName = kVfsName;
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_base->szOsFile;
    g_vfs.xOpen = Open;
    g_methods = sqlite3_io_methods{3,
                                   Close,
                                   Read,
                                   Write,
                                   Truncate,
                                   Sync,
                                   FileSize,
                                   Lock,
                                   Unlock,
                                   CheckReservedLock,
                                   FileControl,
                                   SectorSize,
                                   DeviceCharacteristics,
                                   ShmMap,
                                   ShmLock,
                                   ShmBarrier,
                                   ShmUnmap,
                                   Fetch,
                                   Unfetch};
    return sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  }();
  if (registered != SQLITE_OK) {
    return InternalError(std::string("sqlite: cannot register the ") + kVfsName +
                         " VFS: " + sqlite3_errstr(registered));
  }
  return kVfsName;
}

DeferWalSyncScope::DeferWalSyncScope() : previous_(t_defer_wal_sync) { t_defer_wal_sync = true; }

DeferWalSyncScope::~DeferWalSyncScope() { t_defer_wal_sync = previous_; }

CheckpointIoScope::CheckpointIoScope() : previous_(t_checkpoint_io) { t_checkpoint_io = true; }

CheckpointIoScope::~CheckpointIoScope() {
  t_checkpoint_io = previous_;
  if (previous_) {
    return;  // the outer scope ends it
  }
  for (File* f : t_scope_files) {
    if (int rc = Flush(f); rc != SQLITE_OK && f->deferred_error == SQLITE_OK) {
      f->deferred_error = rc;
    }
    f->scope_size = -1;  // the mapping stays, for the next checkpoint
    f->in_scope = false;
  }
  t_scope_files.clear();
}

}  // namespace glfm::store::internal
