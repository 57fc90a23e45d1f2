// The SQS operations against moto_server, a third-party SQS implementation started and
// stopped by the test on a free loopback port: create a queue, send, receive in batches with
// long polling, change visibility, delete in batches; plus a query-compatible error. Every
// request body is also checked by botocore's ParamValidator. Label: integration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <set>

#include "aws/testing/request_log.h"
#include "gamelift/sqs.h"
#include "testing/status_matchers.h"

namespace glfm::gamelift {
namespace {

using ::testing::HasSubstr;

// moto_server on 127.0.0.1:<free port>; ready once it prints its "Running on" line.
class MotoServer {
 public:
  MotoServer() {
    {
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
      port_ = a.local_endpoint().port();
    }
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 2);
      dup2(fds[1], 1);
      close(fds[0]);
      std::string port = std::to_string(port_);
      execlp("moto_server", "moto_server", "-H", "127.0.0.1", "-p", port.c_str(), nullptr);
      _exit(127);
    }
    close(fds[1]);
    // Read its output until it says it listens (or exits).
    FILE* out = fdopen(fds[0], "r");
    char line[1024];
    while (fgets(line, sizeof(line), out) != nullptr) {
      log_ += line;
      if (std::string(line).find("Running on") != std::string::npos) {
        ready_ = true;
        break;
      }
    }
    // Keep draining its output so it never blocks on a full pipe.
    drain_ = std::thread([out] {
      char buf[1024];
      while (fgets(buf, sizeof(buf), out) != nullptr) {
      }
      fclose(out);
    });
  }
  ~MotoServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (drain_.joinable()) drain_.join();
  }
  bool ready() const { return ready_; }
  const std::string& log() const { return log_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string log_;
  std::thread drain_;
};

class SqsMotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { moto_ = new MotoServer(); }
  static void TearDownTestSuite() {
    delete moto_;
    moto_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(moto_->ready()) << "moto_server did not start: " << moto_->log();
    transport_ = std::move(aws::NewCurlTransport({})).value();
    creds_ = aws::NewStaticCredentialsProvider({"testing", "testing", "", std::nullopt, ""});
    aws::AwsClientOptions o;
    o.service = &aws::kSqsService;
    o.region = "us-east-1";
    o.endpoint = moto_->url();
    o.credentials = creds_.get();
    o.transport = transport_.get();
    o.on_request = aws::testing::RequestLog::Hook(aws::kSqsService);
    sqs_ = std::make_unique<SqsClient>(std::move(aws::AwsClient::Create(std::move(o))).value());
  }

  Result<std::string> CreateQueue(const std::string& name) {
    GLFM_ASSIGN_OR_RETURN(std::string body,
                          sqs_->aws().Call("CreateQueue", R"({"Attributes":{"VisibilityTimeout":)"
                                                          R"("30"},"QueueName":")" +
                                                              name + "\"}"));
    auto j = Json::Parse(body);
    if (!j.ok() || j->Find("QueueUrl") == nullptr) return InternalError("no QueueUrl: " + body);
    return j->Find("QueueUrl")->as_string();
  }

  static inline MotoServer* moto_ = nullptr;
  std::unique_ptr<aws::HttpTransport> transport_;
  std::unique_ptr<aws::CredentialsProvider> creds_;
  std::unique_ptr<SqsClient> sqs_;
};

TEST_F(SqsMotoTest, SendReceiveInBatchesChangeVisibilityDeleteInBatches) {
  auto url = CreateQueue("glfm-events");
  ASSERT_OK(url);
  EXPECT_THAT(sqs_->GetQueueUrl("glfm-events"), IsOkAndHolds(*url));

  constexpr int kMessages = 15;
  std::set<std::string> sent_bodies;
  for (int i = 0; i < kMessages; ++i) {
    SendMessageRequest s;
    s.queue_url = *url;
    s.message_body = R"({"detail":{"type":"PlacementFulfilled","placementId":"p-)" +
                     std::to_string(i) + R"("},"note":"é ሴ"})";
    auto r = sqs_->SendMessage(s);  // the MD5 of the body is checked inside
    ASSERT_OK(r);
    EXPECT_FALSE(r->message_id.empty());
    sent_bodies.insert(s.message_body);
  }
  auto attrs = sqs_->GetQueueAttributes(*url, {"ApproximateNumberOfMessages"});
  ASSERT_OK(attrs);
  EXPECT_EQ(attrs->at("ApproximateNumberOfMessages"), std::to_string(kMessages));

  // Receive in batches of up to 10 with long polling until every message has arrived.
  std::vector<SqsMessage> received;
  for (int round = 0; round < 10 && received.size() < kMessages; ++round) {
    ReceiveMessageRequest r;
    r.queue_url = *url;
    r.max_number_of_messages = 10;
    r.wait_time_seconds = 1;
    r.visibility_timeout = 30;
    r.attribute_names = {"ApproximateReceiveCount"};
    auto batch = sqs_->ReceiveMessage(r);
    ASSERT_OK(batch);
    EXPECT_LE(batch->size(), 10u);
    for (auto& m : *batch) received.push_back(std::move(m));
  }
  ASSERT_EQ(received.size(), static_cast<size_t>(kMessages));
  std::set<std::string> got;
  for (const auto& m : received) {
    got.insert(m.body);
    EXPECT_EQ(m.attributes.at("ApproximateReceiveCount"), "1");
  }
  EXPECT_EQ(got, sent_bodies);

  // Make five visible again at once; they come back on the next receive.
  std::vector<BatchEntry> back;
  for (int i = 0; i < 5; ++i)
    back.push_back({"v" + std::to_string(i), received[i].receipt_handle, 0});
  auto changed = sqs_->ChangeMessageVisibilityBatch(*url, back);
  ASSERT_OK(changed);
  EXPECT_EQ(changed->successful.size(), 5u);
  EXPECT_TRUE(changed->failed.empty());
  std::vector<SqsMessage> again;
  for (int round = 0; round < 10 && again.size() < 5; ++round) {
    ReceiveMessageRequest r;
    r.queue_url = *url;
    r.max_number_of_messages = 10;
    r.wait_time_seconds = 1;
    r.attribute_names = {"ApproximateReceiveCount"};
    auto batch = sqs_->ReceiveMessage(r);
    ASSERT_OK(batch);
    for (auto& m : *batch) again.push_back(std::move(m));
  }
  ASSERT_EQ(again.size(), 5u);
  for (const auto& m : again) EXPECT_EQ(m.attributes.at("ApproximateReceiveCount"), "2");

  // Delete everything in batches of at most 10, with the latest receipt handles.
  std::map<std::string, std::string> handles;
  for (const auto& m : received) handles[m.message_id] = m.receipt_handle;
  for (const auto& m : again) handles[m.message_id] = m.receipt_handle;
  std::vector<BatchEntry> batch;
  size_t deleted = 0;
  int n = 0;
  for (const auto& [id, rh] : handles) {
    batch.push_back({"d" + std::to_string(n++), rh, 0});
    if (batch.size() == 10 || n == static_cast<int>(handles.size())) {
      auto r = sqs_->DeleteMessageBatch(*url, batch);
      ASSERT_OK(r);
      EXPECT_TRUE(r->failed.empty());
      deleted += r->successful.size();
      batch.clear();
    }
  }
  EXPECT_EQ(deleted, static_cast<size_t>(kMessages));

  // The queue is empty: a long poll comes back with nothing.
  ReceiveMessageRequest r;
  r.queue_url = *url;
  r.max_number_of_messages = 10;
  r.wait_time_seconds = 1;
  auto none = sqs_->ReceiveMessage(r);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  attrs = sqs_->GetQueueAttributes(
      *url, {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"});
  ASSERT_OK(attrs);
  EXPECT_EQ(attrs->at("ApproximateNumberOfMessages"), "0");
  EXPECT_EQ(attrs->at("ApproximateNumberOfMessagesNotVisible"), "0");
}

TEST_F(SqsMotoTest, MissingQueueIsNotFound) {
  EXPECT_THAT(sqs_->GetQueueUrl("no-such-queue"),
              StatusIs(StatusCode::kNotFound, HasSubstr("SQS.GetQueueUrl:")));
}

}  // namespace
}  // namespace glfm::gamelift
