#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/check.h"

namespace glfm::metrics {
namespace {

bool ValidName(std::string_view n, bool allow_colon) {
  if (n.empty()) {
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Escapes a label value as the exposition format requires: backslash, quote, newline.
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

// Escapes HELP text: backslash and newline.
void AppendHelp(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::string& labels, double v) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out.push_back('{');
    out += labels;
    out.push_back('}');
  }
  out.push_back(' ');
  AppendValue(out, v);
  out.push_back('\n');
}

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    GLFM_CHECK(bounds_[i - 1] < bounds_[i]);
  }
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= i && b <= bounds_.size(); ++b) {
    total += buckets_[b].load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

void* FamilyBase::Child(std::initializer_list<std::string_view> values) {
  GLFM_CHECK(values.size() == labels_.size());
  thread_local std::string key;
  key.clear();
  for (std::string_view v : values) {
    key += v;
    key.push_back('\xff');
  }
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = children_.find(key);
    if (it != children_.end()) {
      return it->second.first.get();
    }
  }
  std::string rendered;
  size_t i = 0;
  for (std::string_view v : values) {
    if (i > 0) {
      rendered.push_back(',');
    }
    rendered += labels_[i++];
    rendered += "=\"";
    AppendLabelValue(rendered, v);
    rendered.push_back('"');
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto [it, inserted] = children_.try_emplace(key);
  if (inserted) {
    it->second.first = NewChild();
    it->second.second = std::move(rendered);
  }
  return it->second.first.get();
}

void FamilyBase::Render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out.push_back(' ');
  AppendHelp(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out.push_back(' ');
  out += KindName(kind_);
  out.push_back('\n');
  std::vector<std::pair<const std::string*, const void*>> children;
  std::shared_lock<std::shared_mutex> lock(mu_);
  children.reserve(children_.size());
  for (const auto& [key, child] : children_) {
    children.emplace_back(&child.second, child.first.get());
  }
  std::sort(children.begin(), children.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  for (const auto& [labels, child] : children) {
    RenderChild(out, *labels, child);
  }
}

template <>
std::shared_ptr<void> Family<Counter>::NewChild() const {
  return std::make_shared<Counter>();
}
template <>
void Family<Counter>::RenderChild(std::string& out, const std::string& labels,
                                  const void* child) const {
  AppendSample(out, name(), "", labels,
               static_cast<double>(static_cast<const Counter*>(child)->value()));
}

template <>
std::shared_ptr<void> Family<Gauge>::NewChild() const {
  return std::make_shared<Gauge>();
}
template <>
void Family<Gauge>::RenderChild(std::string& out, const std::string& labels,
                                const void* child) const {
  AppendSample(out, name(), "", labels, static_cast<const Gauge*>(child)->value());
}

template <>
std::shared_ptr<void> Family<Histogram>::NewChild() const {
  return std::make_shared<Histogram>(bounds_);
}
template <>
void Family<Histogram>::RenderChild(std::string& out, const std::string& labels,
                                    const void* child) const {
  const auto* h = static_cast<const Histogram*>(child);
  std::string with_le;
  for (size_t i = 0; i <= h->bounds().size(); ++i) {
    with_le = labels;
    if (!with_le.empty()) {
      with_le.push_back(',');
    }
    with_le += "le=\"";
    if (i == h->bounds().size()) {
      with_le += "+Inf";
    } else {
      AppendValue(with_le, h->bounds()[i]);
    }
    with_le.push_back('"');
    AppendSample(out, name(), "_bucket", with_le, static_cast<double>(h->CumulativeCount(i)));
  }
  AppendSample(out, name(), "_sum", labels, h->sum());
  AppendSample(out, name(), "_count", labels, static_cast<double>(h->count()));
}

Registry::Registry() = default;

Registry& Registry::Default() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

FamilyBase* Registry::Find(std::string_view name, Kind kind,
                           const std::vector<std::string>& labels) {
  GLFM_CHECK(ValidName(name, true));
  for (const auto& l : labels) {
    GLFM_CHECK(ValidName(l, false) && l != "le");
  }
  GLFM_CHECK(callbacks_.find(name) == callbacks_.end());
  auto it = families_.find(name);
  if (it == families_.end()) {
    return nullptr;
  }
  GLFM_CHECK(it->second->kind() == kind && it->second->labels() == labels);
  return it->second.get();
}

Family<Counter>& Registry::AddCounter(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* f = Find(name, Kind::kCounter, labels)) {
    return *static_cast<Family<Counter>*>(f);
  }
  auto f = std::make_unique<Family<Counter>>(std::string(name), std::string(help), Kind::kCounter,
                                             std::move(labels));
  auto& ref = *f;
  families_.emplace(std::string(name), std::move(f));
  return ref;
}

Family<Gauge>& Registry::AddGauge(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* f = Find(name, Kind::kGauge, labels)) {
    return *static_cast<Family<Gauge>*>(f);
  }
  auto f = std::make_unique<Family<Gauge>>(std::string(name), std::string(help), Kind::kGauge,
                                           std::move(labels));
  auto& ref = *f;
  families_.emplace(std::string(name), std::move(f));
  return ref;
}

Family<Histogram>& Registry::AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<std::string> labels,
                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* f = Find(name, Kind::kHistogram, labels)) {
    return *static_cast<Family<Histogram>*>(f);
  }
  auto f = std::make_unique<Family<Histogram>>(
      std::string(name), std::string(help), Kind::kHistogram, std::move(labels), std::move(bounds));
  auto& ref = *f;
  families_.emplace(std::string(name), std::move(f));
  return ref;
}

void Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  GLFM_CHECK(ValidName(name, true));
  GLFM_CHECK(families_.find(name) == families_.end());
  callbacks_[std::string(name)] = {std::string(help), std::move(read)};
}

std::string Registry::Render() const {
  // Copy the callbacks out so that they run without the registry lock.
  std::vector<std::pair<std::string, const FamilyBase*>> families;
  std::vector<std::tuple<std::string, std::string, std::function<double()>>> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, f] : families_) {
      families.emplace_back(name, f.get());
    }
    for (const auto& [name, cb] : callbacks_) {
      callbacks.emplace_back(name, cb.first, cb.second);
    }
  }
  std::string out;
  out.reserve(4096);
  size_t fi = 0;
  size_t ci = 0;
  while (fi < families.size() || ci < callbacks.size()) {
    bool take_family = ci == callbacks.size() ||
                       (fi < families.size() && families[fi].first < std::get<0>(callbacks[ci]));
    if (take_family) {
      families[fi++].second->Render(out);
      continue;
    }
    const auto& [name, help, read] = callbacks[ci++];
    out += "# HELP " + name + " ";
    AppendHelp(out, help);
    out += "\n# TYPE " + name + " gauge\n";
    AppendSample(out, name, "", "", read());
  }
  return out;
}

}  // namespace glfm::metrics
