// cuda_collective_test.cc — collectives on CUDA device buffers, several ranks (threads) on one GPU, and
// the host path on machines without a GPU driver (the one library serves both).
#include <cmath>
#include <cstring>
#include <vector>

#include "conccl.h"
#include "cuda_test_util.h"
#include "test_util.h"

namespace {

using cctest::LastError;
using cctest::RunRanks;

// Creates n communicators on threads (each thread its own rank), runs fn(rank, comm), destroys them.
template <class F>
void WithComms(int n, F&& fn) {
  ccUniqueId id;
  ASSERT_EQ(ccSuccess, ccGetUniqueId(&id));
  std::vector<ccComm_t> comms(size_t(n), nullptr);
  RunRanks(n, [&](int r) { EXPECT_EQ(ccSuccess, ccCommInitRank(&comms[size_t(r)], n, id, r)); });
  for (ccComm_t c : comms) ASSERT_NE(nullptr, c);
  RunRanks(n, [&](int r) { fn(r, comms[size_t(r)]); });
  for (ccComm_t c : comms) EXPECT_EQ(ccSuccess, ccCommDestroy(c));
}

float Input(int rank, size_t i) { return static_cast<float>((i * 7 + size_t(rank) * 13) % 101) * 0.25f - 12.0f; }

// Without a usable GPU (on the CPU machines: cudaErrorInsufficientDriver) the host path runs and nothing
// fails; with one, host buffers still take the host path.
TEST(CudaHostPath, HostBuffersWorkWhateverTheDriverSays) {
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess) {
    cudaGetLastError();
    EXPECT_TRUE(e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) << int(e) << " " << cudaGetErrorString(e);
  }
  const int n = 3;
  const size_t count = 5000;
  WithComms(n, [&](int r, ccComm_t comm) {
    std::vector<float> in(count), out(count, -1.0f), cout(count, -1.0f);
    for (size_t i = 0; i < count; ++i) in[i] = Input(r, i);
    ASSERT_EQ(ccSuccess, ccAllReduce(in.data(), out.data(), count, ccFloat32, ccSum, comm, nullptr));
    for (size_t i = 0; i < count; ++i) {
      float want = Input(0, i) + Input(1, i) + Input(2, i);
      ASSERT_EQ(want, out[i]) << i;
    }
    ccCompressConfig_t cfg;
    ccCompressConfigInit(&cfg);
    cfg.key = 7;
    cfg.warmupCalls = 0;
    cfg.minCount = 0;
    ASSERT_EQ(ccSuccess, ccAllreduceCompressed(in.data(), cout.data(), count, ccFloat32, ccSum, &cfg, comm, nullptr))
        << LastError(comm);
    for (size_t i = 0; i < count; ++i) ASSERT_NEAR(out[i], cout[i], 3 * 36.0 / 127 * 3) << i;
  });
}

std::vector<float> Inputs(int rank, size_t count) {
  std::vector<float> in(count);
  for (size_t i = 0; i < count; ++i) in[i] = Input(rank, i);
  return in;
}

class CudaDeviceBuffers : public testing::TestWithParam<int> {
 protected:
  void SetUp() override { CC_REQUIRE_GPU(); }
};

// Each rank's own stream, not synchronizing with the legacy default stream: as in NCCL, ranks of one process
// must not share a stream (a rank's queued wait would hold the others' staging copies).
struct RankStream {
  cudaStream_t s = nullptr;
  RankStream() { cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); }
  ~RankStream() { cudaStreamDestroy(s); }
  ccStream_t cc() const { return reinterpret_cast<ccStream_t>(s); }
  template <typename T>
  void Upload(DeviceArray<T>& d, const std::vector<T>& v) {
    cudaMemcpyAsync(d.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice, s);
    cudaStreamSynchronize(s);
  }
  template <typename T>
  std::vector<T> Download(const DeviceArray<T>& d, size_t n) {
    std::vector<T> v(n);
    cudaMemcpyAsync(v.data(), d.get(), n * sizeof(T), cudaMemcpyDeviceToHost, s);
    cudaStreamSynchronize(s);
    return v;
  }
};

// Ranks share the one GPU (NCCL refuses this with "Duplicate GPU detected").
TEST_P(CudaDeviceBuffers, AllReduceInAndOutOfPlaceOnOneGpu) {
  const int n = GetParam();
  const size_t count = 100003;
  WithComms(n, [&](int r, ccComm_t comm) {
    RankStream rs;
    DeviceArray<float> din(count), dout(count);
    rs.Upload(din, Inputs(r, count));
    // Both calls return once queued on the stream; the stream orders them.
    ASSERT_EQ(ccSuccess, ccAllReduce(din.get(), dout.get(), count, ccFloat32, ccSum, comm, rs.cc()));
    ASSERT_EQ(ccSuccess, ccAllReduce(din.get(), din.get(), count, ccFloat32, ccSum, comm, rs.cc()));
    ASSERT_EQ(cudaSuccess, cudaStreamSynchronize(rs.s));
    ccResult_t async = ccInternalError;
    ASSERT_EQ(ccSuccess, ccCommGetAsyncError(comm, &async));
    ASSERT_EQ(ccSuccess, async);
    std::vector<float> out = rs.Download(dout, count), inplace = rs.Download(din, count);
    for (size_t i = 0; i < count; ++i) {
      double want = 0;
      for (int k = 0; k < n; ++k) want += Input(k, i);
      ASSERT_NEAR(want, out[i], 1e-3) << i;
      ASSERT_EQ(out[i], inplace[i]) << i;
    }
  });
}

// ccAllreduceCompressed on device buffers: every rank gets bitwise identical bytes, within the codec's bound.
TEST_P(CudaDeviceBuffers, CompressedAllReduceIsBitwiseIdenticalOnAllRanks) {
  const int n = GetParam();
  const size_t count = 1 << 18;
  std::vector<std::vector<float>> results(static_cast<size_t>(n));
  WithComms(n, [&](int r, ccComm_t comm) {
    RankStream rs;
    DeviceArray<float> din(count), dout(count);
    rs.Upload(din, Inputs(r, count));
    ccCompressConfig_t cfg;
    ccCompressConfigInit(&cfg);
    cfg.codec = ccCodecInt8;
    cfg.key = 11;
    cfg.warmupCalls = 0;
    cfg.minCount = 0;
    ASSERT_EQ(ccSuccess, ccAllreduceCompressed(din.get(), dout.get(), count, ccFloat32, ccSum, &cfg, comm, rs.cc()))
        << LastError(comm);
    results[size_t(r)] = rs.Download(dout, count);
  });
  for (int r = 1; r < n; ++r) EXPECT_EQ(-1, FirstByteDiff(results[0], results[size_t(r)])) << "rank " << r;
  for (size_t i = 0; i < count; ++i) {
    double want = 0;
    for (int k = 0; k < n; ++k) want += Input(k, i);
    // int8, one quantization per hop: each adds at most half a step of the partial sum's block scale.
    ASSERT_NEAR(want, results[0][i], n * n * 13.0 / 127) << i;
  }
}

TEST_P(CudaDeviceBuffers, AllGatherInPlaceAndSendRecvRing) {
  const int n = GetParam();
  const size_t count = 4097;
  WithComms(n, [&](int r, ccComm_t comm) {
    RankStream rs;
    DeviceArray<float> all(count * size_t(n)), from(count);
    std::vector<float> mine(count);
    for (size_t i = 0; i < count; ++i) mine[i] = Input(r, i);
    ASSERT_EQ(cudaSuccess, cudaMemcpyAsync(all.get() + size_t(r) * count, mine.data(), count * 4,
                                           cudaMemcpyHostToDevice, rs.s));
    ASSERT_EQ(ccSuccess, ccAllGather(all.get() + size_t(r) * count, all.get(), count, ccFloat32, comm, rs.cc()));
    std::vector<float> got = rs.Download(all, count * size_t(n));
    for (int k = 0; k < n; ++k)
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(Input(k, i), got[size_t(k) * count + i]);
    DeviceArray<float> to(count);
    rs.Upload(to, mine);
    ASSERT_EQ(ccSuccess, ccGroupStart());  // grouped point-to-point: staged synchronously (device_buffers.h)
    ASSERT_EQ(ccSuccess, ccSend(to.get(), count, ccFloat32, (r + 1) % n, comm, rs.cc()));
    ASSERT_EQ(ccSuccess, ccRecv(from.get(), count, ccFloat32, (r + n - 1) % n, comm, rs.cc()));
    ASSERT_EQ(ccSuccess, ccGroupEnd());
    std::vector<float> recv = rs.Download(from, count);
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(Input((r + n - 1) % n, i), recv[i]);
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, CudaDeviceBuffers, testing::Values(2, 4, 8));

}  // namespace
