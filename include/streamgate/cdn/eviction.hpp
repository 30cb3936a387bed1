// Eviction policies for the edge cache: which object leaves when a new one needs room.
//
// One implementation serves both the object store (one policy per shard, charges in bytes) and
// the trace simulator behind `streamgate cache-sim` (charges of 1 per object, or sizes), so the
// hit ratios measured on real traces are those of the code that runs in the proxy.
//
// Objects are named by small integer slots the owner allocates (the store's slot array, the
// simulator's dense object ids); the policy keeps its own per-slot links and counters.
//
//   lru    -> least recently used; a hit moves the object to the front (needs exclusive access).
//   fifo   -> insertion order; hits change nothing.
//   sieve  -> FIFO plus a visited bit and a moving hand (Zhang et al., NSDI'24): hits only set
//             a bit, scan-resistant, no list surgery on hits.
//   s3fifo -> a small FIFO (10% of capacity) filtering one-hit wonders, a main FIFO with
//             2-bit frequencies and a ghost FIFO of recently evicted keys (Yang et al., SOSP'23).
//
// The default, S3-FIFO, was chosen by object hit ratio on the traces in
// ../shared/data/cache-traces (checked by tests/cdn/trace_test.cpp): it beats LRU, FIFO and
// SIEVE on all six trace x size cases. A promotion threshold of 2 hits was worse on two of them.
//
// Not thread-safe, except that Touch may run concurrently with other Touch calls (never with
// Admit/Remove) when touch_needs_exclusive() is false: it only updates relaxed atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "streamgate/cdn/huge_page_allocator.hpp"
#include "streamgate/common/error.hpp"

namespace streamgate::cdn {

enum class PolicyKind { kLru, kFifo, kSieve, kS3Fifo };

inline constexpr PolicyKind kDefaultPolicy = PolicyKind::kS3Fifo;

// "lru", "fifo", "sieve", "s3fifo".
[[nodiscard]] std::string_view ToString(PolicyKind kind);
[[nodiscard]] Result<PolicyKind> ParsePolicyKind(std::string_view name);

using SlotId = std::uint32_t;
inline constexpr SlotId kNoSlot = UINT32_MAX;

class EvictionPolicy {
 public:
  // `capacity` is in the unit of the charges (bytes for the store, objects for cache2k traces).
  explicit EvictionPolicy(std::uint64_t capacity) : capacity_(capacity) {}
  virtual ~EvictionPolicy() = default;
  EvictionPolicy(const EvictionPolicy&) = delete;
  EvictionPolicy& operator=(const EvictionPolicy&) = delete;

  [[nodiscard]] virtual PolicyKind kind() const = 0;
  // False when Touch may run concurrently under a shared lock (everything but LRU).
  [[nodiscard]] virtual bool touch_needs_exclusive() const { return false; }

  // Makes room for `charge` (evicting, victims appended to `victims` and no longer tracked),
  // then tracks `slot`. `key_hash` identifies the object across evictions (S3-FIFO's ghost
  // queue). Preconditions (checked, InvalidArgument): 0 < charge <= capacity, slot untracked.
  [[nodiscard]] Status Admit(SlotId slot, std::uint64_t key_hash, std::uint64_t charge,
                             std::vector<SlotId>& victims);
  // A hit on a tracked slot.
  virtual void Touch(SlotId slot) noexcept = 0;
  // Stops tracking a slot removed for another reason (invalidation, expiry, replacement).
  // Returns false when the slot was not tracked.
  bool Remove(SlotId slot);

  [[nodiscard]] std::uint64_t capacity() const { return capacity_; }
  [[nodiscard]] std::uint64_t used() const { return used_; }
  [[nodiscard]] std::size_t count() const { return count_; }
  [[nodiscard]] bool Tracks(SlotId slot) const {
    return slot < nodes_.size() && nodes_[slot].queue != kUntracked;
  }

 protected:
  // A relaxed atomic byte that can live in a std::vector (copied only under exclusive access).
  struct Counter {
    std::atomic<std::uint8_t> value{0};
    Counter() = default;
    Counter(const Counter& other) : value(other.value.load(std::memory_order_relaxed)) {}
    Counter& operator=(const Counter& other) {
      value.store(other.value.load(std::memory_order_relaxed), std::memory_order_relaxed);
      return *this;
    }
    [[nodiscard]] std::uint8_t load() const { return value.load(std::memory_order_relaxed); }
    void store(std::uint8_t v) { value.store(v, std::memory_order_relaxed); }
  };

  static constexpr std::uint8_t kUntracked = 0xFF;

  // Per-slot links of the doubly linked queues: `newer` points toward the head (most recently
  // inserted), `older` toward the tail.
  struct Node {
    SlotId newer = kNoSlot;
    SlotId older = kNoSlot;
    std::uint64_t charge = 0;
    std::uint64_t key_hash = 0;
    std::uint8_t queue = kUntracked;
    Counter freq;  // visited bit (SIEVE) or 2-bit frequency (S3-FIFO)
  };

  struct Queue {
    SlotId head = kNoSlot;  // newest
    SlotId tail = kNoSlot;  // oldest
    std::uint64_t bytes = 0;
    std::size_t count = 0;
  };

  // Subclass hooks. Track adds an untracked slot whose node charge/key_hash are set; Untrack
  // removes a tracked one; PickVictim chooses, unlinks and returns a tracked slot (there is one).
  virtual void Track(SlotId slot) = 0;
  virtual void Untrack(SlotId slot) = 0;
  virtual SlotId PickVictim() = 0;

  void PushHead(Queue& queue, std::uint8_t queue_id, SlotId slot);
  void Unlink(Queue& queue, SlotId slot);
  [[nodiscard]] Node& node(SlotId slot) { return nodes_[slot]; }
  [[nodiscard]] const Node& node(SlotId slot) const { return nodes_[slot]; }

 private:
  std::uint64_t capacity_;
  std::uint64_t used_ = 0;
  std::size_t count_ = 0;
  std::vector<Node, HugePageAllocator<Node>> nodes_;  // large: on huge pages
};

// S3-FIFO tuning; the defaults are the paper's and the ones measured in the README tables.
struct S3FifoOptions {
  double small_ratio = 0.10;                // share of capacity for the small (probation) queue
  double ghost_ratio = 0.90;                // ghost queue budget, as a share of capacity
  std::uint8_t move_to_main_threshold = 1;  // hits in the small queue that earn promotion
};

// The policy for `kind` with `capacity` in charge units (must be > 0).
[[nodiscard]] std::unique_ptr<EvictionPolicy> MakeEvictionPolicy(PolicyKind kind,
                                                                 std::uint64_t capacity);
[[nodiscard]] std::unique_ptr<EvictionPolicy> MakeS3FifoPolicy(std::uint64_t capacity,
                                                               S3FifoOptions options);

}  // namespace streamgate::cdn
