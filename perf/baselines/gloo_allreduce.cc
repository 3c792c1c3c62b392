// gloo_allreduce — Gloo's all-reduce (float32 sum, in place; ring-chunked by default) over its TCP
// transport as a baseline for all_reduce_perf. Ranks meet through a gloo FileStore in a directory that
// every rank can read (network namespaces share the file system).
//
// Usage: gloo_allreduce --store DIR [--rank R --size N] [--iface IF | --host ADDR] [-b BYTES] [-w WARMUP]
//                       [-n ITERS] [--algo ring_chunked|ring|halving_doubling]
// --rank/--size default to CONCCL_RANK/CONCCL_NRANKS (so tools/conccl-run can start it); --iface defaults to
// lo. DIR must be empty or fresh for each run. Prints on rank 0 the same line as mpi_allreduce:
//   BASELINE impl=gloo algo=A coll=allreduce type=float32 op=sum nranks=N bytes=B iters=I avg_us=T median_us=M
//            algbw_GBps=... busbw_GBps=... median_algbw_GBps=... check=OK
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/barrier_all_to_one.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Args {
  int rank = -1;
  int size = -1;
  std::string store;
  std::string iface = "lo";
  std::string host;
  size_t bytes = 64u << 20;
  int warmup = 3;
  int iters = 20;
  std::string algo = "ring_chunked";
};

bool ParseSize(const char* s, size_t* out) {
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s) return false;
  if (*end == 'K' || *end == 'k') v <<= 10, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  else if (*end == 'G' || *end == 'g') v <<= 30, end++;
  if (*end != '\0') return false;
  *out = static_cast<size_t>(v);
  return true;
}

bool Parse(int argc, char** argv, Args* a) {
  if (const char* r = getenv("CONCCL_RANK")) a->rank = atoi(r);
  if (const char* n = getenv("CONCCL_NRANKS")) a->size = atoi(n);
  for (int i = 1; i < argc; i++) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (k == "--rank") a->rank = atoi(v);
    else if (k == "--size") a->size = atoi(v);
    else if (k == "--store") a->store = v;
    else if (k == "--iface") a->iface = v;
    else if (k == "--host") a->host = v;
    else if (k == "-b") { if (!ParseSize(v, &a->bytes)) return false; }
    else if (k == "-w") a->warmup = atoi(v);
    else if (k == "-n") a->iters = atoi(v);
    else if (k == "--algo") a->algo = v;
    else return false;
  }
  const bool algoOk = a->algo == "ring_chunked" || a->algo == "ring" || a->algo == "halving_doubling";
  return a->rank >= 0 && a->size > 0 && a->rank < a->size && !a->store.empty() && a->bytes >= sizeof(float) &&
         a->bytes / sizeof(float) <= 0x7fffffff && a->warmup >= 0 && a->iters > 0 && algoOk;
}

std::unique_ptr<gloo::Algorithm> MakeAlgo(const std::string& name, const std::shared_ptr<gloo::Context>& ctx,
                                          float* data, int count) {
  const std::vector<float*> ptrs{data};
  if (name == "ring") return std::make_unique<gloo::AllreduceRing<float>>(ctx, ptrs, count);
  if (name == "halving_doubling") return std::make_unique<gloo::AllreduceHalvingDoubling<float>>(ctx, ptrs, count);
  return std::make_unique<gloo::AllreduceRingChunked<float>>(ctx, ptrs, count);
}

int Run(const Args& a) {
  gloo::transport::tcp::attr attr;
  if (!a.host.empty()) attr.hostname = a.host;
  else attr.iface = a.iface;
  auto dev = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore fileStore(a.store);
  gloo::rendezvous::PrefixStore store("gloo_allreduce", fileStore);
  auto ctx = std::make_shared<gloo::rendezvous::Context>(a.rank, a.size);
  ctx->setTimeout(std::chrono::seconds(600));
  ctx->connectFullMesh(store, dev);

  const int count = static_cast<int>(a.bytes / sizeof(float));
  std::vector<float> data(static_cast<size_t>(count), static_cast<float>(a.rank + 1));
  auto algo = MakeAlgo(a.algo, ctx, data.data(), count);
  algo->run();  // first call: checked
  const float want = static_cast<float>(a.size) * static_cast<float>(a.size + 1) / 2.0f;
  double wrong = static_cast<double>(std::count_if(data.begin(), data.end(), [&](float v) { return v != want; }));
  for (int w = 0; w < a.warmup; w++) {
    std::fill(data.begin(), data.end(), 1.0f);  // keep values finite across many in-place sums
    algo->run();
  }
  std::fill(data.begin(), data.end(), 1.0f);  // n^iters stays finite for the iteration counts used here
  gloo::BarrierAllToOne(ctx).run();
  std::vector<double> per(static_cast<size_t>(a.iters) + 1);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto prev = t0;
  for (int it = 0; it < a.iters; it++) {
    algo->run();
    const auto now = Clock::now();
    per[static_cast<size_t>(it)] = std::chrono::duration<double>(now - prev).count();
    prev = now;
  }
  per[static_cast<size_t>(a.iters)] = std::chrono::duration<double>(prev - t0).count();
  // Slowest rank per iteration and for the loop; total wrong elements.
  std::vector<double> sums{wrong};
  gloo::AllreduceRing<double>(ctx, {per.data()}, static_cast<int>(per.size()), gloo::ReductionFunction<double>::max)
      .run();
  gloo::AllreduceRing<double>(ctx, {sums.data()}, 1).run();
  const double total = per[static_cast<size_t>(a.iters)];
  std::vector<double> iters(per.begin(), per.begin() + a.iters);
  std::sort(iters.begin(), iters.end());
  const size_t n = iters.size();
  const double median = n % 2 ? iters[n / 2] : 0.5 * (iters[n / 2 - 1] + iters[n / 2]);
  const double avg = total / a.iters;
  const double payload = static_cast<double>(count) * sizeof(float);
  if (a.rank == 0) {
    printf("BASELINE impl=gloo algo=%s coll=allreduce type=float32 op=sum nranks=%d bytes=%.0f iters=%d avg_us=%.1f "
           "median_us=%.1f algbw_GBps=%.4f busbw_GBps=%.4f median_algbw_GBps=%.4f check=%s\n",
           a.algo.c_str(), a.size, payload, a.iters, avg * 1e6, median * 1e6, payload / 1e9 / avg,
           payload / 1e9 / avg * 2.0 * (a.size - 1) / a.size, payload / 1e9 / median, sums[0] != 0 ? "FAILED" : "OK");
    fflush(stdout);
  }
  return sums[0] != 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!Parse(argc, argv, &a)) {
    fprintf(stderr,
            "usage: gloo_allreduce --store DIR [--rank R --size N] [--iface IF | --host ADDR] [-b BYTES(K/M/G)] "
            "[-w WARMUP] [-n ITERS] [--algo ring_chunked|ring|halving_doubling]\n");
    return 2;
  }
  try {
    return Run(a);
  } catch (const std::exception& e) {
    fprintf(stderr, "gloo_allreduce rank %d: %s\n", a.rank, e.what());
    return 3;
  }
}
