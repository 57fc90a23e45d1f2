// bench_fleet: the fleet manager's two hot paths against the in-process emulator and a real
// SQLite file (synchronous=NORMAL, as a throughput-minded deployment would run it):
//   - Create → StartGameSessionPlacement sent: N Creates from 8 threads (the emulator never
//     fulfils them by itself). Reports Creates/s.
//   - events → callbacks: one PlacementFulfilled event (SNS-enveloped) per Create queued in
//     the emulator's SQS while the receivers are held back; then the receivers record each
//     outcome, write the instance and call the Create callback. Reports events/s and the
//     p50/p99 time from the ReceiveMessage answer to the callback returning, and the process's
//     CPU time (user + system, every thread: emulator, client, store) per event, which the
//     other load on a shared machine disturbs far less than the rate.
// Prints `BENCH <name> <value> <unit>` lines. Usage: bench_fleet [n (20000)] [receivers (4)].
// With GLFM_BENCH_PERF_CTL set to the control fifo of `perf record --control=fifo:PATH -D -1`,
// the profile covers the events → callbacks phase only:
//   mkfifo /tmp/ctl
//   GLFM_BENCH_PERF_CTL=/tmp/ctl perf record -e cpu-clock -g -D -1 --control=fifo:/tmp/ctl
//     bench_fleet
// Under callgrind (`valgrind --tool=callgrind --instr-atstart=no bench_fleet 2000`) the
// instruction counts likewise cover the events phase only: reproducible where rates are not.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#include "common/log.h"
#include "fleet/harness.h"
#include "glfm/codec.h"

using namespace glfm;
using namespace std::chrono_literals;

namespace {

std::string Num(const char* prefix, int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s%d", prefix, i);
  return buf;
}

std::string Event(const std::string& placement_id, int i) {
  Json detail = Json::MakeObject();
  detail["type"] = "PlacementFulfilled";
  detail["placementId"] = placement_id;
  detail["port"] = "7000";
  detail["gameSessionArn"] = Num("arn:aws:gamelift:us-east-1::gamesession/fleet-local/gs-", i);
  detail["ipAddress"] = "10.0.0.1";
  detail["dnsName"] = "";
  detail["gameSessionRegion"] = "us-east-1";
  detail["startTime"] = "2026-01-01T00:00:00.000Z";
  detail["endTime"] = "2026-01-01T00:00:01.000Z";
  detail["placedPlayerSessions"] = Json::MakeArray();
  Json ev = Json::MakeObject();
  ev["version"] = "0";
  ev["detail-type"] = "GameLift Queue Placement Event";
  ev["source"] = "aws.gamelift";
  ev["detail"] = std::move(detail);
  Json env = Json::MakeObject();
  env["Type"] = "Notification";
  env["MessageId"] = Num("m-", i);
  env["Message"] = ev.Dump();
  return env.Dump();
}

// Sends `cmd` ("enable", "disable") to perf's control fifo when GLFM_BENCH_PERF_CTL names one;
// starts and stops callgrind's instrumentation likewise.
void PerfControl(const char* cmd) {
  if (std::strcmp(cmd, "enable") == 0) {
    CALLGRIND_START_INSTRUMENTATION;
  } else {
    CALLGRIND_STOP_INSTRUMENTATION;
  }
  const char* path = std::getenv("GLFM_BENCH_PERF_CTL");
  if (path == nullptr || *path == '\0') return;
  if (FILE* f = std::fopen(path, "w"); f != nullptr) {
    std::fprintf(f, "%s\n", cmd);
    std::fclose(f);
  }
}

// Returns the CPU time (user + system) this process has used so far, in microseconds.
double CpuMicros() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

void ParallelFor(int n, int threads, const std::function<void(int)>& f) {
  std::vector<std::thread> ts;
  std::atomic<int> next{0};
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = next++; i < n; i = next++) f(i);
    });
  }
  for (auto& t : ts) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  int receivers = argc > 2 ? std::atoi(argv[2]) : 4;
  log::Configure(log::Format::kAuto, log::Level::kError);
  emulator::World w = fleet::testing::FastWorld();
  w.timings.placement_delay_ms = 3600 * 1000;  // only the bench's own events reach the queue
  for (auto& f : w.fleets) {
    for (auto& l : f.locations) l.capacity = 100000;
  }
  fleet::testing::FleetHarness h(w, {}, store::SqliteOptions::Synchronous::kNormal);
  auto opts = h.Options();
  opts.receivers = receivers;
  opts.defer_receivers = true;
  opts.single_writer = true;  // as glfm serve runs on SQLite
  std::mutex lat_mu;
  std::vector<double> lat_us;
  lat_us.reserve(n);
  opts.on_event_latency = [&](std::chrono::nanoseconds d) {
    std::lock_guard lock(lat_mu);
    lat_us.push_back(d.count() / 1000.0);
  };
  auto fm = h.Start(opts);

  // Create → StartGameSessionPlacement sent.
  std::vector<std::string> ids(n);
  std::atomic<int> callbacks{0};
  auto t0 = std::chrono::steady_clock::now();
  ParallelFor(n, 8, [&](int i) {
    auto id = fm->Create(4, {}, {}, Json::MakeObject(), [&](const CreateOutcome&) { callbacks++; });
    GLFM_CHECK(id.ok());
    ids[i] = *id;
  });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("BENCH fleet_create_to_start_sent %.0f creates/s\n", n / secs);

  // Events → callbacks: queue one PlacementFulfilled per Create, then let the receivers go.
  ParallelFor(n, 4, [&](int i) {
    gamelift::SendMessageRequest r;
    r.queue_url = h.events_url();
    r.message_body = Event(ids[i], i);
    GLFM_CHECK(h.sqs().SendMessage(r).ok());
  });
  PerfControl("enable");
  double cpu0 = CpuMicros();
  t0 = std::chrono::steady_clock::now();
  fm->StartReceivers();
  while (callbacks.load() < n && std::chrono::steady_clock::now() - t0 < 300s) {
    std::this_thread::sleep_for(1ms);
  }
  secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu_us = CpuMicros() - cpu0;
  PerfControl("disable");
  fm->Stop();
  std::printf("BENCH fleet_events_to_callbacks %.0f events/s\n", callbacks.load() / secs);
  std::printf("BENCH fleet_events_cpu_per_event %.1f us\n", cpu_us / std::max(1, callbacks.load()));
  std::sort(lat_us.begin(), lat_us.end());
  if (!lat_us.empty()) {
    std::printf("BENCH fleet_receive_to_callback_p50 %.0f us\n", lat_us[lat_us.size() / 2]);
    std::printf("BENCH fleet_receive_to_callback_p99 %.0f us\n", lat_us[lat_us.size() * 99 / 100]);
  }
  return callbacks.load() == n ? 0 : 1;
}
