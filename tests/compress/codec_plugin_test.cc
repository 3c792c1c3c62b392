// codec_plugin_test.cc — loading the example codec plugin (plugins/codec-example, libconccl-codec-trunc16.so)
// and running the compressed all-reduce through it; bad plugin names are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "conccl.h"

#ifndef CONCCL_TRUNC16_PLUGIN
#error "CONCCL_TRUNC16_PLUGIN must name the built plugin"
#endif

namespace {

// Runs ccAllreduceCompressed on n thread ranks with `cfg`; returns per-rank results and outputs.
void RunRanks(int n, const ccCompressConfig_t& cfg, const std::vector<std::vector<float>>& in,
              std::vector<std::vector<float>>* out, std::vector<ccResult_t>* res) {
  ccUniqueId id;
  ASSERT_EQ(ccGetUniqueId(&id), ccSuccess);
  out->assign(n, std::vector<float>(in[0].size()));
  res->assign(n, ccSuccess);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      ccComm_t comm;
      ccConfig_t c = CC_CONFIG_INITIALIZER;
      c.netName = "local";
      c.timeoutMs = 30000;
      (*res)[r] = ccCommInitRankConfig(&comm, n, id, r, &c);
      if ((*res)[r] != ccSuccess) return;
      (*res)[r] = ccAllreduceCompressed(in[r].data(), (*out)[r].data(), in[r].size(), ccFloat32, ccSum, &cfg, comm,
                                        nullptr);
      if ((*res)[r] == ccSuccess) ccCommDestroy(comm);
      else ccCommAbort(comm);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(CodecPlugin, Trunc16ByPathGivesIdenticalBoundedResults) {
  const int n = 3;
  const size_t count = 5000;
  std::vector<std::vector<float>> in(n, std::vector<float>(count));
  std::vector<double> exact(count, 0.0);
  for (int r = 0; r < n; ++r)
    for (size_t i = 0; i < count; ++i) {
      in[r][i] = std::sin(0.01f * i + r) * (r + 1);
      exact[i] += in[r][i];
    }
  ccCompressConfig_t cfg;
  ASSERT_EQ(ccCompressConfigInit(&cfg), ccSuccess);
  cfg.codec = ccCodecPlugin;
  cfg.codecName = CONCCL_TRUNC16_PLUGIN;
  cfg.key = 1;
  std::vector<std::vector<float>> out;
  std::vector<ccResult_t> res;
  RunRanks(n, cfg, in, &out, &res);
  for (int r = 0; r < n; ++r) ASSERT_EQ(res[r], ccSuccess) << "rank " << r;
  for (int r = 1; r < n; ++r) EXPECT_EQ(0, memcmp(out[0].data(), out[r].data(), count * sizeof(float)));
  // Each of the n-1 hops and the final compression truncates the partial sum: relative 2^-7 per step.
  for (size_t i = 0; i < count; ++i) {
    double bound = 0;
    for (int r = 0; r < n; ++r) bound += std::fabs(in[r][i]);
    EXPECT_LE(std::fabs(out[0][i] - exact[i]), bound * n * std::ldexp(1.0, -7) + 1e-6) << i;
  }
}

TEST(CodecPlugin, MissingPluginIsInvalidArgument) {
  ccCompressConfig_t cfg;
  ASSERT_EQ(ccCompressConfigInit(&cfg), ccSuccess);
  cfg.codec = ccCodecPlugin;
  cfg.codecName = "no-such-codec-xyz";
  cfg.key = 2;
  std::vector<std::vector<float>> in(2, std::vector<float>(100, 1.0f)), out;
  std::vector<ccResult_t> res;
  RunRanks(2, cfg, in, &out, &res);
  for (int r = 0; r < 2; ++r) EXPECT_NE(res[r], ccSuccess) << "rank " << r;
  EXPECT_TRUE(res[0] == ccInvalidArgument || res[1] == ccInvalidArgument);
}

}  // namespace
