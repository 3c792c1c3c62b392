// dataset.cc — Fashion-MNIST loading and sharding.
#include "dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <random>

#include "idx_reader.h"

namespace cctrain {
namespace {

// Pixel statistics of the Fashion-MNIST training set (mean and standard deviation of x/255).
constexpr float kPixelMean = 0.2860f;
constexpr float kPixelStd = 0.3530f;

std::string Existing(const std::string& base) {
  struct stat st;
  if (stat((base + ".gz").c_str(), &st) == 0) return base + ".gz";
  return base;
}

}  // namespace

bool LoadFashionMnist(const std::string& dir, const std::string& prefix, Dataset* out, std::string* error) {
  IdxArray images, labels;
  if (!ReadIdx(Existing(dir + "/" + prefix + "-images-idx3-ubyte"), {0, kImageSide, kImageSide}, &images, error))
    return false;
  std::string labelPath = Existing(dir + "/" + prefix + "-labels-idx1-ubyte");
  if (!ReadIdx(labelPath, {images.dims[0]}, &labels, error)) return false;
  out->count = static_cast<int>(images.dims[0]);
  out->images.resize(images.data.size());
  for (size_t i = 0; i < images.data.size(); ++i)
    out->images[i] = (images.data[i] / 255.0f - kPixelMean) / kPixelStd;
  out->labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses) {
      *error = labelPath + ": label " + std::to_string(labels.data[i]) + " at index " + std::to_string(i) +
               " is not a class 0..9";
      return false;
    }
    out->labels[i] = labels.data[i];
  }
  return true;
}

std::vector<int> ShardIndices(int total, int subset, int rank, int nranks, uint64_t seed) {
  std::vector<int> perm(total);
  for (int i = 0; i < total; ++i) perm[i] = i;
  std::mt19937_64 rng(seed);
  // Fisher-Yates with our own index draw: std::shuffle's use of the engine is implementation-defined.
  for (int i = total - 1; i > 0; --i) std::swap(perm[i], perm[rng() % static_cast<uint64_t>(i + 1)]);
  int n = (subset > 0 && subset < total) ? subset : total;
  int per = n / nranks;
  return std::vector<int>(perm.begin() + static_cast<long>(rank) * per, perm.begin() + static_cast<long>(rank + 1) * per);
}

}  // namespace cctrain
