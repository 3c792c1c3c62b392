// process.h — facts about other processes on this host.
#pragma once

namespace conccl {

// False once process `pid` has exited (it no longer exists, or it is a zombie waiting to be reaped).
bool ProcessAlive(int pid);

}  // namespace conccl
