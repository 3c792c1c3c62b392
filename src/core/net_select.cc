// net_select.cc — see net_select.h.
#include "core/net_select.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/env.h"
#include "common/log.h"
#include "common/result.h"
#include "topo/topology.h"
#include "transports/net_plugin.h"
#include "transports/net_transport.h"

namespace conccl {

namespace {
constexpr size_t kMinNetMessageBytes = 4096;  // the adapter's hello and headers must fit one message
}  // namespace

void ChooseNetPlugin(int rank, RankInfo* info, NetChoice* out) {
  *out = NetChoice{};
  memset(info->netName, 0, sizeof(info->netName));
  std::string spec = EnvString("CONCCL_NET_PLUGIN");
  if (spec.empty()) return;
  NetPlugin plugin;
  if (LoadNetPlugin(spec, &plugin) != ccSuccess) {
    CC_INFO(kLogNet | kLogInit, "rank %d: net plugin %s skipped: %s; built-in transports serve", rank, spec.c_str(),
            ThreadLastError().c_str());
    return;
  }
  int dev = 0;
  std::vector<ccNetProperties_v1_t> props(plugin.ndev);
  {
    std::lock_guard<std::mutex> lock(NetPluginMutex(plugin.net));
    for (int d = 0; d < plugin.ndev; ++d) plugin.net->getProperties(d, &props[d]);
  }
  int want = static_cast<int>(EnvInt("CONCCL_NET_DEVICE"));
  if (want >= plugin.ndev) {
    CC_WARN("CONCCL_NET_DEVICE=%d but plugin %s has %d devices; using the nearest", want, plugin.net->name, plugin.ndev);
    want = -1;
  }
  if (want >= 0) {
    dev = want;
  } else {  // the device nearest this rank's CPUs (topology); device 0 when nothing is known
    std::vector<std::string> paths;
    for (const auto& p : props) paths.push_back(p.pciPath ? p.pciPath : "");
    dev = std::max(0, PickNearestDevice(paths, -1));
  }
  if (props[dev].maxMessageBytes > 0 && props[dev].maxMessageBytes < kMinNetMessageBytes) {
    CC_INFO(kLogNet | kLogInit, "rank %d: net plugin %s skipped: device %d sends at most %zu bytes per message "
            "(ConCCL needs %zu); built-in transports serve", rank, plugin.net->name, dev, props[dev].maxMessageBytes,
            kMinNetMessageBytes);
    return;
  }
  void* listenComm = nullptr;
  if (NetListen(plugin.net, dev, info->netHandle[kNetSlotPlugin], &listenComm) != ccSuccess) {
    CC_INFO(kLogNet | kLogInit, "rank %d: net plugin %s skipped: %s; built-in transports serve", rank,
            plugin.net->name, ThreadLastError().c_str());
    return;
  }
  snprintf(info->netName, sizeof(info->netName), "%s", plugin.net->name);
  info->netMaxMessage = props[dev].maxMessageBytes;
  out->net = plugin.net;
  out->dev = dev;
  out->listenComm = listenComm;
  out->pciPath = props[dev].pciPath ? props[dev].pciPath : "";
  CC_INFO(kLogNet | kLogInit, "rank %d: net plugin %s (%s) device %d/%d %s %d Mbit/s", rank, plugin.net->name,
          plugin.source.c_str(), dev, plugin.ndev, props[dev].name ? props[dev].name : "?", props[dev].speedMbps);
}

void ReleaseNetChoice(NetChoice* choice) {
  if (!choice->net || !choice->listenComm) return;
  std::lock_guard<std::mutex> lock(NetPluginMutex(choice->net));
  choice->net->closeListen(choice->listenComm);
  choice->listenComm = nullptr;
}

}  // namespace conccl
