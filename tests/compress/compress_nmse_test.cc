// compress_nmse_test.cc — why the summable codec exists: the int8 ring re-quantizes the partial sum at
// every hop, so its error grows with the number of ranks, while summable integers on shared scales add
// exactly and the error relative to the sum stays flat. Ranks 0..n-1 hold the same per-rank gaussian data
// at every size (rank r's input does not depend on n). Prints the NMSE tables (markdown) to stdout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "compress_test_util.h"

namespace {

using namespace cctest;

constexpr size_t kCount = 65536;
constexpr int kTrials = 3;

// NMSE of the compressed sum vs the float64 exact sum, averaged over kTrials inputs, for one codec config.
double MeasureNmse(Comms& comms, const ccCompressConfig_t& base) {
  const int n = comms.size();
  double total = 0;
  for (int t = 0; t < kTrials; ++t) {
    std::vector<std::vector<float>> in, out(n, std::vector<float>(kCount));
    std::vector<double> exact(kCount, 0.0);
    for (int r = 0; r < n; ++r) {
      in.push_back(Gaussian(kCount, 9000 + t, r));
      for (size_t i = 0; i < kCount; ++i) exact[i] += in[r][i];
    }
    ccCompressConfig_t cfg = base;
    cfg.key = base.key + t;
    std::vector<ccResult_t> res(n);
    RunRanks(n, [&](int r) {
      res[r] = ccAllreduceCompressed(in[r].data(), out[r].data(), kCount, ccFloat32, ccSum, &cfg, comms[r], nullptr);
    });
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(res[r], ccSuccess) << Msg(comms[r]);
      if (res[r] != ccSuccess) {
        comms.MarkBroken();
        return NAN;
      }
    }
    for (int r = 1; r < n; ++r) EXPECT_EQ(out[r], out[0]) << "rank " << r;
    total += Nmse(out[0], exact);
  }
  return total / kTrials;
}

TEST(SummableVsRing, NmseAcrossRankCounts) {
  const std::vector<int> sizes = {2, 4, 8};
  struct Row {
    const char* name;
    ccCodec_t codec;
    int bits;
  };
  const std::vector<Row> rows = {{"summable (8 bits, block 256)", ccCodecSummable, 8},
                                 {"int8 ring (re-quantizing, block 256)", ccCodecInt8, 8},
                                 {"summable (4 bits, block 256)", ccCodecSummable, 4},
                                 {"int4 ring (re-quantizing, block 256)", ccCodecInt4, 4}};
  std::map<std::string, std::map<int, double>> nmse;
  uint64_t key = 1;
  for (int n : sizes) {
    Comms comms;
    ASSERT_EQ(comms.Init(n), ccSuccess);
    for (const Row& row : rows) {
      ccCompressConfig_t cfg = MakeConfig(row.codec, key);
      key += kTrials;
      cfg.bits = row.bits;
      cfg.blockSize = 256;
      nmse[row.name][n] = MeasureNmse(comms, cfg);
    }
  }

  printf("\nNMSE of the compressed sum vs the exact float64 sum (gaussian N(0,1) per rank, count %zu, nearest "
         "rounding, mean of %d inputs):\n\n",
         kCount, kTrials);
  printf("| codec | 2 ranks | 4 ranks | 8 ranks | 8 / 2 |\n|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    auto& m = nmse[row.name];
    printf("| %s | %.3e | %.3e | %.3e | %.2fx |\n", row.name, m[2], m[4], m[8], m[8] / m[2]);
  }
  printf("\n");
  fflush(stdout);

  auto& summable = nmse[rows[0].name];
  auto& ring = nmse[rows[1].name];
  // Summable: the error relative to the sum does not grow with the ranks (only the shared scale, the max
  // over more ranks, grows a little).
  EXPECT_LE(summable[8], 1.5 * summable[2]);
  EXPECT_LT(summable[2], 1e-3);
  // The re-quantizing ring's error grows with the hops.
  EXPECT_GT(ring[8], ring[2]);
  EXPECT_GT(ring[8], 1.5 * ring[2]);
  EXPECT_LT(ring[2], 1e-3);
  // At 8 ranks, summable integers beat the re-quantizing ring at the same bits per element.
  EXPECT_LT(summable[8], ring[8]);
  EXPECT_LE(nmse[rows[2].name][8], 1.5 * nmse[rows[2].name][2]);
  EXPECT_GT(nmse[rows[3].name][8], nmse[rows[3].name][2]);
}

}  // namespace
