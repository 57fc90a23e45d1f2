// Helpers the HTTP benchmarks share: child processes (nginx, glfm, the emulator), loopback
// ports, wrk runs and medians. Header-only; every function is for one bench thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace glfm::bench {

inline int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

inline bool Have(const char* tool) {
  std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Connects to (or, with `bind_only`, binds) 127.0.0.1:port; returns the port, 0 on failure.
inline uint16_t Loopback(uint16_t port, bool bind_only) {
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

inline uint16_t FreePort() { return Loopback(0, true); }

// A child process; stderr (or stdout) optionally captured through a pipe.
struct Child {
  pid_t pid = -1;
  int err_fd = -1;  // the captured stream's read end

  // Starts `args`; `capture` is -1 (nothing), STDERR_FILENO or STDOUT_FILENO. `env` entries
  // ("NAME=value") are added to this process's environment.
  static Child Spawn(const std::vector<std::string>& args, bool capture_stderr, int capture = -2,
                     const std::vector<std::string>& env = {}) {
    if (capture == -2) capture = capture_stderr ? STDERR_FILENO : -1;
    Child c;
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture >= 0 && pipe(fds) == 0) {
      posix_spawn_file_actions_adddup2(&actions, fds[1], capture);
      posix_spawn_file_actions_addclose(&actions, fds[0]);
    }
    std::vector<char*> argv;
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    for (const auto& e : env) env_storage.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawnp(&c.pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) {
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

  // Reads and discards the captured stream from now on (so that the child never blocks on a
  // full pipe); the reading thread closes it when the child exits.
  void Drain() {
    if (err_fd < 0) return;
    std::thread([fd = err_fd] {
      char buf[4096];
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
    }).detach();
    err_fd = -1;
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

inline bool WaitForPort(uint16_t port) {
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

inline WrkResult RunWrk(const std::string& pin, const std::string& url, const std::string& script,
                        int seconds, int connections) {
  std::string cmd = pin + "wrk -t1 -c" + std::to_string(connections) + " -d" +
                    std::to_string(seconds) + "s -s " + script + " '" + url + "' 2>&1";
  WrkResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) {
    return r;
  }
  char line[512];
  while (std::fgets(line, sizeof line, p.get()) != nullptr) {
    std::string l(line);
    if (std::getenv("BENCH_DEBUG") != nullptr) std::fputs(line, stderr);
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

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// nginx with one worker and no logs answering every request with `status` (no body) on a free
// loopback port; pinned to CPU 0 when `pin`. Sets `port`; the caller Stops the child.
inline Child StartNginx(const std::string& dir, int status, bool pin, uint16_t& port) {
  port = FreePort();
  std::string conf_path = dir + "/nginx.conf";
  {
    std::FILE* f = std::fopen(conf_path.c_str(), "w");
    if (f == nullptr) return Child{};
    std::fprintf(
        f,
        "worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n  keepalive_requests 10000000;\n"
        "  client_body_temp_path %s/body;\n"
        "  server {\n    listen 127.0.0.1:%u;\n    location / { return %d; }\n  }\n}\n",
        dir.c_str(), dir.c_str(), dir.c_str(), port, status);
    std::fclose(f);
  }
  std::vector<std::string> args;
  if (pin) args = {"taskset", "-c", "0"};
  for (const std::string& a : std::vector<std::string>{"nginx", "-p", dir, "-c", conf_path}) {
    args.push_back(a);
  }
  Child c = Child::Spawn(args, false);
  if (c.pid < 0 || !WaitForPort(port)) {
    c.Stop();
    port = 0;
  }
  return c;
}

// Runs `args` (glfm serve or glfm emulator) with `env` added and reads its stderr (or, with
// `from_stdout`, its stdout) up to the `listening on http://127.0.0.1:PORT` line, then drains
// the rest. Sets `port` (0 when it did not start).
inline Child StartListening(std::vector<std::string> args, bool pin, uint16_t& port,
                            bool from_stdout = false, const std::vector<std::string>& env = {}) {
  if (pin) args.insert(args.begin(), {"taskset", "-c", "0"});
  Child c = Child::Spawn(args, true, from_stdout ? STDOUT_FILENO : STDERR_FILENO, env);
  port = 0;
  for (int i = 0; i < 50 && port == 0; ++i) {
    std::string line = c.ReadLine();
    auto at = line.find("listening on http://127.0.0.1:");
    if (at != std::string::npos) port = static_cast<uint16_t>(std::atoi(line.c_str() + at + 30));
    if (line.empty()) break;
  }
  c.Drain();
  return c;
}

// The p-th percentile (0-100) of `v` (sorted here).
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline void PrintBench(const char* name, double value, const char* unit) {
  std::printf("BENCH %s %.6g %s\n", name, value, unit);
  std::fflush(stdout);
}

// Medians of alternating wrk rounds against nginx and glfm (after a 1 s warm-up of each).
struct VsNginx {
  double nginx_rps = 0, glfm_rps = 0, ratio = 0;
  bool clean = true;  // no round had an error or a zero rate
};

inline VsNginx AlternateRounds(const char* label, const std::string& pin,
                               const std::string& nginx_url, const std::string& glfm_url,
                               const std::string& script, int rounds, int seconds,
                               int connections) {
  // Warm up both, then alternate so that drift on a shared machine hits both sides.
  RunWrk(pin, nginx_url, script, 1, connections);
  RunWrk(pin, glfm_url, script, 1, connections);
  std::vector<double> n_rps, g_rps, ratios;
  VsNginx out;
  for (int i = 0; i < rounds; ++i) {
    WrkResult n = RunWrk(pin, nginx_url, script, seconds, connections);
    WrkResult g = RunWrk(pin, glfm_url, script, seconds, connections);
    std::printf("%s round %d: nginx %.0f rps (%ld errors), glfm %.0f rps (%ld errors)\n", label,
                i + 1, n.rps, n.errors, g.rps, g.errors);
    if (n.errors > 0 || g.errors > 0 || n.rps <= 0 || g.rps <= 0) {
      std::fprintf(stderr, "%s: a round had errors; figures are void\n", label);
      out.clean = false;
    }
    n_rps.push_back(n.rps);
    g_rps.push_back(g.rps);
    ratios.push_back(n.rps > 0 ? g.rps / n.rps : 0);
  }
  out.nginx_rps = Median(n_rps);
  out.glfm_rps = Median(g_rps);
  out.ratio = Median(ratios);
  return out;
}

}  // namespace glfm::bench
