// compressed.h — schedules of ccAllreduceCompressed over fp32 working buffers. The codec layer
// (src/core/compressed_allreduce.cc) prepares the inputs (error feedback, type conversion) and
// finishes the output; these only move and reduce compressed blocks. All ranks end with bitwise
// identical `out`.
#pragma once

#include <cstddef>
#include <vector>

#include "algorithms/links.h"
#include "conccl_codec.h"

namespace conccl {

// Every compressed message starts with this header; a receiver checks each field against what it
// expects before it reads the payload.
struct ChunkHeader {
  uint32_t magic;
  uint16_t wireId;
  uint8_t version;
  uint8_t bits;
  uint32_t count;      // elements in the chunk
  uint32_t blockSize;
  uint64_t payloadBytes;
};
static_assert(sizeof(ChunkHeader) == 24, "wire layout");

// Validates a received message of `bytes` bytes holding `count` elements. ccRemoteError with the reason.
ccResult_t ValidateChunk(const ccCodec_v1_t& codec, const ccCodecParams_v1_t& params, const void* msg, size_t bytes,
                         size_t count, int fromRank);

struct CompressedPlan {
  const ccCodec_v1_t* codec = nullptr;
  ccCodecParams_v1_t params{};  // firstIndex is set per chunk by the schedule
  size_t blockSize = 1;         // segments and chunks are whole blocks
};

// Writes ChunkHeader + C(x[0..n)) into buf (x starts at global element firstIndex); with hopIn, the
// fused hop C(D(hopIn) + x) instead.
ccResult_t EncodeChunk(const CompressedPlan& plan, size_t firstIndex, const float* x, size_t n,
                       std::vector<uint8_t>* buf, const uint8_t* hopIn = nullptr, size_t hopBytes = 0);
// Decompresses a validated message (header + payload) of `bytes` bytes into out[0..n).
ccResult_t DecodeChunk(const CompressedPlan& plan, size_t firstIndex, const uint8_t* msg, size_t bytes, float* out,
                       size_t n);

// Tree: two binary trees (as TreeAllReduce) each own half of the blocks; per chunk a node adds its
// children's decompressed partial sums to `local` (a leaf compresses `first`), compresses once and sends
// up; the root's bytes are final and travel down unchanged, and every rank decompresses them.
ccResult_t CompressedTreeAllReduce(Links& links, const CompressedPlan& plan, const float* first, const float* local,
                                   float* out, size_t count);

// Ring: reduce-scatter where step 0 sends C(first) of this rank's segment and each later hop sends
// C(D(received) + local); the owner of a segment makes its final bytes (adding and refreshing
// ownerResidual, when given: the ef2 residual of that segment); an all-gather then spreads each chunk's
// final bytes and every rank decompresses them into out.
ccResult_t CompressedRingAllReduce(Links& links, const CompressedPlan& plan, const float* first, const float* local,
                                   float* out, size_t count, std::vector<float>* ownerResidual);

// All-gather codecs: every rank compresses its whole input once, the compressed forms are all-gathered,
// and every rank decompresses and sums them in rank order.
ccResult_t CompressedAllGatherReduce(Links& links, const CompressedPlan& plan, const float* in, float* out,
                                     size_t count);

// Elements of the segment that this rank finalises in CompressedRingAllReduce (ef2 residual size).
size_t OwnerSegmentCount(int nranks, int rank, size_t count, size_t blockSize);

}  // namespace conccl

namespace conccl {

// Random block (DEF's URSB): the contiguous block [start, start+len) of p (wrapping past the end) is
// ring-all-reduced exactly as len float32 values; out holds the sums there and zeros elsewhere.
ccResult_t RandomBlockAllReduce(Links& links, const float* p, float* out, size_t count, size_t start, size_t len);

// Summable integers: ranks agree on per-block scales (all-reduce-max of block maxima), quantize with
// `bits` bits, and the ring adds the integers exactly in a container with ceil(log2 nranks) headroom
// bits (int16 when bits + headroom <= 16, else int32). out = integer sum * scale; transmitted (may be
// NULL) receives this rank's own dequantized contribution.
struct SummableParams {
  uint32_t blockSize, bits;
  bool stochastic;
  uint64_t seed, stream;
};
ccResult_t SummableAllReduce(Links& links, const SummableParams& sp, const float* p, float* out, size_t count,
                             float* transmitted);

}  // namespace conccl
