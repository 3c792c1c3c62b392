// cuda_kernels_bench — GB/s of each CUDA compression kernel beside cudaMemcpy device-to-device, measured in
// the same run, 1 MiB to 1 GiB of float32 input. Bytes counted = bytes read + bytes written by one call
// (a copy of n bytes counts 2n), so "vs copy" is the kernel's fraction of the copy's bandwidth. Each figure
// is the median of --iters timed calls (CUDA events), after 3 untimed ones.
//
//   build/perf/kernels/cuda_kernels_bench [--min 1M] [--max 1G] [--iters 20] [--block 256]
// Exit status: 0 after printing the table, 77 when there is no usable GPU, 1 on a CUDA failure.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/launch.h"

namespace {

using conccl::cuda::QuantArgs;

size_t ParseSize(const char* s) {
  char* end = nullptr;
  double v = strtod(s, &end);
  switch (end && *end ? *end : ' ') {
    case 'K': case 'k': v *= 1024; break;
    case 'M': case 'm': v *= 1024 * 1024; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return static_cast<size_t>(v);
}

struct Options {
  size_t minBytes = size_t(1) << 20, maxBytes = size_t(1) << 30;
  int iters = 20;
  uint32_t block = 256;
};

bool Parse(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--min") o->minBytes = ParseSize(argv[i + 1]);
    else if (k == "--max") o->maxBytes = ParseSize(argv[i + 1]);
    else if (k == "--iters") o->iters = atoi(argv[i + 1]);
    else if (k == "--block") o->block = static_cast<uint32_t>(atoi(argv[i + 1]));
    else return false;
  }
  return argc % 2 == 1 && o->iters > 0 && o->minBytes >= 4 && o->block >= 32 && o->block <= 4096;
}

// Median milliseconds of fn over iters calls on stream s; -1 when a call fails.
double MedianMs(cudaStream_t s, int iters, const std::function<int()>& fn) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int i = 0; i < iters + 3; ++i) {
    cudaEventRecord(a, s);
    if (fn() != 0) return -1;
    cudaEventRecord(b, s);
    if (cudaEventSynchronize(b) != cudaSuccess) return -1;
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (i >= 3) ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, &o)) {
    fprintf(stderr, "usage: %s [--min BYTES] [--max BYTES] [--iters N] [--block 32..4096]\n", argv[0]);
    return 2;
  }
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    printf("# no usable GPU: cudaGetDeviceCount returned %d (%s)\n", int(e), cudaGetErrorString(e));
    return 77;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("# device: %s, block size %u, median of %d calls\n", prop.name, o.block, o.iters);
  printf("# %12s %-24s %10s %9s %8s\n", "bytes", "kernel", "time(us)", "GB/s", "vs copy");
  float *g = nullptr, *e2 = nullptr, *t = nullptr;
  uint8_t *q = nullptr, *q2 = nullptr;
  uint16_t* h = nullptr;
  if (cudaMalloc(&g, o.maxBytes) || cudaMalloc(&e2, o.maxBytes) || cudaMalloc(&t, o.maxBytes) ||
      cudaMalloc(&q, o.maxBytes / 2 + 4096) || cudaMalloc(&q2, o.maxBytes / 2 + 4096) || cudaMalloc(&h, o.maxBytes / 2)) {
    fprintf(stderr, "cannot allocate the buffers for %zu bytes\n", o.maxBytes);
    return 1;
  }
  cudaMemset(g, 0x3f, o.maxBytes);
  cudaMemset(e2, 0x3c, o.maxBytes);
  cudaStream_t s;
  cudaStreamCreate(&s);
  for (size_t bytes = o.minBytes; bytes <= o.maxBytes; bytes *= 4) {
    size_t n = bytes / 4;
    double copyMs = MedianMs(s, o.iters, [&] { return int(cudaMemcpyAsync(t, g, bytes, cudaMemcpyDeviceToDevice, s)); });
    double copyGBs = 2.0 * bytes / (copyMs * 1e6);
    auto report = [&](const char* name, double ms, double moved) {
      if (ms < 0) {
        printf("  %12zu %-24s   failed\n", bytes, name);
        return;
      }
      double gbs = moved / (ms * 1e6);
      printf("  %12zu %-24s %10.1f %9.1f %8.2f\n", bytes, name, ms * 1e3, gbs, gbs / copyGBs);
    };
    report("cudaMemcpy D2D", copyMs, 2.0 * bytes);
    for (uint32_t bits : {8u, 4u}) {
      QuantArgs a{o.block, bits, 0, 1, 2, 0};
      double wire = static_cast<double>(conccl::cuda::QuantizedBytes(n, o.block, bits));
      std::string tag = bits == 8 ? "int8" : "int4";
      report((tag + " quantize").c_str(),
             MedianMs(s, o.iters, [&] { return conccl::cuda::QuantizeBlocks(a, g, n, q, s); }), 4.0 * n + wire);
      report((tag + " dequantize").c_str(),
             MedianMs(s, o.iters, [&] { return conccl::cuda::DequantizeBlocks(a, q, n, t, s); }), wire + 4.0 * n);
      report((tag + " hop D+add+Q").c_str(),
             MedianMs(s, o.iters, [&] { return conccl::cuda::DequantizeAddQuantize(a, q, g, n, q2, s); }),
             wire + 4.0 * n + wire);
      // EF: read g and e; write e, the transmitted D(Q(p)) and the wire bytes.
      report((tag + " EF update").c_str(),
             MedianMs(s, o.iters, [&] { return conccl::cuda::EfUpdate(a, g, e2, n, q2, t, s); }),
             8.0 * n + 8.0 * n + wire);
      QuantArgs sr = a;
      sr.stochastic = 1;
      report((tag + " quantize (stoch.)").c_str(),
             MedianMs(s, o.iters, [&] { return conccl::cuda::QuantizeBlocks(sr, g, n, q, s); }), 4.0 * n + wire);
    }
    report("fp32->fp16", MedianMs(s, o.iters, [&] { return conccl::cuda::FloatToHalf(g, n, h, s); }), 6.0 * n);
    report("fp32->bf16", MedianMs(s, o.iters, [&] { return conccl::cuda::FloatToBf16(g, n, h, s); }), 6.0 * n);
    if (n <= (size_t(1) << 32)) {
      uint32_t buckets = static_cast<uint32_t>(std::max<size_t>(1, n / 5));
      report("sketch feedback", MedianMs(s, o.iters, [&] {
               return conccl::cuda::SketchFeedback(e2, buckets, 0, 0.1f, g, n, t, s);
             }), 8.0 * n + 4.0 * buckets);
    }
    if (bytes <= (size_t(64) << 20)) {
      size_t k = std::max<size_t>(1, n / 100);
      report("top-k 1% (CUB)", MedianMs(s, o.iters, [&] { return conccl::cuda::TopKCompress(g, n, k, q, s); }),
             4.0 * n + 8.0 * k);
    }
  }
  cudaError_t last = cudaGetLastError();
  if (last != cudaSuccess) {
    fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(last));
    return 1;
  }
  return 0;
}
