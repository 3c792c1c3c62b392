// compressed_allreduce.cc — ccAllreduceCompressed: checks, warm-up and small-call bypass, type
// conversion to fp32, error feedback through the communicator's residual store, the schedule for the
// codec (flat, or hierarchical across hosts: core/hier_select.h), and telemetry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "algorithms/compressed.h"
#include "algorithms/hier.h"
#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "codecs/codec_registry.h"
#include "common/env.h"
#include "common/half.h"
#include "common/result.h"
#include "core/call.h"
#include "core/comm.h"
#include "core/compress_config.h"
#include "core/device_buffers.h"
#include "core/group.h"
#include "core/hier_select.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/reduce.h"

#define CC_API extern "C" __attribute__((visibility("default")))

namespace conccl {
namespace {

void ToFloat(const void* in, ccDataType_t type, size_t n, float* out) {
  if (n == 0) return;
  if (type == ccFloat32) memcpy(out, in, n * sizeof(float));
  else if (type == ccFloat16) HalfToFloatArray(static_cast<const uint16_t*>(in), n, out);
  else Bf16ToFloatArray(static_cast<const uint16_t*>(in), n, out);
}

void FromFloat(const float* in, ccDataType_t type, size_t n, void* out) {
  if (n == 0) return;
  if (type == ccFloat32) memcpy(out, in, n * sizeof(float));
  else if (type == ccFloat16) FloatToHalfArray(in, n, static_cast<uint16_t*>(out));
  else FloatToBf16Array(in, n, static_cast<uint16_t*>(out));
}

double Nmse(const float* p, const float* t, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = static_cast<double>(p[i]) - t[i];
    num += d * d;
    den += static_cast<double>(p[i]) * p[i];
  }
  return den > 0 ? num / den : 0.0;
}

// Local round trip D(C(x)) over the whole vector: the bytes the ring would produce for this rank alone.
ccResult_t RoundTrip(const ccCodec_v1_t& codec, ccCodecParams_v1_t p, const float* x, size_t n, float* out) {
  p.firstIndex = 0;
  std::vector<uint8_t> buf(codec.compressedBound(&p, n));
  size_t wrote = 0;
  int rc = codec.compress(&p, x, n, buf.data(), buf.size(), &wrote);
  if (rc == ccCodecOk) rc = codec.decompress(&p, buf.data(), wrote, out, n);
  return rc == ccCodecOk ? ccSuccess : SetError(ccInternalError, "codec %s: local round trip failed (%d)", codec.name, rc);
}

// Uninitialised float scratch (a zeroed std::vector would write every byte once more).
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t n) : p_(n ? new float[n] : nullptr) {}
  float* get() const { return p_.get(); }

 private:
  std::unique_ptr<float[]> p_;
};

struct CallPlan {
  const ccCompressConfig_t& cfg;
  uint64_t key;
  uint64_t stream;  // per key and call: shared randomness
};

// Runs the codec's schedule over links on p; fills out (sum over ranks) and, when wanted, transmitted = D(C(p)).
ccResult_t RunCodec(ccComm* comm, Links& links, const CallPlan& cp, const float* p, float* out, size_t count,
                    float* transmitted, Residual* residual) {
  const ccCompressConfig_t& c = cp.cfg;
  if (c.codec == ccCodecRandBlock) {
    size_t len = std::min(count, std::max<size_t>(1, static_cast<size_t>(std::floor(c.ratio * count))));
    size_t start = count ? Mix64(c.seed ^ Mix64(cp.stream)) % count : 0;
    if (transmitted) {
      std::fill(transmitted, transmitted + count, 0.0f);
      for (size_t i = 0; i < len; ++i) transmitted[(start + i) % count] = p[(start + i) % count];
    }
    return count ? RandomBlockAllReduce(links, p, out, count, start, len) : ccSuccess;
  }
  if (c.codec == ccCodecSummable) {
    SummableParams sp{static_cast<uint32_t>(c.blockSize), static_cast<uint32_t>(c.bits), c.rounding == ccRoundStochastic,
                      c.seed, cp.stream};
    return count ? SummableAllReduce(links, sp, p, out, count, transmitted) : ccSuccess;
  }
  CompressedPlan plan;
  if (c.codec == ccCodecPlugin) {
    const char* env = getenv("CONCCL_CODEC_PLUGIN");
    CC_CHECK(LoadCodecPlugin(c.codecName ? c.codecName : (env ? env : ""), &plan.codec));
  } else {
    plan.codec = BuiltinCodec(c.codec);
  }
  bool halfCodec = c.codec == ccCodecFp16 || c.codec == ccCodecBf16;
  plan.blockSize = halfCodec ? 1 : static_cast<size_t>(c.blockSize);
  plan.params.blockSize = static_cast<uint32_t>(plan.blockSize);
  plan.params.bits = c.codec == ccCodecInt4 ? 4 : 8;
  plan.params.stochastic = c.rounding == ccRoundStochastic;
  plan.params.ratio = c.ratio;
  plan.params.seed = c.seed;
  // Each rank draws its own stochastic-rounding numbers: equal draws on every hop would add up instead of
  // averaging out. Only the owner's final bytes must agree, and everyone decodes those same bytes.
  plan.params.stream = Mix64(cp.stream ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(comm->rank + 1)));
  if (transmitted) CC_CHECK(RoundTrip(*plan.codec, plan.params, p, count, transmitted));
  if (plan.codec->flags & CC_CODEC_FLAG_ALLGATHER) return CompressedAllGatherReduce(links, plan, p, out, count);
  const float* local = transmitted ? transmitted : p;
  bool ef2 = residual && c.feedback == ccFeedbackEf2;
  if (c.algo == ccAlgoTree && ef2)
    CC_INFO(kLogColl, "compressed all-reduce: ef2 keeps a chunk owner's residual, which only the ring has; using the ring");
  else if (c.algo == ccAlgoTree)
    return CompressedTreeAllReduce(links, plan, p, local, out, count);
  return CompressedRingAllReduce(links, plan, p, local, out, count, ef2 ? &residual->owner() : nullptr);
}

// Without feedback nothing computes D(C(p)) locally, so the NMSE is estimated on a prefix of p (at most
// 64 Ki elements) by a local round trip with the call's parameters. Random block: exact, 1 - len/count.
double EstimateNmse(ccComm* comm, const CallPlan& cp, const float* p, size_t count) {
  const ccCompressConfig_t& c = cp.cfg;
  size_t n = std::min<size_t>(count, 65536);
  if (n == 0) return 0.0;
  std::vector<float> t(n);
  if (c.codec == ccCodecRandBlock || c.codec == ccCodecSummable || c.codec == ccCodecPlugin) {
    if (c.codec != ccCodecRandBlock) return -1.0;  // needs the other ranks (summable) or a loaded plugin
    size_t len = std::min(count, std::max<size_t>(1, static_cast<size_t>(std::floor(c.ratio * count))));
    return 1.0 - static_cast<double>(len) / static_cast<double>(count);
  }
  const ccCodec_v1_t* codec = BuiltinCodec(c.codec);
  ccCodecParams_v1_t params{};
  params.blockSize = (c.codec == ccCodecFp16 || c.codec == ccCodecBf16) ? 1 : static_cast<uint32_t>(c.blockSize);
  params.bits = c.codec == ccCodecInt4 ? 4 : 8;
  params.stochastic = c.rounding == ccRoundStochastic;
  params.ratio = c.ratio;
  params.seed = c.seed;
  params.stream = cp.stream ^ static_cast<uint64_t>(comm->rank);
  if (RoundTrip(*codec, params, p, n, t.data()) != ccSuccess) return -1.0;
  return Nmse(p, t.data(), n);
}

// Checks with both ring neighbours that the call matches: collective, count, type, op, every codec
// setting, the explicit key and the key's call number (a rank that skipped a call is caught).
ccResult_t CheckCall(ccComm* comm, CollType coll, size_t count, ccDataType_t type, ccRedOp_t op,
                     const ccCompressConfig_t& c, const ccComm::KeyStats& ks) {
  OpHeader h{};
  h.coll = static_cast<uint32_t>(coll);
  h.count = count;
  h.type = type;
  h.op = op;
  h.seq = comm->opSeq++;
  h.param = Mix64(ConfigHash(c) ^ Mix64(c.key) ^ Mix64(ks.totalCalls));
  return CheckOpHeader(*comm, h);
}

struct CodecOutcome {
  double nmse = -1.0;
  double residualNorm = 0.0;
};

// Error feedback and the codec's schedule over `links` on the fp32 input g: out = sum over links' ranks
// (times 1/comm->nranks for avg). g may alias out. The residual of cp.key lives on the ranks that run this.
ccResult_t FeedbackAndCodec(ccComm* comm, Links& links, const CallPlan& cp, const float* g, float* out, size_t count,
                            ccRedOp_t op, CodecOutcome* outcome) {
  const ccCompressConfig_t& c = cp.cfg;
  Scratch gCopy, p, transmitted;
  Residual* residual = nullptr;
  if (c.feedback != ccFeedbackNone) {
    CC_CHECK(comm->residuals->Get(cp.key, count, FormatOf(c), &residual));
    bool sketch = c.feedback == ccFeedbackConef && c.residualCodec == ccResidualSketch;
    if (sketch && g == out) {  // the sketch update reads g after the output replaced it
      gCopy = Scratch(count);
      memcpy(gCopy.get(), g, count * sizeof(float));
      g = gCopy.get();
    }
    p = Scratch(count);
    transmitted = Scratch(count);
    residual->AddFeedback(g, count, p.get());
  }
  const float* pin = residual ? p.get() : g;
  double nmse = residual ? 0.0 : EstimateNmse(comm, cp, pin, count);  // before `out` may overwrite pin
  CC_CHECK(RunCodec(comm, links, cp, pin, out, count, transmitted.get(), residual));
  if (op == ccAvg) {
    float inv = 1.0f / static_cast<float>(comm->nranks);
    for (size_t i = 0; i < count; ++i) out[i] *= inv;
  }
  if (residual) {
    nmse = Nmse(pin, transmitted.get(), count);
    residual->Update(g, p.get(), transmitted.get(), count);
  }
  outcome->nmse = nmse;
  outcome->residualNorm = residual ? residual->Norm() : 0.0;
  return ccSuccess;
}

// Hierarchical (hier.h): exact fp32 sum inside the host to its leader, the codec among the leaders (who
// alone keep residuals), then the leader's recvbuff bytes are broadcast inside the host, so every rank
// ends with the same bits. Ranks that do not lead report nmse -1 (they compress nothing).
ccResult_t HierCompressed(ccComm* comm, const CallPlan& cp, const float* g, float* out, void* recvbuff, size_t count,
                          ccDataType_t type, ccRedOp_t op, CodecOutcome* outcome) {
  SubLinks host = HostLinks(*comm, comm->hosts);
  bool leader = comm->hosts.IsLeader();
  Scratch hostSum(leader && host.NRanks() > 1 ? count : 0);
  const float* hg = g;
  if (host.NRanks() > 1) {
    CC_CHECK(ChainReduce(host, g, hostSum.get(), count, ccFloat32, ccSum, 0));
    hg = hostSum.get();
  }
  if (leader) {
    SubLinks leaders = LeaderLinks(*comm, comm->hosts);
    CC_CHECK(FeedbackAndCodec(comm, leaders, cp, hg, out, count, op, outcome));
    if (type != ccFloat32) FromFloat(out, type, count, recvbuff);
  }
  return ChainBroadcast(host, recvbuff, recvbuff, count * TypeSize(type), 0);
}

ccResult_t Compressed(ccComm* comm, const void* sendbuff, void* recvbuff, size_t count, ccDataType_t type, ccRedOp_t op,
                      const ccCompressConfig_t& c, uint64_t key, ccComm::KeyStats& ks, bool hier) {
  CC_CHECK(CheckCall(comm, CollType::kCompressed, count, type, op, c, ks));
  uint64_t sentBefore = comm->bytesSent.load();
  // fp32 buffers are used in place (no copies); other types are converted to and from fp32 scratch.
  // Scratch lives for the call only, so the memory a communicator keeps is just its residuals.
  bool f32 = type == ccFloat32;
  Scratch gBuf(f32 ? 0 : count), outBuf(f32 ? 0 : count);
  const float* g = f32 ? static_cast<const float*>(sendbuff) : gBuf.get();
  float* out = f32 ? static_cast<float*>(recvbuff) : outBuf.get();
  if (!f32) ToFloat(sendbuff, type, count, gBuf.get());
  // The stream must be equal on every rank: a key derived from a buffer address is not, so it stays out.
  CallPlan cp{c, key, Mix64(c.key ^ Mix64(count) ^ Mix64(ks.totalCalls))};
  CodecOutcome outcome;
  if (hier) {
    CC_CHECK(HierCompressed(comm, cp, g, out, recvbuff, count, type, op, &outcome));
  } else {
    CC_CHECK(FeedbackAndCodec(comm, *comm, cp, g, out, count, op, &outcome));
    if (!f32) FromFloat(out, type, count, recvbuff);
  }
  ccCompressStats_t& st = ks.stats;
  st.calls++;
  st.bytesIn += count * TypeSize(type);
  st.bytesWire += comm->bytesSent.load() - sentBefore;
  st.nmse = outcome.nmse;
  st.residualNorm = outcome.residualNorm;
  return ccSuccess;
}

}  // namespace
}  // namespace conccl

using namespace conccl;

CC_API ccResult_t ccAllreduceCompressed(const void* sendbuff, void* recvbuff, size_t count, ccDataType_t datatype,
                                        ccRedOp_t op, const ccCompressConfig_t* config, ccComm_t comm, ccStream_t stream) {
  CC_CHECK(Finish(comm, CheckComm(comm)));
  ccCompressConfig_t c;
  ccCompressConfigInit(&c);
  if (config) c = *config;
  CC_CHECK(Finish(comm, ValidateCompressConfig(c)));
  if (c.codec == ccCodecNone) return ccAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream);
  if (static_cast<int>(datatype) < 0 || datatype >= ccNumTypes || static_cast<int>(op) < 0 || op >= ccNumOps)
    return Finish(comm, SetError(ccInvalidArgument, "ccAllreduceCompressed: invalid datatype %d or op %d",
                                 (int)datatype, (int)op));
  if (datatype != ccFloat32 && datatype != ccFloat16 && datatype != ccBfloat16)
    return Finish(comm, SetError(ccInvalidArgument,
                                 "ccAllreduceCompressed: lossy codecs take float32, float16 or bfloat16, not type %d "
                                 "(use ccCodecNone for exact reductions)", (int)datatype));
  if (op != ccSum && op != ccAvg)
    return Finish(comm, SetError(ccInvalidArgument, "ccAllreduceCompressed: lossy codecs reduce with sum or avg, not op %d",
                                 (int)op));
  if (count > (size_t(1) << 40)) return Finish(comm, SetError(ccInvalidArgument, "ccAllreduceCompressed: count %zu too large", count));
  if ((!sendbuff || !recvbuff) && count)
    return Finish(comm, SetError(ccInvalidArgument, "ccAllreduceCompressed: NULL buffer with count %zu", count));
  if (InGroup())
    return Finish(comm, SetError(ccInvalidUsage, "ccAllreduceCompressed cannot be part of a group yet"));
  uint64_t key = c.key ? c.key : Mix64(reinterpret_cast<uintptr_t>(sendbuff) ^ Mix64(count));
  size_t bytes = count * TypeSize(datatype);
  auto body = [=](const void* send, void* recv) -> ccResult_t {
    ccComm::KeyStats& ks = comm->keyStats[key];
    comm->lastStatsKey = key;
    bool bypass = ks.totalCalls < static_cast<uint64_t>(c.warmupCalls) || count < c.minCount;
    bool hier = UseHierCompressed(comm, c.algo);
    ccResult_t res;
    if (!bypass) {
      res = Compressed(comm, send, recv, count, datatype, op, c, key, ks, hier);
    } else {  // warm-up and small calls: exact, and no residual is created
      res = CheckCall(comm, CollType::kAllReduce, count, datatype, op, c, ks);
      if (res == ccSuccess && hier)
        res = HierAllReduce(*comm, comm->hosts, send, recv, count, datatype, op, HierLeadersUseTree(comm, bytes));
      else if (res == ccSuccess)
        res = RingAllReduce(*comm, send, recv, count, datatype, op);
    }
    if (res == ccSuccess) ks.totalCalls++;
    return res;
  };
  CallBuffers b{stream, sendbuff, bytes, recvbuff, bytes};
  if (NeedsStreamOrder(comm, b)) return Finish(comm, EnqueueOnStream(comm, b, body));
  return Finish(comm, RunCall(comm, [&] { return body(sendbuff, recvbuff); }));
}
