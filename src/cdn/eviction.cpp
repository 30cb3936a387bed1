#include "streamgate/cdn/eviction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <deque>

namespace streamgate::cdn {

std::string_view ToString(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kLru:
      return "lru";
    case PolicyKind::kFifo:
      return "fifo";
    case PolicyKind::kSieve:
      return "sieve";
    case PolicyKind::kS3Fifo:
      return "s3fifo";
  }
  return "s3fifo";
}

Result<PolicyKind> ParsePolicyKind(std::string_view name) {
  for (PolicyKind kind :
       {PolicyKind::kLru, PolicyKind::kFifo, PolicyKind::kSieve, PolicyKind::kS3Fifo}) {
    if (name == ToString(kind)) return kind;
  }
  return InvalidArgument(
      fmt::format("unknown eviction policy '{}' (expected lru, fifo, sieve or s3fifo)", name));
}

Status EvictionPolicy::Admit(SlotId slot, std::uint64_t key_hash, std::uint64_t charge,
                             std::vector<SlotId>& victims) {
  if (slot == kNoSlot) return InvalidArgument("slot id is reserved");
  if (charge == 0) return InvalidArgument("charge must be > 0");
  if (charge > capacity_) {
    return InvalidArgument(fmt::format("charge {} exceeds capacity {}", charge, capacity_));
  }
  if (Tracks(slot)) return InvalidArgument(fmt::format("slot {} is already tracked", slot));
  if (slot >= nodes_.size()) {
    nodes_.resize(std::max<std::size_t>(static_cast<std::size_t>(slot) + 1, nodes_.size() * 2));
  }
  while (used_ + charge > capacity_) {
    const SlotId victim = PickVictim();
    Node& v = nodes_[victim];
    used_ -= v.charge;
    --count_;
    v.queue = kUntracked;
    victims.push_back(victim);
  }
  Node& n = nodes_[slot];
  n.charge = charge;
  n.key_hash = key_hash;
  n.freq.store(0);
  Track(slot);
  used_ += charge;
  ++count_;
  return {};
}

bool EvictionPolicy::Remove(SlotId slot) {
  if (!Tracks(slot)) return false;
  Untrack(slot);
  Node& n = nodes_[slot];
  used_ -= n.charge;
  --count_;
  n.queue = kUntracked;
  return true;
}

void EvictionPolicy::PushHead(Queue& queue, std::uint8_t queue_id, SlotId slot) {
  Node& n = nodes_[slot];
  n.queue = queue_id;
  n.newer = kNoSlot;
  n.older = queue.head;
  if (queue.head != kNoSlot) nodes_[queue.head].newer = slot;
  queue.head = slot;
  if (queue.tail == kNoSlot) queue.tail = slot;
  queue.bytes += n.charge;
  ++queue.count;
}

void EvictionPolicy::Unlink(Queue& queue, SlotId slot) {
  Node& n = nodes_[slot];
  if (n.newer != kNoSlot) {
    nodes_[n.newer].older = n.older;
  } else {
    queue.head = n.older;
  }
  if (n.older != kNoSlot) {
    nodes_[n.older].newer = n.newer;
  } else {
    queue.tail = n.newer;
  }
  n.newer = kNoSlot;
  n.older = kNoSlot;
  queue.bytes -= n.charge;
  --queue.count;
}

namespace {

// One queue: objects enter at the head and the tail is evicted. LRU and FIFO differ only in
// what a hit does.
class QueuePolicy : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;

 protected:
  Queue queue_;

 private:
  void Track(SlotId slot) override { PushHead(queue_, 0, slot); }
  void Untrack(SlotId slot) override { Unlink(queue_, slot); }
  SlotId PickVictim() override {
    const SlotId victim = queue_.tail;
    Unlink(queue_, victim);
    return victim;
  }
};

// Hits move the object to the head.
class LruPolicy final : public QueuePolicy {
 public:
  using QueuePolicy::QueuePolicy;
  PolicyKind kind() const override { return PolicyKind::kLru; }
  bool touch_needs_exclusive() const override { return true; }
  void Touch(SlotId slot) noexcept override {
    if (!Tracks(slot) || queue_.head == slot) return;
    Unlink(queue_, slot);
    PushHead(queue_, 0, slot);
  }
};

// Insertion order; hits are ignored.
class FifoPolicy final : public QueuePolicy {
 public:
  using QueuePolicy::QueuePolicy;
  PolicyKind kind() const override { return PolicyKind::kFifo; }
  void Touch(SlotId) noexcept override {}
};

// SIEVE: the hand walks from the tail toward the head, clearing visited bits, and evicts the
// first unvisited object; survivors stay in place.
class SievePolicy final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  PolicyKind kind() const override { return PolicyKind::kSieve; }
  void Touch(SlotId slot) noexcept override {
    Counter& visited = node(slot).freq;
    if (visited.load() == 0) visited.store(1);  // read first: a hot object's line stays shared
  }

 private:
  void Track(SlotId slot) override { PushHead(queue_, 0, slot); }
  void Untrack(SlotId slot) override {
    if (hand_ == slot) hand_ = node(slot).newer;
    Unlink(queue_, slot);
  }
  SlotId PickVictim() override {
    SlotId s = hand_ != kNoSlot ? hand_ : queue_.tail;
    while (node(s).freq.load() != 0) {
      node(s).freq.store(0);
      s = node(s).newer;
      if (s == kNoSlot) s = queue_.tail;
    }
    hand_ = node(s).newer;
    Unlink(queue_, s);
    return s;
  }
  Queue queue_;
  SlotId hand_ = kNoSlot;
};

// Keys (hashes) of objects recently evicted from the small queue, in FIFO order, bounded by the
// sum of their charges. Removal on re-admission is lazy: the queue entry goes stale.
class GhostQueue {
 public:
  explicit GhostQueue(std::uint64_t budget) : budget_(budget) {}

  // True (and forgotten) when `hash` is remembered.
  bool Take(std::uint64_t hash) {
    auto it = index_.find(hash);
    if (it == index_.end()) return false;
    bytes_ -= it->second.charge;
    index_.erase(it);
    return true;
  }

  void Add(std::uint64_t hash, std::uint64_t charge) {
    if (budget_ == 0 || charge > budget_) return;
    const std::uint64_t seq = next_seq_++;
    auto [it, inserted] = index_.try_emplace(hash, Info{seq, charge});
    if (!inserted) {
      bytes_ -= it->second.charge;
      it->second = Info{seq, charge};
    }
    bytes_ += charge;
    fifo_.push_back(Item{hash, seq});
    // Stale items are dropped along the way; the size bound keeps them from piling up.
    while (bytes_ > budget_ || fifo_.size() > 2 * index_.size() + 16) {
      const Item oldest = fifo_.front();
      fifo_.pop_front();
      auto found = index_.find(oldest.hash);
      if (found != index_.end() && found->second.seq == oldest.seq) {
        bytes_ -= found->second.charge;
        index_.erase(found);
      }
    }
  }

 private:
  struct Info {
    std::uint64_t seq;
    std::uint64_t charge;
  };
  struct Item {
    std::uint64_t hash;
    std::uint64_t seq;
  };
  std::uint64_t budget_;
  std::uint64_t bytes_ = 0;
  std::uint64_t next_seq_ = 0;
  std::deque<Item> fifo_;
  boost::unordered_flat_map<std::uint64_t, Info> index_;
};

// S3-FIFO. New objects enter the small queue (or main, if the ghost remembers them). Evicting
// from small promotes objects hit at least `move_to_main_threshold` times to main and sends the
// rest to the ghost; evicting from main reinserts objects with a non-zero frequency (after
// decrementing it), like CLOCK with a 2-bit counter.
class S3FifoPolicy final : public EvictionPolicy {
 public:
  S3FifoPolicy(std::uint64_t capacity, S3FifoOptions options)
      : EvictionPolicy(capacity),
        options_(options),
        small_target_(static_cast<std::uint64_t>(static_cast<double>(capacity) *
                                                 std::clamp(options.small_ratio, 0.0, 1.0))),
        ghost_(static_cast<std::uint64_t>(static_cast<double>(capacity) *
                                          std::max(options.ghost_ratio, 0.0))) {}

  PolicyKind kind() const override { return PolicyKind::kS3Fifo; }
  void Touch(SlotId slot) noexcept override {
    Counter& freq = node(slot).freq;
    const std::uint8_t f = freq.load();
    if (f < 3) freq.store(static_cast<std::uint8_t>(f + 1));
  }

 private:
  static constexpr std::uint8_t kSmall = 0;
  static constexpr std::uint8_t kMain = 1;

  void Track(SlotId slot) override {
    if (ghost_.Take(node(slot).key_hash)) {
      PushHead(main_, kMain, slot);
    } else {
      PushHead(small_, kSmall, slot);
    }
  }
  void Untrack(SlotId slot) override { Unlink(node(slot).queue == kSmall ? small_ : main_, slot); }

  SlotId PickVictim() override {
    for (;;) {
      if (small_.count > 0 && (small_.bytes >= small_target_ || main_.count == 0)) {
        const SlotId s = small_.tail;
        Node& n = node(s);
        Unlink(small_, s);
        if (n.freq.load() >= options_.move_to_main_threshold) {
          n.freq.store(0);
          PushHead(main_, kMain, s);
          continue;
        }
        ghost_.Add(n.key_hash, n.charge);
        return s;
      }
      const SlotId s = main_.tail;
      Node& n = node(s);
      Unlink(main_, s);
      const std::uint8_t f = n.freq.load();
      if (f > 0) {
        n.freq.store(static_cast<std::uint8_t>(f - 1));
        PushHead(main_, kMain, s);
        continue;
      }
      return s;
    }
  }

  S3FifoOptions options_;
  std::uint64_t small_target_;
  Queue small_;
  Queue main_;
  GhostQueue ghost_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> MakeS3FifoPolicy(std::uint64_t capacity, S3FifoOptions options) {
  return std::make_unique<S3FifoPolicy>(capacity, options);
}

std::unique_ptr<EvictionPolicy> MakeEvictionPolicy(PolicyKind kind, std::uint64_t capacity) {
  switch (kind) {
    case PolicyKind::kLru:
      return std::make_unique<LruPolicy>(capacity);
    case PolicyKind::kFifo:
      return std::make_unique<FifoPolicy>(capacity);
    case PolicyKind::kSieve:
      return std::make_unique<SievePolicy>(capacity);
    case PolicyKind::kS3Fifo:
      return MakeS3FifoPolicy(capacity, S3FifoOptions{});
  }
  return MakeS3FifoPolicy(capacity, S3FifoOptions{});
}

}  // namespace streamgate::cdn
