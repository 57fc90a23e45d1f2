// Metrics: counters, gauges and histograms with labels, rendered in the Prometheus text
// exposition format 0.0.4 for `GET /metrics`.
//
//   auto& requests = metrics::Registry::Default().AddCounter(
//       "glfm_placements_total", "Placements by outcome.", {"outcome"});
//   metrics::Counter& ok = requests.WithLabels({"success"});  // look up once, keep the ref
//   ok.Inc();                                                  // hot path: one atomic add
//
// A family (one metric name) holds one child per distinct label-value tuple; children live as
// long as the registry, so references to them stay valid. Look a child up once and keep the
// reference on a hot path; WithLabels itself takes a shared lock and hashes the values.
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; adding a
// metric twice with the same name and kind returns the existing family (so independent
// modules can share one), with another kind or other labels it aborts (a programming error).
//
// Thread-safety: every member of every class here may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace glfm::metrics {

// A monotonically increasing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets by upper bound (`le`), plus their sum and count.
class Histogram {
 public:
  // `bounds` are the finite upper bounds, strictly increasing; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  // Returns the cumulative count of observations <= bounds()[i]; i == bounds().size() is +Inf.
  uint64_t CumulativeCount(size_t i) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets in seconds: 100 µs to 10 s.
std::vector<double> LatencyBuckets();

enum class Kind { kCounter, kGauge, kHistogram };

// The children of one metric name, keyed by label values. Internal base; use Family<T>.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Kind kind, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), kind_(kind), labels_(std::move(labels)) {}
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  Kind kind() const { return kind_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // Appends this family's HELP, TYPE and sample lines to `out`.
  void Render(std::string& out) const;

 protected:
  // Returns the child for `values` (one per label, in order), creating it when new.
  void* Child(std::initializer_list<std::string_view> values);
  virtual std::shared_ptr<void> NewChild() const = 0;
  virtual void RenderChild(std::string& out, const std::string& labels,
                           const void* child) const = 0;

 private:
  std::string name_;
  std::string help_;
  Kind kind_;
  std::vector<std::string> labels_;
  mutable std::shared_mutex mu_;
  // Key: label values joined by '\xff'. Value: the child, and its rendered label set.
  std::unordered_map<std::string, std::pair<std::shared_ptr<void>, std::string>> children_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, Kind kind, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), kind, std::move(labels)),
        bounds_(std::move(bounds)) {}

  // Returns the child for these label values (as many as the family has labels; aborts
  // otherwise), created at zero on first use.
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return *static_cast<T*>(Child(values));
  }

 private:
  std::shared_ptr<void> NewChild() const override;
  void RenderChild(std::string& out, const std::string& labels, const void* child) const override;
  std::vector<double> bounds_;
};

// Defined in metrics.cc for the three kinds.
template <>
std::shared_ptr<void> Family<Counter>::NewChild() const;
template <>
void Family<Counter>::RenderChild(std::string&, const std::string&, const void*) const;
template <>
std::shared_ptr<void> Family<Gauge>::NewChild() const;
template <>
void Family<Gauge>::RenderChild(std::string&, const std::string&, const void*) const;
template <>
std::shared_ptr<void> Family<Histogram>::NewChild() const;
template <>
void Family<Histogram>::RenderChild(std::string&, const std::string&, const void*) const;

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the process-wide registry that `/metrics` renders.
  static Registry& Default();

  Family<Counter>& AddCounter(std::string_view name, std::string_view help,
                              std::vector<std::string> labels = {});
  Family<Gauge>& AddGauge(std::string_view name, std::string_view help,
                          std::vector<std::string> labels = {});
  Family<Histogram>& AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels = {},
                                  std::vector<double> bounds = LatencyBuckets());
  // Adds a gauge whose value `read` computes at render time (uptime, queue depth). A second
  // call with the same name replaces the function.
  void AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> read);

  // Renders every metric, sorted by name, in the Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  FamilyBase* Find(std::string_view name, Kind kind, const std::vector<std::string>& labels);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  std::map<std::string, std::pair<std::string, std::function<double()>>, std::less<>> callbacks_;
};

// The content type of Registry::Render()'s output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Appends `v` as Prometheus formats a sample value ("+Inf", "NaN", shortest round-trip).
void AppendValue(std::string& out, double v);

}  // namespace glfm::metrics
