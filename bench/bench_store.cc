// bench_store: acknowledged durable upserts/s of ~260-byte instances with 1, 8 and 64
// concurrent writers, of new instances and of updates to stored ones (SQLite FULL, SQLite
// NORMAL, PostgreSQL), p50/p99 commit latency, and
// the time to load 1M instances from the store (scan + decode into a vector of InstanceInfo).
//
// Prints `BENCH <name> <value> <unit>`. PostgreSQL is a throw-away server started here
// (tests/testing/postgres.h); GLFM_SKIP_POSTGRES=1 skips it. GLFM_BENCH_SECONDS sets the
// length of each throughput run (default 2; 0 skips the throughput runs), GLFM_BENCH_LOAD_N
// the load size (default 1M; 0 skips the load). To measure one part alone:
// GLFM_BENCH_ONLY_PG=1 skips SQLite; GLFM_BENCH_SQLITE=full|normal runs only that mode
// (default both); GLFM_BENCH_WRITERS=64 (or 1,8) picks the writer counts (default 1,8,64).
// GLFM_BENCH_KINDS=insert|update picks what the writers write (default both): insert writes
// ids never stored before, each writer its own (store_*_w<N>_upserts_per_s, the worst case
// for the B-tree); update sets a new player count on random ones of GLFM_BENCH_UPDATE_N
// (default 100000) instances stored first (store_*_w<N>_updates_per_s, what game servers'
// status reports do, most of the traffic).
// GLFM_BENCH_MODES=threads|async picks how the writers wait (default both): threads are
// `N` threads each blocking in UpsertInstance (store_*_w<N>_...); async are `N` writers
// each with one UpsertInstanceAsync in flight, started by one thread as the completions come
// back, as glfm's HTTP status reports write (store_*_w<N>_async_...).
// GLFM_BENCH_LOAD_DB=path keeps the SQLite load database there and reuses it when it exists
// (repeated load measurements without the fill). GLFM_BENCH_PG_COMMITTERS and
// GLFM_BENCH_PG_NOTIFY=0 set PostgresOptions. Before each
// durable run it prints store_disk_fdatasync_4k_per_s, the disk's fsync rate at that moment.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "glfm/codec.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "testing/postgres.h"

namespace {

using glfm::InstanceInfo;
using glfm::store::Store;
using SteadyClock = std::chrono::steady_clock;

InstanceInfo MakeInstance(int n) {
  InstanceInfo i;
  i.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-0123/gsess-" + std::to_string(n);
  i.connection_info = {"10.1.2.3", "", 7000 + n % 1000};
  i.create_time = glfm::Timestamp(std::chrono::seconds(1700000000 + n));
  i.player_count = n % 16;
  i.status = "ACTIVE";
  i.metadata["GameProperties"]["mode"] = glfm::Json("ranked");
  return i;
}

void Bench(const std::string& name, double value, const char* unit) {
  std::printf("BENCH %s %.6g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

std::string EnvString(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

// Parses "1,8,64".
std::vector<int> EnvInts(const char* name, std::vector<int> fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    return fallback;
  }
  std::vector<int> out;
  for (const char* p = v; *p != '\0';) {
    char* end = nullptr;
    long n = std::strtol(p, &end, 10);
    if (end == p) {
      break;
    }
    if (n > 0) {
      out.push_back(static_cast<int>(n));
    }
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

// Returns the user + system CPU time this process has used.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Returns how many 4 KiB write + fdatasync rounds a file in `dir` takes per second (over
// `seconds`): the disk's durable-commit ceiling at this moment, which on a shared machine
// moves with the neighbours by 10x and more. Printed next to the figures it bounds.
double FdatasyncPerSecond(const std::string& dir, double seconds) {
  std::string path = dir + "/fsync-probe";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return 0;
  }
  std::string block(4096, 'x');
  int n = 0;
  auto start = SteadyClock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    if (pwrite(fd, block.data(), block.size(), static_cast<off_t>(n % 64) * 4096) < 0 ||
        fdatasync(fd) != 0) {
      break;
    }
    ++n;
    elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  }
  close(fd);
  unlink(path.c_str());
  return elapsed > 0 ? n / elapsed : 0;
}

// What the writers of RunWriters write.
enum class WriteKind {
  // Ids never stored before (as a fleet that only ever places new game sessions): the worst
  // case for a B-tree, each row finding its place among the others. Each writer writes ids
  // of its own; printed as <prefix>_w<N>_upserts_per_s.
  kInsertNew,
  // A new player count for a random one of `existing` stored instances, ids 0..existing-1
  // (as game servers reporting joins and leaves, most of the traffic): printed as
  // <prefix>_w<N>_updates_per_s.
  kUpdateExisting,
};

// The `i`th write of writer `w` in run `run`: a new id of its own, or a new player count for
// a random one of `existing` stored instances.
InstanceInfo NextWrite(WriteKind kind, int w, int i, int run, int existing, std::mt19937& rng) {
  if (kind == WriteKind::kInsertNew) {
    return MakeInstance(w * 1000003 + run % 10 * 100000 + i % 100000);
  }
  InstanceInfo info = MakeInstance(static_cast<int>(rng() % static_cast<uint32_t>(existing)));
  info.player_count = static_cast<int>(rng() % 17);
  return info;
}

// Prints the throughput and the p50/p99 latency of a writer run named `name`, from each
// writer's latencies (µs) over `elapsed` seconds.
void ReportWriters(std::string name, WriteKind kind,
                   const std::vector<std::vector<double>>& latencies, double elapsed) {
  std::vector<double> all;
  for (const auto& l : latencies) {
    all.insert(all.end(), l.begin(), l.end());
  }
  std::sort(all.begin(), all.end());
  Bench(name + (kind == WriteKind::kInsertNew ? "_upserts_per_s" : "_updates_per_s"),
        static_cast<double>(all.size()) / elapsed, "ops/s");
  if (kind == WriteKind::kUpdateExisting) {
    name += "_update";
  }
  if (!all.empty()) {
    Bench(name + "_commit_p50", all[all.size() / 2], "us");
    Bench(name + "_commit_p99", all[std::min(all.size() - 1, all.size() * 99 / 100)], "us");
  }
}

// Runs `writers` threads upserting for `seconds`; prints throughput and latency.
// `run` (0..9) keeps the new ids of each insert run apart from those of earlier runs.
bool RunWriters(Store& store, const std::string& prefix, int writers, double seconds,
                WriteKind kind = WriteKind::kInsertNew, int existing = 0, int run = 0) {
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(writers));
  std::vector<std::thread> threads;
  auto start = SteadyClock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto& lat = latencies[static_cast<size_t>(w)];
      lat.reserve(200000);
      std::mt19937 rng(static_cast<uint32_t>(w) * 7919u + 1u);
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        InstanceInfo info = NextWrite(kind, w, i, run, existing, rng);
        auto t0 = SteadyClock::now();
        glfm::Status s = store.UpsertInstance(info, glfm::Clock::now());
        auto t1 = SteadyClock::now();
        if (!s.ok()) {
          if (errors.fetch_add(1) == 0) {
            std::fprintf(stderr, "upsert failed: %s\n", s.ToString().c_str());
          }
          continue;
        }
        lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured window
  stop = true;
  for (auto& t : threads) {
    t.join();
  }
  double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  ReportWriters(prefix + "_w" + std::to_string(writers), kind, latencies, elapsed);
  return errors.load() == 0;
}

// Runs `writers` concurrent asynchronous writers for `seconds`, as glfm's own status-report
// path writes (an HTTP I/O thread calls UpsertInstanceAsync and answers from the completion):
// each writer has one write in flight at a time; its completion (on the store's completion
// thread) hands the writer back to one submitting thread, which builds and starts its next
// write. Prints throughput and latency as RunWriters does, with "_async" after the writer
// count.
bool RunAsyncWriters(Store& store, const std::string& prefix, int writers, double seconds,
                     WriteKind kind = WriteKind::kInsertNew, int existing = 0, int run = 0) {
  struct Writer {
    int n = 0;  // writes started
    std::mt19937 rng;
    SteadyClock::time_point started;
    std::vector<double> latencies;
  };
  std::vector<Writer> ws(static_cast<size_t>(writers));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> ready;  // writers whose last write completed
  int in_flight = 0;
  std::atomic<int> errors{0};
  for (int w = 0; w < writers; ++w) {
    ws[static_cast<size_t>(w)].rng.seed(static_cast<uint32_t>(w) * 7919u + 1u);
    ws[static_cast<size_t>(w)].latencies.reserve(200000);
    ready.push_back(w);
  }
  auto start = SteadyClock::now();
  auto deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(seconds));
  std::vector<int> batch;
  for (;;) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !ready.empty(); });
      if (SteadyClock::now() >= deadline) {
        cv.wait(lock, [&] { return in_flight == 0; });
        break;
      }
      batch.swap(ready);
      in_flight += static_cast<int>(batch.size());
    }
    for (int w : batch) {
      Writer& wr = ws[static_cast<size_t>(w)];
      InstanceInfo info = NextWrite(kind, w, wr.n, run, existing, wr.rng);
      ++wr.n;
      wr.started = SteadyClock::now();
      store.UpsertInstanceAsync(info, glfm::Clock::now(), [&, w](glfm::Status s) {
        Writer& done = ws[static_cast<size_t>(w)];
        if (s.ok()) {
          done.latencies.push_back(
              std::chrono::duration<double, std::micro>(SteadyClock::now() - done.started).count());
        } else if (errors.fetch_add(1) == 0) {
          std::fprintf(stderr, "upsert failed: %s\n", s.ToString().c_str());
        }
        std::lock_guard lock(mu);
        --in_flight;
        ready.push_back(w);
        cv.notify_one();
      });
    }
    batch.clear();
  }
  double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::vector<std::vector<double>> latencies;
  for (auto& w : ws) {
    latencies.push_back(std::move(w.latencies));
  }
  ReportWriters(prefix + "_w" + std::to_string(writers) + "_async", kind, latencies, elapsed);
  return errors.load() == 0;
}

// Stores instances 0..n-1 (bulk batches). Returns false (printed) on failure.
bool Fill(Store& store, int n) {
  constexpr int kChunk = 5000;
  for (int base = 0; base < n; base += kChunk) {
    std::vector<glfm::store::InstanceWrite> writes;
    for (int i = base; i < std::min(n, base + kChunk); ++i) {
      writes.push_back({MakeInstance(i), glfm::Clock::now()});
    }
    glfm::Status s = store.UpsertInstances(writes);
    if (!s.ok()) {
      std::fprintf(stderr, "fill failed: %s\n", s.ToString().c_str());
      return false;
    }
  }
  return true;
}

// Runs the writer counts of kinds `kinds` ("insert", "update") against `store`, printing the
// fsync probe before each durable run. The update runs first fill `update_n` instances.
bool RunAllWriters(Store& store, const std::string& prefix, const std::vector<int>& writer_counts,
                   double seconds, const std::string& kinds, const std::string& modes, int update_n,
                   bool probe, const std::string& dir) {
  bool ok = true;
  for (WriteKind kind : {WriteKind::kInsertNew, WriteKind::kUpdateExisting}) {
    bool insert = kind == WriteKind::kInsertNew;
    if (seconds <= 0 || kinds.find(insert ? "insert" : "update") == std::string::npos) {
      continue;
    }
    if (!insert && !Fill(store, update_n)) {
      return false;
    }
    int run = 0;
    for (int w : writer_counts) {
      if (probe) {
        Bench("store_disk_fdatasync_4k_per_s", FdatasyncPerSecond(dir, 0.5), "ops/s");
      }
      if (modes.find("threads") != std::string::npos) {
        ok = RunWriters(store, prefix, w, seconds, kind, update_n, run++) && ok;
      }
      if (modes.find("async") != std::string::npos) {
        if (probe) {
          Bench("store_disk_fdatasync_4k_per_s", FdatasyncPerSecond(dir, 0.5), "ops/s");
        }
        ok = RunAsyncWriters(store, prefix, w, seconds, kind, update_n, run++) && ok;
      }
    }
  }
  return ok;
}

// Fills the store with `n` instances (bulk batches), then times a full scan + decode.
bool RunLoad(Store& store, const std::string& prefix, int n, bool fill = true) {
  if (fill && !Fill(store, n)) {
    return false;
  }
  auto t0 = SteadyClock::now();
  double cpu0 = CpuSeconds();
  std::vector<InstanceInfo> loaded;
  loaded.reserve(static_cast<size_t>(n));
  std::string after;
  for (;;) {
    auto page = store.ScanInstances(after, 20000);
    if (!page.ok()) {
      std::fprintf(stderr, "scan failed: %s\n", page.status().ToString().c_str());
      return false;
    }
    for (auto& s : page->instances) {
      loaded.push_back(std::move(s.info));
    }
    if (page->done) {
      break;
    }
    after = page->next_after_id;
  }
  double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  if (static_cast<int>(loaded.size()) != n) {
    std::fprintf(stderr, "loaded %zu of %d\n", loaded.size(), n);
    return false;
  }
  Bench(prefix + "_load_" + std::to_string(n) + "_s", secs, "s");
  Bench(prefix + "_load_rate", n / secs, "instances/s");
  // CPU time of this process during the load (all threads): on a machine shared with other
  // work the wall time varies with the neighbours, this much less.
  Bench(prefix + "_load_" + std::to_string(n) + "_cpu_s", cpu, "s");
  return true;
}

}  // namespace

int main() {
  const double seconds = EnvInt("GLFM_BENCH_SECONDS", 2);
  const int load_n = EnvInt("GLFM_BENCH_LOAD_N", 1000000);
  const std::vector<int> writer_counts = EnvInts("GLFM_BENCH_WRITERS", {1, 8, 64});
  const std::string sqlite_modes = EnvString("GLFM_BENCH_SQLITE", "full,normal");
  const std::string kinds = EnvString("GLFM_BENCH_KINDS", "insert,update");
  const std::string modes = EnvString("GLFM_BENCH_MODES", "threads,async");
  const int update_n = std::max(1, EnvInt("GLFM_BENCH_UPDATE_N", 100000));
  bool ok = true;
  Bench("store_instance_doc_bytes",
        static_cast<double>(glfm::ToJson(MakeInstance(123456)).Dump().size()), "bytes");

  char tmpl[] = "/tmp/glfm-bench-store-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return 1;
  }
  std::string dir = tmpl;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_dir{dir};
  for (auto sync : {glfm::store::SqliteOptions::Synchronous::kFull,
                    glfm::store::SqliteOptions::Synchronous::kNormal}) {
    if (EnvInt("GLFM_BENCH_ONLY_PG", 0) != 0) {
      break;
    }
    bool full = sync == glfm::store::SqliteOptions::Synchronous::kFull;
    if (sqlite_modes.find(full ? "full" : "normal") == std::string::npos) {
      continue;
    }
    glfm::store::SqliteOptions o;
    o.path = dir + (full ? "/full.db" : "/normal.db");
    o.synchronous = sync;
    auto store = glfm::store::OpenSqliteStore(o);
    if (!store.ok()) {
      std::fprintf(stderr, "sqlite: %s\n", store.status().ToString().c_str());
      return 1;
    }
    ok = RunAllWriters(**store, full ? "store_sqlite_full" : "store_sqlite_normal", writer_counts,
                       seconds, kinds, modes, update_n, full, dir) &&
         ok;
  }
  if (EnvInt("GLFM_BENCH_ONLY_PG", 0) == 0 && load_n > 0) {
    glfm::store::SqliteOptions o;
    o.path = dir + "/load.db";
    bool fill = true;
    if (const char* keep = std::getenv("GLFM_BENCH_LOAD_DB"); keep != nullptr) {
      o.path = keep;
      fill = !std::filesystem::exists(o.path);
    }
    auto store = glfm::store::OpenSqliteStore(o);
    ok = store.ok() && RunLoad(**store, "store_sqlite", load_n, fill) && ok;
  }

  if (glfm::testing::PostgresSkipRequested()) {
    std::fprintf(stderr, "GLFM_SKIP_POSTGRES=1: PostgreSQL figures skipped\n");
    return ok ? 0 : 1;
  }
  auto server = glfm::testing::PostgresServer::Start();
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start PostgreSQL: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto conninfo = (*server)->CreateDatabase();
  if (!conninfo.ok()) {
    std::fprintf(stderr, "%s\n", conninfo.status().ToString().c_str());
    return 1;
  }
  glfm::store::PostgresOptions po;
  po.conninfo = *conninfo;
  po.notify_changes = EnvInt("GLFM_BENCH_PG_NOTIFY", 1) != 0;
  po.commit_connections = EnvInt("GLFM_BENCH_PG_COMMITTERS", po.commit_connections);
  auto pg = glfm::store::OpenPostgresStore(po);
  if (!pg.ok()) {
    std::fprintf(stderr, "postgres: %s\n", pg.status().ToString().c_str());
    return 1;
  }
  ok = RunAllWriters(**pg, "store_postgres", writer_counts, seconds, kinds, modes, update_n, true,
                     dir) &&
       ok;
  if (load_n <= 0) {
    return ok ? 0 : 1;
  }
  // A database of its own: the writers above left rows behind.
  auto load_conninfo = (*server)->CreateDatabase();
  po.conninfo = load_conninfo.ok() ? *load_conninfo : po.conninfo;
  pg->reset();
  pg = glfm::store::OpenPostgresStore(po);
  ok = pg.ok() && RunLoad(**pg, "store_postgres", load_n) && ok;
  return ok ? 0 : 1;
}
