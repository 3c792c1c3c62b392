// train_options.h — conccl-train's command line. Contract: ParseTrainOptions fills *opt from argv and
// returns true, or returns false with *error set to one line (unknown flag, missing or malformed value,
// value out of range, a combination that makes no sense). --help sets opt->help and returns true.
#ifndef CONCCL_TRAIN_TRAIN_OPTIONS_H_
#define CONCCL_TRAIN_TRAIN_OPTIONS_H_

#include <stdint.h>

#include <string>

namespace cctrain {

struct TrainOptions {
  bool help = false;
  std::string model = "mlp";      // mlp | cnn
  int width = 1024;               // MLP hidden width
  int channels = 8;               // CNN first-layer channels
  int epochs = 5;
  int batch = 32;                 // per rank
  double lr = 0.05;
  double momentum = 0.9;          // applied after aggregation
  double weightDecay = 1e-4;
  std::string method = "sgd";     // sgd | none | ef | ef2 | conef | def | saef
  std::string codec = "randblock";  // randblock | int8 | int4 | topk | sign
  double ratio = 1.0 / 64;        // randblock, topk
  int blockSize = 256;            // int8/int4/sign scales; conef int8/int4 residual blocks
  std::string residual = "sketch";  // conef: int8 | int4 | sketch
  double sketchSize = 0.2;
  double beta = 0.9;
  bool residualFp16 = false;
  double defCoeff = 0.3;          // def: gradient at x - a * (model-space residual)
  int averagePeriod = 0;          // saef: ccCommAverageResiduals every H steps (0 = never)
  std::string exchange = "layer";  // layer | bucket
  double bucketMiB = 4.0;
  int warmupSteps = 0;            // first steps exchanged uncompressed (config warmupCalls)
  int trainSubset = 0;            // 0 = all 60000
  int testSubset = 0;             // 0 = all 10000
  int evalEvery = 0;              // steps between evaluations; 0 = once per epoch
  int blasThreads = 1;
  uint64_t seed = 1;
  std::string dataDir;            // default: Debian's dataset directory
  std::string jsonPath;           // -J: JSON lines (rank 0)
  std::string label;              // free text copied into every JSON row
};

bool ParseTrainOptions(int argc, char** argv, TrainOptions* opt, std::string* error);
const char* TrainUsage();

}  // namespace cctrain

#endif  // CONCCL_TRAIN_TRAIN_OPTIONS_H_
