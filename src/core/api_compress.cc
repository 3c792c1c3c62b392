// api_compress.cc — configuration, residual and telemetry entry points of the compressed all-reduce.
#include <cstring>
#include <vector>

#include "algorithms/primitives.h"
#include "algorithms/schedules.h"
#include "common/result.h"
#include "core/call.h"
#include "core/comm.h"
#include "kernels/cpu/quantize.h"

#define CC_API extern "C" __attribute__((visibility("default")))

using namespace conccl;

CC_API ccResult_t ccCompressConfigInit(ccCompressConfig_t* c) {
  if (!c) return SetError(ccInvalidArgument, "ccCompressConfigInit: config is NULL");
  memset(c, 0, sizeof(*c));
  c->size = sizeof(*c);
  c->magic = CC_COMPRESS_CONFIG_MAGIC;
  c->version = CC_VERSION_CODE;
  c->codec = ccCodecInt8;
  c->codecName = nullptr;
  c->bits = 8;
  c->ratio = 1.0f / 64.0f;
  c->blockSize = 256;
  c->rounding = ccRoundNearest;
  c->feedback = ccFeedbackNone;
  c->residualCodec = ccResidualInt8;
  c->sketchSize = 0.2f;
  c->beta = 0.9f;
  c->residualFp16 = 0;
  c->key = 0;
  c->warmupCalls = 0;
  c->minCount = 0;
  c->algo = ccAlgoAuto;
  c->seed = 42;
  return ccSuccess;
}

CC_API ccResult_t ccCommResidualBytes(ccComm_t comm, uint64_t key, size_t* bytes) {
  CC_CHECK(CheckComm(comm));
  if (!bytes) return Finish(comm, SetError(ccInvalidArgument, "ccCommResidualBytes: bytes is NULL"));
  *bytes = comm->residuals->Bytes(key);
  return ccSuccess;
}

CC_API ccResult_t ccCommResetResiduals(ccComm_t comm) {
  CC_CHECK(CheckComm(comm));
  comm->residuals->Clear();
  return ccSuccess;
}

CC_API ccResult_t ccCommGetResidual(ccComm_t comm, uint64_t key, float* out, size_t count) {
  CC_CHECK(CheckComm(comm));
  Residual* r = comm->residuals->Find(key);
  if (!r) return Finish(comm, SetError(ccInvalidUsage, "ccCommGetResidual: no residual for key 0x%llx", (unsigned long long)key));
  if (r->count() != count)
    return Finish(comm, SetError(ccInvalidUsage, "ccCommGetResidual: key 0x%llx holds %zu elements, not %zu",
                                 (unsigned long long)key, r->count(), count));
  if (!out && count) return Finish(comm, SetError(ccInvalidArgument, "ccCommGetResidual: out is NULL"));
  r->Decompress(out);
  return ccSuccess;
}

CC_API ccResult_t ccCommAverageResiduals(ccComm_t comm) {
  CC_CHECK(CheckComm(comm));
  return Finish(comm, RunCall(comm, [&]() -> ccResult_t {
    std::vector<uint64_t> keys = comm->residuals->Keys();
    uint64_t h = Mix64(keys.size());
    for (uint64_t k : keys) h = Mix64(h ^ Mix64(k) ^ comm->residuals->Find(k)->count());
    OpHeader hdr{};
    hdr.coll = static_cast<uint32_t>(CollType::kAllReduce);
    hdr.op = ccAvg;
    hdr.type = ccFloat32;
    hdr.seq = comm->opSeq++;
    hdr.param = h;  // every rank must hold the same keys and counts
    CC_CHECK(CheckOpHeader(*comm, hdr));
    for (uint64_t k : keys) {
      Residual* r = comm->residuals->Find(k);
      std::vector<float> e(r->count());
      r->Decompress(e.data());
      CC_CHECK(RingAllReduce(*comm, e.data(), e.data(), e.size(), ccFloat32, ccAvg));
      r->Assign(e.data());
    }
    return ccSuccess;
  }));
}

CC_API ccResult_t ccCommSaveResiduals(ccComm_t comm, void* buf, size_t* size) {
  CC_CHECK(CheckComm(comm));
  if (!size) return Finish(comm, SetError(ccInvalidArgument, "ccCommSaveResiduals: size is NULL"));
  if (!buf) {
    *size = comm->residuals->SaveSize();
    return ccSuccess;
  }
  return Finish(comm, comm->residuals->Save(comm->rank, comm->nranks, static_cast<uint8_t*>(buf), *size, size));
}

CC_API ccResult_t ccCommLoadResiduals(ccComm_t comm, const void* buf, size_t size) {
  CC_CHECK(CheckComm(comm));
  return Finish(comm, comm->residuals->Load(comm->rank, comm->nranks, static_cast<const uint8_t*>(buf), size));
}

CC_API ccResult_t ccCommGetCompressStats(ccComm_t comm, uint64_t key, ccCompressStats_t* stats) {
  CC_CHECK(CheckComm(comm));
  if (!stats) return Finish(comm, SetError(ccInvalidArgument, "ccCommGetCompressStats: stats is NULL"));
  if (key != 0) {
    auto it = comm->keyStats.find(key);
    if (it == comm->keyStats.end())
      return Finish(comm, SetError(ccInvalidUsage, "ccCommGetCompressStats: no calls with key 0x%llx", (unsigned long long)key));
    *stats = it->second.stats;
    return ccSuccess;
  }
  ccCompressStats_t total{};
  for (auto& kv : comm->keyStats) {
    total.calls += kv.second.stats.calls;
    total.bytesIn += kv.second.stats.bytesIn;
    total.bytesWire += kv.second.stats.bytesWire;
  }
  auto last = comm->keyStats.find(comm->lastStatsKey);
  if (last != comm->keyStats.end()) {
    total.nmse = last->second.stats.nmse;
    total.residualNorm = last->second.stats.residualNorm;
  }
  *stats = total;
  return ccSuccess;
}
