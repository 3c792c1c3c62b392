// doorbell.h — a futex-backed wakeup counter. A waiter reads Value(), checks its condition, and calls
// Wait(value, ms) to sleep until someone Ring()s; no wakeup is lost between the check and the sleep.
// The word may live in shared memory (process-shared futex), so shm peers can wake each other.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace conccl {

// A hint to the CPU that this thread is spinning (frees the core's resources for its sibling thread).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

struct DoorbellWord {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint32_t> waiters{0};
};
static_assert(sizeof(DoorbellWord) == 8, "doorbell layout is shared across processes");

class Doorbell {
 public:
  explicit Doorbell(DoorbellWord* word = nullptr) : word_(word) {}
  void Attach(DoorbellWord* word) { word_ = word; }
  DoorbellWord* word() const { return word_; }

  uint32_t Value() const { return word_->seq.load(std::memory_order_acquire); }

  void Ring() {
    word_->seq.fetch_add(1, std::memory_order_acq_rel);
    if (word_->waiters.load(std::memory_order_acquire) != 0)
      syscall(SYS_futex, &word_->seq, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
  }

  // Sleeps while the counter still equals `seen`, at most timeoutMs.
  void Wait(uint32_t seen, int timeoutMs) {
    word_->waiters.fetch_add(1, std::memory_order_acq_rel);
    if (word_->seq.load(std::memory_order_acquire) == seen) {
      timespec ts{timeoutMs / 1000, (timeoutMs % 1000) * 1000000L};
      syscall(SYS_futex, &word_->seq, FUTEX_WAIT, seen, &ts, nullptr, 0);
    }
    word_->waiters.fetch_sub(1, std::memory_order_acq_rel);
  }

 private:
  DoorbellWord* word_;
};

}  // namespace conccl
