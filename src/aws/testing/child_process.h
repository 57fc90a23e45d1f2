// A child process for integration tests (moto_server, openssl s_server): started with its
// output on a pipe, ready once it prints a marker line (no fixed sleeps), stopped with
// SIGTERM when the object dies. Also FreeLoopbackPort() for servers that take a port.
//
// Thread-safety: one owning thread.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace glfm::aws::testing {

// Returns a port that was free on 127.0.0.1 a moment ago.
inline uint16_t FreeLoopbackPort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class ChildProcess {
 public:
  // Runs `argv` (searched in PATH) and reads its stdout+stderr until a line contains
  // `ready_marker`; ready() tells whether it did before the child's output ended.
  ChildProcess(const std::vector<std::string>& argv, const std::string& ready_marker) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[1024];
    while (fgets(line, sizeof(line), out_) != nullptr) {
      log_ += line;
      if (std::string(line).find(ready_marker) != std::string::npos) {
        ready_ = true;
        break;
      }
    }
    // Keep draining so the child never blocks on a full pipe.
    drain_ = std::thread([this] {
      char buf[1024];
      while (fgets(buf, sizeof(buf), out_) != nullptr) {
      }
    });
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (drain_.joinable()) drain_.join();
    if (out_ != nullptr) fclose(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool ready() const { return ready_; }
  // What the child printed up to the marker (for failure messages).
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  bool ready_ = false;
  std::string log_;
  std::thread drain_;
};

}  // namespace glfm::aws::testing
