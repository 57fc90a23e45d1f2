// bench_checkpoint: the CPU time of one WAL checkpoint through the SQLite store's VFS
// (store/sqlite_wal_vfs.h), as the store's checkpointer thread runs it: a second connection,
// PASSIVE, inside a CheckpointIoScope. The writer commits transactions of 64 upserts of
// ~330-byte rows (as bench_store's 64 writers do) until the WAL holds 16 MiB (the store's
// checkpoint mark), then the checkpoint copies what it must; 40 rounds.
//   - updates: rows of 100k stored ones at random (game servers' status reports);
//   - inserts: new rows, each of 64 writers appending ids of its own (bench_store's inserts).
// The thread's CPU time (CLOCK_THREAD_CPUTIME_ID) is what the rest of the process cannot use,
// and unlike the checkpoint's wall time it hardly depends on the disk or the neighbours.
// Prints `BENCH <name> <value> <unit>` lines. Usage: bench_checkpoint [rounds (40)].
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/sqlite_wal_vfs.h"

namespace {

using glfm::store::internal::BatchedWalVfsName;
using glfm::store::internal::CheckpointIoScope;
using glfm::store::internal::DeferWalSyncScope;

constexpr int kStoredRows = 100000;
constexpr int kRowsPerCommit = 64;
constexpr int kCheckpointPages = 8192;  // 16 MiB of 2 KiB pages: the store's mark

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

bool Exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "bench_checkpoint: %s: %s\n", sql.c_str(), error);
    sqlite3_free(error);
    return false;
  }
  return true;
}

std::string Id(int n) {
  return "arn:aws:gamelift:us-east-1::gamesession/fleet-0123/gsess-" + std::to_string(n);
}

int g_wal_pages = 0;  // after the writer's last commit (its WAL hook)
int WalHook(void*, sqlite3*, const char*, int pages) {
  g_wal_pages = pages;
  return SQLITE_OK;
}

// Runs `rounds` fill-then-checkpoint rounds in a fresh database in `dir`; prints the median
// and p90 CPU time of a checkpoint and the frames it copied. Returns false on an error.
bool Run(const std::string& dir, const std::string& name, bool inserts, int rounds) {
  std::string path = dir + "/" + name + ".db";
  auto vfs = BatchedWalVfsName();
  if (!vfs.ok()) {
    std::fprintf(stderr, "bench_checkpoint: %s\n", vfs.status().ToString().c_str());
    return false;
  }
  sqlite3* writer = nullptr;
  sqlite3* checkpointer = nullptr;
  sqlite3_stmt* upsert = nullptr;
  bool ok = sqlite3_open_v2(path.c_str(), &writer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            *vfs) == SQLITE_OK &&
            Exec(writer,
                 "PRAGMA page_size=2048; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-65536;"
                 "PRAGMA journal_size_limit=67108864;"
                 "CREATE TABLE t(id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID") &&
            sqlite3_prepare_v2(writer, "INSERT OR REPLACE INTO t VALUES(?1, ?2)", -1, &upsert,
                               nullptr) == SQLITE_OK;
  std::string doc(262, 'x');
  auto put = [&](const std::string& id) {
    sqlite3_bind_text(upsert, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(upsert, 2, doc.data(), static_cast<int>(doc.size()), SQLITE_STATIC);
    bool done = sqlite3_step(upsert) == SQLITE_DONE;
    sqlite3_reset(upsert);
    return done;
  };
  ok = ok && Exec(writer, "BEGIN");
  for (int i = 0; ok && i < kStoredRows; ++i) ok = put(Id(i));
  ok = ok && Exec(writer, "COMMIT") &&
       sqlite3_open_v2(path.c_str(), &checkpointer, SQLITE_OPEN_READWRITE, *vfs) == SQLITE_OK &&
       Exec(checkpointer, "PRAGMA synchronous=FULL; PRAGMA journal_mode=WAL");
  if (ok) {
    CheckpointIoScope scope;
    ok = sqlite3_wal_checkpoint_v2(checkpointer, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                                   nullptr) == SQLITE_OK;
  }
  sqlite3_wal_hook(writer, WalHook, nullptr);
  std::mt19937 rng(1);
  std::vector<double> cpu_ms;
  std::vector<int> copied;
  int next = 0;
  for (int round = 0; ok && round < rounds; ++round) {
    g_wal_pages = 0;
    while (ok && g_wal_pages < kCheckpointPages) {
      DeferWalSyncScope defer;  // the store's syncer fsyncs; nothing here needs to
      ok = Exec(writer, "BEGIN IMMEDIATE");
      for (int k = 0; ok && k < kRowsPerCommit; ++k) {
        doc[5] = static_cast<char>('a' + rng() % 26);
        ok = put(inserts ? Id(kStoredRows + k * 1000003 + next)
                         : Id(static_cast<int>(rng() % kStoredRows)));
      }
      ++next;
      ok = ok && Exec(writer, "COMMIT");
    }
    int log = 0;
    int done = 0;
    double start = ThreadCpuSeconds();
    {
      CheckpointIoScope scope;
      ok = ok && sqlite3_wal_checkpoint_v2(checkpointer, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log,
                                           &done) == SQLITE_OK;
    }
    cpu_ms.push_back((ThreadCpuSeconds() - start) * 1e3);
    copied.push_back(done);
  }
  if (!ok) {
    std::fprintf(stderr, "bench_checkpoint %s: %s\n", name.c_str(),
                 writer != nullptr ? sqlite3_errmsg(writer) : "cannot open");
  }
  sqlite3_finalize(upsert);
  sqlite3_close_v2(checkpointer);
  sqlite3_close_v2(writer);
  if (!ok || cpu_ms.empty()) return false;
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::sort(copied.begin(), copied.end());
  std::printf("BENCH checkpoint_%s_frames %d frames\n", name.c_str(), copied[copied.size() / 2]);
  std::printf("BENCH checkpoint_%s_cpu_p50 %.3f ms\n", name.c_str(), cpu_ms[cpu_ms.size() / 2]);
  std::printf("BENCH checkpoint_%s_cpu_p90 %.3f ms\n", name.c_str(),
              cpu_ms[cpu_ms.size() * 9 / 10]);
  std::fflush(stdout);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 40;
  char tmpl[] = "/tmp/glfm-bench-checkpoint-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("bench_checkpoint: mkdtemp");
    return 1;
  }
  std::string dir = tmpl;
  bool ok = Run(dir, "updates", /*inserts=*/false, rounds) &&
            Run(dir, "inserts", /*inserts=*/true, rounds);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return ok ? 0 : 1;
}
