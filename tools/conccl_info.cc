// conccl-info — prints the library version, build options, transports and every CONCCL_* environment
// variable with its default, current value and meaning (from the one registry in src/common/env.cc).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/env.h"
#include "conccl.h"
#include "transports/net_builtin.h"

#ifndef CONCCL_BUILD_SUMMARY
#define CONCCL_BUILD_SUMMARY "unknown"
#endif

int main(int argc, char** argv) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: conccl-info\nPrints ConCCL's version, build options, transports and environment variables.\n");
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "conccl-info: unknown argument '%s' (try --help)\n", argv[1]);
    return 2;
  }
  int version = 0;
  ccGetVersion(&version);
  printf("ConCCL %d.%d.%d (version code %d)\n", version / 10000, (version / 100) % 100, version % 100, version);
  printf("build: %s\n", CONCCL_BUILD_SUMMARY);
  printf("transports: local (threads of one process); net tables (include/conccl_net.h):");
  for (const ccNet_v1_t* t : {conccl::NetShmTable(), conccl::NetTcpTable()}) {
    ccNetProperties_v1_t p{};
    if (t->getProperties(0, &p) != ccNetOk) continue;
    printf(" %s (device %s%s", t->name, p.name ? p.name : "?", p.speedMbps > 0 ? ", " : ")");
    if (p.speedMbps > 0) printf("%d Mbit/s)", p.speedMbps);
  }
  printf("; external plugins: CONCCL_NET_PLUGIN\n");
  printf("algorithms: all-reduce ring | tree (double binary tree); broadcast/reduce chain; ring all-gather and "
         "reduce-scatter; pairwise all-to-all\n\n");
  printf("environment variables:\n");
  for (const auto& v : conccl::EnvRegistry()) {
    const char* cur = getenv(v.name);
    printf("  %-28s default: %-12s%s%s\n      %s\n", v.name, v.defaultValue[0] ? v.defaultValue : "(unset)",
           cur ? " set: " : "", cur ? cur : "", v.doc);
  }
  return 0;
}
