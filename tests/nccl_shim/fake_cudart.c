/* fake_cudart.c — stands in for the CUDA runtime's cudaPointerGetAttributes, which the shim looks up in the
 * process (dlsym(RTLD_DEFAULT)), so that its device-buffer check runs without a GPU: the pointer in
 * fakeDevicePointer is reported as device memory, every other one as unregistered host memory. The test
 * executable exports it (ENABLE_EXPORTS). */
#include <string.h>

const void* fakeDevicePointer = NULL;

int cudaPointerGetAttributes(void* attributes, const void* ptr);
int cudaPointerGetAttributes(void* attributes, const void* ptr) {
  /* struct cudaPointerAttributes { enum cudaMemoryType type; int device; void* devicePointer; void* hostPointer; } */
  int type = ptr && ptr == fakeDevicePointer ? 2 /* cudaMemoryTypeDevice */ : 0 /* cudaMemoryTypeUnregistered */;
  memset(attributes, 0, 2 * sizeof(int) + 2 * sizeof(void*));
  memcpy(attributes, &type, sizeof(type));
  return 0; /* cudaSuccess */
}
