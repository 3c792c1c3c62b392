// train_options_test.cc — conccl-train's flags: defaults, values, and one clear error per bad input.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "train_options.h"

namespace cctrain {
namespace {

bool Parse(std::vector<std::string> args, TrainOptions* o, std::string* err) {
  args.insert(args.begin(), "conccl-train");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(&a[0]);
  return ParseTrainOptions(static_cast<int>(argv.size()), argv.data(), o, err);
}

TEST(TrainOptions, ParsesValues) {
  TrainOptions o;
  std::string err;
  ASSERT_TRUE(Parse({"--method", "conef", "--codec=int4", "--ratio", "1/64", "--residual", "sketch", "--residual-fp16",
                     "--width", "256", "-J", "out.jsonl", "--exchange", "bucket"},
                    &o, &err))
      << err;
  EXPECT_EQ(o.method, "conef");
  EXPECT_EQ(o.codec, "int4");
  EXPECT_DOUBLE_EQ(o.ratio, 1.0 / 64);
  EXPECT_TRUE(o.residualFp16);
  EXPECT_EQ(o.width, 256);
  EXPECT_EQ(o.jsonPath, "out.jsonl");
  EXPECT_EQ(o.exchange, "bucket");
  TrainOptions s;
  ASSERT_TRUE(Parse({"--method", "saef", "--def-coeff", "0.3"}, &s, &err)) << err;
  EXPECT_DOUBLE_EQ(s.defCoeff, 1.0);  // saef is def with a = 1
}

TEST(TrainOptions, RejectsBadInput) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"--width"}, "needs a value"},
      {{"--width", "0"}, "invalid value '0'"},
      {{"--lr", "abc"}, "invalid value 'abc'"},
      {{"--ratio", "2"}, "invalid value '2'"},
      {{"--ratio", "1/0"}, "invalid value '1/0'"},
      {{"--method", "adam"}, "--method must be"},
      {{"--codec", "fp8"}, "--codec must be"},
      {{"--model", "resnet"}, "--model must be"},
      {{"--average-period", "5"}, "needs --method saef"},
      {{"--method", "conef", "--residual", "int8", "--residual-fp16"}, "sketch only"},
      {{"--method", "ef2", "--codec", "randblock"}, "ef2 needs"},
  };
  for (const auto& c : cases) {
    TrainOptions o;
    std::string err;
    EXPECT_FALSE(Parse(c.first, &o, &err)) << c.second;
    EXPECT_NE(err.find(c.second), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace cctrain
