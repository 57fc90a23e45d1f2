#include "store/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <string>

namespace glfm::store::internal {
namespace {

constexpr char kVfsName[] = "glfm-batched-wal";
// The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWrite masks the length).
constexpr size_t kWriteChunk = 64 * 1024;
// Buffered bytes that trigger a write even before the sync (bounds the memory of one file).
constexpr size_t kMaxBuffered = 4 * 1024 * 1024;

thread_local bool t_defer_wal_sync = false;

sqlite3_vfs* g_base = nullptr;  // the default VFS, set once before registration
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods;

// The VFS's file: the base VFS's file follows it in the same allocation (szOsFile).
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;          // a WAL file: writes are coalesced, syncs may be deferred
  std::string* buf;  // WAL only: bytes not yet written, for offset `buf_offset`
  sqlite3_int64 buf_offset;
};

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

int Close(sqlite3_file* p) {
  File* f = Cast(p);
  int rc = Flush(f);
  int close_rc = Real(f)->xClose(f->real);
  delete f->buf;
  f->buf = nullptr;
  return rc != SQLITE_OK ? rc : close_rc;
}

int Read(sqlite3_file* p, void* out, int n, sqlite3_int64 offset) {
  File* f = Cast(p);
  if (int rc = Flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xRead(f->real, out, n, offset);
}

int Write(sqlite3_file* p, const void* data, int n, sqlite3_int64 offset) {
  File* f = Cast(p);
  if (!f->wal) {
    return Real(f)->xWrite(f->real, data, n, offset);
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
  if (int rc = Flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xTruncate(f->real, size);
}

int Sync(sqlite3_file* p, int flags) {
  File* f = Cast(p);
  if (int rc = Flush(f); rc != SQLITE_OK) {
    return rc;
  }
  if (f->wal && t_defer_wal_sync) {
    return SQLITE_OK;  // the caller fdatasyncs before it acknowledges the commit
  }
  return Real(f)->xSync(f->real, flags);
}

int FileSize(sqlite3_file* p, sqlite3_int64* size) {
  File* f = Cast(p);
  if (int rc = Flush(f); rc != SQLITE_OK) {
    return rc;
  }
  return Real(f)->xFileSize(f->real, size);
}

int Lock(sqlite3_file* p, int level) { return Real(Cast(p))->xLock(Cast(p)->real, level); }

int Unlock(sqlite3_file* p, int level) { return Real(Cast(p))->xUnlock(Cast(p)->real, level); }

int CheckReservedLock(sqlite3_file* p, int* out) {
  return Real(Cast(p))->xCheckReservedLock(Cast(p)->real, out);
}

int FileControl(sqlite3_file* p, int op, void* arg) {
  File* f = Cast(p);
  if (int rc = Flush(f); rc != SQLITE_OK) {
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

int ShmLock(sqlite3_file* p, int offset, int n, int flags) {
  File* f = Cast(p);
  if (Real(f)->iVersion < 2) {
    return SQLITE_IOERR_SHMLOCK;
  }
  return Real(f)->xShmLock(f->real, offset, n, flags);
}

void ShmBarrier(sqlite3_file* p) {
  File* f = Cast(p);
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
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->real->pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods != nullptr) {
      f->real->pMethods->xClose(f->real);  // a VFS may need closing even after a failed open
    }
    return rc;
  }
  if (f->wal) {
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

}  // namespace glfm::store::internal
