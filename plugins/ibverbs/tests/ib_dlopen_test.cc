// ib_dlopen_test.cc — the built libconccl-net-ib.so as ConCCL would load it: dlopen, dlsym of
// ccNetPlugin_v1, name and ABI version, then init + devices on this machine's real libibverbs. On a
// machine without RDMA devices (no /sys/class/infiniband entries) it must report 0 devices cleanly.
#include <gtest/gtest.h>

#include <dirent.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "conccl_net.h"

namespace {

std::vector<std::string> g_log;

void Logger(int level, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  g_log.push_back(std::to_string(level) + " " + line);
}

int RdmaDevicesInSysfs() {
  DIR* d = opendir("/sys/class/infiniband");
  if (!d) return 0;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Runs first: a failed init leaves the plugin uninitialised even if dlclose does not unload it.
TEST(IbPluginLoad, BadEnvironmentFailsInitCleanly) {
  setenv("CONCCL_IB_HCA", "mlx5_0:notaport", 1);
  void* lib = dlopen(CONCCL_IB_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto* net = static_cast<const ccNet_v1_t*>(dlsym(lib, "ccNetPlugin_v1"));
  ASSERT_NE(net, nullptr);
  g_log.clear();
  EXPECT_EQ(net->init(Logger), ccNetErrorArgument);
  ASSERT_FALSE(g_log.empty());
  EXPECT_NE(g_log.back().find("CONCCL_IB_HCA"), std::string::npos) << g_log.back();
  unsetenv("CONCCL_IB_HCA");
  dlclose(lib);
}

TEST(IbPluginLoad, DlopenInitAndDevices) {
  void* lib = dlopen(CONCCL_IB_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto* net = static_cast<const ccNet_v1_t*>(dlsym(lib, "ccNetPlugin_v1"));
  ASSERT_NE(net, nullptr) << dlerror();
  EXPECT_STREQ(net->name, "ib");
  EXPECT_EQ(net->abiVersion, static_cast<uint32_t>(CC_NET_ABI_VERSION));
  EXPECT_EQ(dlsym(lib, "_ZN4ccib5IbNet4InitEPFviPKczERKNS_8IbConfigE"), nullptr);  // internals stay hidden
  for (auto fn : {(void*)net->init, (void*)net->devices, (void*)net->getProperties, (void*)net->listen,
                  (void*)net->connect, (void*)net->accept, (void*)net->regMr, (void*)net->deregMr,
                  (void*)net->isend, (void*)net->irecv, (void*)net->test, (void*)net->closeSend,
                  (void*)net->closeRecv, (void*)net->closeListen})
    EXPECT_NE(fn, nullptr);

  int ndev = -1;
  ASSERT_EQ(net->devices(&ndev), ccNetOk);  // before init: nothing to offer
  EXPECT_EQ(ndev, 0);
  ASSERT_EQ(net->init(Logger), ccNetOk);
  ASSERT_EQ(net->devices(&ndev), ccNetOk);
  if (RdmaDevicesInSysfs() == 0) {
    EXPECT_EQ(ndev, 0);
    bool said = false;
    for (const std::string& l : g_log) said |= l.find("NET/IB") != std::string::npos;
    EXPECT_TRUE(said) << "init logs why there is no device";
    ccNetProperties_v1_t props;
    EXPECT_EQ(net->getProperties(0, &props), ccNetErrorArgument);
    unsigned char handle[CC_NET_HANDLE_MAXSIZE];
    void* listen = nullptr;
    EXPECT_EQ(net->listen(0, handle, &listen), ccNetErrorArgument);
  } else {
    EXPECT_GE(ndev, 0);
  }
  EXPECT_EQ(net->devices(nullptr), ccNetErrorArgument);
  EXPECT_EQ(dlclose(lib), 0);
}

}  // namespace
