// residual.h — the error-feedback residual store: one residual per key, created lazily, stored as fp32
// (ef, ef2) or compressed (conef: int8/int4 block quantization or a count sketch). Memory is measured
// from the allocator (malloc_usable_size of each buffer) and capped: past the cap the least recently
// used keys are evicted with a WARN line. Knows nothing of communicators or transports.
//
// Update rules (reference/seed-algorithms.md):
//   ef/ef2:        p = g + e;               e <- p - D(C(p))
//   conef int8/4:  p = g + D_Q(eq);         eq <- Q(p - D(C(p)))
//   conef sketch:  p = g + (1-beta) U(c);   c <- c + S(g - D(C(p)))   [= c + S(p - D(C(p)) - (1-beta)U(c))]
// with S(v)[h(j)] += s(j) v_j, U(c)_j = s(j) c[h(j)], h and s from the ConEF paper's MurmurHash3 mix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conccl.h"

namespace conccl {

// A malloc'd buffer whose footprint is what the allocator reports.
class TrackedBuffer {
 public:
  TrackedBuffer() = default;
  explicit TrackedBuffer(size_t bytes);
  ~TrackedBuffer();
  TrackedBuffer(TrackedBuffer&& o) noexcept;
  TrackedBuffer& operator=(TrackedBuffer&& o) noexcept;
  TrackedBuffer(const TrackedBuffer&) = delete;
  TrackedBuffer& operator=(const TrackedBuffer&) = delete;
  uint8_t* data() const { return p_; }
  size_t size() const { return n_; }
  size_t AllocatedBytes() const;  // malloc_usable_size, 0 when empty

 private:
  uint8_t* p_ = nullptr;
  size_t n_ = 0;
};

struct ResidualFormat {
  ccFeedback_t mode = ccFeedbackNone;
  ccResidualCodec_t codec = ccResidualInt8;  // conef only
  uint32_t blockSize = 256;                  // conef int8/int4
  float sketchSize = 0.2f;
  float beta = 0.9f;
  bool fp16 = false;
  bool operator==(const ResidualFormat& o) const;
};

class Residual {
 public:
  Residual(size_t count, const ResidualFormat& fmt);
  // Bytes of the stored residual for count elements in format fmt (no allocation).
  static size_t BytesFor(size_t count, const ResidualFormat& fmt);
  size_t count() const { return count_; }
  const ResidualFormat& format() const { return fmt_; }
  size_t AllocatedBytes() const;  // allocator-measured: the residual and the ef2 owner residual

  // p = g + feedback (see the update rules).
  void AddFeedback(const float* g, size_t n, float* p) const;
  // Stores the new residual from g, p and the transmitted D(C(p)).
  void Update(const float* g, const float* p, const float* transmitted, size_t n);
  // The residual as fp32 (for the sketch: U(c), the estimate of the accumulated error).
  void Decompress(float* out) const;
  // Replaces the residual by e (re-compressed for conef).
  void Assign(const float* e);
  // The ef2 owner residual (fp32), sized by the schedule.
  std::vector<float>& owner() { return ownerVec_; }
  double Norm() const;

  // Raw bytes for save/load.
  const TrackedBuffer& raw() const { return data_; }
  TrackedBuffer& raw() {  // a caller may rewrite the bytes: the cached sketch norm no longer holds
    sketchNormSq_ = -1.0;
    return data_;
  }

 private:
  // The sketch's buckets as fp32, and back (converting from/to float16 when the format stores them so).
  void LoadBuckets(std::vector<float>* c) const;
  void StoreBuckets(const std::vector<float>& c);

  size_t count_;
  ResidualFormat fmt_;
  size_t buckets_ = 0;
  TrackedBuffer data_;
  std::vector<float> ownerVec_;  // std::allocator uses malloc here, so malloc_usable_size measures it
  double sketchNormSq_ = -1.0;   // sketch: ||U(c)||^2 after the last Update (-1 = unknown: compute it)
};

class ResidualStore {
 public:
  explicit ResidualStore(size_t maxBytes) : maxBytes_(maxBytes) {}
  // The residual of key, created (zero) on first use; a key reused with another count or format is
  // ccInvalidUsage.
  ccResult_t Get(uint64_t key, size_t count, const ResidualFormat& fmt, Residual** out);
  Residual* Find(uint64_t key);
  size_t Bytes(uint64_t key) const;  // key 0 = all
  void Clear() { entries_.clear(); }
  std::vector<uint64_t> Keys() const;
  // Serialisation: a versioned byte image of every residual, tagged with rank and nranks.
  size_t SaveSize() const;
  ccResult_t Save(int rank, int nranks, uint8_t* buf, size_t cap, size_t* written) const;
  ccResult_t Load(int rank, int nranks, const uint8_t* buf, size_t size);

 private:
  void EvictOver(uint64_t keep);
  struct Entry {
    std::unique_ptr<Residual> residual;
    uint64_t lastUse;
  };
  size_t maxBytes_;
  uint64_t clock_ = 0;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace conccl
