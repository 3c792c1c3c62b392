// compressed_ring.cc — the compressed ring and all-gather schedules (see compressed.h).
//
// Layout as in ring.cc, in units of codec blocks: blocks are split over nranks segments, each segment is
// streamed in chunks of whole blocks. Incoming messages from the previous rank, in order:
//   reduce-scatter step s < n-1: segment (r-s-1); hop it (or, at the last step, finalise it);
//   all-gather step a < n-1: segment (r-a)'s final bytes; decompress, forward unless last.
// Every message buffer lives until the end of the call, so no send ever reads a buffer being rewritten.
#include <algorithm>
#include <cstring>

#include "algorithms/compressed.h"
#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"

namespace conccl {

constexpr uint32_t kChunkMagic = 0x4343434b;  // "CCCK"
constexpr uint8_t kChunkVersion = 1;

ccResult_t ValidateChunk(const ccCodec_v1_t& codec, const ccCodecParams_v1_t& params, const void* msg, size_t bytes,
                         size_t count, int from) {
  if (bytes < sizeof(ChunkHeader))
    return SetError(ccRemoteError, "compressed block from rank %d: %zu bytes, shorter than its header", from, bytes);
  ChunkHeader h;
  memcpy(&h, msg, sizeof(h));
  const char* why = nullptr;
  if (h.magic != kChunkMagic) why = "bad magic";
  else if (h.version != kChunkVersion) why = "unknown version";
  else if (h.wireId != codec.wireId) why = "different codec";
  else if (h.bits != static_cast<uint8_t>(params.bits)) why = "different bits";
  else if (h.count != count) why = "different element count";
  else if (h.blockSize != params.blockSize) why = "different block size";
  else if (h.payloadBytes != bytes - sizeof(ChunkHeader)) why = "payload length disagrees with the message size";
  else if (h.payloadBytes > codec.compressedBound(&params, count)) why = "payload larger than the codec's bound";
  if (why) return SetError(ccRemoteError, "compressed block from rank %d rejected: %s", from, why);
  return ccSuccess;
}

static ccResult_t CodecError(const ccCodec_v1_t& c, int rc, const char* what) {
  return SetError(rc == ccCodecErrorCorrupt ? ccRemoteError : ccInternalError, "codec %s: %s failed (%d)", c.name,
                  what, rc);
}

// Writes header + C(x) (or the fused hop) into buf; returns total bytes.
ccResult_t EncodeChunk(const CompressedPlan& plan, size_t firstIndex, const float* x, size_t n, std::vector<uint8_t>* buf,
                  const uint8_t* hopIn, size_t hopBytes) {
  ccCodecParams_v1_t p = plan.params;
  p.firstIndex = firstIndex;
  const ccCodec_v1_t& c = *plan.codec;
  size_t cap = c.compressedBound(&p, n);
  buf->resize(sizeof(ChunkHeader) + cap);
  size_t wrote = 0;
  uint8_t* payload = buf->data() + sizeof(ChunkHeader);
  int rc;
  if (hopIn && c.decompressAddCompress) {
    rc = c.decompressAddCompress(&p, hopIn, hopBytes, x, n, payload, cap, &wrote);
  } else if (hopIn) {
    std::vector<float> sum(n);
    rc = c.decompress(&p, hopIn, hopBytes, sum.data(), n);
    for (size_t i = 0; rc == ccCodecOk && i < n; ++i) sum[i] += x[i];
    if (rc == ccCodecOk) rc = c.compress(&p, sum.data(), n, payload, cap, &wrote);
  } else {
    rc = c.compress(&p, x, n, payload, cap, &wrote);
  }
  if (rc != ccCodecOk) return CodecError(c, rc, hopIn ? "hop" : "compress");
  ChunkHeader h{kChunkMagic, static_cast<uint16_t>(c.wireId), kChunkVersion, static_cast<uint8_t>(p.bits),
                static_cast<uint32_t>(n), p.blockSize, wrote};
  memcpy(buf->data(), &h, sizeof(h));
  buf->resize(sizeof(ChunkHeader) + wrote);
  return ccSuccess;
}

ccResult_t DecodeChunk(const CompressedPlan& plan, size_t firstIndex, const uint8_t* msg, size_t bytes, float* out,
                  size_t n) {
  ccCodecParams_v1_t p = plan.params;
  p.firstIndex = firstIndex;
  int rc = plan.codec->decompress(&p, msg + sizeof(ChunkHeader), bytes - sizeof(ChunkHeader), out, n);
  return rc == ccCodecOk ? ccSuccess : CodecError(*plan.codec, rc, "decompress");
}

namespace {

constexpr size_t kWindow = 4;


struct BlockPartition {
  size_t count, B, n, chunkElems, K;
  size_t NB() const { return (count + B - 1) / B; }
  size_t SegBegin(size_t s) const { return std::min(count, (s * (NB() / n) + std::min(s, NB() % n)) * B); }
  void Chunk(size_t s, size_t k, size_t* begin, size_t* len) const {
    size_t b = SegBegin(s), e = s + 1 < n ? SegBegin(s + 1) : count;
    *begin = std::min(e, b + k * chunkElems);
    *len = std::min(chunkElems, e - *begin);
  }
};

BlockPartition MakeBlockPartition(size_t count, size_t n, size_t B, size_t chunkBytes) {
  BlockPartition P{count, B, n, std::max(B, chunkBytes / sizeof(float) / B * B), 1};
  size_t maxSeg = (P.NB() + n - 1) / n * B;
  P.K = std::max<size_t>(1, (maxSeg + P.chunkElems - 1) / P.chunkElems);
  return P;
}

}  // namespace

size_t OwnerSegmentCount(int nranks, int rank, size_t count, size_t blockSize) {
  BlockPartition P = MakeBlockPartition(count, nranks, blockSize, blockSize * sizeof(float));
  size_t seg = (rank + 1) % nranks;
  size_t b = P.SegBegin(seg), e = seg + 1 < P.n ? P.SegBegin(seg + 1) : count;
  return e - b;
}

ccResult_t CompressedRingAllReduce(Links& L, const CompressedPlan& plan, const float* first, const float* local,
                                   float* out, size_t count, std::vector<float>* ownerResidual) {
  int n = L.NRanks(), r = L.Rank();
  BlockPartition P = MakeBlockPartition(count, n, plan.blockSize, L.ChunkBytes());
  if (n == 1 || count == 0) {  // a single rank still sees its own compression, as every rank would
    std::vector<uint8_t> buf;
    if (count) CC_CHECK(EncodeChunk(plan, 0, first, count, &buf));
    if (count) CC_CHECK(DecodeChunk(plan, 0, buf.data(), buf.size(), out, count));
    return ccSuccess;
  }
  int next = (r + 1) % n, prev = (r + n - 1) % n;
  size_t K = P.K, total = 2 * static_cast<size_t>(n - 1) * K;
  size_t ownSeg = (r + 1) % n;
  std::vector<std::vector<uint8_t>> rsOut(n * K), finalBytes(n * K);
  std::vector<std::vector<uint8_t>> slots(kWindow);
  std::vector<Request*> reqs(kWindow, nullptr);
  struct Guard {
    Links& l;
    std::vector<Request*>& r;
    ~Guard() { DropAll(l, &r); }
  } guard{L, reqs};
  SendQueue sends(L);
  size_t ownerOff = P.SegBegin(ownSeg);
  if (ownerResidual) ownerResidual->resize(OwnerSegmentCount(n, r, count, plan.blockSize), 0.0f);

  auto segOf = [&](size_t m) {
    size_t step = m / K, back = step < static_cast<size_t>(n - 1) ? step + 1 : step - (n - 1);
    return (r + 2 * n - back % n) % n;
  };
  auto isReduce = [&](size_t m) { return m / K < static_cast<size_t>(n - 1); };
  auto post = [&](size_t m) -> ccResult_t {
    size_t b, len;
    P.Chunk(segOf(m), m % K, &b, &len);
    ccCodecParams_v1_t p = plan.params;
    size_t cap = sizeof(ChunkHeader) + plan.codec->compressedBound(&p, len);
    std::vector<uint8_t>* dst = isReduce(m) ? &slots[m % kWindow] : &finalBytes[segOf(m) * K + m % K];
    dst->resize(cap);
    return L.Irecv(prev, kChanRing, dst->data(), cap, &reqs[m % kWindow]);
  };

  for (size_t k = 0; k < K; ++k) {  // step 0: compress our own segment
    size_t b, len;
    P.Chunk(r, k, &b, &len);
    std::vector<uint8_t>& buf = rsOut[r * K + k];
    CC_CHECK(EncodeChunk(plan, b, first + b, len, &buf));
    CC_CHECK(sends.Post(next, kChanRing, buf.data(), buf.size()));
  }
  for (size_t m = 0; m < std::min(total, kWindow); ++m) CC_CHECK(post(m));
  for (size_t m = 0; m < total; ++m) {
    size_t seg = segOf(m), k = m % K, b, len, got = 0;
    P.Chunk(seg, k, &b, &len);
    Request* req = reqs[m % kWindow];
    reqs[m % kWindow] = nullptr;
    CC_CHECK(WaitRequest(L, req, &got));
    std::vector<uint8_t>& msg = isReduce(m) ? slots[m % kWindow] : finalBytes[seg * K + k];
    CC_CHECK(ValidateChunk(*plan.codec, plan.params, msg.data(), got, len, prev));
    msg.resize(got);
    size_t step = m / K;
    if (isReduce(m) && step < static_cast<size_t>(n - 2)) {
      std::vector<uint8_t>& o = rsOut[seg * K + k];
      CC_CHECK(EncodeChunk(plan, b, local + b, len, &o, msg.data() + sizeof(ChunkHeader), got - sizeof(ChunkHeader)));
      CC_CHECK(sends.Post(next, kChanRing, o.data(), o.size()));
    } else if (isReduce(m)) {  // last reduce step: this rank owns the segment and makes its final bytes
      std::vector<uint8_t>& fin = finalBytes[seg * K + k];
      if (ownerResidual) {
        std::vector<float> v(len), back(len);
        CC_CHECK(DecodeChunk(plan, b, msg.data(), got, v.data(), len));
        float* e2 = ownerResidual->data() + (b - ownerOff);
        for (size_t i = 0; i < len; ++i) v[i] += local[b + i] + e2[i];
        CC_CHECK(EncodeChunk(plan, b, v.data(), len, &fin));
        CC_CHECK(DecodeChunk(plan, b, fin.data(), fin.size(), back.data(), len));
        for (size_t i = 0; i < len; ++i) e2[i] = v[i] - back[i];
      } else {
        CC_CHECK(EncodeChunk(plan, b, local + b, len, &fin, msg.data() + sizeof(ChunkHeader), got - sizeof(ChunkHeader)));
      }
      CC_CHECK(DecodeChunk(plan, b, fin.data(), fin.size(), out + b, len));
      CC_CHECK(sends.Post(next, kChanRing, fin.data(), fin.size()));
    } else {
      CC_CHECK(DecodeChunk(plan, b, msg.data(), got, out + b, len));
      if (step - (n - 1) < static_cast<size_t>(n - 2)) CC_CHECK(sends.Post(next, kChanRing, msg.data(), got));
    }
    if (m + kWindow < total) CC_CHECK(post(m + kWindow));
    CC_CHECK(sends.Reap());
  }
  return sends.Drain();
}

ccResult_t CompressedAllGatherReduce(Links& L, const CompressedPlan& plan, const float* in, float* out, size_t count) {
  int n = L.NRanks();
  std::vector<uint8_t> mine;
  CC_CHECK(EncodeChunk(plan, 0, in, count, &mine));
  // Fixed-rate codecs only: every rank's message has the same size, so a plain all-gather serves.
  size_t per = sizeof(ChunkHeader) + plan.codec->compressedBound(&plan.params, count);
  if (mine.size() != per)
    return SetError(ccInternalError, "codec %s is not fixed-rate; it cannot use the all-gather schedule",
                    plan.codec->name);
  std::vector<uint8_t> all(per * n);
  CC_CHECK(RingAllGather(L, mine.data(), all.data(), per));
  std::fill(out, out + count, 0.0f);
  std::vector<float> tmp(count);
  for (int q = 0; q < n; ++q) {
    const uint8_t* msg = all.data() + q * per;
    CC_CHECK(ValidateChunk(*plan.codec, plan.params, msg, per, count, q));
    CC_CHECK(DecodeChunk(plan, 0, msg, per, tmp.data(), count));
    for (size_t i = 0; i < count; ++i) out[i] += tmp[i];
  }
  return ccSuccess;
}

}  // namespace conccl
