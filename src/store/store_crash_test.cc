// Crash test, both backends: a child process writes acknowledged upserts from several
// threads and reports each acknowledged id through a pipe; the parent kills it with SIGKILL
// after a random number of acknowledgements, reopens the store and checks that every
// acknowledged write is there.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "store/store_conformance.h"
#include "testing/postgres.h"
#include "testing/status_matchers.h"

namespace glfm::store {
namespace {

class StoreCrashTest : public ::testing::TestWithParam<BackendFactory> {};

// The child: never returns.
[[noreturn]] void WriteUntilKilled(StoreBackend& backend, int ack_fd) {
  auto store = backend.Open();
  if (!store.ok()) {
    std::string msg = "E " + store.status().ToString() + "\n";
    [[maybe_unused]] ssize_t n = write(ack_fd, msg.data(), msg.size());
    _exit(2);
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        InstanceInfo info;
        info.id = "crash-" + std::to_string(t) + "-" + std::to_string(i);
        info.player_count = i;
        info.status = "ACTIVE";
        if ((*store)->UpsertInstance(info, Timestamp(std::chrono::seconds(i))).ok()) {
          std::string line = info.id + "\n";  // one write of < PIPE_BUF bytes is atomic
          [[maybe_unused]] ssize_t n = write(ack_fd, line.data(), line.size());
        }
      }
    });
  }
  for (auto& w : writers) {
    w.join();
  }
  _exit(0);
}

TEST_P(StoreCrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  auto made = GetParam().make();
  if (!made.ok()) {
    if (GetParam().needs_postgres && testing::PostgresSkipRequested()) {
      GTEST_SKIP() << made.status().ToString();
    }
    FAIL() << "cannot start the " << GetParam().name << " backend: " << made.status().ToString();
  }
  StoreBackend& backend = **made;
  {
    auto init = backend.Open();  // create the schema before the child races to it
    ASSERT_OK(init);
  }
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    const size_t kill_after = std::uniform_int_distribution<size_t>(50, 3000)(rng);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      WriteUntilKilled(backend, fds[1]);
    }
    close(fds[1]);
    std::set<std::string> acked;
    std::string buffer;
    char chunk[4096];
    bool killed = false;
    for (;;) {
      ssize_t n = read(fds[0], chunk, sizeof(chunk));
      if (n <= 0) {
        break;  // EOF: the child is gone and every acknowledgement is read
      }
      buffer.append(chunk, static_cast<size_t>(n));
      for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
        std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        ASSERT_FALSE(line.starts_with("E ")) << "child failed: " << line;
        acked.insert(line);
      }
      if (!killed && acked.size() >= kill_after) {
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        killed = true;
      }
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    ASSERT_GE(acked.size(), kill_after);

    auto store = backend.Open();
    ASSERT_OK(store);
    size_t missing = 0;
    for (const auto& id : acked) {
      auto got = (*store)->GetInstance(id);
      if (!got.ok()) {
        ++missing;
        ADD_FAILURE() << "acknowledged write " << id << " lost: " << got.status().ToString();
        if (missing > 5) {
          break;
        }
      } else {
        EXPECT_EQ(got->info.player_count, std::stoi(id.substr(id.rfind('-') + 1)));
      }
    }
    EXPECT_EQ(missing, 0u) << "round " << round << ": " << acked.size() << " acknowledged";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreCrashTest,
                         ::testing::Values(SqliteBackendFactory(true), SqliteBackendFactory(false),
                                           PostgresBackendFactory()),
                         BackendName);

}  // namespace
}  // namespace glfm::store
