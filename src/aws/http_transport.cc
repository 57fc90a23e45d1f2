#include "aws/http_transport.h"

#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace glfm::aws {

const std::string* HttpReply::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

Result<HttpReply> HttpTransport::SendAndWait(HttpCall call) {
  std::promise<Result<HttpReply>> promise;
  auto future = promise.get_future();
  Send(std::move(call), [&promise](Result<HttpReply> r) { promise.set_value(std::move(r)); });
  return future.get();
}

namespace {

std::once_flag g_curl_init;

Status CurlError(CURLcode code, const char* detail, const std::string& url) {
  std::string msg = std::string(curl_easy_strerror(code));
  if (detail != nullptr && detail[0] != '\0') msg += ": " + std::string(detail);
  msg = "HTTP " + url + ": " + msg;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceededError(std::move(msg));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgumentError(std::move(msg));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return FailedPreconditionError(std::move(msg));
    default:
      return UnavailableError(std::move(msg));
  }
}

// One request in flight on one loop.
struct Transfer {
  HttpCall call;
  HttpCallback done;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpReply reply;
  char error[CURL_ERROR_SIZE] = {0};
};

size_t OnBody(char* ptr, size_t size, size_t n, void* user) {
  static_cast<Transfer*>(user)->reply.body.append(ptr, size * n);
  return size * n;
}

size_t OnHeader(char* ptr, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(ptr, size * n);
  if (line.substr(0, 5) == "HTTP/") {
    t->reply.headers.clear();  // a new response (after 100-continue or a redirect)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  t->reply.headers.emplace_back(std::move(name), std::string(v));
  return size * n;
}

class Loop {
 public:
  Loop(const CurlTransportOptions& options, std::string ca_bundle)
      : options_(options), ca_bundle_(std::move(ca_bundle)) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options_.max_connections);
    thread_ = std::thread([this] { Run(); });
  }

  ~Loop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    thread_.join();
    for (CURL* e : idle_) curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
  }

  void Submit(std::unique_ptr<Transfer> t) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        pending_.push_back(std::move(t));
        t = nullptr;
      }
    }
    if (t != nullptr) {
      t->done(CancelledError("HTTP transport is shut down"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

 private:
  void Run() {
    std::vector<std::unique_ptr<Transfer>> active_owner;
    while (true) {
      std::deque<std::unique_ptr<Transfer>> incoming;
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mu_);
        incoming.swap(pending_);
        stop = stopping_;
      }
      if (stop) {
        for (auto& t : incoming) t->done(CancelledError("HTTP transport is shut down"));
        for (auto& [easy, t] : active_) {
          curl_multi_remove_handle(multi_, easy);
          curl_slist_free_all(t->header_list);
          curl_easy_cleanup(easy);
          t->done(CancelledError("HTTP transport is shut down"));
        }
        active_.clear();
        return;
      }
      for (auto& t : incoming) Start(std::move(t));
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(multi_, easy);
        auto it = active_.find(easy);
        std::unique_ptr<Transfer> t = std::move(it->second);
        active_.erase(it);
        curl_slist_free_all(t->header_list);
        t->header_list = nullptr;
        Result<HttpReply> outcome = UnavailableError("unset");
        if (code == CURLE_OK) {
          long status = 0;
          curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
          t->reply.status = static_cast<int>(status);
          outcome = std::move(t->reply);
        } else {
          outcome = CurlError(code, t->error, t->call.url);
        }
        Recycle(easy);
        t->done(std::move(outcome));
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
  }

  void Recycle(CURL* easy) {
    if (idle_.size() < 64) {
      curl_easy_reset(easy);
      idle_.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

  void Start(std::unique_ptr<Transfer> t) {
    CURL* easy;
    if (!idle_.empty()) {
      easy = idle_.back();
      idle_.pop_back();
    } else {
      easy = curl_easy_init();
    }
    if (easy == nullptr) {
      t->done(InternalError("curl_easy_init failed"));
      return;
    }
    t->easy = easy;
    const HttpCall& c = t->call;
    curl_easy_setopt(easy, CURLOPT_URL, c.url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    auto timeout = c.timeout.count() > 0 ? c.timeout : options_.request_timeout;
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (!ca_bundle_.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_bundle_.c_str());
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, nullptr);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
    if (c.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, c.method.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, c.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
    }
    // No "Expect: 100-continue" round trip; no default Accept or Content-Type guessing.
    curl_slist* list = curl_slist_append(nullptr, "Expect:");
    list = curl_slist_append(list, "Accept:");
    bool has_type = false;
    for (const auto& [k, v] : c.headers) {
      std::string line = k + ": " + v;
      if (v.empty()) line = k + ";";  // libcurl's syntax for an empty value
      list = curl_slist_append(list, line.c_str());
      has_type = has_type || k == "Content-Type" || k == "content-type";
    }
    if (!has_type && c.method != "GET") list = curl_slist_append(list, "Content-Type:");
    t->header_list = list;
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    CURLMcode rc = curl_multi_add_handle(multi_, easy);
    if (rc != CURLM_OK) {
      curl_slist_free_all(t->header_list);
      curl_easy_cleanup(easy);
      t->done(InternalError(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc)));
      return;
    }
    active_.emplace(easy, std::move(t));
  }

  const CurlTransportOptions options_;
  const std::string ca_bundle_;
  CURLM* multi_ = nullptr;
  std::mutex mu_;
  std::deque<std::unique_ptr<Transfer>> pending_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                          // GUARDED_BY(mu_)
  // Loop thread only.
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active_;
  std::vector<CURL*> idle_;
  std::thread thread_;
};

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const CurlTransportOptions& options) {
    std::string ca = options.ca_bundle;
    if (ca.empty()) {
      if (const char* env = std::getenv("AWS_CA_BUNDLE"); env != nullptr) ca = env;
    }
    for (int i = 0; i < options.threads; ++i) {
      loops_.push_back(std::make_unique<Loop>(options, ca));
    }
  }

  void Send(HttpCall call, HttpCallback done) override {
    for (const auto& [k, v] : call.headers) {
      if (k.find_first_of("\r\n:") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        done(InvalidArgumentError("HTTP header " + k + " has a line break in its name or value"));
        return;
      }
    }
    auto t = std::make_unique<Transfer>();
    t->call = std::move(call);
    t->done = std::move(done);
    size_t i = next_.fetch_add(1, std::memory_order_relaxed) % loops_.size();
    loops_[i]->Submit(std::move(t));
  }

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace

Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const CurlTransportOptions& options) {
  if (options.threads < 1) {
    return InvalidArgumentError("transport threads must be at least 1, got " +
                                std::to_string(options.threads));
  }
  if (options.connect_timeout.count() < 0 || options.request_timeout.count() < 0) {
    return InvalidArgumentError("transport timeouts must not be negative");
  }
  CURLcode init = CURLE_OK;
  std::call_once(g_curl_init, [&init] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init != CURLE_OK) {
    return InternalError(std::string("curl_global_init: ") + curl_easy_strerror(init));
  }
  return std::unique_ptr<HttpTransport>(new CurlTransport(options));
}

}  // namespace glfm::aws
