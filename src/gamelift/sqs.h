// Typed Amazon SQS operations (SQS API Reference, AWS JSON 1.0 protocol) that glfm needs to
// consume GameLift placement events: ReceiveMessage, DeleteMessageBatch,
// ChangeMessageVisibilityBatch, GetQueueAttributes, GetQueueUrl, SendMessage.
//
// Requests are validated with SQS's limits before sending (1-10 messages a receive, wait
// 0-20 s, visibility 0-43200 s, 1-10 batch entries with distinct ids of up to 80
// [A-Za-z0-9_-], bodies up to 256 KiB); errors name the operation and field. Bodies received
// and sent are checked against their MD5 digests as the SDKs do (data-loss on a mismatch).
//
// Thread-safety: SqsClient is safe for concurrent use; its methods block (ReceiveMessage for
// up to the wait time): call from worker threads only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aws/client.h"
#include "glfm/status.h"

namespace glfm::gamelift {

inline constexpr int kSqsMaxMessagesPerReceive = 10;
inline constexpr int kSqsMaxWaitSeconds = 20;
inline constexpr int kSqsMaxVisibilitySeconds = 43200;
inline constexpr size_t kSqsMaxBatchEntries = 10;
inline constexpr size_t kSqsMaxMessageBytes = 262144;

struct SqsMessage {
  std::string message_id;
  std::string receipt_handle;
  std::string body;
  std::string md5_of_body;
  std::map<std::string, std::string> attributes;  // SentTimestamp, ApproximateReceiveCount, ...
  // Message attributes of type String/Number: name -> StringValue.
  std::map<std::string, std::string> message_attributes;
};

struct ReceiveMessageRequest {
  std::string queue_url;
  int max_number_of_messages = 1;  // 1-10
  int wait_time_seconds = 0;       // 0-20; > 0 is a long poll
  int visibility_timeout = -1;     // -1: the queue's default; else 0-43200
  // System attributes to return ("All", "SentTimestamp", "ApproximateReceiveCount", ...).
  std::vector<std::string> attribute_names;
  std::vector<std::string> message_attribute_names;
};

struct BatchEntry {
  std::string id;  // 1-80 of [A-Za-z0-9_-], distinct within the batch
  std::string receipt_handle;
  int visibility_timeout = 0;  // ChangeMessageVisibilityBatch only
};

struct BatchResultError {
  std::string id;
  bool sender_fault = false;
  std::string code;
  std::string message;
};

struct BatchResult {
  std::vector<std::string> successful;  // entry ids
  std::vector<BatchResultError> failed;
};

struct SendMessageRequest {
  std::string queue_url;
  std::string message_body;
  int delay_seconds = -1;                // -1: the queue's default; else 0-900
  std::string message_group_id;          // FIFO queues
  std::string message_deduplication_id;  // FIFO queues
};

struct SendMessageResult {
  std::string message_id;
  std::string md5_of_message_body;
  std::string sequence_number;
};

// Returns the lower-case hex MD5 of `data` (SQS's body digest).
std::string Md5Hex(std::string_view data);

// Validators, public for tests. Errors: invalid-argument naming operation and field.
Status ValidateReceiveMessage(const ReceiveMessageRequest& r);
Status ValidateBatch(std::string_view op, const std::string& queue_url,
                     const std::vector<BatchEntry>& entries, bool with_visibility);

class SqsClient {
 public:
  explicit SqsClient(std::unique_ptr<aws::AwsClient> client) : client_(std::move(client)) {}

  // Errors: the client's; data-loss when a body does not match its MD5OfBody.
  Result<std::vector<SqsMessage>> ReceiveMessage(const ReceiveMessageRequest& r);
  // Per-entry failures come back in BatchResult.failed, not as an error.
  Result<BatchResult> DeleteMessageBatch(const std::string& queue_url,
                                         const std::vector<BatchEntry>& entries);
  Result<BatchResult> ChangeMessageVisibilityBatch(const std::string& queue_url,
                                                   const std::vector<BatchEntry>& entries);
  // `names` empty asks for "All".
  Result<std::map<std::string, std::string>> GetQueueAttributes(
      const std::string& queue_url, const std::vector<std::string>& names = {});
  Result<std::string> GetQueueUrl(const std::string& queue_name,
                                  const std::string& owner_account_id = "");
  Result<SendMessageResult> SendMessage(const SendMessageRequest& r);

  aws::AwsClient& aws() { return *client_; }

 private:
  Result<BatchResult> Batch(std::string_view op, const std::string& queue_url,
                            const std::vector<BatchEntry>& entries, bool with_visibility);

  std::unique_ptr<aws::AwsClient> client_;
};

}  // namespace glfm::gamelift
