// EventHub: the server-sent event stream behind GET /v1/events (docs/http-api.md).
//
// Producers Publish typed events (`placement`, `instance`, `resync`); every attached stream
// whose type filter matches receives each one as
//
//   id: <sequence>\nevent: <type>\ndata: <one-line JSON>\n\n
//
// The hub keeps the last `history` events, so a client reconnecting with Last-Event-ID gets
// what it missed (or a `resync` event when that is older than the history). A heartbeat
// comment goes to every stream every `heartbeat`, which also finds clients that went away.
// When the first stream attaches the hub calls its activation hook (glfm serve subscribes to
// the store's change feed then) and releases what the hook returned when the last one leaves,
// so that nothing is spent on events while nobody listens.
//
// Thread-safety: every method may be called from any thread. The activation hook and its
// result's destructor run on the hub's own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "server/http_server.h"

namespace glfm::server {

struct EventHubOptions {
  size_t history = 4096;
  std::chrono::milliseconds heartbeat{std::chrono::seconds(15)};
  // Called (on the hub's thread) when the first stream attaches; the returned handle is
  // released when the last stream has gone. May be empty.
  std::function<std::shared_ptr<void>()> activate;
};

class EventHub {
 public:
  explicit EventHub(EventHubOptions options = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Sends an event of `type` with `data` (one line of JSON) to every matching stream.
  void Publish(std::string_view type, std::string_view data);

  // True while at least one stream is attached: producers may skip building events otherwise.
  bool active() const;

  // Attaches `stream`. `types` limits the event types it gets (empty: all). With
  // `last_event_id`, first replays the kept events after it, or sends `resync` when some of
  // them are no longer kept.
  void Attach(std::shared_ptr<ResponseStream> stream, std::set<std::string> types,
              std::optional<uint64_t> last_event_id);

  // Number of attached streams.
  size_t streams() const;

  // Closes every stream and stops the hub's thread; later Attach calls close their stream.
  // Idempotent.
  void Shutdown();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace glfm::server
