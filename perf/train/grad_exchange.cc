// grad_exchange.cc — per-layer / per-bucket gradient averaging with ccAllreduceCompressed.
#include "grad_exchange.h"

#include <algorithm>
#include <cstring>

namespace cctrain {
namespace {

constexpr uint64_t kKeyBase = 0x7472616900000000ull;  // "trai": keys of this trainer's residuals

ccCodec_t CodecOf(const std::string& name) {
  if (name == "int8") return ccCodecInt8;
  if (name == "int4") return ccCodecInt4;
  if (name == "topk") return ccCodecTopK;
  if (name == "sign") return ccCodecSign;
  return ccCodecRandBlock;
}

ccFeedback_t FeedbackOf(const std::string& method) {
  if (method == "none") return ccFeedbackNone;
  if (method == "ef2") return ccFeedbackEf2;
  if (method == "conef") return ccFeedbackConef;
  return ccFeedbackEf;  // ef, def, saef
}

ccResidualCodec_t ResidualOf(const std::string& name) {
  if (name == "int4") return ccResidualInt4;
  if (name == "sketch") return ccResidualSketch;
  return ccResidualInt8;
}

}  // namespace

GradientExchange::GradientExchange(const TrainOptions& opt, const std::vector<Param*>& params, ccComm_t comm,
                                   int nranks)
    : opt_(opt), comm_(comm), nranks_(nranks), compressed_(opt.method != "sgd") {
  ccCompressConfigInit(&config_);
  config_.codec = CodecOf(opt.codec);
  config_.ratio = static_cast<float>(opt.ratio);
  config_.blockSize = opt.blockSize;
  config_.feedback = FeedbackOf(opt.method);
  config_.residualCodec = ResidualOf(opt.residual);
  config_.sketchSize = static_cast<float>(opt.sketchSize);
  config_.beta = static_cast<float>(opt.beta);
  config_.residualFp16 = opt.residualFp16 ? 1 : 0;
  config_.warmupCalls = opt.warmupSteps;
  config_.seed = opt.seed;
  BuildGroups(params);
}

void GradientExchange::BuildGroups(const std::vector<Param*>& params) {
  const size_t bucketElems = static_cast<size_t>(opt_.bucketMiB * (1 << 20) / sizeof(float));
  Group biases;
  for (Param* p : params) {
    if (!p->compress) {
      if (opt_.exchange == "bucket") {
        biases.params.push_back(p);
        biases.count += p->value.size();
      } else {
        groups_.push_back(Group{{p}, p->value.size(), 0, false, {}});
      }
      continue;
    }
    compressedElements_ += p->value.size();
    bool join = opt_.exchange == "bucket" && !groups_.empty() && groups_.back().compress &&
                groups_.back().count + p->value.size() <= bucketElems;
    if (join) {
      groups_.back().params.push_back(p);
      groups_.back().count += p->value.size();
    } else {
      groups_.push_back(Group{{p}, p->value.size(), 0, true, {}});
    }
  }
  if (!biases.params.empty()) groups_.push_back(biases);
  for (size_t i = 0; i < groups_.size(); ++i) {
    groups_[i].key = kKeyBase + i + 1;
    if (groups_[i].params.size() > 1) groups_[i].packed.resize(groups_[i].count);
  }
}

void GradientExchange::CountUncompressed(size_t elements) {
  uncompressedWire_ += 2.0 * (nranks_ - 1) / nranks_ * static_cast<double>(elements) * sizeof(float);
}

ccResult_t GradientExchange::ExchangeGroup(Group* g) {
  float* buf = g->params.size() == 1 ? g->params[0]->grad.data() : g->packed.data();
  if (!g->packed.empty()) {
    size_t off = 0;
    for (Param* p : g->params) {
      memcpy(buf + off, p->grad.data(), p->grad.size() * sizeof(float));
      off += p->grad.size();
    }
  }
  ccResult_t r;
  if (g->compress && compressed_) {
    ccCompressConfig_t c = config_;
    c.key = g->key;
    r = ccAllreduceCompressed(buf, buf, g->count, ccFloat32, ccAvg, &c, comm_, nullptr);
    if (calls_ < static_cast<uint64_t>(opt_.warmupSteps)) CountUncompressed(g->count);  // warm-up: exact ring
  } else {
    r = ccAllReduce(buf, buf, g->count, ccFloat32, ccAvg, comm_, nullptr);
    CountUncompressed(g->count);
  }
  if (r != ccSuccess) return r;
  if (!g->packed.empty()) {
    size_t off = 0;
    for (Param* p : g->params) {
      memcpy(p->grad.data(), buf + off, p->grad.size() * sizeof(float));
      off += p->grad.size();
    }
  }
  return ccSuccess;
}

ccResult_t GradientExchange::Exchange() {
  for (Group& g : groups_) {
    ccResult_t r = ExchangeGroup(&g);
    if (r != ccSuccess) return r;
  }
  ++calls_;
  return ccSuccess;
}

ccResult_t GradientExchange::ShiftByResidual(float scale) {
  // The residual exists once a compressed call with feedback has run (after the warm-up calls).
  if (!compressed_ || config_.feedback == ccFeedbackNone || calls_ <= static_cast<uint64_t>(opt_.warmupSteps))
    return ccSuccess;
  std::vector<float> e;
  for (Group& g : groups_) {
    if (!g.compress) continue;
    e.resize(g.count);
    ccResult_t r = ccCommGetResidual(comm_, g.key, e.data(), g.count);
    if (r != ccSuccess) return r;
    size_t off = 0;
    for (Param* p : g.params) {
      for (size_t i = 0; i < p->value.size(); ++i) p->value[i] -= scale * e[off + i];
      off += p->value.size();
    }
  }
  return ccSuccess;
}

ccResult_t GradientExchange::AverageResiduals() {
  if (!compressed_ || config_.feedback == ccFeedbackNone || calls_ <= static_cast<uint64_t>(opt_.warmupSteps))
    return ccSuccess;
  ccResult_t r = ccCommAverageResiduals(comm_);
  if (r == ccSuccess) CountUncompressed(compressedElements_);
  return r;
}

ccResult_t GradientExchange::CompressedWireBytes(uint64_t* bytes) const {
  ccCompressStats_t st;
  memset(&st, 0, sizeof st);
  ccResult_t r = compressed_ ? ccCommGetCompressStats(comm_, 0, &st) : ccSuccess;
  *bytes = st.bytesWire;
  return r;
}

ccResult_t GradientExchange::ResidualBytes(size_t* bytes) const {
  *bytes = 0;
  return ccCommResidualBytes(comm_, 0, bytes);
}

}  // namespace cctrain
