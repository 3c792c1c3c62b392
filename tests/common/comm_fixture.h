// comm_fixture.h — a gtest fixture owning one communicator set for a whole test, so that many collectives
// share one (costly) init. TearDown destroys every comm (asserting success) unless a failure left the group
// in an unknown state, in which case every comm is aborted instead.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace cctest {

// No-progress limit for tests that expect success: a bug shows up as a failure, not a hang.
constexpr int kSuccessTimeoutMs = 60000;

class CommFixture : public ::testing::Test {
 protected:
  // Creates nranks comms over net (nullptr: automatic), with CONCCL_ALGO=algo during init when algo is set.
  void InitComms(int nranks, const char* net, const char* algo = nullptr) {
    std::string why;
    const ccResult_t r = comms_.Init(nranks, net, algo, kSuccessTimeoutMs, &why);
    if (r != ccSuccess) broken_ = true;
    ASSERT_EQ(r, ccSuccess) << why;
  }

  void TearDown() override {
    if (broken_) {
      comms_.Abort();
      return;
    }
    std::string why;
    EXPECT_EQ(comms_.Destroy(&why), ccSuccess) << why;
  }

  // Marks the group as possibly broken (a collective failed): TearDown aborts instead of destroying.
  void MarkBroken() { broken_ = true; }

  CommSet comms_;
  bool broken_ = false;
};

}  // namespace cctest
