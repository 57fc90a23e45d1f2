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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

const char kPayload[] =
    R"({"id":"arn:aws:gamelift:us-east-1::gamesession/fleet-1a2b3c/gsess-9f8e7d6c",)"
    R"("player_count":7,"status":"ACTIVE","metadata":{"GameSessionName":"duel-eu-1",)"
    R"("GameProperties":{"mode":"duel","map":"arena","region":"eu"}}})";

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

bool Have(const char* tool) {
  std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Connects to (or, with `bind_only`, binds) 127.0.0.1:port; returns the port, 0 on failure.
uint16_t Loopback(uint16_t port, bool bind_only) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  bool ok = bind_only ? bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
                      : connect(fd, sa, len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

uint16_t FreePort() { return Loopback(0, true); }

// A child process; stderr optionally captured through a pipe.
struct Child {
  pid_t pid = -1;
  int err_fd = -1;

  static Child Spawn(const std::vector<std::string>& args, bool capture_stderr) {
    Child c;
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture_stderr && pipe(fds) == 0) {
      posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
      posix_spawn_file_actions_addclose(&actions, fds[0]);
    }
    std::vector<char*> argv;
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    if (posix_spawnp(&c.pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      c.pid = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    if (fds[1] >= 0) {
      close(fds[1]);
      c.err_fd = fds[0];
    }
    return c;
  }

  std::string ReadLine() {
    std::string line;
    char ch;
    while (err_fd >= 0 && read(err_fd, &ch, 1) == 1 && ch != '\n') {
      line.push_back(ch);
    }
    return line;
  }

  void Stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
      pid = -1;
    }
    if (err_fd >= 0) {
      close(err_fd);
      err_fd = -1;
    }
  }
};

bool WaitForPort(uint16_t port) {
  for (int i = 0; i < 500; ++i) {
    if (Loopback(port, false) != 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child's start-up
  }
  return false;
}

struct WrkResult {
  double rps = 0;
  long errors = 0;  // non-2xx answers and socket errors
};

WrkResult RunWrk(const std::string& pin, const std::string& url, const std::string& script,
                 int seconds, int connections) {
  std::string cmd = pin + "wrk -t1 -c" + std::to_string(connections) + " -d" +
                    std::to_string(seconds) + "s -s " + script + " " + url + " 2>&1";
  WrkResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) {
    return r;
  }
  char line[512];
  while (std::fgets(line, sizeof line, p.get()) != nullptr) {
    std::string l(line);
    if (l.rfind("Requests/sec:", 0) == 0) {
      r.rps = std::atof(l.c_str() + 13);
    } else if (l.find("Non-2xx or 3xx responses:") != std::string::npos) {
      r.errors += std::atol(l.c_str() + l.find(':') + 1);
    } else if (l.find("Socket errors:") != std::string::npos) {
      long a = 0, b = 0, c = 0, d = 0;
      if (std::sscanf(l.c_str(), " Socket errors: connect %ld, read %ld, write %ld, timeout %ld",
                      &a, &b, &c, &d) == 4) {
        r.errors += a + b + c + d;
      }
    }
  }
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

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
  uint16_t nginx_port = FreePort();
  {
    std::ofstream conf(dir + "/nginx.conf");
    conf << "worker_processes 1;\ndaemon off;\npid " << dir << "/nginx.pid;\n"
         << "error_log " << dir << "/nginx-error.log;\n"
         << "events { worker_connections 1024; }\n"
         << "http {\n  access_log off;\n  keepalive_requests 10000000;\n"
         << "  client_body_temp_path " << dir << "/body;\n"
         << "  server {\n    listen 127.0.0.1:" << nginx_port << ";\n"
         << "    location / { return 204; }\n  }\n}\n";
  }
  std::vector<std::string> nginx_args;
  if (pin) {
    nginx_args = {"taskset", "-c", "0"};
  }
  std::string conf_path = dir + "/nginx.conf";
  for (const std::string& a : std::vector<std::string>{"nginx", "-p", dir, "-c", conf_path}) {
    nginx_args.push_back(a);
  }
  Child nginx = Child::Spawn(nginx_args, false);

  std::string glfm_bin = std::string(GLFM_BINARY_DIR) + "/apps/glfm/glfm";
  std::vector<std::string> glfm_args;
  if (pin) {
    glfm_args = {"taskset", "-c", "0"};
  }
  for (const std::string& a :
       std::vector<std::string>{glfm_bin, "serve", "--listen", "127.0.0.1:0", "--io-threads", "1",
                                "--data-dir", dir + "/glfm-data", "--log-format", "json"}) {
    glfm_args.push_back(a);
  }
  Child glfm = Child::Spawn(glfm_args, true);
  std::string first = glfm.ReadLine();
  auto at = first.find("listening on http://127.0.0.1:");
  uint16_t glfm_port =
      at == std::string::npos ? 0 : static_cast<uint16_t>(std::atoi(first.c_str() + at + 30));
  int rc = 0;
  if (nginx.pid < 0 || !WaitForPort(nginx_port) || glfm_port == 0) {
    std::fprintf(stderr, "bench_http_vs_nginx: servers did not start (glfm said: %s)\n",
                 first.c_str());
    rc = 1;
  } else {
    std::string nginx_url = "http://127.0.0.1:" + std::to_string(nginx_port) + "/";
    std::string glfm_url =
        "http://127.0.0.1:" + std::to_string(glfm_port) + "/v1/validate/instance_info";
    // Warm up both, then alternate so that drift on a shared machine hits both sides.
    RunWrk(client_pin, nginx_url, script, 1, connections);
    RunWrk(client_pin, glfm_url, script, 1, connections);
    std::vector<double> nginx_rps, glfm_rps, ratios;
    for (int i = 0; i < rounds; ++i) {
      WrkResult n = RunWrk(client_pin, nginx_url, script, seconds, connections);
      WrkResult g = RunWrk(client_pin, glfm_url, script, seconds, connections);
      std::printf("round %d: nginx %.0f rps (%ld errors), glfm %.0f rps (%ld errors)\n", i + 1,
                  n.rps, n.errors, g.rps, g.errors);
      if (n.errors > 0 || g.errors > 0 || n.rps <= 0 || g.rps <= 0) {
        std::fprintf(stderr, "bench_http_vs_nginx: a round had errors; figures are void\n");
        rc = 1;
      }
      nginx_rps.push_back(n.rps);
      glfm_rps.push_back(g.rps);
      ratios.push_back(n.rps > 0 ? g.rps / n.rps : 0);
    }
    std::printf("BENCH nginx_post_rps %.0f rps\n", Median(nginx_rps));
    std::printf("BENCH glfm_post_rps %.0f rps\n", Median(glfm_rps));
    std::printf("BENCH http_post_ratio_vs_nginx %.3f ratio\n", Median(ratios));
  }
  glfm.Stop();
  nginx.Stop();
  std::filesystem::remove_all(dir);
  return rc;
}
