// net_plugin.cc — see net_plugin.h.
#include "transports/net_plugin.h"

#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>

#include "common/log.h"
#include "common/result.h"

namespace conccl {
namespace {

struct CachedPlugin {
  ccResult_t code = ccSuccess;
  std::string why;
  NetPlugin plugin;
};

std::string LibraryName(const std::string& spec) {
  if (spec.find('/') != std::string::npos) return spec;
  return "libconccl-net-" + spec + ".so";
}

CachedPlugin Load(const std::string& spec) {
  CachedPlugin c;
  std::string file = LibraryName(spec);
  void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* err = dlerror();
    c.code = ccSystemError;
    c.why = "cannot load " + file + ": " + (err ? err : "unknown error");
    return c;
  }
  auto* net = static_cast<const ccNet_v1_t*>(dlsym(lib, "ccNetPlugin_v1"));
  if (!net) {
    c.code = ccSystemError;
    c.why = file + " does not export ccNetPlugin_v1";
    return c;  // the library stays loaded: unloading a library that may have started threads is unsafe
  }
  std::string bad = CheckNetTable(net);
  if (!bad.empty()) {
    c.code = ccInvalidArgument;
    c.why = file + ": " + bad;
    return c;
  }
  int rc = net->init(NetPluginLog);
  if (rc != ccNetOk) {
    c.code = ccSystemError;
    c.why = std::string("plugin '") + net->name + "' init failed (code " + std::to_string(rc) + ")";
    return c;
  }
  int ndev = 0;
  rc = net->devices(&ndev);
  if (rc != ccNetOk || ndev <= 0) {
    c.code = ccSystemError;
    c.why = std::string("plugin '") + net->name + "' has no usable device" +
            (rc != ccNetOk ? " (devices() failed with code " + std::to_string(rc) + ")" : "");
    return c;
  }
  c.plugin.net = net;
  c.plugin.ndev = ndev;
  c.plugin.source = file;
  return c;
}

}  // namespace

std::string CheckNetTable(const ccNet_v1_t* net) {
  if (net->abiVersion != CC_NET_ABI_VERSION)
    return "ABI version " + std::to_string(net->abiVersion) + " (this ConCCL speaks " +
           std::to_string(CC_NET_ABI_VERSION) + ")";
  if (!net->name || !net->name[0]) return "the table has no name";
  std::string n = net->name;
  if (n.size() >= 16) return "plugin name '" + n + "' is longer than 15 characters";
  if (n == "tcp" || n == "shm" || n == "local") return "plugin name '" + n + "' clashes with a built-in transport";
  if (!net->init || !net->devices || !net->getProperties || !net->listen || !net->connect || !net->accept ||
      !net->regMr || !net->deregMr || !net->isend || !net->irecv || !net->test || !net->closeSend ||
      !net->closeRecv || !net->closeListen)
    return "the table lacks a required function";
  return "";
}

ccResult_t LoadNetPlugin(const std::string& spec, NetPlugin* out) {
  static std::mutex mu;
  static std::map<std::string, CachedPlugin> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(spec);
  if (it == cache.end()) it = cache.emplace(spec, Load(spec)).first;
  if (it->second.code != ccSuccess) return SetError(it->second.code, "%s", it->second.why.c_str());
  *out = it->second.plugin;
  return ccSuccess;
}

std::mutex& NetPluginMutex(const ccNet_v1_t* net) {
  static std::mutex mapMu;
  static std::map<const ccNet_v1_t*, std::mutex> locks;
  std::lock_guard<std::mutex> lock(mapMu);
  return locks[net];
}

void NetPluginLog(int level, const char* fmt, ...) {
  LogLevel l = level <= CC_NET_LOG_WARN ? kLogWarn : level == CC_NET_LOG_INFO ? kLogInfo : kLogTrace;
  if (!LogEnabled(l, kLogNet)) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  LogPrint(l, kLogNet, "net plugin", 0, "%s", buf);
}

}  // namespace conccl
