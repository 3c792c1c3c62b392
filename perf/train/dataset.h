// dataset.h — Fashion-MNIST in memory (from the IDX files of Debian's dataset-fashion-mnist) and the
// per-rank shards of it. Contract: LoadFashionMnist returns false with a one-line error for a missing,
// truncated or malformed file, or for image and label files that disagree; shards are disjoint, of equal
// size on every rank, and depend only on (seed, subset size, nranks).
#ifndef CONCCL_TRAIN_DATASET_H_
#define CONCCL_TRAIN_DATASET_H_

#include <stdint.h>

#include <string>
#include <vector>

namespace cctrain {

constexpr int kImageSide = 28;
constexpr int kImagePixels = kImageSide * kImageSide;
constexpr int kClasses = 10;

struct Dataset {
  int count = 0;
  std::vector<float> images;  // count x 784, normalised to zero mean and unit variance (dataset statistics)
  std::vector<int> labels;    // count, each 0..9
};

// The directory Debian installs the dataset into.
constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

// Loads <dir>/<prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] (prefix "train" or
// "t10k"). Labels above 9 are an error.
bool LoadFashionMnist(const std::string& dir, const std::string& prefix, Dataset* out, std::string* error);

// The sample indices of rank `rank`: a permutation of 0..total-1 drawn from seed, cut to `subset` entries
// (0 = all), split into nranks equal contiguous parts (floor(subset / nranks) each; the rest is unused).
std::vector<int> ShardIndices(int total, int subset, int rank, int nranks, uint64_t seed);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_DATASET_H_
