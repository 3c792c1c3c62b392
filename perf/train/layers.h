// layers.h — the layers of the trainer's models, on row-major float batches (batch x features), with
// matrix products by CBLAS. Contract of every Layer: Forward(in, batch, out) writes batch x OutSize()
// values and keeps what Backward needs; Backward(in, dout, batch, din) must follow the Forward of the
// same `in`, overwrites every parameter's grad with d(loss)/d(param) (dout already carries the 1/batch of
// a mean loss) and, when din is not NULL, writes d(loss)/d(in). Weights are drawn from the caller's rng.
#ifndef CONCCL_TRAIN_LAYERS_H_
#define CONCCL_TRAIN_LAYERS_H_

#include <random>
#include <string>
#include <vector>

namespace cctrain {

// One learnable tensor. `compress`: a weight matrix/kernel (exchanged with the codec) rather than a
// bias (always exchanged uncompressed, as in the ConEF code).
struct Param {
  std::string name;
  std::vector<float> value;
  std::vector<float> grad;
  bool compress = false;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual int InSize() const = 0;
  virtual int OutSize() const = 0;
  virtual void Forward(const float* in, int batch, float* out) = 0;
  virtual void Backward(const float* in, const float* dout, int batch, float* din) = 0;
  virtual std::vector<Param*> Params() { return {}; }
};

// y = x W^T + b, W: out x in (He-normal init), b: out (zeros).
class Dense : public Layer {
 public:
  Dense(int in, int out, const std::string& name, std::mt19937_64* rng);
  int InSize() const override { return in_; }
  int OutSize() const override { return out_; }
  void Forward(const float* in, int batch, float* out) override;
  void Backward(const float* in, const float* dout, int batch, float* din) override;
  std::vector<Param*> Params() override { return {&w_, &b_}; }

 private:
  int in_, out_;
  Param w_, b_;
};

// y = max(x, 0).
class Relu : public Layer {
 public:
  explicit Relu(int size) : size_(size) {}
  int InSize() const override { return size_; }
  int OutSize() const override { return size_; }
  void Forward(const float* in, int batch, float* out) override;
  void Backward(const float* in, const float* dout, int batch, float* din) override;

 private:
  int size_;
};

// He-normal initialisation: N(0, 2/fanIn), drawn with our own Box-Muller (std::normal_distribution's
// algorithm is implementation-defined, and every rank must draw identical weights).
void HeNormal(std::mt19937_64* rng, int fanIn, std::vector<float>* w);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_LAYERS_H_
