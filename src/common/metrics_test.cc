#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace glfm::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterFamilyRendersSortedChildrenWithEscapedLabels) {
  Registry r;
  auto& f = r.AddCounter("glfm_things_total", "Things done.\nSecond line.", {"kind", "code"});
  f.WithLabels({"b", "200"}).Inc(2);
  f.WithLabels({"a \"quoted\"\\", "500"}).Inc();
  f.WithLabels({"b", "200"}).Inc();
  EXPECT_EQ(r.Render(),
            "# HELP glfm_things_total Things done.\\nSecond line.\n"
            "# TYPE glfm_things_total counter\n"
            "glfm_things_total{kind=\"a \\\"quoted\\\"\\\\\",code=\"500\"} 1\n"
            "glfm_things_total{kind=\"b\",code=\"200\"} 3\n");
}

TEST(MetricsTest, SameNameAndKindSharesTheFamily) {
  Registry r;
  auto& a = r.AddGauge("glfm_depth", "Depth.");
  auto& b = r.AddGauge("glfm_depth", "Depth.");
  EXPECT_EQ(&a, &b);
  a.WithLabels({}).Set(2.5);
  b.WithLabels({}).Add(-1);
  EXPECT_EQ(r.Render(), "# HELP glfm_depth Depth.\n# TYPE glfm_depth gauge\nglfm_depth 1.5\n");
}

TEST(MetricsTest, HistogramHasCumulativeBucketsSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("glfm_latency_seconds", "Latency.", {"route"}, {0.1, 1});
  auto& child = h.WithLabels({"/x"});
  child.Observe(0.05);
  child.Observe(0.1);  // le is inclusive
  child.Observe(0.5);
  child.Observe(7);
  EXPECT_EQ(r.Render(),
            "# HELP glfm_latency_seconds Latency.\n"
            "# TYPE glfm_latency_seconds histogram\n"
            "glfm_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
            "glfm_latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
            "glfm_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
            "glfm_latency_seconds_sum{route=\"/x\"} 7.65\n"
            "glfm_latency_seconds_count{route=\"/x\"} 4\n");
}

TEST(MetricsTest, CallbackGaugesAreReadAtRenderTimeInNameOrder) {
  Registry r;
  double v = 1;
  r.AddCallbackGauge("glfm_b", "B.", [&] { return v; });
  r.AddCounter("glfm_a_total", "A.").WithLabels({}).Inc();
  r.AddCounter("glfm_c_total", "C.");
  v = 42;
  EXPECT_EQ(r.Render(),
            "# HELP glfm_a_total A.\n# TYPE glfm_a_total counter\nglfm_a_total 1\n"
            "# HELP glfm_b B.\n# TYPE glfm_b gauge\nglfm_b 42\n"
            "# HELP glfm_c_total C.\n# TYPE glfm_c_total counter\n");
}

TEST(MetricsTest, ValuesUsePrometheusSpelling) {
  std::string out;
  AppendValue(out, std::numeric_limits<double>::infinity());
  out += " ";
  AppendValue(out, -std::numeric_limits<double>::infinity());
  out += " ";
  AppendValue(out, std::nan(""));
  out += " ";
  AppendValue(out, 1e21);
  out += " ";
  AppendValue(out, 0.25);
  EXPECT_EQ(out, "+Inf -Inf NaN 1e+21 0.25");
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& f = r.AddCounter("glfm_hits_total", "Hits.", {"who"});
  auto& h = r.AddHistogram("glfm_h", "H.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        f.WithLabels({t % 2 == 0 ? "even" : "odd"}).Inc();
        h.WithLabels({}).Observe(0.5);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(f.WithLabels({"even"}).value(), 20000u);
  EXPECT_EQ(f.WithLabels({"odd"}).value(), 20000u);
  EXPECT_EQ(h.WithLabels({}).count(), 40000u);
  EXPECT_EQ(h.WithLabels({}).sum(), 20000.0);
  EXPECT_THAT(r.Render(), HasSubstr("glfm_h_bucket{le=\"1\"} 40000\n"));
}

TEST(MetricsDeathTest, MisuseAborts) {
  Registry r;
  r.AddCounter("glfm_x_total", "X.", {"a"});
  EXPECT_DEATH(r.AddGauge("glfm_x_total", "X."), "invariant broken");
  EXPECT_DEATH(r.AddCounter("glfm_x_total", "X.", {"b"}), "invariant broken");
  EXPECT_DEATH(r.AddCounter("bad-name", "X."), "invariant broken");
  EXPECT_DEATH(r.AddCounter("glfm_x_total", "X.", {"a"}).WithLabels({}), "invariant broken");
}

}  // namespace
}  // namespace glfm::metrics
