// net_select.h — whether a communicator uses a net plugin (CONCCL_NET_PLUGIN), and with which device.
#pragma once

#include <string>

#include "conccl_net.h"
#include "core/bootstrap.h"

namespace conccl {

struct NetChoice {
  const ccNet_v1_t* net = nullptr;  // nullptr = no plugin for this communicator
  int dev = 0;
  void* listenComm = nullptr;       // open listening endpoint, handed to the adapter or closed
  std::string pciPath;              // the device's sysfs path ("" = unknown): the progress thread binds near it
};

// Loads the plugin named by CONCCL_NET_PLUGIN (if set), picks the device nearest this rank, opens its
// listening endpoint and writes the plugin name and handle into *info. Never fails: a plugin that cannot
// serve (not found, init failed, no device, listen failed) is skipped with an INFO line saying why, and
// info->netName stays empty so the built-in transports serve.
void ChooseNetPlugin(int rank, RankInfo* info, NetChoice* out);

// Closes a listening endpoint that the adapter did not take.
void ReleaseNetChoice(NetChoice* choice);

}  // namespace conccl
