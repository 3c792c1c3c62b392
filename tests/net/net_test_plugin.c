/*
 * net_test_plugin.c — plugins that cannot serve, for the loader's fallback tests. Built twice:
 * NET_TEST_NODEV -> libconccl-net-nodev.so (init succeeds, 0 devices); NET_TEST_BADINIT ->
 * libconccl-net-badinit.so (init fails). Every other function fails: the loader must never call them.
 */
#include "conccl_net.h"

static int init(ccNetLogger_v1_t logger) {
  (void)logger;
#ifdef NET_TEST_BADINIT
  return ccNetErrorSystem;
#else
  return ccNetOk;
#endif
}
static int devices(int* n) {
  *n = 0;
  return ccNetOk;
}
static int getProperties(int d, ccNetProperties_v1_t* p) { (void)d; (void)p; return ccNetErrorSystem; }
static int listen_(int d, void* h, void** l) { (void)d; (void)h; (void)l; return ccNetErrorSystem; }
static int connect_(int d, const void* h, void** c) { (void)d; (void)h; (void)c; return ccNetErrorSystem; }
static int accept_(void* l, void** c) { (void)l; (void)c; return ccNetErrorSystem; }
static int regMr(void* c, void* d, size_t n, int t, void** m) { (void)c; (void)d; (void)n; (void)t; (void)m; return ccNetErrorSystem; }
static int deregMr(void* c, void* m) { (void)c; (void)m; return ccNetErrorSystem; }
static int post(void* c, void* d, size_t n, void* m, void** r) { (void)c; (void)d; (void)n; (void)m; (void)r; return ccNetErrorSystem; }
static int test(void* r, int* d, size_t* n) { (void)r; (void)d; (void)n; return ccNetErrorSystem; }
static int close_(void* c) { (void)c; return ccNetErrorSystem; }

#ifdef NET_TEST_BADINIT
#define NAME "badinit"
#else
#define NAME "nodev"
#endif

__attribute__((visibility("default"))) const ccNet_v1_t ccNetPlugin_v1 = {
    .name = NAME,
    .abiVersion = CC_NET_ABI_VERSION,
    .init = init,
    .devices = devices,
    .getProperties = getProperties,
    .listen = listen_,
    .connect = connect_,
    .accept = accept_,
    .regMr = regMr,
    .deregMr = deregMr,
    .isend = post,
    .irecv = post,
    .test = test,
    .iflush = 0,
    .closeSend = close_,
    .closeRecv = close_,
    .closeListen = close_,
};
