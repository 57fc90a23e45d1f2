#include "server/webhooks.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "aws/sigv4.h"
#include "common/log.h"
#include "common/metrics.h"
#include "glfm/json.h"
#include "server/serve.h"

namespace glfm::server {
namespace {

using Clock = std::chrono::system_clock;

// The URL without its query: what a log line may show (a query may hold a key).
std::string Redacted(std::string_view url) { return std::string(url.substr(0, url.find('?'))); }

// True when the URL names a Nakama RPC that wants its body as a JSON string literal.
bool WantsStringBody(std::string_view url) {
  size_t q = url.find('?');
  std::string_view path = url.substr(0, q);
  if (path.find("/v2/rpc/") == std::string_view::npos) {
    return false;
  }
  if (q == std::string_view::npos) {
    return true;
  }
  std::string_view query = url.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.substr(0, pair.find('=')) == "unwrap") {
      return false;
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return true;
}

struct Metrics {
  metrics::Counter* enqueued;
  metrics::Counter* delivered;
  metrics::Counter* failed;
  metrics::Counter* expired;
  metrics::Gauge* pending;
  metrics::Histogram* latency;

  static Metrics& Get() {
    static Metrics m = [] {
      auto& reg = metrics::Registry::Default();
      auto& total = reg.AddCounter(
          "glfm_webhooks_total", "Webhook deliveries and attempts, by what happened.", {"result"});
      Metrics out;
      out.enqueued = &total.WithLabels({"enqueued"});
      out.delivered = &total.WithLabels({"delivered"});
      out.failed = &total.WithLabels({"failed_attempt"});
      out.expired = &total.WithLabels({"expired"});
      out.pending =
          &reg.AddGauge("glfm_webhook_outbox", "Webhook deliveries waiting in this node's outbox.")
               .WithLabels({});
      out.latency = &reg.AddHistogram("glfm_webhook_delivery_seconds",
                                      "From a webhook being enqueued to its receiver's 2xx.")
                         .WithLabels({});
      return out;
    }();
    return m;
  }
};

}  // namespace

std::string WebhookSignature(std::string_view secret, int64_t t, std::string_view body) {
  std::string signed_text = std::to_string(t);
  signed_text.push_back('.');
  signed_text.append(body);
  auto mac = aws::HmacSha256(secret, signed_text);
  return "t=" + std::to_string(t) + ",v1=" + aws::HexEncode(mac.data(), mac.size());
}

Status ValidateWebhookUrl(std::string_view url, std::string_view field) {
  std::string f(field);
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return InvalidArgumentError(f + ": expected an http:// or https:// URL");
  }
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return InvalidArgumentError(f + ": scheme must be http or https, got \"" + std::string(scheme) +
                                "\"");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty()) {
    return InvalidArgumentError(f + ": the URL has no host");
  }
  if (url.size() > 2048) {
    return InvalidArgumentError(f + ": longer than 2048 characters");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return InvalidArgumentError(f + ": must not contain spaces or control characters");
    }
  }
  return OkStatus();
}

struct WebhookDispatcher::Impl {
  WebhookOptions o;
  store::Store* store = nullptr;
  std::unique_ptr<aws::HttpTransport> own_transport;
  aws::HttpTransport* transport = nullptr;
  Metrics& m = Metrics::Get();

  struct Entry {
    store::WebhookRecord rec;
    bool in_flight = false;
    std::chrono::steady_clock::time_point enqueued_at;  // this process's view, for latency
  };
  struct Completion {
    std::string id;
    Status error;  // OK when the receiver answered 2xx
  };

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Entry, std::less<>> entries;  // every delivery this node owes; mu
  // (next attempt, id) of each entry not in flight, earliest first; mu.
  std::priority_queue<std::pair<Timestamp, std::string>,
                      std::vector<std::pair<Timestamp, std::string>>, std::greater<>>
      due;
  std::deque<Completion> completions;  // mu
  // Deliveries queued for the outbox and not yet durable there; mu.
  std::map<std::string, store::WebhookRecord, std::less<>> writing;
  int in_flight = 0;  // mu; sent and not yet handled
  // mu; attempts sent whose transport callback has not run, plus outbox writes whose store
  // callback has not run.
  int outstanding = 0;
  bool stopping = false;  // mu
  std::thread thread;

  std::atomic<uint64_t> enqueued{0}, delivered{0}, failed{0}, expired{0};
  std::mt19937_64 rng{std::random_device{}()};  // the dispatcher thread's

  Timestamp Now() const { return o.now ? o.now() : Clock::now(); }

  void UpdatePendingGauge() { m.pending->Set(static_cast<double>(entries.size())); }

  // Adds an entry (mu held); false when the id is known already.
  bool AddLocked(store::WebhookRecord rec) {
    std::string id = rec.id;
    Timestamp next = rec.next_attempt;
    Entry e;
    e.rec = std::move(rec);
    e.enqueued_at = std::chrono::steady_clock::now();
    if (!entries.emplace(id, std::move(e)).second) {
      return false;
    }
    due.emplace(next, std::move(id));
    UpdatePendingGauge();
    return true;
  }

  Status Load() {
    std::string after;
    size_t n = 0;
    for (;;) {
      GLFM_ASSIGN_OR_RETURN(auto page, store->ListWebhooks(o.node_id, after, 1000));
      if (page.empty()) {
        break;
      }
      after = page.back().id;
      std::lock_guard lock(mu);
      for (auto& rec : page) {
        n += AddLocked(std::move(rec)) ? 1 : 0;
      }
    }
    if (n > 0) {
      log::Info("webhooks: resuming deliveries from the outbox",
                {{"pending", static_cast<int64_t>(n)}});
    }
    return OkStatus();
  }

  std::chrono::milliseconds Backoff(int attempts) {
    auto base = o.min_backoff;
    for (int i = 1; i < attempts && base < o.max_backoff; ++i) {
      base *= 2;
    }
    base = std::min(base, o.max_backoff);
    // +-20% jitter so that a receiver coming back is not hit by every retry at once.
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::chrono::milliseconds(static_cast<int64_t>(base.count() * jitter(rng)));
  }

  void Send(const store::WebhookRecord& rec) {
    aws::HttpCall call;
    call.method = "POST";
    call.url = rec.url;
    call.timeout = o.attempt_timeout;
    std::string body = rec.body;
    if (WantsStringBody(rec.url)) {
      body.clear();
      AppendJsonString(body, rec.body);
    }
    int64_t t = std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
    call.headers = {
        {"Content-Type", "application/json"},
        {"User-Agent", "glfm/" + std::string(Version())},
        {"X-Glfm-Webhook-Id", rec.id},
        {"X-Glfm-Attempt", std::to_string(rec.attempts + 1)},
        {"X-Glfm-Signature", WebhookSignature(o.secret, t, body)},
    };
    call.body = std::move(body);
    {
      std::lock_guard lock(mu);
      outstanding++;
    }
    transport->Send(
        std::move(call), [this, id = rec.id, url = rec.url](Result<aws::HttpReply> reply) {
          Completion c;
          c.id = id;
          if (!reply.ok()) {
            // The transport names the URL; its query may hold a key (a Nakama RPC URL).
            std::string msg = reply.status().message();
            for (size_t at = msg.find(url); at != std::string::npos; at = msg.find(url, at)) {
              std::string shown = Redacted(url);
              msg.replace(at, url.size(), shown);
              at += shown.size();
            }
            c.error = Status(reply.status().code(), msg);
          } else if (reply->status < 200 || reply->status > 299) {
            c.error = UnavailableError("HTTP " + std::to_string(reply->status));
          }
          // Notified under the lock: Stop may destroy this object as soon as outstanding is 0.
          std::lock_guard lock(mu);
          completions.push_back(std::move(c));
          outstanding--;
          cv.notify_all();
        });
  }

  // Writes what the completions mean to the outbox and requeues failed attempts.
  void Handle(std::deque<Completion> done) {
    std::vector<std::string> remove;
    std::vector<std::pair<store::WebhookRecord, Status>> retry;
    std::vector<double> latencies;
    {
      std::lock_guard lock(mu);
      for (auto& c : done) {
        in_flight--;
        auto it = entries.find(c.id);
        if (it == entries.end()) {
          continue;
        }
        if (c.error.ok()) {
          latencies.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                            it->second.enqueued_at)
                                  .count());
          remove.push_back(c.id);
          entries.erase(it);
        } else {
          retry.emplace_back(it->second.rec, c.error);
        }
      }
      UpdatePendingGauge();
    }
    for (double l : latencies) {
      m.latency->Observe(l);
    }
    delivered += remove.size();
    m.delivered->Inc(remove.size());
    Timestamp now = Now();
    for (auto& [rec, error] : retry) {
      failed++;
      m.failed->Inc();
      rec.attempts++;
      Timestamp next = now + Backoff(rec.attempts);
      rec.last_error = error.message();
      if (next > rec.create_time + o.max_age) {
        expired++;
        m.expired->Inc();
        log::Error("webhooks: giving up a delivery", {{"id", rec.id},
                                                      {"url", Redacted(rec.url)},
                                                      {"attempts", rec.attempts},
                                                      {"last_error", rec.last_error}});
        remove.push_back(rec.id);
        std::lock_guard lock(mu);
        entries.erase(rec.id);
        UpdatePendingGauge();
        continue;
      }
      log::Warn("webhooks: delivery attempt failed; will retry", {{"id", rec.id},
                                                                  {"url", Redacted(rec.url)},
                                                                  {"attempts", rec.attempts},
                                                                  {"error", rec.last_error}});
      rec.next_attempt = next;
      Status s = store->RescheduleWebhook(rec.id, rec.attempts, next, rec.last_error);
      if (!s.ok()) {
        log::Warn("webhooks: recording a failed attempt failed",
                  {{"id", rec.id}, {"error", s.ToString()}});
      }
      std::lock_guard lock(mu);
      auto it = entries.find(rec.id);
      if (it != entries.end()) {
        it->second.rec = rec;
        it->second.in_flight = false;
        due.emplace(next, rec.id);
      }
    }
    if (!remove.empty()) {
      Status s = store->DeleteWebhooks(remove);
      if (!s.ok()) {
        // They stay in the outbox and go out again after a restart (at least once).
        log::Warn("webhooks: removing finished deliveries from the outbox failed",
                  {{"count", static_cast<int64_t>(remove.size())}, {"error", s.ToString()}});
      }
    }
  }

  void Loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (!completions.empty()) {
        std::deque<Completion> done;
        done.swap(completions);
        lock.unlock();
        Handle(std::move(done));
        lock.lock();
        continue;
      }
      Timestamp now = Now();
      std::vector<store::WebhookRecord> send;
      while (in_flight < o.max_in_flight && !due.empty() && due.top().first <= now) {
        std::string id = due.top().second;
        due.pop();
        auto it = entries.find(id);
        if (it == entries.end() || it->second.in_flight) {
          continue;
        }
        it->second.in_flight = true;
        in_flight++;
        send.push_back(it->second.rec);
      }
      if (!send.empty()) {
        lock.unlock();
        for (const auto& rec : send) {
          Send(rec);
        }
        lock.lock();
        continue;
      }
      if (due.empty() || in_flight >= o.max_in_flight) {
        cv.wait(lock);
      } else {
        auto wait = due.top().first - now;
        cv.wait_for(lock, std::min<Clock::duration>(wait, std::chrono::seconds(1)));
      }
    }
  }
};

WebhookDispatcher::WebhookDispatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

Result<std::unique_ptr<WebhookDispatcher>> WebhookDispatcher::Start(WebhookOptions options,
                                                                    store::Store* store) {
  if (options.node_id.empty()) {
    return InvalidArgumentError("webhooks: node id is required");
  }
  if (options.secret.empty()) {
    return InvalidArgumentError("webhooks: a signing secret is required (webhook.secret)");
  }
  if (options.max_in_flight < 1) {
    return InvalidArgumentError("webhooks: max_in_flight must be at least 1");
  }
  if (options.min_backoff.count() <= 0 || options.max_backoff < options.min_backoff) {
    return InvalidArgumentError("webhooks: backoff must be positive, min <= max");
  }
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  impl->store = store;
  if (impl->o.transport != nullptr) {
    impl->transport = impl->o.transport;
  } else {
    aws::CurlTransportOptions to;
    to.threads = 1;
    to.request_timeout = impl->o.attempt_timeout;
    to.user_agent = "glfm/" + std::string(Version());
    GLFM_ASSIGN_OR_RETURN(impl->own_transport, aws::NewCurlTransport(to));
    impl->transport = impl->own_transport.get();
  }
  GLFM_RETURN_IF_ERROR(impl->Load());
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->Loop(); });
  return std::unique_ptr<WebhookDispatcher>(new WebhookDispatcher(std::move(impl)));
}

Status WebhookDispatcher::Enqueue(std::string_view id, std::string_view url, std::string body) {
  Impl& m = *impl_;
  GLFM_RETURN_IF_ERROR(ValidateWebhookUrl(url, "webhook url"));
  store::WebhookRecord rec;
  rec.id = std::string(id);
  rec.owner_node = m.o.node_id;
  rec.url = std::string(url);
  rec.body = std::move(body);
  rec.create_time = m.Now();
  rec.expire_time = rec.create_time + m.o.max_age;
  rec.next_attempt = rec.create_time;
  GLFM_RETURN_IF_ERROR(store::ValidateWebhookRecord(rec, "webhook"));
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) return UnavailableError("webhooks: the dispatcher is stopped");
    if (m.entries.count(id) != 0 || m.writing.count(id) != 0) {
      return OkStatus();  // owed already
    }
    m.writing.emplace(rec.id, rec);
    m.outstanding++;
  }
  m.enqueued++;
  m.m.enqueued->Inc();
  m.store->EnqueueWebhooksAsync({rec}, [&m, id = rec.id](Status s) {
    if (!s.ok()) {
      log::Error(
          "webhooks: the outbox did not take a delivery; delivering it from memory "
          "(a crash before it is delivered loses it)",
          {{"id", id}, {"error", s.ToString()}});
    }
    // Notified under the lock: Stop may destroy this object as soon as outstanding is 0.
    std::lock_guard lock(m.mu);
    auto it = m.writing.find(id);
    if (it != m.writing.end()) {
      m.AddLocked(std::move(it->second));
      m.writing.erase(it);
    }
    m.outstanding--;
    m.cv.notify_all();
  });
  return OkStatus();
}

Status WebhookDispatcher::Reload() {
  GLFM_RETURN_IF_ERROR(impl_->Load());
  impl_->cv.notify_all();
  return OkStatus();
}

WebhookStats WebhookDispatcher::stats() const {
  WebhookStats s;
  s.enqueued = impl_->enqueued;
  s.delivered = impl_->delivered;
  s.failed_attempts = impl_->failed;
  s.expired = impl_->expired;
  std::lock_guard lock(impl_->mu);
  s.pending = impl_->entries.size() + impl_->writing.size();
  return s;
}

void WebhookDispatcher::Stop() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) {
      return;
    }
    m.stopping = true;
  }
  m.cv.notify_all();
  if (m.thread.joinable()) {
    m.thread.join();
  }
  // Fails the attempts still in flight (their callbacks only queue completions), so that no
  // callback outlives this object; with a transport of the caller's, waits for them.
  m.own_transport.reset();
  std::unique_lock lock(m.mu);
  m.cv.wait_for(lock, m.o.attempt_timeout + std::chrono::seconds(5),
                [&] { return m.outstanding == 0; });
}

}  // namespace glfm::server
