// model.cc — the sequential model, its loss, and the MLP and CNN builders.
#include "model.h"

#include <algorithm>
#include <cmath>

#include "conv.h"
#include "dataset.h"

namespace cctrain {

std::vector<Param*> Model::Params() {
  std::vector<Param*> all;
  for (auto& l : layers_)
    for (Param* p : l->Params()) all.push_back(p);
  return all;
}

size_t Model::ParamCount() {
  size_t n = 0;
  for (Param* p : Params()) n += p->value.size();
  return n;
}

void Model::Forward(const float* x, int batch) {
  acts_.resize(layers_.size());
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    acts_[i].resize(static_cast<size_t>(batch) * layers_[i]->OutSize());
    layers_[i]->Forward(in, batch, acts_[i].data());
    in = acts_[i].data();
  }
}

double SoftmaxCrossEntropy(const float* logits, int classes, int label, float scale, float* dlogits) {
  float mx = logits[0];
  for (int c = 1; c < classes; ++c) mx = std::max(mx, logits[c]);
  double sum = 0;
  for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(logits[c] - mx));
  double logSum = std::log(sum) + mx;
  if (dlogits)
    for (int c = 0; c < classes; ++c)
      dlogits[c] = static_cast<float>((std::exp(logits[c] - logSum) - (c == label ? 1.0 : 0.0)) * scale);
  return logSum - logits[label];
}

double Model::Step(const float* x, const int* labels, int batch) {
  Forward(x, batch);
  const int classes = Classes();
  std::vector<float> grad(static_cast<size_t>(batch) * classes), next;
  double loss = 0;
  for (int r = 0; r < batch; ++r)
    loss += SoftmaxCrossEntropy(acts_.back().data() + static_cast<size_t>(r) * classes, classes, labels[r],
                                1.0f / batch, grad.data() + static_cast<size_t>(r) * classes);
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* in = i == 0 ? x : acts_[i - 1].data();
    if (i > 0) next.resize(static_cast<size_t>(batch) * layers_[i]->InSize());
    layers_[i]->Backward(in, grad.data(), batch, i > 0 ? next.data() : nullptr);
    grad.swap(next);
  }
  return loss / batch;
}

void Model::Evaluate(const float* x, const int* labels, int batch, double* lossSum, int* correct) {
  Forward(x, batch);
  const int classes = Classes();
  for (int r = 0; r < batch; ++r) {
    const float* row = acts_.back().data() + static_cast<size_t>(r) * classes;
    *lossSum += SoftmaxCrossEntropy(row, classes, labels[r], 1.0f, nullptr);
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    if (best == labels[r]) ++*correct;
  }
}

std::unique_ptr<Model> MakeMlp(int width, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto m = std::make_unique<Model>();
  m->Add(std::make_unique<Dense>(kImagePixels, width, "fc1", &rng));
  m->Add(std::make_unique<Relu>(width));
  m->Add(std::make_unique<Dense>(width, width, "fc2", &rng));
  m->Add(std::make_unique<Relu>(width));
  m->Add(std::make_unique<Dense>(width, kClasses, "fc3", &rng));
  return m;
}

std::unique_ptr<Model> MakeCnn(int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int c1 = channels, c2 = 2 * channels, s = kImageSide;
  auto m = std::make_unique<Model>();
  m->Add(std::make_unique<Conv2d>(1, s, s, c1, 5, "conv1", &rng));
  m->Add(std::make_unique<Relu>(c1 * s * s));
  m->Add(std::make_unique<MaxPool2>(c1, s, s));
  m->Add(std::make_unique<Conv2d>(c1, s / 2, s / 2, c2, 5, "conv2", &rng));
  m->Add(std::make_unique<Relu>(c2 * (s / 2) * (s / 2)));
  m->Add(std::make_unique<MaxPool2>(c2, s / 2, s / 2));
  m->Add(std::make_unique<Dense>(c2 * (s / 4) * (s / 4), kClasses, "fc", &rng));
  return m;
}

}  // namespace cctrain
