// model.h — a sequential classifier (layers.h, conv.h) with a softmax cross-entropy loss, and the two
// models of the benchmark. Contract: Model::Step computes the mean loss of a batch and leaves
// d(mean loss)/d(param) in every Param::grad; Evaluate changes no parameter and no gradient.
#ifndef CONCCL_TRAIN_MODEL_H_
#define CONCCL_TRAIN_MODEL_H_

#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "layers.h"

namespace cctrain {

class Model {
 public:
  void Add(std::unique_ptr<Layer> layer) { layers_.push_back(std::move(layer)); }
  // Every learnable tensor, in a fixed order (the order of the layers; weight before bias).
  std::vector<Param*> Params();
  size_t ParamCount();
  int InSize() const { return layers_.front()->InSize(); }
  int Classes() const { return layers_.back()->OutSize(); }
  // x: batch x InSize(), labels: batch. Returns the mean cross-entropy; fills every grad.
  double Step(const float* x, const int* labels, int batch);
  // Sums the cross-entropy into *lossSum and counts correct argmax predictions into *correct.
  void Evaluate(const float* x, const int* labels, int batch, double* lossSum, int* correct);

 private:
  void Forward(const float* x, int batch);
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::vector<float>> acts_;  // acts_[i]: output of layer i
};

// Softmax cross-entropy of one row of logits: returns the loss and, when dlogits is not NULL, writes
// (softmax - onehot) * scale into it.
double SoftmaxCrossEntropy(const float* logits, int classes, int label, float scale, float* dlogits);

// 784 - width - width - 10 with ReLU (the 784-1024-1024-10 at width 1024).
std::unique_ptr<Model> MakeMlp(int width, uint64_t seed);
// conv5x5(1->c) ReLU pool2, conv5x5(c->2c) ReLU pool2, dense(2c*7*7 -> 10); c = channels (default 8).
std::unique_ptr<Model> MakeCnn(int channels, uint64_t seed);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_MODEL_H_
