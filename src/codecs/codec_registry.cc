// codec_registry.cc — see codec_registry.h.
#include "codecs/codec_registry.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

#include "common/result.h"

namespace conccl {

ccResult_t LoadCodecPlugin(const std::string& nameOrPath, const ccCodec_v1_t** codec) {
  static std::mutex mu;
  static std::map<std::string, const ccCodec_v1_t*>* loaded = new std::map<std::string, const ccCodec_v1_t*>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded->find(nameOrPath);
  if (it != loaded->end()) {
    *codec = it->second;
    return ccSuccess;
  }
  if (nameOrPath.empty()) return SetError(ccInvalidArgument, "codec plugin: no name given (codecName or CONCCL_CODEC_PLUGIN)");
  std::string file = nameOrPath.find('/') != std::string::npos ? nameOrPath : "libconccl-codec-" + nameOrPath + ".so";
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return SetError(ccInvalidArgument, "codec plugin %s: cannot load: %s", file.c_str(), dlerror());
  auto* table = static_cast<const ccCodec_v1_t*>(dlsym(handle, "ccCodecPlugin_v1"));
  const char* why = nullptr;
  if (!table) why = "no symbol ccCodecPlugin_v1";
  else if (table->abiVersion != CC_CODEC_ABI_VERSION) why = "ABI version mismatch";
  else if (!table->name || !table->compressedBound || !table->compress || !table->decompress || !table->errorBound)
    why = "a required field is NULL";
  else if (table->wireId < 128) why = "plugin wire ids must be >= 128";
  if (why) {
    dlclose(handle);
    return SetError(ccInvalidArgument, "codec plugin %s: %s", file.c_str(), why);
  }
  CC_INFO(kLogInit, "loaded codec plugin '%s' from %s", table->name, file.c_str());
  (*loaded)[nameOrPath] = table;
  *codec = table;
  return ccSuccess;
}

}  // namespace conccl
