// The conformance suite on a real PostgreSQL 15 that the test starts (testing/postgres.h),
// and PostgreSQL-only behaviour: several nodes on one database, connection errors.
#include "store/postgres_store.h"

#include <gmock/gmock.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/store_conformance.h"
#include "testing/postgres.h"
#include "testing/status_matchers.h"

namespace glfm::store {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(PostgresBackendFactory()), BackendName);

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::SharedPostgres();
    if (!server.ok()) {
      if (testing::PostgresSkipRequested()) {
        GTEST_SKIP() << "GLFM_SKIP_POSTGRES=1: " << server.status().ToString();
      }
      FAIL() << "cannot start PostgreSQL: " << server.status().ToString();
    }
    server_ = *server;
    auto conninfo = server_->CreateDatabase();
    ASSERT_OK(conninfo);
    conninfo_ = *conninfo;
  }

  Result<std::unique_ptr<Store>> Open(const std::string& conninfo) {
    PostgresOptions o;
    o.conninfo = conninfo;
    o.commit_connections = 2;
    o.read_connections = 2;
    o.connect_timeout = std::chrono::seconds(2);
    return OpenPostgresStore(o);
  }

  testing::PostgresServer* server_ = nullptr;
  std::string conninfo_;
};

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailableNamingTheAddressNotThePassword) {
  // A loopback port nobody listens on: bind one, then close it.
  int port = 0;
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
  }
  const std::string secret = "Sup3r-Secret-Pa55";
  auto store = Open("host=127.0.0.1 port=" + std::to_string(port) +
                    " dbname=fleet user=glfm password=" + secret);
  EXPECT_THAT(store, StatusIs(StatusCode::kUnavailable,
                              AllOf(HasSubstr("postgres 127.0.0.1:" + std::to_string(port) +
                                              "/fleet"),
                                    Not(HasSubstr(secret)))));
  // The URI form too.
  auto uri = Open("postgresql://glfm:" + secret + "@127.0.0.1:" + std::to_string(port) + "/fleet");
  EXPECT_THAT(uri, StatusIs(StatusCode::kUnavailable, Not(HasSubstr(secret))));
}

TEST_F(PostgresStoreTest, AWrongPasswordIsUnavailableWithoutEchoingIt) {
  std::string conninfo = conninfo_;
  std::string wrong = "Wr0ng-Pa55word-xyz";
  conninfo.replace(conninfo.find(testing::PostgresServer::kPassword),
                   std::string(testing::PostgresServer::kPassword).size(), wrong);
  auto store = Open(conninfo);
  EXPECT_THAT(store, StatusIs(StatusCode::kUnavailable,
                              AllOf(HasSubstr("127.0.0.1:" + std::to_string(server_->port())),
                                    HasSubstr("password authentication failed"),
                                    Not(HasSubstr(wrong)))));
}

TEST_F(PostgresStoreTest, AMalformedConnectionStringIsInvalidArgumentWithoutRepeatingIt) {
  auto store = Open("host=127.0.0.1 password=Secret-in-junk junk");
  EXPECT_THAT(store, StatusIs(StatusCode::kInvalidArgument,
                              AllOf(HasSubstr("does not parse"), Not(HasSubstr("Secret")))));
}

TEST_F(PostgresStoreTest, NodesSharingADatabaseHearEachOthersChanges) {
  auto node_a = Open(conninfo_);
  auto node_b = Open(conninfo_);
  ASSERT_OK(node_a);
  ASSERT_OK(node_b);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ChangeEvent> heard;
  auto sub = (*node_b)->Subscribe([&](const ChangeEvent& e) {
    std::lock_guard lock(mu);
    heard.push_back(e);
    cv.notify_all();
  });
  ASSERT_OK(sub);
  PlacementRecord p;
  p.placement_id = "p-shared";
  p.owner_node = "node-b";
  p.request_json = "{}";
  ASSERT_OK((*node_b)->CreatePlacement(p));
  // node A learns the outcome of node B's placement first: B hears about it.
  ASSERT_THAT((*node_a)->RecordPlacementOutcome("p-shared", R"({"status":"success"})",
                                                Timestamp()),
              IsOkAndHolds(true));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return heard.size() >= 2; }));
  EXPECT_EQ(heard[1], (ChangeEvent{ChangeEvent::Kind::kPlacementOutcome, "p-shared", "node-b"}));
  lock.unlock();
  EXPECT_EQ((*node_b)->GetPlacement("p-shared")->outcome_json, R"({"status":"success"})");
}

TEST_F(PostgresStoreTest, NodesStartingTogetherMigrateAFreshDatabaseOnce) {
  constexpr int kNodes = 4;
  std::vector<Status> results(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] { results[i] = Open(conninfo_).status(); });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& s : results) {
    EXPECT_OK(s);
  }
}

TEST_F(PostgresStoreTest, ABigBatchSplitsItsNotifications) {
  auto store = Open(conninfo_);
  ASSERT_OK(store);
  std::mutex mu;
  std::condition_variable cv;
  size_t count = 0;
  auto sub = (*store)->Subscribe([&](const ChangeEvent&) {
    std::lock_guard lock(mu);
    ++count;
    cv.notify_all();
  });
  ASSERT_OK(sub);
  std::vector<InstanceWrite> writes;
  for (int i = 0; i < 2000; ++i) {
    InstanceInfo info;
    info.id = "arn:aws:gamelift:us-east-1::gamesession/fleet-123/" + std::to_string(i);
    writes.push_back({info, Timestamp()});
  }
  ASSERT_OK((*store)->UpsertInstances(writes));
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return count >= 2000; }));
}

}  // namespace
}  // namespace glfm::store
