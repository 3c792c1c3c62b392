// net_plugin.h — finding and initialising net plugins (include/conccl_net.h).
//
// CONCCL_NET_PLUGIN names a plugin: a bare name `x` is loaded as libconccl-net-x.so through the dynamic
// loader's search path; anything with a '/' is a path. The library must export `ccNetPlugin_v1`, a
// ccNet_v1_t whose abiVersion is CC_NET_ABI_VERSION and whose required functions are all set. A plugin is
// loaded and initialised at most once per process (init() once, devices() once); the result — usable or
// the reason it is not — is cached, and libraries are never unloaded (their tables stay valid).
#pragma once

#include <mutex>
#include <string>

#include "conccl.h"
#include "conccl_net.h"

namespace conccl {

struct NetPlugin {
  const ccNet_v1_t* net = nullptr;  // the table, valid for the life of the process
  int ndev = 0;                     // devices() at load time (> 0 when usable)
  std::string source;               // the file it came from
};

// Loads (once) the plugin named by `spec`. On success *out describes a usable plugin (init succeeded and
// it has at least one device). Otherwise returns ccSystemError (not found, no symbol, init failed) or
// ccInvalidArgument (bad table: wrong ABI version, missing functions) with the reason in the thread's
// last error; the caller falls back to the built-in transports.
ccResult_t LoadNetPlugin(const std::string& spec, NetPlugin* out);

// Checks that a table has the ABI version and every function the adapter calls; "" if fine, else why.
std::string CheckNetTable(const ccNet_v1_t* net);

// The lock that serialises every call into one plugin table (the ABI promises one thread at a time).
std::mutex& NetPluginMutex(const ccNet_v1_t* net);

// The logger handed to plugins' init(): forwards to ConCCL's log (subsystem NET).
void NetPluginLog(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace conccl
