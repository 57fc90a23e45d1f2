// bench_emulator: the emulator must never be the bottleneck of glfm's benchmarks.
//
//   BENCH emulator_start_placement <n> placements/s   StartGameSessionPlacement over HTTP
//   BENCH emulator_events_received <n> events/s       placement events through SQS
//                                                     ReceiveMessage(10) + DeleteMessageBatch
// Clients are keep-alive HTTP/1.1 connections on loopback (one thread each), the emulator runs
// in-process with 2 IO threads and zero delays.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "emulator/emulator.h"
#include "glfm/json.h"
#include "testing/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using glfm::testing::HttpClient;

constexpr int kClients = 4;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  int placements = argc > 1 ? std::atoi(argv[1]) : 40000;
  glfm::emulator::EmulatorOptions o;
  o.world.timings = {0, 0, -1, 600000};
  for (auto& l : o.world.fleets[0].locations) {
    l.capacity = 10000000;
  }
  auto started = glfm::emulator::Emulator::Start(std::move(o));
  if (!started.ok()) {
    std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
    return 1;
  }
  auto& emu = *started;
  const uint16_t port = emu->port();

  // 1. StartGameSessionPlacement.
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&] {
      HttpClient client("127.0.0.1", port);
      for (int i = next++; i < placements; i = next++) {
        auto r = client.Request(
            "POST", "/",
            R"({"PlacementId":"bench-)" + std::to_string(i) +
                R"(","GameSessionQueueName":"glfm-local","MaximumPlayerSessionCount":8,)"
                R"("DesiredPlayerSessions":[{"PlayerId":"u1"}],)"
                R"("PlayerLatencies":[{"PlayerId":"u1","RegionIdentifier":"eu-west-1",)"
                R"("LatencyInMilliseconds":20}]})",
            {{"X-Amz-Target", "GameLift.StartGameSessionPlacement"},
             {"Content-Type", "application/x-amz-json-1.1"}});
        if (r.status != 200) {
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  auto t1 = Clock::now();
  std::printf("BENCH emulator_start_placement %.0f placements/s\n", placements / Seconds(t0, t1));
  emu->RunDueWork();

  // 2. Events through batched receives (every placement produced one SNS-enveloped event).
  const std::string queue = emu->url() + "/000000000000/glfm-placement-events";
  std::atomic<int> received{0};
  threads.clear();
  auto t2 = Clock::now();
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&] {
      HttpClient client("127.0.0.1", port);
      while (received.load() < placements) {
        auto r = client.Request("POST", "/",
                                R"({"QueueUrl":")" + queue + R"(","MaxNumberOfMessages":10})",
                                {{"X-Amz-Target", "AmazonSQS.ReceiveMessage"},
                                 {"Content-Type", "application/x-amz-json-1.0"}});
        auto j = glfm::Json::Parse(r.body);
        const glfm::Json* msgs = j.ok() ? j->Find("Messages") : nullptr;
        if (msgs == nullptr) {
          if (r.status != 200) {
            failures++;
          }
          if (received.load() >= placements) {
            break;
          }
          continue;
        }
        std::string del = R"({"QueueUrl":")" + queue + R"(","Entries":[)";
        int n = 0;
        for (const auto& m : msgs->as_array()) {
          del += (n ? "," : "") + std::string(R"({"Id":")") + std::to_string(n) +
                 R"(","ReceiptHandle":")" + m.Find("ReceiptHandle")->as_string() + "\"}";
          ++n;
        }
        del += "]}";
        auto d = client.Request("POST", "/", del,
                                {{"X-Amz-Target", "AmazonSQS.DeleteMessageBatch"},
                                 {"Content-Type", "application/x-amz-json-1.0"}});
        if (d.status != 200) {
          failures++;
        }
        received += n;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  auto t3 = Clock::now();
  std::printf("BENCH emulator_events_received %.0f events/s\n", received / Seconds(t2, t3));
  if (failures > 0) {
    std::fprintf(stderr, "%d requests failed\n", failures.load());
    return 1;
  }
  emu->Stop();
  return 0;
}
