#include "gamelift/sqs.h"

#include <openssl/evp.h>

#include <set>

#include "aws/sigv4.h"
#include "common/json_dom.h"
#include "gamelift/wire.h"

namespace glfm::gamelift {
namespace {

Status Bad(std::string_view op, std::string_view field, const std::string& what) {
  return InvalidArgumentError(std::string(op) + ": " + std::string(field) + " " + what);
}

Status CheckRange(std::string_view op, std::string_view field, int v, int lo, int hi) {
  if (v < lo || v > hi) {
    return Bad(
        op, field,
        "must be " + std::to_string(lo) + "-" + std::to_string(hi) + ", got " + std::to_string(v));
  }
  return OkStatus();
}

Status CheckQueueUrl(std::string_view op, const std::string& url) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Bad(op, "QueueUrl", "must be an http(s) URL, got \"" + url.substr(0, 80) + "\"");
  }
  return OkStatus();
}

bool BatchIdChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// Reads a ReceiveMessage answer straight from simdjson's DOM, with wire::Decoder's rules (a
// missing or null field is empty; a repeated key keeps its last value; a field of the wrong
// type is an internal error naming it). A receiver decodes every answer, and building a Json
// tree of every message (bodies copied twice) cost more than the parse.
class ReceiveDecoder {
 public:
  using element = simdjson::dom::element;

  Result<std::vector<SqsMessage>> Decode(std::string_view answer) {
    thread_local simdjson::dom::parser parser;
    element root;
    simdjson::dom::object top;
    if (parser.parse(answer.empty() ? std::string_view("{}") : answer).get(root) !=
            simdjson::SUCCESS ||
        root.get_object().get(top) != simdjson::SUCCESS) {
      return InternalError("ReceiveMessage: the answer is not a JSON object");
    }
    std::vector<SqsMessage> messages;
    std::optional<element> list = internal::LastMember(top, "Messages");
    if (list && !list->is_null()) {
      simdjson::dom::array array;
      if (list->get_array().get(array) != simdjson::SUCCESS) return Fail("Messages", "an array");
      for (element m : array) {
        simdjson::dom::object o;
        if (m.get_object().get(o) != simdjson::SUCCESS)
          return Fail("Messages", "an array of objects");
        SqsMessage msg;
        for (simdjson::dom::key_value_pair kv : o) {
          std::string_view k = kv.key;
          if (k == "MessageId") {
            GLFM_RETURN_IF_ERROR(Str(kv.value, "MessageId", msg.message_id));
          } else if (k == "ReceiptHandle") {
            GLFM_RETURN_IF_ERROR(Str(kv.value, "ReceiptHandle", msg.receipt_handle));
          } else if (k == "Body") {
            GLFM_RETURN_IF_ERROR(Str(kv.value, "Body", msg.body));
          } else if (k == "MD5OfBody") {
            GLFM_RETURN_IF_ERROR(Str(kv.value, "MD5OfBody", msg.md5_of_body));
          } else if (k == "Attributes") {
            GLFM_RETURN_IF_ERROR(StringMap(kv.value, msg.attributes));
          } else if (k == "MessageAttributes") {
            GLFM_RETURN_IF_ERROR(MessageAttributes(kv.value, msg.message_attributes));
          }
        }
        messages.push_back(std::move(msg));
      }
    }
    return messages;
  }

 private:
  static Status Fail(const char* key, const char* want) {
    return InternalError(std::string("Message: field ") + key + " is not " + want);
  }
  static Status Str(element v, const char* key, std::string& out) {
    std::string_view s;
    if (v.is_null()) {
      out.clear();
    } else if (v.get_string().get(s) == simdjson::SUCCESS) {
      out.assign(s);
    } else {
      return Fail(key, "a string");
    }
    return OkStatus();
  }
  static Status StringMap(element v, std::map<std::string, std::string>& out) {
    if (v.is_null()) return OkStatus();
    simdjson::dom::object o;
    if (v.get_object().get(o) != simdjson::SUCCESS) return Fail("Attributes", "an object");
    for (simdjson::dom::key_value_pair kv : o) {
      std::string_view s;
      if (kv.value.get_string().get(s) != simdjson::SUCCESS) {
        return Fail("Attributes", "an object of strings");
      }
      out[std::string(kv.key)] = std::string(s);
    }
    return OkStatus();
  }
  // name -> {"StringValue": ..., "DataType": ...}: the StringValue of each.
  static Status MessageAttributes(element v, std::map<std::string, std::string>& out) {
    simdjson::dom::object o;
    if (v.get_object().get(o) != simdjson::SUCCESS) return OkStatus();  // as before: ignored
    for (simdjson::dom::key_value_pair kv : o) {
      std::string value;
      simdjson::dom::object attribute;
      if (kv.value.get_object().get(attribute) == simdjson::SUCCESS) {
        if (std::optional<element> sv = internal::LastMember(attribute, "StringValue")) {
          GLFM_RETURN_IF_ERROR(Str(*sv, "StringValue", value));
        }
      }  // an attribute that is no object has no StringValue: ""
      out[std::string(kv.key)] = std::move(value);
    }
    return OkStatus();
  }
};

}  // namespace

std::string Md5Hex(std::string_view data) {
  // Fetched once: with EVP_md5(), OpenSSL 3 fetches the algorithm again on every call, which
  // cost more than the digest of a placement event (one per message received).
  static const EVP_MD* fetched = EVP_MD_fetch(nullptr, "MD5", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, fetched != nullptr ? fetched : EVP_md5(), nullptr);
  return aws::HexEncode(md, len);
}

Status ValidateReceiveMessage(const ReceiveMessageRequest& r) {
  constexpr std::string_view op = "ReceiveMessage";
  GLFM_RETURN_IF_ERROR(CheckQueueUrl(op, r.queue_url));
  GLFM_RETURN_IF_ERROR(CheckRange(op, "MaxNumberOfMessages", r.max_number_of_messages, 1,
                                  kSqsMaxMessagesPerReceive));
  GLFM_RETURN_IF_ERROR(
      CheckRange(op, "WaitTimeSeconds", r.wait_time_seconds, 0, kSqsMaxWaitSeconds));
  if (r.visibility_timeout != -1) {
    GLFM_RETURN_IF_ERROR(
        CheckRange(op, "VisibilityTimeout", r.visibility_timeout, 0, kSqsMaxVisibilitySeconds));
  }
  for (const auto& n : r.attribute_names) {
    if (n.empty()) return Bad(op, "MessageSystemAttributeNames", "has an empty name");
  }
  for (const auto& n : r.message_attribute_names) {
    if (n.empty() || n.size() > 256) {
      return Bad(op, "MessageAttributeNames", "names must be 1-256 characters");
    }
  }
  return OkStatus();
}

Status ValidateBatch(std::string_view op, const std::string& queue_url,
                     const std::vector<BatchEntry>& entries, bool with_visibility) {
  GLFM_RETURN_IF_ERROR(CheckQueueUrl(op, queue_url));
  if (entries.empty() || entries.size() > kSqsMaxBatchEntries) {
    return Bad(op, "Entries", "must hold 1-10 entries, got " + std::to_string(entries.size()));
  }
  std::set<std::string_view> ids;
  for (const auto& e : entries) {
    bool id_ok = !e.id.empty() && e.id.size() <= 80;
    for (char c : e.id) id_ok = id_ok && BatchIdChar(c);
    if (!id_ok) {
      return Bad(op, "Entries Id",
                 "must be 1-80 characters of [A-Za-z0-9_-], got \"" + e.id.substr(0, 80) + "\"");
    }
    if (!ids.insert(e.id).second) return Bad(op, "Entries Id", "\"" + e.id + "\" appears twice");
    if (e.receipt_handle.empty()) {
      return Bad(op, "Entries ReceiptHandle", "of entry \"" + e.id + "\" is empty");
    }
    if (with_visibility) {
      GLFM_RETURN_IF_ERROR(CheckRange(op, "Entries VisibilityTimeout", e.visibility_timeout, 0,
                                      kSqsMaxVisibilitySeconds));
    }
  }
  return OkStatus();
}

Result<std::vector<SqsMessage>> SqsClient::ReceiveMessage(const ReceiveMessageRequest& r) {
  constexpr std::string_view op = "ReceiveMessage";
  GLFM_RETURN_IF_ERROR(ValidateReceiveMessage(r));
  Json j = Json::MakeObject();
  j["QueueUrl"] = r.queue_url;
  j["MaxNumberOfMessages"] = r.max_number_of_messages;
  j["WaitTimeSeconds"] = r.wait_time_seconds;
  if (r.visibility_timeout != -1) j["VisibilityTimeout"] = r.visibility_timeout;
  if (!r.attribute_names.empty()) {
    j["MessageSystemAttributeNames"] =
        Json(Json::Array(r.attribute_names.begin(), r.attribute_names.end()));
  }
  if (!r.message_attribute_names.empty()) {
    j["MessageAttributeNames"] =
        Json(Json::Array(r.message_attribute_names.begin(), r.message_attribute_names.end()));
  }
  // The long poll holds the answer for up to the wait time: give each attempt that plus 10 s.
  auto min_timeout = std::chrono::seconds(r.wait_time_seconds + 10);
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump(), nullptr, min_timeout));
  GLFM_ASSIGN_OR_RETURN(std::vector<SqsMessage> messages, ReceiveDecoder().Decode(body));
  for (const SqsMessage& msg : messages) {
    if (!msg.md5_of_body.empty() && Md5Hex(msg.body) != msg.md5_of_body) {
      return DataLossError("ReceiveMessage: body of message " + msg.message_id +
                           " does not match its MD5OfBody");
    }
    if (msg.receipt_handle.empty()) {
      return InternalError("ReceiveMessage: message " + msg.message_id + " has no ReceiptHandle");
    }
  }
  return messages;
}

Result<BatchResult> SqsClient::Batch(std::string_view op, const std::string& queue_url,
                                     const std::vector<BatchEntry>& entries, bool with_visibility) {
  GLFM_RETURN_IF_ERROR(ValidateBatch(op, queue_url, entries, with_visibility));
  Json j = Json::MakeObject();
  j["QueueUrl"] = queue_url;
  Json::Array a;
  for (const auto& e : entries) {
    Json o = Json::MakeObject();
    o["Id"] = e.id;
    o["ReceiptHandle"] = e.receipt_handle;
    if (with_visibility) o["VisibilityTimeout"] = e.visibility_timeout;
    a.push_back(std::move(o));
  }
  j["Entries"] = Json(std::move(a));
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  GLFM_ASSIGN_OR_RETURN(Json out, wire::ParseBody(op, body));
  wire::Decoder d(op);
  BatchResult r;
  for (const Json& s : d.Array(out, "Successful")) r.successful.push_back(d.Str(s, "Id"));
  for (const Json& f : d.Array(out, "Failed")) {
    BatchResultError e;
    e.id = d.Str(f, "Id");
    const Json* sf = f.Find("SenderFault");
    e.sender_fault = sf != nullptr && sf->is_bool() && sf->as_bool();
    e.code = d.Str(f, "Code");
    e.message = d.Str(f, "Message");
    r.failed.push_back(std::move(e));
  }
  GLFM_RETURN_IF_ERROR(d.status());
  return r;
}

Result<BatchResult> SqsClient::DeleteMessageBatch(const std::string& queue_url,
                                                  const std::vector<BatchEntry>& entries) {
  return Batch("DeleteMessageBatch", queue_url, entries, false);
}

Result<BatchResult> SqsClient::ChangeMessageVisibilityBatch(
    const std::string& queue_url, const std::vector<BatchEntry>& entries) {
  return Batch("ChangeMessageVisibilityBatch", queue_url, entries, true);
}

Result<std::map<std::string, std::string>> SqsClient::GetQueueAttributes(
    const std::string& queue_url, const std::vector<std::string>& names) {
  constexpr std::string_view op = "GetQueueAttributes";
  GLFM_RETURN_IF_ERROR(CheckQueueUrl(op, queue_url));
  Json j = Json::MakeObject();
  j["QueueUrl"] = queue_url;
  Json::Array a;
  if (names.empty()) a.push_back(Json("All"));
  for (const auto& n : names) {
    if (n.empty()) return Bad(op, "AttributeNames", "has an empty name");
    a.push_back(Json(n));
  }
  j["AttributeNames"] = Json(std::move(a));
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  GLFM_ASSIGN_OR_RETURN(Json out, wire::ParseBody(op, body));
  wire::Decoder d(op);
  std::map<std::string, std::string> attrs;
  for (auto& [k, v] : d.StringMap(out, "Attributes")) attrs[k] = v;
  GLFM_RETURN_IF_ERROR(d.status());
  return attrs;
}

Result<std::string> SqsClient::GetQueueUrl(const std::string& queue_name,
                                           const std::string& owner_account_id) {
  constexpr std::string_view op = "GetQueueUrl";
  bool ok = !queue_name.empty() && queue_name.size() <= 80;
  std::string_view base = queue_name;
  if (base.ends_with(".fifo")) base.remove_suffix(5);
  for (char c : base) ok = ok && BatchIdChar(c);
  if (!ok) {
    return Bad(op, "QueueName",
               "must be 1-80 characters of [A-Za-z0-9_-] (with an optional .fifo suffix), got \"" +
                   queue_name.substr(0, 80) + "\"");
  }
  Json j = Json::MakeObject();
  j["QueueName"] = queue_name;
  if (!owner_account_id.empty()) j["QueueOwnerAWSAccountId"] = owner_account_id;
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  GLFM_ASSIGN_OR_RETURN(Json out, wire::ParseBody(op, body));
  wire::Decoder d(op);
  std::string url = d.Str(out, "QueueUrl");
  GLFM_RETURN_IF_ERROR(d.status());
  if (url.empty()) return InternalError("GetQueueUrl: the answer has no QueueUrl");
  return url;
}

Result<SendMessageResult> SqsClient::SendMessage(const SendMessageRequest& r) {
  constexpr std::string_view op = "SendMessage";
  GLFM_RETURN_IF_ERROR(CheckQueueUrl(op, r.queue_url));
  if (r.message_body.empty() || r.message_body.size() > kSqsMaxMessageBytes) {
    return Bad(op, "MessageBody",
               "must be 1-262144 bytes, got " + std::to_string(r.message_body.size()));
  }
  Json j = Json::MakeObject();
  j["QueueUrl"] = r.queue_url;
  j["MessageBody"] = r.message_body;
  if (r.delay_seconds != -1) {
    GLFM_RETURN_IF_ERROR(CheckRange(op, "DelaySeconds", r.delay_seconds, 0, 900));
    j["DelaySeconds"] = r.delay_seconds;
  }
  if (!r.message_group_id.empty()) j["MessageGroupId"] = r.message_group_id;
  if (!r.message_deduplication_id.empty()) {
    j["MessageDeduplicationId"] = r.message_deduplication_id;
  }
  GLFM_ASSIGN_OR_RETURN(std::string body, client_->Call(op, j.Dump()));
  GLFM_ASSIGN_OR_RETURN(Json out, wire::ParseBody(op, body));
  wire::Decoder d(op);
  SendMessageResult s;
  s.message_id = d.Str(out, "MessageId");
  s.md5_of_message_body = d.Str(out, "MD5OfMessageBody");
  s.sequence_number = d.Str(out, "SequenceNumber");
  GLFM_RETURN_IF_ERROR(d.status());
  if (!s.md5_of_message_body.empty() && s.md5_of_message_body != Md5Hex(r.message_body)) {
    return DataLossError("SendMessage: MD5OfMessageBody of message " + s.message_id +
                         " does not match the body sent");
  }
  return s;
}

}  // namespace glfm::gamelift
