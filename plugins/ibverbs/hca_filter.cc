// hca_filter.cc — parsing and matching of CONCCL_IB_HCA (see hca_filter.h).
#include "hca_filter.h"

#include <cstdlib>

namespace ccib {

static bool ParsePort(const std::string& text, int* port) {
  if (text.empty() || text.size() > 3) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  *port = atoi(text.c_str());
  return *port >= 1 && *port <= 255;
}

bool HcaFilter::Parse(const std::string& spec, std::string* err) {
  entries_.clear();
  exclude_ = exact_ = false;
  size_t pos = 0;
  if (pos < spec.size() && spec[pos] == '^') exclude_ = true, ++pos;
  if (pos < spec.size() && spec[pos] == '=') exact_ = true, ++pos;
  if (pos == spec.size()) {
    if (pos == 0) return true;
    *err = "CONCCL_IB_HCA='" + spec + "' names no device";
    return false;
  }
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    Entry e;
    size_t colon = item.find(':');
    e.name = item.substr(0, colon);
    if (e.name.empty() || (colon != std::string::npos && !ParsePort(item.substr(colon + 1), &e.port))) {
      *err = "CONCCL_IB_HCA: bad entry '" + item + "' (expected name or name:port)";
      entries_.clear();
      return false;
    }
    entries_.push_back(e);
    pos = comma + 1;
  }
  return true;
}

bool HcaFilter::Matches(const std::string& name, int port) const {
  if (entries_.empty()) return true;
  bool listed = false;
  for (const Entry& e : entries_) {
    bool nameOk = exact_ ? name == e.name : name.compare(0, e.name.size(), e.name) == 0;
    if (nameOk && (e.port < 0 || e.port == port)) listed = true;
  }
  return exclude_ ? !listed : listed;
}

}  // namespace ccib
