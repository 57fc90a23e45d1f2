#include "server/events.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/metrics.h"

namespace glfm::server {
namespace {

metrics::Gauge& StreamsGauge() {
  static auto& g = metrics::Registry::Default()
                       .AddGauge("glfm_event_streams", "Clients attached to GET /v1/events.")
                       .WithLabels({});
  return g;
}

std::string Frame(uint64_t id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 32);
  out += "id: ";
  out += std::to_string(id);
  out += "\nevent: ";
  out += type;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

}  // namespace

struct EventHub::Impl : std::enable_shared_from_this<EventHub::Impl> {
  EventHubOptions o;

  struct Sub {
    std::shared_ptr<ResponseStream> stream;
    std::set<std::string> types;
  };
  struct Kept {
    uint64_t id;
    std::string type;
    std::string frame;
  };

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Sub> subs;  // mu
  uint64_t next_sub = 1;         // mu
  std::deque<Kept> history;      // mu
  uint64_t next_event = 1;       // mu
  bool stopping = false;         // mu
  std::atomic<size_t> count{0};
  std::thread thread;

  void Detach(uint64_t sub) {
    {
      std::lock_guard lock(mu);
      if (subs.erase(sub) == 0) {
        return;
      }
      count = subs.size();
      StreamsGauge().Set(static_cast<double>(subs.size()));
    }
    cv.notify_all();
  }

  // The hub's thread: heartbeats, and the activation handle following whether anyone listens.
  void Run() {
    std::shared_ptr<void> activation;
    bool active = false;
    auto next_beat = std::chrono::steady_clock::now() + o.heartbeat;
    std::unique_lock lock(mu);
    while (!stopping) {
      bool want = !subs.empty();
      if (want != active) {
        active = want;
        lock.unlock();
        if (want && o.activate) {
          activation = o.activate();
        } else {
          activation.reset();
        }
        lock.lock();
        continue;
      }
      if (std::chrono::steady_clock::now() >= next_beat) {
        next_beat = std::chrono::steady_clock::now() + o.heartbeat;
        std::vector<uint64_t> gone;
        for (auto& [id, sub] : subs) {
          if (!sub.stream->Write(": keep-alive\n\n")) {
            gone.push_back(id);
          }
        }
        for (uint64_t id : gone) {
          subs.erase(id);
        }
        count = subs.size();
        StreamsGauge().Set(static_cast<double>(subs.size()));
        continue;
      }
      cv.wait_until(lock, next_beat, [&] { return stopping || (!subs.empty()) != active; });
    }
    lock.unlock();
    activation.reset();
  }
};

EventHub::EventHub(EventHubOptions options) : impl_(std::make_shared<Impl>()) {
  StreamsGauge().Set(0);  // registered from the start, so /metrics always shows it
  impl_->o = std::move(options);
  Impl* p = impl_.get();
  impl_->thread = std::thread([p] { p->Run(); });
}

EventHub::~EventHub() { Shutdown(); }

void EventHub::Publish(std::string_view type, std::string_view data) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  uint64_t id = m.next_event++;
  std::string frame = Frame(id, type, data);
  for (auto it = m.subs.begin(); it != m.subs.end();) {
    Impl::Sub& sub = it->second;
    bool wanted = sub.types.empty() || sub.types.count(std::string(type)) != 0;
    if (wanted && !sub.stream->Write(frame)) {
      it = m.subs.erase(it);
      m.count = m.subs.size();
      StreamsGauge().Set(static_cast<double>(m.subs.size()));
      continue;
    }
    ++it;
  }
  m.history.push_back({id, std::string(type), std::move(frame)});
  while (m.history.size() > m.o.history) {
    m.history.pop_front();
  }
}

bool EventHub::active() const { return impl_->count.load(std::memory_order_relaxed) > 0; }

size_t EventHub::streams() const { return impl_->count.load(); }

void EventHub::Attach(std::shared_ptr<ResponseStream> stream, std::set<std::string> types,
                      std::optional<uint64_t> last_event_id) {
  Impl& m = *impl_;
  uint64_t sub_id;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) {
      stream->Close();
      return;
    }
    if (last_event_id) {
      bool complete = *last_event_id + 1 >= m.next_event ||
                      (!m.history.empty() && m.history.front().id <= *last_event_id + 1);
      if (!complete) {
        stream->Write(Frame(m.next_event - 1, "resync",
                            "{\"reason\":\"events after Last-Event-ID are no longer kept\"}"));
      }
      for (const auto& k : m.history) {
        if (k.id > *last_event_id && (types.empty() || types.count(k.type) != 0)) {
          stream->Write(k.frame);
        }
      }
    }
    sub_id = m.next_sub++;
    m.subs.emplace(sub_id, Impl::Sub{stream, std::move(types)});
    m.count = m.subs.size();
    StreamsGauge().Set(static_cast<double>(m.subs.size()));
  }
  m.cv.notify_all();
  // A client that goes away is detached at once, not at the next event or heartbeat.
  std::weak_ptr<Impl> weak = impl_;
  stream->SetOnClose([weak, sub_id] {
    if (auto hub = weak.lock()) {
      hub->Detach(sub_id);
    }
  });
}

void EventHub::Shutdown() {
  Impl& m = *impl_;
  std::map<uint64_t, Impl::Sub> subs;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) {
      return;
    }
    m.stopping = true;
    subs.swap(m.subs);
    m.count = 0;
  }
  m.cv.notify_all();
  for (auto& [id, sub] : subs) {
    sub.stream->Close();
  }
  if (m.thread.joinable()) {
    m.thread.join();
  }
  StreamsGauge().Set(0);
}

}  // namespace glfm::server
