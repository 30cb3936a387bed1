#include "scaling/latency_window.hpp"

#include <algorithm>
#include <cmath>

namespace streamgate::scaling {

void LatencyWindow::Add(std::chrono::microseconds sample) {
  if (samples_.empty()) return;
  const std::int64_t value = std::max<std::int64_t>(sample.count(), 0);
  if (size_ == samples_.size()) {
    sum_ -= samples_[next_];
  } else {
    ++size_;
  }
  samples_[next_] = value;
  sum_ += value;
  next_ = (next_ + 1) % samples_.size();
}

std::chrono::microseconds LatencyWindow::Mean() const {
  if (size_ == 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(sum_ / static_cast<std::int64_t>(size_));
}

std::chrono::microseconds LatencyWindow::Percentile(double p) const {
  if (size_ == 0) return std::chrono::microseconds(0);
  std::vector<std::int64_t> sorted(samples_.begin(),
                                   samples_.begin() + static_cast<std::ptrdiff_t>(size_));
  // Nearest rank: the smallest sample with at least p% of samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(size_)));
  rank = std::clamp<std::size_t>(rank, 1, size_);
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                   sorted.end());
  return std::chrono::microseconds(sorted[rank - 1]);
}

}  // namespace streamgate::scaling
