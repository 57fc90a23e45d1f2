// bench_index [sessions=1000000] [nosql]: the instance index at scale (issue 3).
//
// Builds the index from N sessions with realistic metadata (mode: 5 values, map: 20,
// region: 10, player_count 0..16, 95% ACTIVE, a GameSessionName) with one UpsertMany, then
// prints `BENCH <name> <value> <unit>` lines for: build time, memory per session, Q1–Q5
// latency (p50/p99) and result counts, player_count updates/s alone and while Q1 runs on
// another thread, build time in pages of 1000 (as the service's start-up fills it) and one
// Upsert at a time, and Q1/Q2 on SQLite (json_extract with expression indexes) over the same
// data, as a ratio (skipped with `nosql`).
#include <malloc.h>
#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#if GLFM_TCMALLOC
#include <gperftools/malloc_extension.h>
#endif

#include "glfm/codec.h"
#include "index/index.h"

namespace {

using glfm::InstanceInfo;
using glfm::Json;
using glfm::Timestamp;
using glfm::index::IndexEntry;
using glfm::index::InstanceIndex;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kModes[] = {"ranked", "casual", "deathmatch", "ctf", "coop"};
constexpr const char* kRegions[] = {"eu-west-1",      "eu-central-1",   "us-east-1", "us-west-2",
                                    "ap-southeast-1", "ap-northeast-1", "sa-east-1", "ca-central-1",
                                    "af-south-1",     "me-south-1"};
constexpr int kMaxPlayers = 16;
const Timestamp kBase = Timestamp(std::chrono::seconds(1767225600));  // 2026-01-01

std::string MapName(int i) { return i == 0 ? "dust" : "map-" + std::to_string(i); }

InstanceInfo MakeSession(int i, std::mt19937& rng) {
  InstanceInfo info;
  info.id = "arn:aws:gamelift:eu-west-1::gamesession/fleet-2f1c7e4a/gsess-" + std::to_string(i);
  int r = static_cast<int>(rng() % 100);
  info.status = r < 95 ? "ACTIVE" : (r < 98 ? "ACTIVATING" : "TERMINATING");
  info.player_count = static_cast<int>(rng() % (kMaxPlayers + 1));
  info.create_time = kBase + std::chrono::milliseconds(rng() % (86400 * 1000));
  info.connection_info.ip_address =
      "10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + ".7";
  info.connection_info.port = 7000 + static_cast<int>(rng() % 1000);
  Json props = Json::MakeObject();
  props["mode"] = kModes[rng() % 5];
  props["map"] = MapName(static_cast<int>(rng() % 20));
  props["region"] = kRegions[rng() % 10];
  info.metadata["GameProperties"] = std::move(props);
  info.metadata["GameSessionName"] = "session-" + std::to_string(i);
  return info;
}

std::vector<IndexEntry> MakeSessions(int n) {
  std::vector<IndexEntry> docs;
  docs.reserve(n);
  std::mt19937 rng(42);
  for (int i = 0; i < n; ++i) {
    InstanceInfo info = MakeSession(i, rng);
    Timestamp created = info.create_time;
    docs.push_back({std::move(info), created});
  }
  return docs;
}

void Print(const char* name, double value, const char* unit) {
  std::printf("BENCH %s %.6g %s\n", name, value, unit);
  std::fflush(stdout);
}

// CPU time of the process (all its threads), in seconds: on a machine shared with other
// builds it varies much less than wall time.
double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double Micros(SteadyClock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

struct Stats {
  double p50 = 0, p99 = 0;
};
Stats Percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

#if GLFM_TCMALLOC
// Heap in use, as tcmalloc (which this build allocates with, as glfm does) counts it.
size_t HeapBytes() {
  size_t bytes = 0;
  MallocExtension::instance()->GetNumericProperty("generic.current_allocated_bytes", &bytes);
  return bytes;
}
#else
// Heap in use: small chunks (uordblks) plus the chunks malloc serves with mmap (hblkhd),
// which large vectors and hash tables get and uordblks alone leaves out.
size_t HeapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}
#endif

struct QueryFigures {
  Stats stats;
  size_t returned = 0;
};

QueryFigures TimeQuery(const InstanceIndex& index, const std::string& q, int limit, int runs) {
  std::vector<double> t;
  QueryFigures f;
  for (int i = 0; i < runs + runs / 10; ++i) {
    auto start = SteadyClock::now();
    auto r = index.Query(q, limit);
    auto end = SteadyClock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "query failed: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    f.returned = r->instances.size();
    if (i >= runs / 10) t.push_back(Micros(end - start));  // the first tenth warms up
  }
  f.stats = Percentiles(std::move(t));
  return f;
}

// Counts every match by paging with the cursor, 10000 at a time.
size_t CountAll(const InstanceIndex& index, const std::string& q) {
  size_t n = 0;
  std::string cursor;
  while (true) {
    auto r = index.Query(q, InstanceIndex::kMaxLimit, cursor);
    if (!r.ok()) std::exit(1);
    n += r->instances.size();
    if (r->cursor.empty()) return n;
    cursor = r->cursor;
  }
}

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

Stats TimeSql(sqlite3* db, const char* sql, int runs, size_t* rows_out) {
  sqlite3_stmt* stmt = nullptr;
  Check(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), db, "prepare");
  std::vector<double> t;
  size_t bytes = 0;
  for (int i = 0; i < runs + runs / 10; ++i) {
    auto start = SteadyClock::now();
    size_t rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      bytes += static_cast<size_t>(sqlite3_column_bytes(stmt, 0));
      ++rows;
    }
    sqlite3_reset(stmt);
    auto end = SteadyClock::now();
    *rows_out = rows;
    if (i >= runs / 10) t.push_back(Micros(end - start));
  }
  sqlite3_finalize(stmt);
  if (bytes == 0) std::fprintf(stderr, "sqlite returned nothing for %s\n", sql);
  return Percentiles(std::move(t));
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  if (n < 1000) n = 1000;
  Print("index_sessions", n, "sessions");

  // Build. Memory is the heap growth from before the documents exist to after the index
  // holds them (moved in) and the generator's vector is gone, less the list of ids kept
  // for the update benchmark.
  size_t heap_before = HeapBytes();
  std::vector<IndexEntry> docs = MakeSessions(n);
  size_t heap_ids = HeapBytes();
  std::vector<std::string> ids;
  ids.reserve(n);
  for (const auto& d : docs) ids.push_back(d.info.id);
  size_t ids_bytes = HeapBytes() - heap_ids;
  InstanceIndex index(glfm::index::IndexOptions{.max_entries = static_cast<size_t>(n)});
  double cpu_start = CpuSeconds();
  auto start = SteadyClock::now();
  if (!index.UpsertMany(docs).ok()) return 1;
  auto built = SteadyClock::now();
  double build_cpu = CpuSeconds() - cpu_start;
  docs.clear();
  docs.shrink_to_fit();
  size_t heap_after = HeapBytes();
  Print("index_build_time", std::chrono::duration<double>(built - start).count(), "s");
  Print("index_build_cpu_time", build_cpu, "s");
  Print("index_bytes_per_session",
        (static_cast<double>(heap_after) - static_cast<double>(heap_before) -
         static_cast<double>(ids_bytes)) /
            n,
        "bytes");

  const std::string q1 =
      "+value.status:ACTIVE +value.player_count:<8 +value.metadata.GameProperties.mode:ranked";
  const std::string q2 =
      "+value.metadata.GameProperties.region:eu-west-1 -value.metadata.GameProperties.map:dust";
  const std::string q4 = "+value.metadata.GameSessionName:session-12345*";
  const std::string q5 =
      "+create_time:>=\"2026-01-01T06:00:00Z\" +create_time:<\"2026-01-01T06:10:00Z\"";

  QueryFigures f1 = TimeQuery(index, q1, 10, 5000);
  Print("index_q1_p50", f1.stats.p50, "us");
  Print("index_q1_p99", f1.stats.p99, "us");
  Print("index_q1_returned", static_cast<double>(f1.returned), "sessions");
  Print("index_q1_matching", static_cast<double>(CountAll(index, q1)), "sessions");

  QueryFigures f2 = TimeQuery(index, q2, 50, 5000);
  Print("index_q2_p50", f2.stats.p50, "us");
  Print("index_q2_p99", f2.stats.p99, "us");
  Print("index_q2_returned", static_cast<double>(f2.returned), "sessions");
  Print("index_q2_matching", static_cast<double>(CountAll(index, q2)), "sessions");

  // Q3: everything, 1000 a page.
  {
    std::vector<double> pages;
    size_t seen = 0;
    std::string cursor;
    auto q3_start = SteadyClock::now();
    while (true) {
      auto s = SteadyClock::now();
      auto r = index.Query("", 1000, cursor);
      pages.push_back(Micros(SteadyClock::now() - s));
      if (!r.ok()) return 1;
      seen += r->instances.size();
      if (r->cursor.empty()) break;
      cursor = r->cursor;
    }
    double total = std::chrono::duration<double>(SteadyClock::now() - q3_start).count();
    Stats st = Percentiles(pages);
    Print("index_q3_page_p50", st.p50, "us");
    Print("index_q3_page_p99", st.p99, "us");
    Print("index_q3_pages", static_cast<double>(pages.size()), "pages");
    Print("index_q3_sessions", static_cast<double>(seen), "sessions");
    Print("index_q3_total_time", total, "s");
  }

  QueryFigures f4 = TimeQuery(index, q4, 10, 20);
  Print("index_q4_p50", f4.stats.p50, "us");
  Print("index_q4_p99", f4.stats.p99, "us");
  Print("index_q4_returned", static_cast<double>(f4.returned), "sessions");

  QueryFigures f5 = TimeQuery(index, q5, 10, 200);
  Print("index_q5_p50", f5.stats.p50, "us");
  Print("index_q5_p99", f5.stats.p99, "us");
  Print("index_q5_returned", static_cast<double>(f5.returned), "sessions");
  Print("index_q5_matching", static_cast<double>(CountAll(index, q5)), "sessions");

  // player_count updates alone, then on one thread while Q1 runs on another.
  {
    std::mt19937 urng(3);
    Timestamp now = kBase + std::chrono::hours(25);
    auto u_start = SteadyClock::now();
    constexpr int kUpdates = 200000;
    for (int k = 0; k < kUpdates; ++k) {
      const std::string& id = ids[urng() % ids.size()];
      if (!index.SetPlayerCount(id, static_cast<int>(urng() % (kMaxPlayers + 1)), now).ok()) {
        return 1;
      }
    }
    double secs = std::chrono::duration<double>(SteadyClock::now() - u_start).count();
    Print("index_updates_alone_per_s", kUpdates / secs, "updates/s");
  }
  {
    std::atomic<bool> stop{false};
    std::vector<double> q1_times;
    std::thread reader([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto s = SteadyClock::now();
        auto r = index.Query(q1, 10);
        q1_times.push_back(Micros(SteadyClock::now() - s));
        if (!r.ok()) std::exit(1);
      }
    });
    std::mt19937 urng(7);
    size_t updates = 0;
    auto u_start = SteadyClock::now();
    auto deadline = u_start + std::chrono::seconds(2);
    Timestamp now = kBase + std::chrono::hours(25);
    while (SteadyClock::now() < deadline) {
      for (int k = 0; k < 1000; ++k) {
        const std::string& id = ids[urng() % ids.size()];
        if (!index.SetPlayerCount(id, static_cast<int>(urng() % (kMaxPlayers + 1)), now).ok()) {
          return 1;
        }
      }
      updates += 1000;
    }
    double secs = std::chrono::duration<double>(SteadyClock::now() - u_start).count();
    stop = true;
    reader.join();
    Stats st = Percentiles(q1_times);
    Print("index_updates_per_s", static_cast<double>(updates) / secs, "updates/s");
    Print("index_q1_under_updates_p50", st.p50, "us");
    Print("index_q1_under_updates_p99", st.p99, "us");
    Print("index_q1_under_updates_queries_per_s", static_cast<double>(q1_times.size()) / secs,
          "queries/s");
  }

  // The same documents into a fresh index in pages of 1000 (how the service's start-up fills
  // it from the store), then one Upsert at a time.
  {
    std::vector<IndexEntry> again = MakeSessions(n);
    double paged = 0, paged_cpu = 0, single = 0;
    {
      InstanceIndex fresh(glfm::index::IndexOptions{.max_entries = static_cast<size_t>(n)});
      double c = CpuSeconds();
      auto s = SteadyClock::now();
      for (size_t i = 0; i < again.size(); i += 1000) {
        size_t len = std::min<size_t>(1000, again.size() - i);
        if (!fresh.UpsertMany(std::span<const IndexEntry>(again).subspan(i, len)).ok()) return 1;
      }
      paged = std::chrono::duration<double>(SteadyClock::now() - s).count();
      paged_cpu = CpuSeconds() - c;
    }
    {
      InstanceIndex fresh(glfm::index::IndexOptions{.max_entries = static_cast<size_t>(n)});
      auto s = SteadyClock::now();
      for (const IndexEntry& e : again) {
        if (!fresh.Upsert(e.info, e.update_time).ok()) return 1;
      }
      single = std::chrono::duration<double>(SteadyClock::now() - s).count();
    }
    Print("index_build_paged_time", paged, "s");
    Print("index_build_paged_cpu_time", paged_cpu, "s");
    Print("index_build_one_by_one_time", single, "s");
  }

  // SQLite over the same data: json_extract with expression indexes.
  if (argc <= 2 || std::string(argv[2]) != "nosql") {
    sqlite3* db = nullptr;
    Check(sqlite3_open(":memory:", &db), db, "open");
    Check(sqlite3_exec(db,
                       "CREATE TABLE sessions(id TEXT PRIMARY KEY, value TEXT NOT NULL, "
                       "create_time INTEGER NOT NULL, update_time INTEGER NOT NULL)",
                       nullptr, nullptr, nullptr),
          db, "create");
    auto load_start = SteadyClock::now();
    Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    sqlite3_stmt* ins = nullptr;
    Check(sqlite3_prepare_v2(db, "INSERT INTO sessions VALUES(?,?,?,?)", -1, &ins, nullptr), db,
          "prepare insert");
    std::mt19937 rng2(42);
    for (int i = 0; i < n; ++i) {
      InstanceInfo info = MakeSession(i, rng2);
      std::string json = glfm::ToJson(info).Dump();
      int64_t created =
          std::chrono::duration_cast<std::chrono::nanoseconds>(info.create_time.time_since_epoch())
              .count();
      sqlite3_bind_text(ins, 1, info.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 2, json.c_str(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(ins, 3, created);
      sqlite3_bind_int64(ins, 4, created);
      Check(sqlite3_step(ins), db, "insert");
      sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    const char* indexes[] = {
        "CREATE INDEX s_status ON sessions(json_extract(value, '$.status'))",
        "CREATE INDEX s_pc ON sessions(json_extract(value, '$.player_count'), create_time)",
        "CREATE INDEX s_mode ON sessions(json_extract(value, '$.metadata.GameProperties.mode'))",
        "CREATE INDEX s_region ON "
        "sessions(json_extract(value, '$.metadata.GameProperties.region'))",
        "CREATE INDEX s_map ON sessions(json_extract(value, '$.metadata.GameProperties.map'))",
        "ANALYZE",
    };
    for (const char* sql : indexes) {
      Check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql);
    }
    Print("sqlite_load_time",
          std::chrono::duration<double>(SteadyClock::now() - load_start).count(), "s");
    size_t rows = 0;
    Stats s1 = TimeSql(db,
                       "SELECT value FROM sessions WHERE json_extract(value, '$.status') = "
                       "'ACTIVE' AND json_extract(value, '$.player_count') < 8 AND "
                       "json_extract(value, '$.metadata.GameProperties.mode') = 'ranked' "
                       "ORDER BY json_extract(value, '$.player_count'), create_time DESC LIMIT 10",
                       200, &rows);
    Print("sqlite_q1_p50", s1.p50, "us");
    Print("sqlite_q1_p99", s1.p99, "us");
    Print("sqlite_q1_returned", static_cast<double>(rows), "sessions");
    Stats s2 = TimeSql(db,
                       "SELECT value FROM sessions WHERE json_extract(value, "
                       "'$.metadata.GameProperties.region') = 'eu-west-1' AND json_extract(value, "
                       "'$.metadata.GameProperties.map') IS NOT 'dust' "
                       "ORDER BY json_extract(value, '$.player_count'), create_time DESC LIMIT 50",
                       200, &rows);
    Print("sqlite_q2_p50", s2.p50, "us");
    Print("sqlite_q2_p99", s2.p99, "us");
    Print("sqlite_q2_returned", static_cast<double>(rows), "sessions");
    Print("sqlite_over_index_q1_p50_ratio", s1.p50 / f1.stats.p50, "x");
    Print("sqlite_over_index_q2_p50_ratio", s2.p50 / f2.stats.p50, "x");
    sqlite3_close(db);
  }
  return 0;
}
