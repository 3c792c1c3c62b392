// residual_io.cc — ResidualStore::Save / Load: a versioned, bounds-checked byte image (see residual.h).
#include <cstring>

#include "codecs/residual.h"
#include "common/result.h"

namespace conccl {
namespace {

constexpr uint32_t kImageMagic = 0x53524343;  // "CCRS"
constexpr uint32_t kImageVersion = 1;

struct ImageHeader {
  uint32_t magic, version;
  int32_t rank, nranks;
  uint64_t nkeys;
};

struct KeyHeader {
  uint64_t key, count;
  uint32_t mode, codec, blockSize, fp16;
  float sketchSize, beta;
  uint64_t dataBytes, ownerCount;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool Take(void* out, size_t bytes) {
    if (bytes > n_ - off_) return false;
    if (bytes) memcpy(out, p_ + off_, bytes);
    off_ += bytes;
    return true;
  }
  bool AtEnd() const { return off_ == n_; }
  size_t Remaining() const { return n_ - off_; }

 private:
  const uint8_t* p_;
  size_t n_, off_ = 0;
};

}  // namespace

size_t ResidualStore::SaveSize() const {
  size_t n = sizeof(ImageHeader);
  for (auto& kv : entries_)
    n += sizeof(KeyHeader) + kv.second.residual->raw().size() + kv.second.residual->owner().size() * sizeof(float);
  return n;
}

ccResult_t ResidualStore::Save(int rank, int nranks, uint8_t* buf, size_t cap, size_t* written) const {
  size_t need = SaveSize();
  if (cap < need) return SetError(ccInvalidArgument, "residual image needs %zu bytes, buffer has %zu", need, cap);
  ImageHeader h{kImageMagic, kImageVersion, rank, nranks, entries_.size()};
  size_t off = 0;
  auto put = [&](const void* p, size_t n) {
    if (n) memcpy(buf + off, p, n);
    off += n;
  };
  put(&h, sizeof(h));
  for (auto& kv : entries_) {
    Residual& r = *kv.second.residual;
    const ResidualFormat& f = r.format();
    KeyHeader k{kv.first, r.count(), static_cast<uint32_t>(f.mode), static_cast<uint32_t>(f.codec), f.blockSize,
                f.fp16 ? 1u : 0u, f.sketchSize, f.beta, r.raw().size(), r.owner().size()};
    put(&k, sizeof(k));
    put(r.raw().data(), r.raw().size());
    put(r.owner().data(), r.owner().size() * sizeof(float));
  }
  *written = off;
  return ccSuccess;
}

ccResult_t ResidualStore::Load(int rank, int nranks, const uint8_t* buf, size_t size) {
  Reader in(buf, size);
  ImageHeader h;
  if (!buf || !in.Take(&h, sizeof(h)) || h.magic != kImageMagic)
    return SetError(ccInvalidUsage, "residual image: not a ConCCL residual image");
  if (h.version != kImageVersion)
    return SetError(ccInvalidUsage, "residual image: version %u, this library reads %u", h.version, kImageVersion);
  if (h.rank != rank || h.nranks != nranks)
    return SetError(ccInvalidUsage, "residual image was saved by rank %d of %d; this is rank %d of %d", h.rank,
                    h.nranks, rank, nranks);
  std::map<uint64_t, Entry> loaded;
  for (uint64_t i = 0; i < h.nkeys; ++i) {
    KeyHeader k;
    if (!in.Take(&k, sizeof(k))) return SetError(ccInvalidUsage, "residual image: truncated at key %llu", (unsigned long long)i);
    ResidualFormat f;
    f.mode = static_cast<ccFeedback_t>(k.mode);
    f.codec = static_cast<ccResidualCodec_t>(k.codec);
    f.blockSize = k.blockSize;
    f.fp16 = k.fp16 != 0;
    f.sketchSize = k.sketchSize;
    f.beta = k.beta;
    bool sane = k.mode <= ccFeedbackConef && k.mode != ccFeedbackNone && k.codec <= ccResidualSketch &&
                k.blockSize >= 32 && k.blockSize <= 4096 && k.count <= (uint64_t(1) << 40) &&
                k.ownerCount <= k.count && f.sketchSize > 0 && f.sketchSize <= 1 && f.beta >= 0 && f.beta <= 1;
    if (!sane) return SetError(ccInvalidUsage, "residual image: key 0x%llx has invalid fields", (unsigned long long)k.key);
    size_t need = Residual::BytesFor(k.count, f);
    if (need != k.dataBytes)
      return SetError(ccInvalidUsage, "residual image: key 0x%llx holds %llu bytes, its format needs %zu",
                      (unsigned long long)k.key, (unsigned long long)k.dataBytes, need);
    if (k.dataBytes + k.ownerCount * sizeof(float) > in.Remaining())  // checked before anything is allocated
      return SetError(ccInvalidUsage, "residual image: truncated in key 0x%llx", (unsigned long long)k.key);
    auto r = std::make_unique<Residual>(k.count, f);
    if (k.count && !r->raw().data()) return SetError(ccSystemError, "residual image: cannot allocate key 0x%llx", (unsigned long long)k.key);
    r->owner().resize(k.ownerCount);
    if (!in.Take(r->raw().data(), k.dataBytes) || !in.Take(r->owner().data(), k.ownerCount * sizeof(float)))
      return SetError(ccInvalidUsage, "residual image: truncated in key 0x%llx", (unsigned long long)k.key);
    if (loaded.count(k.key)) return SetError(ccInvalidUsage, "residual image: key 0x%llx twice", (unsigned long long)k.key);
    loaded[k.key] = Entry{std::move(r), ++clock_};
  }
  if (!in.AtEnd()) return SetError(ccInvalidUsage, "residual image: trailing bytes");
  entries_.swap(loaded);
  return ccSuccess;
}

}  // namespace conccl
