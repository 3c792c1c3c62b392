// residual.cc — see residual.h.
#include "codecs/residual.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/half.h"
#include "common/result.h"
#include "kernels/cpu/quantize.h"
#include "kernels/sketch_map.h"

namespace conccl {

TrackedBuffer::TrackedBuffer(size_t bytes) : n_(bytes) {
  if (bytes) p_ = static_cast<uint8_t*>(calloc(1, bytes));
  if (!p_) n_ = 0;
}
TrackedBuffer::~TrackedBuffer() { free(p_); }
TrackedBuffer::TrackedBuffer(TrackedBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
TrackedBuffer& TrackedBuffer::operator=(TrackedBuffer&& o) noexcept {
  if (this != &o) {
    free(p_);
    p_ = o.p_, n_ = o.n_;
    o.p_ = nullptr, o.n_ = 0;
  }
  return *this;
}
size_t TrackedBuffer::AllocatedBytes() const { return p_ ? malloc_usable_size(p_) : 0; }

bool ResidualFormat::operator==(const ResidualFormat& o) const {
  if (mode != o.mode) return false;
  if (mode != ccFeedbackConef) return true;
  if (codec != o.codec) return false;
  if (codec == ccResidualSketch) return sketchSize == o.sketchSize && beta == o.beta && fp16 == o.fp16;
  return blockSize == o.blockSize;
}

namespace {

// Calls f(j, bucket, sign) for j = 0..n-1 in tiles: the tile's buckets are hashed first and their slots
// in `table` prefetched, so the random accesses that follow overlap instead of waiting one by one.
template <class T, class F>
void ForEachSketchSlot(const SketchMap& map, size_t n, const T* table, F&& f) {
  constexpr size_t kTile = 64;
  uint32_t bucket[kTile];
  float sign[kTile];
  for (size_t j0 = 0; j0 < n; j0 += kTile) {
    size_t m = std::min(kTile, n - j0);
    for (size_t t = 0; t < m; ++t) {
      uint32_t k = static_cast<uint32_t>(j0 + t);
      bucket[t] = map.Bucket(k);
      sign[t] = map.Sign(k);
      __builtin_prefetch(table + bucket[t]);
    }
    for (size_t t = 0; t < m; ++t) f(j0 + t, bucket[t], sign[t]);
  }
}

QuantParams ResidualQuant(const ResidualFormat& f) {
  return QuantParams{f.blockSize, f.codec == ccResidualInt4 ? 4u : 8u, false, 0, 0, 0};
}

bool IsQuantized(const ResidualFormat& f) { return f.mode == ccFeedbackConef && f.codec != ccResidualSketch; }
bool IsSketch(const ResidualFormat& f) { return f.mode == ccFeedbackConef && f.codec == ccResidualSketch; }

}  // namespace

size_t Residual::BytesFor(size_t count, const ResidualFormat& fmt) {
  if (IsSketch(fmt)) {
    size_t buckets = std::max<size_t>(1, static_cast<size_t>(std::floor(fmt.sketchSize * static_cast<double>(count))));
    return buckets * (fmt.fp16 ? 2 : 4);
  }
  if (IsQuantized(fmt)) {
    QuantParams q = ResidualQuant(fmt);
    return QuantizedBytes(count, q.blockSize, q.bits);
  }
  return count * sizeof(float);
}

Residual::Residual(size_t count, const ResidualFormat& fmt) : count_(count), fmt_(fmt), data_(BytesFor(count, fmt)) {
  if (IsSketch(fmt_)) buckets_ = data_.size() / (fmt_.fp16 ? 2 : 4);
}

size_t Residual::AllocatedBytes() const {
  return data_.AllocatedBytes() + (ownerVec_.capacity() ? malloc_usable_size(const_cast<float*>(ownerVec_.data())) : 0);
}

void Residual::LoadBuckets(std::vector<float>* c) const {
  c->resize(buckets_);
  if (fmt_.fp16) {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(data_.data());
    for (size_t b = 0; b < buckets_; ++b) (*c)[b] = HalfToFloat(h[b]);
  } else {
    memcpy(c->data(), data_.data(), buckets_ * sizeof(float));
  }
}
void Residual::StoreBuckets(const std::vector<float>& c) {
  if (fmt_.fp16) {
    uint16_t* h = reinterpret_cast<uint16_t*>(data_.data());
    for (size_t b = 0; b < buckets_; ++b) h[b] = FloatToHalf(c[b]);
  } else {
    memcpy(data_.data(), c.data(), buckets_ * sizeof(float));
  }
}

void Residual::Decompress(float* out) const {
  if (IsSketch(fmt_)) {
    std::vector<float> c;
    LoadBuckets(&c);
    ForEachSketchSlot(SketchMap(static_cast<uint32_t>(buckets_)), count_, c.data(),
                      [&](size_t j, uint32_t b, float sign) { out[j] = sign * c[b]; });
  } else if (IsQuantized(fmt_)) {
    DequantizeBlocks(ResidualQuant(fmt_), data_.data(), count_, out);
  } else {
    memcpy(out, data_.data(), count_ * sizeof(float));
  }
}

void Residual::AddFeedback(const float* g, size_t n, float* p) const {
  if (!IsSketch(fmt_) && !IsQuantized(fmt_)) {
    const float* e = reinterpret_cast<const float*>(data_.data());
    for (size_t i = 0; i < n; ++i) p[i] = g[i] + e[i];
    return;
  }
  if (IsSketch(fmt_)) {  // p = g + (1 - beta) U(c), in one pass
    std::vector<float> c;
    LoadBuckets(&c);
    const float gain = 1.0f - fmt_.beta;
    ForEachSketchSlot(SketchMap(static_cast<uint32_t>(buckets_)), n, c.data(),
                      [&](size_t j, uint32_t b, float sign) { p[j] = g[j] + gain * sign * c[b]; });
    return;
  }
  Decompress(p);
  for (size_t i = 0; i < n; ++i) p[i] = g[i] + p[i];
}

void Residual::Update(const float* g, const float* p, const float* t, size_t n) {
  if (IsSketch(fmt_)) {
    // c <- c + S(g - t): the unsent gradient mass accumulates; (1-beta) of it is fed back per call.
    // Each slot holds the bucket and how many elements it serves (this call's count), so that the norm of
    // U(c), sum_j c[b(j)]^2 = sum_b occupancy_b c_b^2, needs no further pass over the elements.
    struct Slot {
      float c;
      uint32_t occupancy;
    };
    std::vector<float> c;
    LoadBuckets(&c);
    std::vector<Slot> slots(buckets_);
    for (size_t b = 0; b < buckets_; ++b) slots[b] = Slot{c[b], 0};
    ForEachSketchSlot(SketchMap(static_cast<uint32_t>(buckets_)), n, slots.data(),
                      [&](size_t j, uint32_t b, float sign) {
                        slots[b].c += sign * (g[j] - t[j]);
                        slots[b].occupancy++;
                      });
    for (size_t b = 0; b < buckets_; ++b) c[b] = slots[b].c;
    StoreBuckets(c);
    LoadBuckets(&c);  // the stored values (float16 rounds them)
    double norm = 0;
    for (size_t b = 0; b < buckets_; ++b) norm += double(slots[b].occupancy) * c[b] * c[b];
    sketchNormSq_ = n == count_ ? norm : -1.0;
    return;
  }
  if (IsQuantized(fmt_)) {
    std::vector<float> e(n);
    Subtract(p, t, n, e.data());
    QuantizeBlocks(ResidualQuant(fmt_), e.data(), n, data_.data());
    return;
  }
  Subtract(p, t, n, reinterpret_cast<float*>(data_.data()));
}

void Residual::Assign(const float* e) {
  sketchNormSq_ = -1.0;
  if (IsSketch(fmt_)) {  // least-squares projection would need n_b; the sketch of e is its natural image
    std::vector<float> c(buckets_, 0.0f);
    std::vector<uint32_t> occupancy(buckets_, 0);
    const SketchMap map(static_cast<uint32_t>(buckets_));
    for (size_t j = 0; j < count_; ++j) {
      uint32_t k = static_cast<uint32_t>(j), b = map.Bucket(k);
      c[b] += map.Sign(k) * e[j];
      occupancy[b]++;
    }
    for (uint32_t b = 0; b < buckets_; ++b) c[b] = occupancy[b] ? c[b] / occupancy[b] : 0.0f;
    StoreBuckets(c);
  } else if (IsQuantized(fmt_)) {
    QuantizeBlocks(ResidualQuant(fmt_), e, count_, data_.data());
  } else {
    memcpy(data_.data(), e, count_ * sizeof(float));
  }
}

double Residual::Norm() const {
  double s = 0;
  if (IsSketch(fmt_) && sketchNormSq_ >= 0) {
    s = sketchNormSq_;  // from the last Update
  } else {
    std::vector<float> e(count_);
    Decompress(e.data());
    for (float v : e) s += static_cast<double>(v) * v;
  }
  for (float v : ownerVec_) s += static_cast<double>(v) * v;
  return std::sqrt(s);
}

ccResult_t ResidualStore::Get(uint64_t key, size_t count, const ResidualFormat& fmt, Residual** out) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.residual->count() != count || !(it->second.residual->format() == fmt))
      return SetError(ccInvalidUsage,
                      "residual key 0x%llx was created for %zu elements with another feedback format; now %zu "
                      "(use a distinct config->key per tensor, or ccCommResetResiduals)",
                      (unsigned long long)key, it->second.residual->count(), count);
    it->second.lastUse = ++clock_;
    *out = it->second.residual.get();
    return ccSuccess;
  }
  auto r = std::make_unique<Residual>(count, fmt);
  if (count && !r->raw().data()) return SetError(ccSystemError, "cannot allocate the residual of %zu elements", count);
  *out = r.get();
  entries_[key] = Entry{std::move(r), ++clock_};
  EvictOver(key);
  return ccSuccess;
}

void ResidualStore::EvictOver(uint64_t keep) {
  while (maxBytes_ > 0 && Bytes(0) > maxBytes_ && entries_.size() > 1) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->first != keep && (victim == entries_.end() || it->second.lastUse < victim->second.lastUse)) victim = it;
    if (victim == entries_.end()) return;
    CC_WARN("residual memory %zu bytes exceeds CONCCL_RESIDUAL_MAX_BYTES=%zu: evicting key 0x%llx (%zu bytes)",
            Bytes(0), maxBytes_, (unsigned long long)victim->first, victim->second.residual->AllocatedBytes());
    entries_.erase(victim);
  }
}

Residual* ResidualStore::Find(uint64_t key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.residual.get();
}

size_t ResidualStore::Bytes(uint64_t key) const {
  size_t total = 0;
  for (auto& kv : entries_)
    if (key == 0 || kv.first == key) total += kv.second.residual->AllocatedBytes();
  return total;
}

std::vector<uint64_t> ResidualStore::Keys() const {
  std::vector<uint64_t> keys;
  for (auto& kv : entries_) keys.push_back(kv.first);
  return keys;
}

}  // namespace conccl
