// idx_reader_test.cc — the IDX reader and the dataset loader against hand-made files: a good file (plain
// and gzip), a truncated one, wrong magic, wrong sizes, trailing bytes, labels out of range, and
// Debian's Fashion-MNIST when it is installed.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dataset.h"
#include "idx_reader.h"

namespace cctrain {
namespace {

std::vector<uint8_t> IdxBytes(std::vector<uint8_t> magic, const std::vector<uint32_t>& dims, size_t payload) {
  std::vector<uint8_t> b = magic;
  for (uint32_t d : dims) {
    b.push_back(d >> 24);
    b.push_back((d >> 16) & 0xff);
    b.push_back((d >> 8) & 0xff);
    b.push_back(d & 0xff);
  }
  for (size_t i = 0; i < payload; ++i) b.push_back(static_cast<uint8_t>(i * 7 % 10));
  return b;
}

class IdxFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cctrain-idx-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes, bool gzip) {
    std::string path = dir_ + "/" + name;
    if (gzip) {
      gzFile f = gzopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), bytes.size()), static_cast<int>(bytes.size()));
      gzclose(f);
    } else {
      FILE* f = fopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      fwrite(bytes.data(), 1, bytes.size(), f);
      fclose(f);
    }
    return path;
  }
  std::string dir_;
};

TEST_F(IdxFiles, ReadsPlainAndGzip) {
  auto bytes = IdxBytes({0, 0, 8, 3}, {5, 28, 28}, 5 * 784);
  for (bool gz : {false, true}) {
    IdxArray a;
    std::string err;
    ASSERT_TRUE(ReadIdx(Write(gz ? "a.gz" : "a", bytes, gz), {0, 28, 28}, &a, &err)) << err;
    EXPECT_EQ(a.dims, (std::vector<uint32_t>{5, 28, 28}));
    ASSERT_EQ(a.data.size(), 5u * 784);
    EXPECT_EQ(a.data[13], 13 * 7 % 10);
  }
}

TEST_F(IdxFiles, TruncatedPayloadIsAnError) {
  auto bytes = IdxBytes({0, 0, 8, 3}, {5, 28, 28}, 5 * 784 - 1);
  for (bool gz : {false, true}) {
    IdxArray a;
    std::string err;
    EXPECT_FALSE(ReadIdx(Write("t", bytes, gz), {0, 28, 28}, &a, &err));
    EXPECT_NE(err.find("truncated"), std::string::npos) << err;
    EXPECT_TRUE(a.data.empty());
  }
}

TEST_F(IdxFiles, CutGzipStreamIsAnError) {
  std::string path = Write("cut.gz", IdxBytes({0, 0, 8, 3}, {50, 28, 28}, 50 * 784), true);
  FILE* f = fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> gz(1 << 20);
  gz.resize(fread(gz.data(), 1, gz.size(), f));
  fclose(f);
  ASSERT_GT(gz.size(), 40u);
  gz.resize(gz.size() / 2);  // a download cut in the middle of the compressed stream
  IdxArray a;
  std::string err;
  EXPECT_FALSE(ReadIdx(Write("cut.gz", gz, false), {0, 28, 28}, &a, &err));
  EXPECT_TRUE(err.find("truncated") != std::string::npos || err.find("corrupt") != std::string::npos) << err;
}

TEST_F(IdxFiles, TruncatedHeaderIsAnError) {
  IdxArray a;
  std::string err;
  EXPECT_FALSE(ReadIdx(Write("h", {0, 0, 8, 3, 0, 0}, false), {0, 28, 28}, &a, &err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
}

TEST_F(IdxFiles, WrongMagicIsAnError) {
  for (auto magic : std::vector<std::vector<uint8_t>>{{1, 0, 8, 3}, {0, 0, 0x0d, 3}, {0, 0, 8, 0}, {'P', 'K', 3, 4}}) {
    IdxArray a;
    std::string err;
    EXPECT_FALSE(ReadIdx(Write("m", IdxBytes(magic, {5, 28, 28}, 5 * 784), false), {0, 28, 28}, &a, &err));
    EXPECT_NE(err.find("wrong magic"), std::string::npos) << err;
  }
}

TEST_F(IdxFiles, WrongSizesAreErrors) {
  IdxArray a;
  std::string err;
  EXPECT_FALSE(ReadIdx(Write("s", IdxBytes({0, 0, 8, 3}, {5, 28, 27}, 5 * 28 * 27), false), {0, 28, 28}, &a, &err));
  EXPECT_NE(err.find("dimension 2 is 27, expected 28"), std::string::npos) << err;
  EXPECT_FALSE(ReadIdx(Write("d", IdxBytes({0, 0, 8, 1}, {5}, 5), false), {0, 28, 28}, &a, &err));
  EXPECT_NE(err.find("has 1 dimensions, expected 3"), std::string::npos) << err;
  EXPECT_FALSE(ReadIdx(Write("x", IdxBytes({0, 0, 8, 3}, {5, 28, 28}, 5 * 784 + 3), true), {0, 28, 28}, &a, &err));
  EXPECT_NE(err.find("trailing bytes"), std::string::npos) << err;
  EXPECT_FALSE(ReadIdx(Write("big", IdxBytes({0, 0, 8, 3}, {0xffffffffu, 28, 28}, 0), false), {0, 28, 28}, &a, &err));
  EXPECT_NE(err.find("larger than 1 GiB"), std::string::npos) << err;
  EXPECT_FALSE(ReadIdx(dir_ + "/absent", {0}, &a, &err));
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
}

TEST_F(IdxFiles, DatasetChecksLabelsAgainstImages) {
  Write("train-images-idx3-ubyte", IdxBytes({0, 0, 8, 3}, {4, 28, 28}, 4 * 784), false);
  Write("train-labels-idx1-ubyte", IdxBytes({0, 0, 8, 1}, {3}, 3), false);
  Dataset d;
  std::string err;
  EXPECT_FALSE(LoadFashionMnist(dir_, "train", &d, &err));
  EXPECT_NE(err.find("dimension 0 is 3, expected 4"), std::string::npos) << err;
  std::vector<uint8_t> labels = IdxBytes({0, 0, 8, 1}, {4}, 0);
  for (uint8_t l : {1, 2, 10, 3}) labels.push_back(l);
  Write("train-labels-idx1-ubyte", labels, false);
  EXPECT_FALSE(LoadFashionMnist(dir_, "train", &d, &err));
  EXPECT_NE(err.find("label 10 at index 2"), std::string::npos) << err;
}

TEST(FashionMnist, DebianPackageLoads) {
  Dataset train;
  std::string err;
  if (access((std::string(kDefaultDataDir) + "/train-labels-idx1-ubyte.gz").c_str(), R_OK) != 0)
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  ASSERT_TRUE(LoadFashionMnist(kDefaultDataDir, "train", &train, &err)) << err;
  EXPECT_EQ(train.count, 60000);
  std::vector<int> perClass(kClasses);
  for (int l : train.labels) perClass[l]++;
  for (int c = 0; c < kClasses; ++c) EXPECT_EQ(perClass[c], 6000);  // Fashion-MNIST is balanced
  double mean = 0;
  for (float v : train.images) mean += v;
  EXPECT_NEAR(mean / train.images.size(), 0.0, 0.01);  // normalised by the dataset's own statistics
}

TEST(Shards, DisjointEqualAndSeeded) {
  const int total = 1000, nranks = 3;
  std::vector<int> seen(total);
  for (int r = 0; r < nranks; ++r) {
    std::vector<int> s = ShardIndices(total, 0, r, nranks, 5);
    EXPECT_EQ(s, ShardIndices(total, 0, r, nranks, 5));
    EXPECT_EQ(s.size(), 333u);
    for (int i : s) seen[i]++;
  }
  int covered = 0;
  for (int c : seen) {
    EXPECT_LE(c, 1);
    covered += c;
  }
  EXPECT_EQ(covered, 999);
  EXPECT_NE(ShardIndices(total, 0, 0, nranks, 5), ShardIndices(total, 0, 0, nranks, 6));
  EXPECT_EQ(ShardIndices(total, 100, 1, 4, 5).size(), 25u);
}

}  // namespace
}  // namespace cctrain
