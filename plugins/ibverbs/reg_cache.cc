// reg_cache.cc — page-granular, reference-counted, LRU-capped registration cache (see reg_cache.h).
#include "reg_cache.h"

#include <algorithm>
#include <cerrno>

namespace ccib {

RegCache::RegCache(Verbs* verbs, VerbsDevice* dev, size_t capBytes, size_t pageBytes)
    : verbs_(verbs), dev_(dev), capBytes_(capBytes), pageBytes_(pageBytes) {}

RegCache::~RegCache() {
  while (!lru_.empty()) Remove(lru_.begin());
}

void RegCache::Touch(std::list<RegEntry>::iterator it) { lru_.splice(lru_.begin(), lru_, it); }

void RegCache::Remove(std::list<RegEntry>::iterator it) {
  size_t bytes = it->end - it->begin;
  verbs_->DeregMr(dev_, it->mr);
  stats_.registeredBytes -= bytes;
  if (it->refs == 0) stats_.unheldBytes -= bytes;
  lru_.erase(it);
}

int RegCache::Acquire(const void* addr, size_t len, RegEntry** entry, std::string* err) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  if (len == 0 || a + len < a) {
    *err = "registration of an empty or wrapping range";
    return EINVAL;
  }
  uintptr_t begin = a / pageBytes_ * pageBytes_;
  uintptr_t end = (a + len + pageBytes_ - 1) / pageBytes_ * pageBytes_;
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->begin <= begin && end <= it->end) {
      ++stats_.hits;
      if (it->refs++ == 0) stats_.unheldBytes -= it->end - it->begin;
      Touch(it);
      *entry = &lru_.front();
      return 0;
    }
  }
  ++stats_.misses;
  for (const RegEntry& e : lru_) {
    if (e.begin < end && begin < e.end) begin = std::min(begin, e.begin), end = std::max(end, e.end);
  }
  RegEntry fresh;
  fresh.begin = begin;
  fresh.end = end;
  fresh.refs = 1;
  int rc = verbs_->RegMr(dev_, reinterpret_cast<void*>(begin), end - begin, &fresh.mr, err);
  if (rc != 0) return rc;
  for (auto it = lru_.begin(); it != lru_.end();) {  // the new range subsumes unheld overlapping entries
    auto next = std::next(it);
    if (it->refs == 0 && it->begin >= begin && it->end <= end) {
      Remove(it);
      ++stats_.evictions;
    }
    it = next;
  }
  lru_.push_front(fresh);
  stats_.registeredBytes += end - begin;
  *entry = &lru_.front();
  return 0;
}

void RegCache::Release(RegEntry* entry) {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (&*it != entry) continue;
    if (--it->refs == 0) stats_.unheldBytes += it->end - it->begin;
    break;
  }
  EvictToCap();
}

void RegCache::EvictToCap() {
  auto it = lru_.end();
  while (stats_.unheldBytes > capBytes_ && it != lru_.begin()) {
    --it;
    if (it->refs != 0) continue;
    auto victim = it++;
    Remove(victim);
    ++stats_.evictions;
  }
}

RegCacheStats RegCache::Stats() const {
  RegCacheStats s = stats_;
  s.entries = lru_.size();
  return s;
}

}  // namespace ccib
