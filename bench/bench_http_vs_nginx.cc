// bench_http_vs_nginx: glfm's HTTP stack against nginx on the same machine, in one run.
//
// Starts nginx (a fixed `return 204` for any POST) and `glfm serve` side by side on loopback,
// both with one worker/IO thread pinned to CPU 0, and runs wrk (-t1 -c32, pinned to CPU 1)
// POSTing the same ~200-byte JSON to each, alternating for a few rounds. glfm's side is
// POST /v1/validate/instance_info, which parses the body and decodes it as an InstanceInfo
// (glfm::Json + glfm/codec.h) before answering 204.
//
// Prints `BENCH nginx_post_rps`, `BENCH glfm_post_rps` (medians of the rounds) and
// `BENCH http_post_ratio_vs_nginx` (median of the per-round ratios).
// Knobs: BENCH_SECONDS (per run, default 5), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS (32).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

using namespace glfm::bench;

const char kPayload[] =
    R"({"id":"arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b3c/gsess-9f8e7d6c",)"
    R"("player_count":7,"status":"ACTIVE","metadata":{"GameSessionName":"duel-eu-1",)"
    R"("GameProperties":{"mode":"duel","map":"arena","region":"eu"}}})";

}  // namespace

int main() {
  for (const char* tool : {"nginx", "wrk"}) {
    if (!Have(tool)) {
      std::fprintf(stderr, "bench_http_vs_nginx: %s not found (scripts/install-deps.sh)\n", tool);
      return 1;
    }
  }
  int seconds = EnvInt("BENCH_SECONDS", 5);
  int rounds = EnvInt("BENCH_ROUNDS", 3);
  int connections = EnvInt("BENCH_CONNECTIONS", 32);
  bool pin = Have("taskset") && std::thread::hardware_concurrency() >= 2;
  std::string server_pin = pin ? "taskset -c 0 " : "";
  std::string client_pin = pin ? "taskset -c 1 " : "";

  std::string tmpl = (std::filesystem::temp_directory_path() / "glfm-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  std::string dir = tmpl;

  // wrk script: the same POST for both servers.
  std::string script = dir + "/post.lua";
  {
    std::ofstream lua(script);
    lua << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        << "wrk.body = [[" << kPayload << "]]\n";
  }

  // nginx: one worker, no logs, a fixed 204; keep-alive as long as wrk wants.
  uint16_t nginx_port = 0;
  Child nginx = StartNginx(dir, 204, pin, nginx_port);
  std::string glfm_bin = std::string(GLFM_BINARY_DIR) + "/apps/glfm/glfm";
  uint16_t glfm_port = 0;
  Child glfm = StartListening({glfm_bin, "serve", "--listen", "127.0.0.1:0", "--io-threads", "1",
                               "--data-dir", dir + "/glfm-data", "--log-format", "json"},
                              pin, glfm_port);
  int rc = 0;
  if (nginx_port == 0 || glfm_port == 0) {
    std::fprintf(stderr, "bench_http_vs_nginx: servers did not start (nginx port %u, glfm %u)\n",
                 nginx_port, glfm_port);
    rc = 1;
  } else {
    std::string nginx_url = "http://127.0.0.1:" + std::to_string(nginx_port) + "/";
    std::string glfm_url =
        "http://127.0.0.1:" + std::to_string(glfm_port) + "/v1/validate/instance_info";
    VsNginx r = AlternateRounds("http", client_pin, nginx_url, glfm_url, script, rounds, seconds,
                                connections);
    rc = r.clean ? 0 : 1;
    std::printf("BENCH nginx_post_rps %.0f rps\n", r.nginx_rps);
    std::printf("BENCH glfm_post_rps %.0f rps\n", r.glfm_rps);
    std::printf("BENCH http_post_ratio_vs_nginx %.3f ratio\n", r.ratio);
  }
  glfm.Stop();
  nginx.Stop();
  std::filesystem::remove_all(dir);
  return rc;
}
