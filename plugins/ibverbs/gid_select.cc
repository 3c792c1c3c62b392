// gid_select.cc — GID choice for RoCE v2 / InfiniBand (see gid_select.h).
#include "gid_select.h"

#include <cerrno>
#include <cstring>

namespace ccib {

bool GidIsIpv4Mapped(const uint8_t raw[16]) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(raw, kPrefix, 12) == 0;
}

static bool GidIsZero(const uint8_t raw[16]) {
  for (int i = 0; i < 16; ++i)
    if (raw[i]) return false;
  return true;
}

// Higher is better; 0 = unusable.
static int GidScore(const VerbsGid& g) {
  if (GidIsZero(g.raw)) return 0;
  bool linkLocal = g.raw[0] == 0xfe && (g.raw[1] & 0xc0) == 0x80;
  if (g.type == GidType::kRoceV2) return GidIsIpv4Mapped(g.raw) ? 5 : (linkLocal ? 3 : 4);
  if (g.type == GidType::kRoceV1) return linkLocal ? 1 : 2;
  return 1;
}

int SelectGid(Verbs* verbs, const VerbsPort& port, int forcedIndex, int* index, VerbsGid* gid, std::string* err) {
  if (forcedIndex >= 0) {
    if (forcedIndex >= port.gidTableLen) {
      *err = "CONCCL_IB_GID_INDEX=" + std::to_string(forcedIndex) + " but " + port.device + ":" +
             std::to_string(port.port) + " has " + std::to_string(port.gidTableLen) + " GIDs";
      return EINVAL;
    }
    *index = forcedIndex;
    return verbs->QueryGid(port, forcedIndex, gid, err);
  }
  if (!port.ethernet) {
    *index = 0;
    return verbs->QueryGid(port, 0, gid, err);
  }
  int best = -1, bestScore = 0;
  for (int i = 0; i < port.gidTableLen; ++i) {
    VerbsGid g;
    std::string ignored;
    if (verbs->QueryGid(port, i, &g, &ignored) != 0) continue;  // unpopulated entries fail to query
    int score = GidScore(g);
    if (score > bestScore) best = i, bestScore = score, *gid = g;
  }
  if (best < 0) {
    *err = port.device + ":" + std::to_string(port.port) + " has no usable RoCE GID";
    return ENODEV;
  }
  *index = best;
  return 0;
}

}  // namespace ccib
