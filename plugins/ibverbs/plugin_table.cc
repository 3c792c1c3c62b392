// plugin_table.cc — libconccl-net-ib.so's only exported symbol, ccNetPlugin_v1 (include/conccl_net.h):
// each entry forwards to one IbNet bound to libibverbs. No C++ exception crosses the table: an
// exception (out of memory) becomes ccNetErrorSystem. Functions other than init/devices called before a
// successful init return ccNetErrorArgument.
#include <memory>

#include "conccl_net.h"
#include "ib_net.h"
#include "verbs_real.h"

namespace {

struct Plugin {
  std::unique_ptr<ccib::Verbs> verbs;
  std::unique_ptr<ccib::IbNet> net;
  ~Plugin() { net.reset(); }  // the IbNet releases its verbs objects before the verbs layer goes
};
Plugin g_plugin;

template <typename F>
int Guarded(F f) {
  if (!g_plugin.net) return ccNetErrorArgument;
  try {
    return f(*g_plugin.net);
  } catch (...) {
    return ccNetErrorSystem;
  }
}

int Init(ccNetLogger_v1_t logger) {
  try {
    if (g_plugin.net) return ccNetOk;
    ccib::IbConfig config;
    std::string err;
    if (!config.LoadFromEnv(&err)) {
      if (logger) logger(CC_NET_LOG_WARN, "NET/IB: %s", err.c_str());
      return ccNetErrorArgument;
    }
    std::unique_ptr<ccib::Verbs> verbs = ccib::MakeRealVerbs();
    std::unique_ptr<ccib::IbNet> net(new ccib::IbNet(verbs.get()));
    int rc = net->Init(logger, config);
    if (rc != ccNetOk) return rc;
    g_plugin.verbs = std::move(verbs);
    g_plugin.net = std::move(net);
    return ccNetOk;
  } catch (...) {
    return ccNetErrorSystem;
  }
}

int Devices(int* n) {
  if (!g_plugin.net) {
    if (!n) return ccNetErrorArgument;
    *n = 0;
    return ccNetOk;
  }
  return Guarded([&](ccib::IbNet& net) { return net.Devices(n); });
}
int GetProperties(int dev, ccNetProperties_v1_t* p) {
  return Guarded([&](ccib::IbNet& net) { return net.GetProperties(dev, p); });
}
int Listen(int dev, void* handle, void** l) {
  return Guarded([&](ccib::IbNet& net) { return net.Listen(dev, handle, l); });
}
int Connect(int dev, const void* handle, void** s) {
  return Guarded([&](ccib::IbNet& net) { return net.Connect(dev, handle, s); });
}
int Accept(void* l, void** r) {
  return Guarded([&](ccib::IbNet& net) { return net.Accept(l, r); });
}
int RegMr(void* comm, void* data, size_t size, int type, void** mh) {
  return Guarded([&](ccib::IbNet& net) { return net.RegMr(comm, data, size, type, mh); });
}
int DeregMr(void* comm, void* mh) {
  return Guarded([&](ccib::IbNet& net) { return net.DeregMr(comm, mh); });
}
int Isend(void* s, void* data, size_t size, void* mh, void** req) {
  return Guarded([&](ccib::IbNet& net) { return net.Isend(s, data, size, mh, req); });
}
int Irecv(void* r, void* data, size_t size, void* mh, void** req) {
  return Guarded([&](ccib::IbNet& net) { return net.Irecv(r, data, size, mh, req); });
}
int Test(void* req, int* done, size_t* size) {
  return Guarded([&](ccib::IbNet& net) { return net.Test(req, done, size); });
}
int CloseSend(void* s) {
  return Guarded([&](ccib::IbNet& net) { return net.CloseSend(s); });
}
int CloseRecv(void* r) {
  return Guarded([&](ccib::IbNet& net) { return net.CloseRecv(r); });
}
int CloseListen(void* l) {
  return Guarded([&](ccib::IbNet& net) { return net.CloseListen(l); });
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const ccNet_v1_t ccNetPlugin_v1 = {
    .name = "ib",
    .abiVersion = CC_NET_ABI_VERSION,
    .reserved = 0,
    .init = Init,
    .devices = Devices,
    .getProperties = GetProperties,
    .listen = Listen,
    .connect = Connect,
    .accept = Accept,
    .regMr = RegMr,
    .deregMr = DeregMr,
    .isend = Isend,
    .irecv = Irecv,
    .test = Test,
    .iflush = nullptr,  // host memory only
    .closeSend = CloseSend,
    .closeRecv = CloseRecv,
    .closeListen = CloseListen,
};
