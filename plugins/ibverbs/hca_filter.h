// hca_filter.h — CONCCL_IB_HCA, the device filter (the syntax of NCCL_IB_HCA): a comma list of entries
// "name[:port]". A leading '^' makes the list an exclude list; a leading '=' makes names match exactly
// (otherwise an entry matches every device whose name starts with it). An entry without a port matches
// every port. Both prefixes may appear, in the order "^=". Empty spec = every port passes.
#ifndef CONCCL_PLUGINS_IBVERBS_HCA_FILTER_H_
#define CONCCL_PLUGINS_IBVERBS_HCA_FILTER_H_

#include <string>
#include <vector>

namespace ccib {

class HcaFilter {
 public:
  // Parses spec. Returns false with *err for a malformed entry (empty name, bad port number).
  bool Parse(const std::string& spec, std::string* err);
  // True when the port `port` (1-based) of device `name` passes the filter.
  bool Matches(const std::string& name, int port) const;

 private:
  struct Entry {
    std::string name;
    int port = -1;  // -1 = any port
  };
  std::vector<Entry> entries_;
  bool exclude_ = false;
  bool exact_ = false;
};

}  // namespace ccib

#endif  // CONCCL_PLUGINS_IBVERBS_HCA_FILTER_H_
