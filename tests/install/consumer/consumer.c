/* Installed-package consumer: two ranks as threads of one process (ccCommInitAll), one all-reduce. */
#include <conccl.h>
#include <pthread.h>
#include <stdio.h>

static ccComm_t comms[2];
static float data[2][4];
static ccResult_t results[2];

static void* run(void* arg) {
  int r = *(int*)arg;
  results[r] = ccAllReduce(data[r], data[r], 4, ccFloat32, ccSum, comms[r], NULL);
  return NULL;
}

int main(void) {
  int version = 0;
  if (ccGetVersion(&version) != ccSuccess || version != CC_VERSION_CODE) {
    fprintf(stderr, "version mismatch: library %d, header %d\n", version, CC_VERSION_CODE);
    return 1;
  }
  if (ccCommInitAll(comms, 2, NULL) != ccSuccess) {
    fprintf(stderr, "init: %s\n", ccGetLastError(NULL));
    return 1;
  }
  pthread_t t[2];
  int ranks[2] = {0, 1};
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 4; ++i) data[r][i] = (float)(r + 1);
  for (int r = 0; r < 2; ++r) pthread_create(&t[r], NULL, run, &ranks[r]);
  for (int r = 0; r < 2; ++r) pthread_join(t[r], NULL);
  for (int r = 0; r < 2; ++r) {
    if (results[r] != ccSuccess || data[r][3] != 3.0f) {
      fprintf(stderr, "rank %d: %s, value %f\n", r, ccGetErrorString(results[r]), data[r][3]);
      return 1;
    }
    ccCommDestroy(comms[r]);
  }
  printf("consumer OK (ConCCL %d)\n", version);
  return 0;
}
