/* mpi_allreduce — Open MPI's MPI_Allreduce (float32, sum, out of place) as a baseline for all_reduce_perf.
 *
 * Usage: mpirun -np N mpi_allreduce [-b BYTES] [-w WARMUP] [-n ITERS]     (BYTES takes K/M/G; default 64M 3 20)
 * Times ITERS back-to-back calls after a barrier, as nccl-tests does. Prints one line on rank 0:
 *   BASELINE impl=mpi coll=allreduce type=float32 op=sum nranks=N bytes=B iters=I avg_us=T median_us=M
 *            algbw_GBps=A busbw_GBps=U median_algbw_GBps=MA check=OK
 * avg_us = (slowest rank's loop time) / ITERS; median_us = median over iterations of the slowest rank's
 * time for that iteration; algbw = bytes / time with GB = 1e9 bytes; busbw = algbw * 2(N-1)/N.
 * The result of the first call is checked exactly (every rank contributes rank+1); exit 1 if wrong. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_size(const char* s, size_t* out) {
  char* end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s) return -1;
  if (*end == 'K' || *end == 'k') v <<= 10, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  else if (*end == 'G' || *end == 'g') v <<= 30, end++;
  if (*end != '\0') return -1;
  *out = (size_t)v;
  return 0;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  size_t bytes = 64u << 20;
  int warmup = 3, iters = 20, rank = 0, nranks = 1, bad = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  for (int i = 1; i < argc; i++) {
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "-b") == 0 && v && parse_size(v, &bytes) == 0) i++;
    else if (strcmp(argv[i], "-w") == 0 && v && (warmup = atoi(v)) >= 0) i++;
    else if (strcmp(argv[i], "-n") == 0 && v && (iters = atoi(v)) > 0) i++;
    else bad = 1;
  }
  const size_t count = bytes / sizeof(float);
  if (bad || count == 0 || count > 0x7fffffff) {
    if (rank == 0) fprintf(stderr, "usage: mpi_allreduce [-b BYTES(K/M/G)] [-w WARMUP] [-n ITERS]\n");
    MPI_Finalize();
    return 2;
  }
  float* send = malloc(count * sizeof(float));
  float* recv = malloc(count * sizeof(float));
  double* per = calloc((size_t)iters, sizeof(double));
  if (!send || !recv || !per) {
    fprintf(stderr, "mpi_allreduce: out of memory\n");
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  for (size_t i = 0; i < count; i++) send[i] = (float)(rank + 1);
  memset(recv, 0, count * sizeof(float));

  MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  const float want = (float)nranks * (float)(nranks + 1) / 2.0f;
  long wrong = 0;
  for (size_t i = 0; i < count; i++) wrong += recv[i] != want;
  MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);

  for (int w = 0; w < warmup; w++) MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  double prev = t0;
  for (int it = 0; it < iters; it++) {
    MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double now = MPI_Wtime();
    per[it] = now - prev;
    prev = now;
  }
  double total = prev - t0;
  MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, per, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  qsort(per, (size_t)iters, sizeof(double), cmp_double);
  const double median = iters % 2 ? per[iters / 2] : 0.5 * (per[iters / 2 - 1] + per[iters / 2]);
  const double avg = total / iters;
  const double payload = (double)(count * sizeof(float));
  if (rank == 0) {
    printf("BASELINE impl=mpi coll=allreduce type=float32 op=sum nranks=%d bytes=%zu iters=%d avg_us=%.1f "
           "median_us=%.1f algbw_GBps=%.4f busbw_GBps=%.4f median_algbw_GBps=%.4f check=%s\n",
           nranks, count * sizeof(float), iters, avg * 1e6, median * 1e6, payload / 1e9 / avg,
           payload / 1e9 / avg * 2.0 * (nranks - 1) / nranks, payload / 1e9 / median, wrong ? "FAILED" : "OK");
    fflush(stdout);
  }
  free(send);
  free(recv);
  free(per);
  MPI_Finalize();
  return wrong ? 1 : 0;
}
