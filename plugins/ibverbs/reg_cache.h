// reg_cache.h — the memory-registration cache of one opened device. Registrations cover whole pages;
// Acquire(addr, len) returns an entry whose range covers [addr, addr+len): an existing one (hit) or a new
// registration (miss) that also spans every overlapping entry, so ranges grow instead of piling up
// (overlapping entries nobody holds are deregistered at once).
//
// Entries are reference counted. An entry nobody holds is kept for reuse only while the unheld bytes
// stay within capBytes, evicting least recently used first; capBytes 0 (the default of
// CONCCL_IB_REG_CACHE_BYTES) deregisters at the last Release, which is the only safe choice when the
// application may free and reuse memory (a cached registration pins the old pages).
//
// Not thread-safe (the plugin ABI calls one function at a time).
#ifndef CONCCL_PLUGINS_IBVERBS_REG_CACHE_H_
#define CONCCL_PLUGINS_IBVERBS_REG_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>

#include "verbs_api.h"

namespace ccib {

struct RegEntry {
  uintptr_t begin = 0;  // page-aligned
  uintptr_t end = 0;    // page-aligned, exclusive
  VerbsMr mr;
  int refs = 0;
};

struct RegCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;  // unheld entries deregistered to respect the cap (or at once when cap = 0)
  size_t entries = 0;
  size_t registeredBytes = 0;
  size_t unheldBytes = 0;
};

class RegCache {
 public:
  RegCache(Verbs* verbs, VerbsDevice* dev, size_t capBytes, size_t pageBytes = 4096);
  ~RegCache();  // deregisters everything, held or not
  RegCache(const RegCache&) = delete;
  RegCache& operator=(const RegCache&) = delete;

  // len must be > 0. Returns 0 and a held entry, or an errno-style code with *err.
  int Acquire(const void* addr, size_t len, RegEntry** entry, std::string* err);
  // Drops one hold on an entry returned by Acquire.
  void Release(RegEntry* entry);
  RegCacheStats Stats() const;

 private:
  void Touch(std::list<RegEntry>::iterator it);
  void Remove(std::list<RegEntry>::iterator it);
  void EvictToCap();

  Verbs* verbs_;
  VerbsDevice* dev_;
  size_t capBytes_;
  size_t pageBytes_;
  std::list<RegEntry> lru_;  // most recently used first; list nodes keep RegEntry* stable
  RegCacheStats stats_;
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_REG_CACHE_H_
