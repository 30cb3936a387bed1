// A Prober that holds every ProbeAll until released, so a test can change what is probed while a
// sweep is in the middle of probing.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "streamgate/health/prober.hpp"

namespace streamgate::testing {

class GatedProber final : public Prober {
 public:
  explicit GatedProber(std::shared_ptr<Prober> inner) : inner_(std::move(inner)) {}
  std::vector<ProbeResult> ProbeAll(std::span<const Endpoint> targets,
                                    const ProbeOptions& options) override {
    {
      std::unique_lock lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
    return inner_->ProbeAll(targets, options);
  }
  // Returns once a ProbeAll has started (and is held).
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::shared_ptr<Prober> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

}  // namespace streamgate::testing
