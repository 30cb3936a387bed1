// Fixed-size ring of the most recent latency samples: O(1) add and mean, p99 on demand.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace streamgate::scaling {

class LatencyWindow {
 public:
  explicit LatencyWindow(std::size_t capacity) : samples_(capacity, 0) {}

  void Add(std::chrono::microseconds sample);
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::chrono::microseconds Mean() const;
  // Nearest-rank percentile (0 < p <= 100) over the samples held; 0 when empty.
  [[nodiscard]] std::chrono::microseconds Percentile(double p) const;

 private:
  std::vector<std::int64_t> samples_;
  std::size_t next_ = 0;
  std::size_t size_ = 0;
  std::int64_t sum_ = 0;
};

}  // namespace streamgate::scaling
