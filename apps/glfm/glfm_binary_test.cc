// Runs the real `glfm` binary: start-up line, health over a real socket, data directory,
// graceful exit on SIGTERM / SIGINT, and exit codes.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "glfm/json.h"
#include "testing/http_client.h"

extern char** environ;

namespace {

using glfm::testing::HttpClient;
using ::testing::HasSubstr;

const char kBinary[] = GLFM_BINARY_DIR "/apps/glfm/glfm";

// A running glfm process whose stderr we read line by line.
class Process {
 public:
  explicit Process(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(kBinary));
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, kBinary, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    err_ = fds[0];
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
    close(err_);
  }

  // Returns the next stderr line, or "" at end of file.
  std::string ReadLine() {
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char buf[4096];
      ssize_t n = read(err_, buf, sizeof buf);
      if (n <= 0) {
        std::string rest = std::move(buffer_);
        buffer_.clear();
        return rest;
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  // Reads lines until one contains `needle` (start-up logs the store and AWS set-up first);
  // returns it, or "" at the end of the output.
  // Reads stderr lines until one contains `needle`; returns it, or "" at the end.
  std::string ReadLineWith(std::string_view needle) {
    for (std::string l = ReadLine(); !l.empty(); l = ReadLine()) {
      if (l.find(needle) != std::string::npos) return l;
    }
    return "";
  }

  // Reads every remaining stderr line.
  std::string ReadAll() {
    std::string all;
    for (std::string l = ReadLine(); !l.empty(); l = ReadLine()) {
      all += l + "\n";
    }
    return all;
  }

  void Signal(int sig) { kill(pid_, sig); }

  // Waits for exit; returns the exit code, or 128+signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  std::string buffer_;
};

class GlfmBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "glfm-bin-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// Returns the port of "listening on http://127.0.0.1:PORT" in a JSON log line.
uint16_t PortOf(const std::string& line) {
  auto j = glfm::Json::Parse(line);
  EXPECT_TRUE(j.ok()) << line;
  if (!j.ok()) {
    return 0;
  }
  std::string msg = j->Find("msg")->as_string();
  const std::string prefix = "listening on http://127.0.0.1:";
  EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
  return static_cast<uint16_t>(std::stoi(msg.substr(prefix.size())));
}

TEST_F(GlfmBinaryTest, ServesUntilSigtermThenExitsZero) {
  std::string data = dir_ + "/new/data";
  Process p({"serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--log-format", "json"});
  // The first log line names the bound address; the rest of start-up follows it.
  uint16_t port = PortOf(p.ReadLine());
  ASSERT_NE(port, 0);
  EXPECT_TRUE(std::filesystem::is_directory(data));
  HttpClient c("127.0.0.1", port);
  auto h = c.Request("GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, R"({"status":"ok"})");
  // Ready once start-up (store, index, emulator, fleet manager) has finished.
  EXPECT_THAT(p.ReadLineWith(R"("msg":"glfm started")"), HasSubstr(R"("mode":"local")"));
  EXPECT_EQ(c.Request("GET", "/readyz").status, 200);
  p.Signal(SIGTERM);
  EXPECT_EQ(p.Wait(), 0);
  std::string rest = p.ReadAll();
  EXPECT_THAT(rest, HasSubstr(R"("msg":"shutting down","signal":"SIGTERM")"));
  EXPECT_THAT(rest, HasSubstr(R"("msg":"stopped")"));
}

TEST_F(GlfmBinaryTest, SigintAlsoStopsCleanly) {
  Process p({"serve", "--listen", "127.0.0.1:0", "--data-dir", dir_, "--log-format", "text"});
  std::string first = p.ReadLine();
  EXPECT_THAT(first, HasSubstr(" INFO listening on http://127.0.0.1:"));
  p.Signal(SIGINT);
  EXPECT_EQ(p.Wait(), 0);
  EXPECT_THAT(p.ReadAll(), HasSubstr("shutting down signal=SIGINT"));
}

TEST_F(GlfmBinaryTest, ExitCodes) {
  {
    Process p({"serve", "--no-such-flag", "1"});
    EXPECT_EQ(p.Wait(), 2);
    EXPECT_THAT(p.ReadAll(), HasSubstr("unknown flag --no-such-flag"));
  }
  {
    Process p({"serve", "--listen", "nowhere", "--data-dir", dir_});
    EXPECT_EQ(p.Wait(), 1);
    EXPECT_THAT(p.ReadAll(), HasSubstr("server.listen (flag --listen): must be HOST:PORT"));
  }
  {
    // The data directory cannot be created under a regular file.
    std::string file = dir_ + "/plain";
    close(open(file.c_str(), O_CREAT | O_WRONLY, 0600));
    Process p({"serve", "--listen", "127.0.0.1:0", "--data-dir", file + "/sub"});
    EXPECT_EQ(p.Wait(), 1);
    EXPECT_THAT(p.ReadAll(), HasSubstr("cannot create the data directory"));
  }
  {
    Process p({"check-config", "--listen", "127.0.0.1:0"});
    EXPECT_EQ(p.Wait(), 0);
  }
  {
    Process p({"frobnicate"});
    EXPECT_EQ(p.Wait(), 2);
  }
}

}  // namespace
