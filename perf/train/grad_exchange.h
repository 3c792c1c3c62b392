// grad_exchange.h — averages the gradients of all ranks after backward, by the method of the run:
// sgd: ccAllReduce (avg); none/ef/ef2/conef/def/saef: ccAllreduceCompressed (avg) of the weight tensors
// with the codec and the feedback mode of the method; biases always by ccAllReduce (uncompressed, no
// residual). Weights travel per layer (one call and one residual key per tensor) or per bucket (tensors
// packed in order into buckets of at most bucketMiB; a larger tensor is a bucket alone).
// Contract: every call returns the first failing ccResult_t (the message is in ccGetLastError(comm));
// all ranks must build it from identical TrainOptions and identical parameter shapes.
#ifndef CONCCL_TRAIN_GRAD_EXCHANGE_H_
#define CONCCL_TRAIN_GRAD_EXCHANGE_H_

#include <stdint.h>

#include <vector>

#include "conccl.h"
#include "layers.h"
#include "train_options.h"

namespace cctrain {

class GradientExchange {
 public:
  GradientExchange(const TrainOptions& opt, const std::vector<Param*>& params, ccComm_t comm, int nranks);

  // Replaces every grad by its mean over ranks.
  ccResult_t Exchange();
  // def/saef: value -= scale * e for every compressed tensor that has a residual (ccCommGetResidual).
  ccResult_t ShiftByResidual(float scale);
  // ccCommAverageResiduals (error averaging); counted in UncompressedWireBytes.
  ccResult_t AverageResiduals();

  bool compressed() const { return compressed_; }
  // Bytes this rank sent in compressed calls (the library's ccCommGetCompressStats).
  ccResult_t CompressedWireBytes(uint64_t* bytes) const;
  // Bytes this rank sent in uncompressed all-reduces, from the ring's volume 2(K-1)/K * payload (computed:
  // the library keeps no per-call counter for ccAllReduce).
  double UncompressedWireBytes() const { return uncompressedWire_; }
  // Residual memory of this rank (ccCommResidualBytes over all keys).
  ccResult_t ResidualBytes(size_t* bytes) const;
  // What an fp32 residual (EF) of the compressed tensors would take: 4 bytes per compressed element.
  size_t Fp32ResidualBytes() const { return 4 * compressedElements_; }

 private:
  struct Group {
    std::vector<Param*> params;
    size_t count = 0;
    uint64_t key = 0;
    bool compress = false;
    std::vector<float> packed;  // used when the group has several tensors
  };
  void BuildGroups(const std::vector<Param*>& params);
  ccResult_t ExchangeGroup(Group* g);
  void CountUncompressed(size_t elements);

  TrainOptions opt_;
  ccComm_t comm_;
  int nranks_;
  bool compressed_;
  ccCompressConfig_t config_;
  std::vector<Group> groups_;
  uint64_t calls_ = 0;  // Exchange() calls made
  size_t compressedElements_ = 0;
  double uncompressedWire_ = 0;
};

}  // namespace cctrain

#endif  // CONCCL_TRAIN_GRAD_EXCHANGE_H_
