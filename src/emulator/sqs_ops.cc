// Emulator: SQS (API version 2012-11-05, JSON 1.0 and Query) and SNS (2010-03-31, Query)
// operations, SQS message lifecycle and long polling, SNS delivery to SQS subscribers.
#include <algorithm>
#include <set>

#include "emulator/emulator_impl.h"
#include "emulator/wire.h"

namespace glfm::emulator {
namespace {

OpResult InvalidValue(std::string message) {
  return Fail(400, "InvalidParameterValue", std::move(message), "InvalidParameterValue");
}
OpResult MissingParameter(const std::string& name) {
  return Fail(400, "MissingParameter", "The request must contain the parameter " + name + ".",
              "MissingParameter");
}
OpResult NoSuchQueue() {
  return Fail(400, "QueueDoesNotExist", "The specified queue does not exist.",
              "AWS.SimpleQueueService.NonExistentQueue");
}
OpResult SnsNotFound(const std::string& what) {
  return Fail(404, "NotFound", what + " does not exist", "NotFound");
}
OpResult SnsInvalid(const std::string& what) {
  return Fail(400, "InvalidParameter", "Invalid parameter: " + what, "InvalidParameter");
}

std::string LastSegment(const std::string& s, char sep) {
  size_t p = s.rfind(sep);
  return p == std::string::npos ? s : s.substr(p + 1);
}

std::vector<std::string> StringList(const Json& in, const char* key) {
  std::vector<std::string> out;
  if (const Json* v = in.Find(key); v != nullptr && v->is_array()) {
    for (const Json& e : v->as_array()) {
      if (e.is_string()) {
        out.push_back(e.as_string());
      }
    }
  }
  return out;
}

// Checks a batch request's Entries: 1..10 entries with distinct Ids.
std::optional<OpResult> CheckBatch(const Json& in) {
  const Json* e = in.Find("Entries");
  if (e == nullptr || !e->is_array() || e->as_array().empty()) {
    return Fail(400, "EmptyBatchRequest", "There should be at least one entry in the request.",
                "AWS.SimpleQueueService.EmptyBatchRequest");
  }
  if (e->as_array().size() > 10) {
    return Fail(400, "TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent " +
                    std::to_string(e->as_array().size()) + ".",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");
  }
  std::set<std::string> ids;
  for (const Json& x : e->as_array()) {
    if (!ids.insert(Str(x, "Id")).second) {
      return Fail(400, "BatchEntryIdsNotDistinct", "Id " + Str(x, "Id") + " repeated.",
                  "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    }
  }
  return std::nullopt;
}

// Fills `entries` with a batch request's checked Entries, or with the request itself for the
// single-message form of the operation.
std::optional<OpResult> Entries(const Json& in, bool batch, std::vector<Json>& entries) {
  if (!batch) {
    entries = {in};
    return std::nullopt;
  }
  if (auto err = CheckBatch(in)) {
    return err;
  }
  entries = in.Find("Entries")->as_array();
  return std::nullopt;
}

Json FailedEntry(const std::string& id, const AwsError& e) {
  return Json(Json::Object{{"Id", Json(id)},
                           {"SenderFault", Json(e.sender)},
                           {"Code", Json(e.query_code.empty() ? e.code : e.query_code)},
                           {"Message", Json(e.message)}});
}

// Splits a receipt handle "SEQ:NONCE" into the message sequence; false when malformed.
bool ParseReceipt(const std::string& handle, uint64_t& seq) {
  size_t colon = handle.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= handle.size()) {
    return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    if (handle[i] < '0' || handle[i] > '9') {
      return false;
    }
  }
  seq = std::strtoull(handle.c_str(), nullptr, 10);
  return true;
}

}  // namespace

void Emulator::Impl::SqsCreateQueueLocked(const SqsQueueSpec& spec) {
  SqsQueue& q = queues_[spec.name];
  q.spec = spec;
  q.url = server_->url() + "/" + world_.account + "/" + spec.name;
  q.arn = "arn:aws:sqs:" + world_.region + ":" + world_.account + ":" + spec.name;
  q.created_ms = Now();
}

SqsQueue* Emulator::Impl::QueueByUrlLocked(const Json& in, OpResult& err) {
  std::string url = Str(in, "QueueUrl");
  if (url.empty()) {
    err = MissingParameter("QueueUrl");
    return nullptr;
  }
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  auto it = queues_.find(LastSegment(url, '/'));
  if (it == queues_.end()) {
    err = NoSuchQueue();
    return nullptr;
  }
  return &it->second;
}

void Emulator::Impl::EnqueueLocked(SqsQueue& q, std::string body, int delay_seconds, Outbox& out,
                                   std::string id) {
  SqsMessage m;
  m.id = id.empty() ? UuidFrom(id_state_) : std::move(id);
  m.md5 = Md5Hex(body);
  m.body = std::move(body);
  m.sent_ms = Now();
  m.visible_at_ms = m.sent_ms + int64_t{delay_seconds} * 1000;
  q.messages.emplace(q.next_seq++, std::move(m));
  if (delay_seconds > 0) {
    ScheduleLocked(Now() + int64_t{delay_seconds} * 1000, TimerKind::kQueueWake, q.spec.name);
  } else {
    ServeWaitersLocked(q, out);
  }
}

std::vector<const SqsMessage*> Emulator::Impl::TakeMessagesLocked(SqsQueue& q,
                                                                  const ReceiveRequest& r,
                                                                  Outbox& out) {
  int64_t now = Now();
  int visibility =
      r.visibility_seconds >= 0 ? r.visibility_seconds : q.spec.visibility_timeout_seconds;
  std::vector<const SqsMessage*> taken;
  SqsQueue* dlq = nullptr;
  if (!q.spec.dead_letter_queue.empty() && q.spec.max_receive_count > 0) {
    auto it = queues_.find(q.spec.dead_letter_queue);
    dlq = it == queues_.end() ? nullptr : &it->second;
  }
  for (auto it = q.messages.begin();
       it != q.messages.end() && static_cast<int>(taken.size()) < r.max_messages;) {
    SqsMessage& m = it->second;
    if (m.sent_ms + int64_t{q.spec.retention_seconds} * 1000 <= now) {
      it = q.messages.erase(it);  // past the retention period
      continue;
    }
    if (m.visible_at_ms > now) {
      ++it;
      continue;
    }
    if (dlq != nullptr && m.receive_count >= q.spec.max_receive_count) {
      // Redrive: received maxReceiveCount times without being deleted.
      EnqueueLocked(*dlq, std::move(m.body), 0, out, m.id);
      it = q.messages.erase(it);
      continue;
    }
    m.receive_count++;
    if (m.first_receive_ms == 0) {
      m.first_receive_ms = now;
    }
    m.receipt = std::to_string(it->first) + ":" + UuidFrom(id_state_);
    m.visible_at_ms = now + int64_t{visibility} * 1000;
    ScheduleLocked(m.visible_at_ms, TimerKind::kQueueWake, q.spec.name);
    taken.push_back(&m);
    ++it;
  }
  return taken;
}

void Emulator::Impl::ReceiveResult(const std::vector<const SqsMessage*>& messages,
                                   const ReceiveRequest& r, OpResult& result) {
  if (messages.empty()) {
    return;
  }
  bool all = std::find(r.attributes.begin(), r.attributes.end(), "All") != r.attributes.end();
  auto wants = [&](const char* name) {
    return all || std::find(r.attributes.begin(), r.attributes.end(), name) != r.attributes.end();
  };
  // The attributes asked for, in the order a Json object keeps its keys.
  struct Attribute {
    const char* name;
    std::string (*value)(const SqsMessage&);
  };
  static const Attribute kAttributes[] = {
      {"ApproximateFirstReceiveTimestamp",
       [](const SqsMessage& m) { return std::to_string(m.first_receive_ms); }},
      {"ApproximateReceiveCount",
       [](const SqsMessage& m) { return std::to_string(m.receive_count); }},
      {"SenderId", [](const SqsMessage&) { return std::string("AIDAGLFMEMULATOR"); }},
      {"SentTimestamp", [](const SqsMessage& m) { return std::to_string(m.sent_ms); }},
  };
  std::vector<const Attribute*> attributes;
  for (const Attribute& a : kAttributes) {
    if (wants(a.name)) {
      attributes.push_back(&a);
    }
  }
  if (r.wire != Wire::kJson) {
    Json list = Json::MakeArray();
    for (const SqsMessage* m : messages) {
      Json j = Json::MakeObject();
      j["MessageId"] = Json(m->id);
      j["ReceiptHandle"] = Json(m->receipt);
      j["MD5OfBody"] = Json(m->md5);
      j["Body"] = Json(m->body);
      if (!attributes.empty()) {
        Json attrs = Json::MakeObject();
        for (const Attribute* a : attributes) {
          attrs[a->name] = Json(a->value(*m));
        }
        j["Attributes"] = std::move(attrs);
      }
      list.as_array().push_back(std::move(j));
    }
    result.body["Messages"] = std::move(list);
    return;
  }
  // The JSON protocol's answer, written as Json would dump the tree above (keys sorted).
  std::string& out = result.json_text;
  size_t size = 16;
  for (const SqsMessage* m : messages) {
    size += m->body.size() + m->body.size() / 4 + m->receipt.size() + m->id.size() + 160;
  }
  out.reserve(size);
  out += "{\"Messages\":[";
  for (size_t i = 0; i < messages.size(); ++i) {
    const SqsMessage& m = *messages[i];
    out += i == 0 ? "{" : ",{";
    if (!attributes.empty()) {
      out += "\"Attributes\":{";
      for (size_t k = 0; k < attributes.size(); ++k) {
        if (k != 0) {
          out += ',';
        }
        AppendJsonString(out, attributes[k]->name);
        out += ':';
        AppendJsonString(out, attributes[k]->value(m));
      }
      out += "},";
    }
    out += "\"Body\":";
    AppendJsonString(out, m.body);
    out += ",\"MD5OfBody\":";
    AppendJsonString(out, m.md5);
    out += ",\"MessageId\":";
    AppendJsonString(out, m.id);
    out += ",\"ReceiptHandle\":";
    AppendJsonString(out, m.receipt);
    out += '}';
  }
  out += "]}";
}

void Emulator::Impl::ServeWaitersLocked(SqsQueue& q, Outbox& out) {
  while (!q.waiters.empty()) {
    auto wit = waiters_.find(q.waiters.front());
    if (wit == waiters_.end()) {
      q.waiters.pop_front();
      continue;
    }
    auto msgs = TakeMessagesLocked(q, wit->second.request, out);
    if (msgs.empty()) {
      return;
    }
    q.waiters.pop_front();
    OpResult r;
    ReceiveResult(msgs, wit->second.request, r);
    out.emplace_back(std::move(wit->second.respond),
                     Render("sqs", "ReceiveMessage", wit->second.request.wire, r,
                            wit->second.request.request_id));
    waiters_.erase(wit);
  }
}

OpResult Emulator::Impl::SqsLocked(const std::string& op, const Json& in, Wire wire,
                                   const std::string& rid, server::Responder& respond,
                                   Outbox& out) {
  OpResult r;
  if (op == "GetQueueUrl" || op == "CreateQueue") {
    std::string name = Str(in, "QueueName");
    if (name.empty()) {
      return MissingParameter("QueueName");
    }
    auto it = queues_.find(name);
    if (it == queues_.end()) {
      if (op == "GetQueueUrl") {
        return NoSuchQueue();
      }
      if (name.size() > 80 ||
          name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                 "QRSTUVWXYZ0123456789-_") != std::string::npos) {
        return InvalidValue(
            "Can only include alphanumeric characters, hyphens, or underscores. "
            "1 to 80 in length");
      }
      SqsQueueSpec spec;
      spec.name = name;
      if (const Json* a = in.Find("Attributes"); a != nullptr && a->is_object()) {
        spec.visibility_timeout_seconds =
            static_cast<int>(Int(*a, "VisibilityTimeout", 30).value_or(30));
        spec.retention_seconds =
            static_cast<int>(Int(*a, "MessageRetentionPeriod", 345600).value_or(345600));
        spec.receive_wait_seconds =
            static_cast<int>(Int(*a, "ReceiveMessageWaitTimeSeconds", 0).value_or(0));
        if (std::string rp = Str(*a, "RedrivePolicy"); !rp.empty()) {
          auto policy = Json::Parse(rp);
          if (!policy.ok() || !policy->is_object()) {
            return InvalidValue("Invalid value for the parameter RedrivePolicy.");
          }
          spec.dead_letter_queue = LastSegment(Str(*policy, "deadLetterTargetArn"), ':');
          spec.max_receive_count = static_cast<int>(Int(*policy, "maxReceiveCount", 0).value_or(0));
          if (!queues_.count(spec.dead_letter_queue)) {
            return InvalidValue("Value " + rp +
                                " for parameter RedrivePolicy is invalid. "
                                "Reason: Dead letter target does not exist.");
          }
        }
      }
      SqsCreateQueueLocked(spec);
      it = queues_.find(name);
    }
    r.body["QueueUrl"] = Json(it->second.url);
    return r;
  }
  if (op == "ListQueues") {
    std::string prefix = Str(in, "QueueNamePrefix");
    Json urls = Json::MakeArray();
    for (const auto& [name, q] : queues_) {
      if (name.rfind(prefix, 0) == 0) {
        urls.as_array().push_back(Json(q.url));
      }
    }
    if (!urls.as_array().empty()) {
      r.body["QueueUrls"] = std::move(urls);
    }
    return r;
  }
  SqsQueue* q = QueueByUrlLocked(in, r);
  if (q == nullptr) {
    return r;
  }
  int64_t now = Now();
  if (op == "SendMessage" || op == "SendMessageBatch") {
    bool batch = op == "SendMessageBatch";
    std::vector<Json> entries;
    if (auto err = Entries(in, batch, entries)) {
      return *err;
    }
    Json ok = Json::MakeArray(), failed = Json::MakeArray();
    for (const Json& e : entries) {
      std::string body = Str(e, "MessageBody");
      auto delay = Int(e, "DelaySeconds", 0);
      std::optional<AwsError> err;
      if (body.empty()) {
        err = MissingParameter("MessageBody").error;
      } else if (body.size() > 262144) {
        err = InvalidValue(
                  "One or more parameters are invalid. Reason: Message must be shorter "
                  "than 262144 bytes.")
                  .error;
      } else if (!delay || *delay < 0 || *delay > 900) {
        err = InvalidValue(
                  "Value for parameter DelaySeconds is invalid. Reason: must be "
                  "between 0 and 900.")
                  .error;
      }
      if (err) {
        if (!batch) {
          return Fail(*err);
        }
        failed.as_array().push_back(FailedEntry(Str(e, "Id"), *err));
        continue;
      }
      std::string id = UuidFrom(id_state_);
      std::string md5 = Md5Hex(body);
      EnqueueLocked(*q, std::move(body), static_cast<int>(*delay), out, id);
      if (!batch) {
        r.body["MD5OfMessageBody"] = Json(md5);
        r.body["MessageId"] = Json(id);
        return r;
      }
      ok.as_array().push_back(Json(Json::Object{
          {"Id", Json(Str(e, "Id"))}, {"MessageId", Json(id)}, {"MD5OfMessageBody", Json(md5)}}));
    }
    r.body["Successful"] = std::move(ok);
    r.body["Failed"] = std::move(failed);
    return r;
  }
  if (op == "ReceiveMessage") {
    ReceiveRequest req;
    auto max = Int(in, "MaxNumberOfMessages", 1);
    if (!max || *max < 1 || *max > 10) {
      return InvalidValue("Value " + Str(in, "MaxNumberOfMessages") +
                          " for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                          "between 1 and 10, if provided.");
    }
    auto wait = Int(in, "WaitTimeSeconds", q->spec.receive_wait_seconds);
    if (!wait || *wait < 0 || *wait > 20) {
      return InvalidValue(
          "Value for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 "
          "and <= 20, if provided.");
    }
    auto vis = Int(in, "VisibilityTimeout", -1);
    if (!vis || *vis < -1 || *vis > 43200) {
      return InvalidValue("Value for parameter VisibilityTimeout is invalid.");
    }
    req.max_messages = static_cast<int>(*max);
    req.visibility_seconds = static_cast<int>(*vis);
    // boto3 sends AttributeNames; newer SDKs (JS v3) MessageSystemAttributeNames.
    req.attributes = StringList(in, "AttributeNames");
    for (auto& a : StringList(in, "MessageSystemAttributeNames")) {
      req.attributes.push_back(a);
    }
    req.wire = wire;
    req.request_id = rid;
    // Earlier long polls on this queue are served first.
    std::vector<const SqsMessage*> msgs;
    if (q->waiters.empty()) {
      msgs = TakeMessagesLocked(*q, req, out);
    }
    if (!msgs.empty() || *wait == 0) {
      ReceiveResult(msgs, req, r);
      return r;
    }
    Waiter w;
    w.id = next_waiter_++;
    w.queue = q->spec.name;
    w.request = std::move(req);
    w.respond = std::move(respond);
    q->waiters.push_back(w.id);
    ScheduleLocked(now + *wait * 1000, TimerKind::kPollDeadline, "", w.id);
    waiters_.emplace(w.id, std::move(w));
    r.parked = true;
    return r;
  }
  if (op == "DeleteMessage" || op == "DeleteMessageBatch" || op == "ChangeMessageVisibility" ||
      op == "ChangeMessageVisibilityBatch") {
    bool batch = op.size() > 5 && op.compare(op.size() - 5, 5, "Batch") == 0;
    bool del = op.rfind("Delete", 0) == 0;
    std::vector<Json> entries;
    if (auto err = Entries(in, batch, entries)) {
      return *err;
    }
    Json ok = Json::MakeArray(), failed = Json::MakeArray();
    for (const Json& e : entries) {
      std::optional<AwsError> err;
      std::string handle = Str(e, "ReceiptHandle");
      uint64_t seq = 0;
      auto vt = Int(e, "VisibilityTimeout", -1);
      if (handle.empty()) {
        err = MissingParameter("ReceiptHandle").error;
      } else if (!ParseReceipt(handle, seq)) {
        err =
            AwsError{400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", true,
                     "The input receipt handle \"" + handle + "\" is not a valid receipt handle."};
      } else if (!del && (!vt || *vt < 0 || *vt > 43200)) {
        err = InvalidValue(
                  "Value for parameter VisibilityTimeout is invalid. Reason: must be "
                  "between 0 and 43200.")
                  .error;
      } else {
        auto mit = q->messages.find(seq);
        if (del) {
          // Deleting an already deleted message succeeds; only the latest handle deletes.
          if (mit != q->messages.end() && mit->second.receipt == handle) {
            q->messages.erase(mit);
          }
        } else if (mit == q->messages.end() || mit->second.receipt != handle ||
                   mit->second.visible_at_ms <= now) {
          err =
              AwsError{400, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", true,
                       "Message does not exist or is not available for visibility "
                       "timeout change."};
        } else {
          mit->second.visible_at_ms = now + *vt * 1000;
          if (*vt == 0) {
            ServeWaitersLocked(*q, out);
          } else {
            ScheduleLocked(mit->second.visible_at_ms, TimerKind::kQueueWake, q->spec.name);
          }
        }
      }
      if (err) {
        if (!batch) {
          return Fail(*err);
        }
        failed.as_array().push_back(FailedEntry(Str(e, "Id"), *err));
      } else if (batch) {
        ok.as_array().push_back(Json(Json::Object{{"Id", Json(Str(e, "Id"))}}));
      }
    }
    if (batch) {
      r.body["Successful"] = std::move(ok);
      r.body["Failed"] = std::move(failed);
    }
    return r;
  }
  if (op == "GetQueueAttributes") {
    std::vector<std::string> names = StringList(in, "AttributeNames");
    bool all = std::find(names.begin(), names.end(), "All") != names.end();
    int visible = 0, inflight = 0, delayed = 0;
    for (const auto& [seq, m] : q->messages) {
      if (m.visible_at_ms <= now) {
        ++visible;
      } else if (m.receive_count > 0) {
        ++inflight;
      } else {
        ++delayed;
      }
    }
    std::map<std::string, std::string> values = {
        {"QueueArn", q->arn},
        {"ApproximateNumberOfMessages", std::to_string(visible)},
        {"ApproximateNumberOfMessagesNotVisible", std::to_string(inflight)},
        {"ApproximateNumberOfMessagesDelayed", std::to_string(delayed)},
        {"VisibilityTimeout", std::to_string(q->spec.visibility_timeout_seconds)},
        {"MessageRetentionPeriod", std::to_string(q->spec.retention_seconds)},
        {"ReceiveMessageWaitTimeSeconds", std::to_string(q->spec.receive_wait_seconds)},
        {"CreatedTimestamp", std::to_string(q->created_ms / 1000)},
        {"LastModifiedTimestamp", std::to_string(q->created_ms / 1000)},
        {"DelaySeconds", "0"},
        {"MaximumMessageSize", "262144"},
    };
    if (!q->spec.dead_letter_queue.empty()) {
      values["RedrivePolicy"] =
          "{\"deadLetterTargetArn\":\"arn:aws:sqs:" + world_.region + ":" + world_.account + ":" +
          q->spec.dead_letter_queue +
          "\",\"maxReceiveCount\":" + std::to_string(q->spec.max_receive_count) + "}";
    }
    Json attrs = Json::MakeObject();
    for (const auto& [k, v] : values) {
      if (all || std::find(names.begin(), names.end(), k) != names.end()) {
        attrs[k] = Json(v);
      }
    }
    for (const auto& n : names) {
      if (n != "All" && !values.count(n) && n != "Policy" && n != "KmsMasterKeyId" &&
          n != "FifoQueue" && n != "SqsManagedSseEnabled" && n != "RedriveAllowPolicy" &&
          n != "RedrivePolicy") {
        return Fail(400, "InvalidAttributeName", "Unknown Attribute " + n + ".",
                    "InvalidAttributeName");
      }
    }
    if (!attrs.as_object().empty()) {
      r.body["Attributes"] = std::move(attrs);
    }
    return r;
  }
  if (op == "PurgeQueue") {
    q->messages.clear();
    return r;
  }
  return Fail(400, "UnsupportedOperation",
              "operation " + op + " is not supported by the glfm emulator", "InvalidAction");
}

// ---------------------------------------------------------------------------------------
// SNS

void Emulator::Impl::PublishLocked(const std::string& topic_name, const std::string& message,
                                   const std::string& subject, Outbox& out) {
  auto it = topics_.find(topic_name);
  if (it == topics_.end()) {
    return;
  }
  std::string topic_arn = "arn:aws:sns:" + world_.region + ":" + world_.account + ":" + topic_name;
  for (const Subscription& s : it->second) {
    auto q = queues_.find(s.queue);
    if (q == queues_.end()) {
      continue;
    }
    if (s.raw) {
      EnqueueLocked(q->second, message, 0, out);
      continue;
    }
    // SNS Notification envelope (Amazon SNS developer guide, "HTTP/HTTPS notification JSON").
    JsonObjectWriter env;
    env.String("Type", "Notification")
        .String("MessageId", UuidFrom(id_state_))
        .String("TopicArn", topic_arn);
    if (!subject.empty()) {
      env.String("Subject", subject);
    }
    env.String("Message", message)
        .String("Timestamp", Iso8601Millis(Now()))
        .String("SignatureVersion", "1")
        .String("Signature", "EMULATOR")
        .String("SigningCertURL", "https://sns." + world_.region +
                                      ".amazonaws.com/SimpleNotificationService-emulator.pem")
        .String("UnsubscribeURL",
                "https://sns." + world_.region +
                    ".amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + s.arn);
    EnqueueLocked(q->second, env.Finish(), 0, out);
  }
}

void Emulator::Impl::DeliverEventLocked(const std::string& topic, const std::string& event,
                                        Outbox& out) {
  PublishLocked(topic, event, "", out);
}

OpResult Emulator::Impl::SnsLocked(const std::string& op, const Json& in, Outbox& out) {
  OpResult r;
  const std::string arn_prefix = "arn:aws:sns:" + world_.region + ":" + world_.account + ":";
  auto topic_of =
      [&](const std::string& arn) -> std::map<std::string, std::vector<Subscription>>::iterator {
    if (arn.rfind(arn_prefix, 0) != 0) {
      return topics_.end();
    }
    return topics_.find(arn.substr(arn_prefix.size()));
  };
  auto find_sub = [&](const std::string& arn) -> Subscription* {
    for (auto& [t, subs] : topics_) {
      for (auto& s : subs) {
        if (s.arn == arn) {
          return &s;
        }
      }
    }
    return nullptr;
  };
  auto sub_json = [&](const Subscription& s) {
    return Json(Json::Object{
        {"SubscriptionArn", Json(s.arn)},
        {"Owner", Json(world_.account)},
        {"Protocol", Json("sqs")},
        {"Endpoint", Json("arn:aws:sqs:" + world_.region + ":" + world_.account + ":" + s.queue)},
        {"TopicArn", Json(arn_prefix + s.topic)}});
  };
  if (op == "CreateTopic") {
    std::string name = Str(in, "Name");
    if (name.empty() || name.size() > 256) {
      return SnsInvalid("Topic Name");
    }
    topics_[name];
    r.body["TopicArn"] = Json(arn_prefix + name);
    return r;
  }
  if (op == "ListTopics") {
    Json list = Json::MakeArray();
    for (const auto& [name, subs] : topics_) {
      list.as_array().push_back(Json(Json::Object{{"TopicArn", Json(arn_prefix + name)}}));
    }
    r.body["Topics"] = std::move(list);
    return r;
  }
  if (op == "ListSubscriptions" || op == "ListSubscriptionsByTopic") {
    Json list = Json::MakeArray();
    std::string only;
    if (op == "ListSubscriptionsByTopic") {
      auto t = topic_of(Str(in, "TopicArn"));
      if (t == topics_.end()) {
        return SnsNotFound("Topic");
      }
      only = t->first;
    }
    for (const auto& [name, subs] : topics_) {
      for (const auto& s : subs) {
        if (only.empty() || only == name) {
          list.as_array().push_back(sub_json(s));
        }
      }
    }
    r.body["Subscriptions"] = std::move(list);
    return r;
  }
  if (op == "GetTopicAttributes" || op == "DeleteTopic" || op == "Subscribe" || op == "Publish") {
    auto t = topic_of(Str(in, "TopicArn"));
    if (t == topics_.end()) {
      return SnsNotFound("Topic");
    }
    if (op == "DeleteTopic") {
      topics_.erase(t);
      return r;
    }
    if (op == "GetTopicAttributes") {
      Json a = Json::MakeObject();
      a["TopicArn"] = Json(arn_prefix + t->first);
      a["Owner"] = Json(world_.account);
      a["DisplayName"] = Json("");
      a["SubscriptionsConfirmed"] = Json(std::to_string(t->second.size()));
      a["SubscriptionsPending"] = Json("0");
      a["SubscriptionsDeleted"] = Json("0");
      r.body["Attributes"] = std::move(a);
      return r;
    }
    if (op == "Publish") {
      std::string message = Str(in, "Message");
      if (message.empty()) {
        return SnsInvalid("Message");
      }
      std::string name = t->first;
      PublishLocked(name, message, Str(in, "Subject"), out);
      r.body["MessageId"] = Json(UuidFrom(id_state_));
      return r;
    }
    // Subscribe: only SQS endpoints exist here.
    if (Str(in, "Protocol") != "sqs") {
      return SnsInvalid("Protocol: the emulator delivers to sqs only");
    }
    std::string queue = LastSegment(Str(in, "Endpoint"), ':');
    queue = LastSegment(queue, '/');
    if (!queues_.count(queue)) {
      return SnsInvalid("Endpoint: no SQS queue " + queue);
    }
    bool raw = false;
    if (const Json* a = in.Find("Attributes"); a != nullptr) {
      raw = Str(*a, "RawMessageDelivery") == "true";
    }
    Subscription s{arn_prefix + t->first + ":" + UuidFrom(id_state_), t->first, queue, raw};
    t->second.push_back(s);
    r.body["SubscriptionArn"] = Json(s.arn);
    return r;
  }
  if (op == "GetSubscriptionAttributes" || op == "SetSubscriptionAttributes" ||
      op == "Unsubscribe") {
    std::string arn = Str(in, "SubscriptionArn");
    Subscription* s = find_sub(arn);
    if (s == nullptr) {
      return SnsNotFound("Subscription");
    }
    if (op == "Unsubscribe") {
      auto& subs = topics_[s->topic];
      subs.erase(std::remove_if(subs.begin(), subs.end(),
                                [&arn](const Subscription& x) { return x.arn == arn; }),
                 subs.end());
      return r;
    }
    if (op == "SetSubscriptionAttributes") {
      if (Str(in, "AttributeName") != "RawMessageDelivery") {
        return SnsInvalid("AttributeName: only RawMessageDelivery is supported");
      }
      s->raw = Str(in, "AttributeValue") == "true";
      return r;
    }
    Json a = sub_json(*s).as_object();
    a["RawMessageDelivery"] = Json(s->raw ? "true" : "false");
    a["ConfirmationWasAuthenticated"] = Json("true");
    a["PendingConfirmation"] = Json("false");
    r.body["Attributes"] = std::move(a);
    return r;
  }
  return Fail(400, "InvalidAction", "Action " + op + " is not supported by the glfm emulator",
              "InvalidAction");
}

}  // namespace glfm::emulator
