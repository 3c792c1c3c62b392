// optimizer.cc — SgdMomentum.
#include "optimizer.h"

namespace cctrain {

SgdMomentum::SgdMomentum(const std::vector<Param*>& params, float lr, float momentum, float weightDecay)
    : params_(params), lr_(lr), mu_(momentum), wd_(weightDecay) {
  for (Param* p : params_) velocity_.emplace_back(p->value.size(), 0.0f);
}

void SgdMomentum::Step() {
  for (size_t t = 0; t < params_.size(); ++t) {
    std::vector<float>& x = params_[t]->value;
    const std::vector<float>& g = params_[t]->grad;
    std::vector<float>& m = velocity_[t];
    for (size_t i = 0; i < x.size(); ++i) {
      m[i] = mu_ * m[i] + g[i] + wd_ * x[i];
      x[i] -= lr_ * m[i];
    }
  }
}

}  // namespace cctrain
