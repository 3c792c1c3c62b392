// Unit tests of the perf tools' library-free parts: nccl-tests' busbw factors and size rules, size and
// flag parsing, the output format, and the deterministic data and checks.
#include <gtest/gtest.h>

#include <string.h>

#include <string>
#include <vector>

#include "../common/busbw.h"
#include "../common/data.h"
#include "../common/options.h"
#include "../common/report.h"

namespace ccperf {
namespace {

TEST(BusBw, FactorsMatchNcclTests) {
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllReduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllReduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllReduce, 1), 0.0);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllGather, 4), 0.75);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kReduceScatter, 4), 0.75);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAlltoAll, 2), 0.5);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kBroadcast, 4), 1.0);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kReduce, 4), 1.0);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kSendRecv, 4), 1.0);
}

TEST(BusBw, GigabytesAreDecimal) {
  double alg = 0, bus = 0;
  // 64 MiB float all-reduce in 0.1 s over 4 ranks: algbw = 67108864 / 1e9 / 0.1.
  GetBw(Coll::kAllReduce, 16u << 20, 4, 0.1, 4, &alg, &bus);
  EXPECT_DOUBLE_EQ(alg, 0.67108864);
  EXPECT_DOUBLE_EQ(bus, 0.67108864 * 1.5);
  // All-gather counts the whole gathered array: per-rank count x nranks.
  GetBw(Coll::kAllGather, 1000, 4, 1e-3, 4, &alg, &bus);
  EXPECT_DOUBLE_EQ(alg, 0.016);
  EXPECT_DOUBLE_EQ(bus, 0.012);
  GetBw(Coll::kBroadcast, 1000, 8, 1e-6, 2, &alg, &bus);
  EXPECT_DOUBLE_EQ(alg, 8.0);
  EXPECT_DOUBLE_EQ(bus, 8.0);
}

TEST(BusBw, CollSizesFollowNcclTests) {
  CollSizes s = GetCollSizes(Coll::kAllReduce, 1000, 4, 4);
  EXPECT_EQ(s.sendCount, 1000u);
  EXPECT_EQ(s.recvCount, 1000u);
  EXPECT_EQ(s.paramCount, 1000u);
  s = GetCollSizes(Coll::kAllGather, 1000, 4, 4);  // base = 1000 / 16 * 4 = 248
  EXPECT_EQ(s.paramCount, 248u);
  EXPECT_EQ(s.sendCount, 248u);
  EXPECT_EQ(s.recvCount, 992u);
  EXPECT_EQ(s.sendInplaceOffset, 248u);
  EXPECT_EQ(s.recvInplaceOffset, 0u);
  s = GetCollSizes(Coll::kReduceScatter, 1000, 4, 4);
  EXPECT_EQ(s.paramCount, 248u);
  EXPECT_EQ(s.sendCount, 992u);
  EXPECT_EQ(s.recvCount, 248u);
  EXPECT_EQ(s.sendInplaceOffset, 0u);
  EXPECT_EQ(s.recvInplaceOffset, 248u);
  s = GetCollSizes(Coll::kAlltoAll, 1000, 4, 3);  // (1000/3) rounded down to 16 bytes = 332
  EXPECT_EQ(s.paramCount, 332u);
  EXPECT_EQ(s.sendCount, 996u);
  s = GetCollSizes(Coll::kAlltoAll, 1000, 1, 3);  // 333 bytes per peer -> 320
  EXPECT_EQ(s.paramCount, 320u);
}

TEST(Options, ParseSizeUsesBinarySuffixes) {
  size_t v = 0;
  EXPECT_TRUE(ParseSize("8", &v));
  EXPECT_EQ(v, 8u);
  EXPECT_TRUE(ParseSize("64M", &v));
  EXPECT_EQ(v, 64u << 20);
  EXPECT_TRUE(ParseSize("1k", &v));
  EXPECT_EQ(v, 1024u);
  EXPECT_TRUE(ParseSize("2G", &v));
  EXPECT_EQ(v, size_t{2} << 30);
  EXPECT_TRUE(ParseSize("1.5K", &v));
  EXPECT_EQ(v, 1536u);
  EXPECT_TRUE(ParseSize("0", &v));
  EXPECT_EQ(v, 0u);
  for (const char* bad : {"", "M", "1X", "1MB", "1KK", "-1", "0x10", "1.1", "nan", "1e3", "1e99G", " 1", "1 ", "99999999999999999999"})
    EXPECT_FALSE(ParseSize(bad, &v)) << bad;
}

ParseStatus Parse(std::vector<std::string> args, Options* o, std::string* err) {
  args.insert(args.begin(), "all_reduce_perf");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  return ParseOptions(static_cast<int>(args.size()), argv.data(), o, err);
}

TEST(Options, DefaultsAreNcclTests) {
  Options o;
  std::string err;
  ASSERT_EQ(Parse({}, &o, &err), ParseStatus::kOk);
  EXPECT_EQ(o.minBytes, 32u << 20);
  EXPECT_EQ(o.maxBytes, 32u << 20);
  EXPECT_EQ(o.stepBytes, 1u << 20);
  EXPECT_EQ(o.stepFactor, 1u);
  EXPECT_EQ(o.iters, 20);
  EXPECT_EQ(o.warmupIters, 1);
  EXPECT_EQ(o.check, 1);
  EXPECT_EQ(o.average, 1);
  ASSERT_EQ(o.ops.size(), 1u);
  EXPECT_EQ(o.ops[0], ccSum);
  ASSERT_EQ(o.types.size(), 1u);
  EXPECT_EQ(o.types[0], ccFloat32);
}

TEST(Options, ParsesEveryFlag) {
  Options o;
  std::string err;
  ASSERT_EQ(Parse({"-t", "4", "-g", "1", "-b", "8", "-e", "128M", "-f", "2", "-i", "4K", "-n", "5", "-w", "3",
                   "-m", "2", "-N", "2", "-c", "0", "-o", "max", "-d", "bfloat16", "-r", "1", "-z", "1", "-a", "3",
                   "-T", "30", "-J", "out.json", "-u", "1", "-p", "1"},
                  &o, &err),
            ParseStatus::kOk)
      << err;
  EXPECT_EQ(o.nThreads, 4);
  EXPECT_EQ(o.minBytes, 8u);
  EXPECT_EQ(o.maxBytes, 128u << 20);
  EXPECT_EQ(o.stepFactor, 2u);
  EXPECT_EQ(o.stepBytes, 4096u);
  EXPECT_EQ(o.iters, 5);
  EXPECT_EQ(o.warmupIters, 3);
  EXPECT_EQ(o.aggIters, 2);
  EXPECT_EQ(o.runCycles, 2);
  EXPECT_EQ(o.check, 0);
  EXPECT_EQ(o.ops, std::vector<int>{ccMax});
  EXPECT_EQ(o.types, std::vector<ccDataType_t>{ccBfloat16});
  EXPECT_EQ(o.root, 1);
  EXPECT_EQ(o.blocking, 1);
  EXPECT_EQ(o.average, 3);
  EXPECT_EQ(o.timeoutSec, 30);
  EXPECT_EQ(o.jsonFile, "out.json");
  EXPECT_EQ(o.unalign, 1);
  ASSERT_EQ(Parse({"--minbytes", "1K", "--maxbytes", "1M", "--op", "all", "--datatype", "all", "--root", "all"}, &o,
                  &err),
            ParseStatus::kOk);
  EXPECT_EQ(o.ops.size(), 5u);
  EXPECT_EQ(o.types.size(), 10u);
  EXPECT_TRUE(o.rootAll);
  EXPECT_EQ(Parse({"-h"}, &o, &err), ParseStatus::kHelp);
}

TEST(Options, BadFlagsGiveOneLineErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"-b", "1X"}, {"-b", "2K", "-e", "1K"}, {"-d", "float8"}, {"-o", "mulsum"}, {"-g", "2"}, {"-t", "0"},
      {"-n", "x"},  {"-z", "4"},              {"-a", "9"},      {"-q"},           {"-b"},      {"stray"},
      {"--nope"},   {"-f", "2", "-b", "0"}};
  for (const auto& args : bad) {
    Options o;
    std::string err;
    EXPECT_EQ(Parse(args, &o, &err), ParseStatus::kError) << args[0];
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

TEST(Report, FloatStrFitsWidth) {
  EXPECT_EQ(FloatStr(10.0, 7), "  10.00");
  EXPECT_EQ(FloatStr(1000.0, 7), "1000.00");
  EXPECT_EQ(FloatStr(12345.6, 7), "12345.6");
  EXPECT_EQ(FloatStr(123456.7, 7), " 123457");
  EXPECT_EQ(FloatStr(1234567.0, 7), "1234567");
  EXPECT_EQ(FloatStr(12345678.0, 7), "1.2e+07");
  EXPECT_EQ(FloatStr(134.22, 6), "134.22");
  EXPECT_EQ(FloatStr(0.001, 6), "  0.00");
}

TEST(Report, RowAndHeaderMatchNcclTestsLayout) {
  Cell c;
  c.valid = true;
  c.timeUs = 1000;
  c.algBw = 134.22;
  c.busBw = 134.22;
  c.checked = true;
  const RowKey key{134217728, 33554432, "float", "sum", -1};
  EXPECT_EQ(FormatRow(key, c, c),
            "   134217728      33554432     float     sum      -1  1000.00  134.22  134.22       0  1000.00  134.22  "
            "134.22       0");
  EXPECT_EQ(ColumnHeaderLine(0),
            "#                                                              out-of-place                       in-place  "
            "        ");
  EXPECT_EQ(ColumnHeaderLine(1),
            "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   "
            "busbw  #wrong ");
  EXPECT_EQ(ColumnHeaderLine(2),
            "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  "
            "(GB/s)         ");
  Cell unchecked = c;
  unchecked.checked = false;
  EXPECT_NE(FormatRow(key, unchecked, Cell{}).find("134.22    N/A      N/A     N/A     N/A     N/A"), std::string::npos);
  EXPECT_EQ(JsonRow("all_reduce", 2, key, c, Cell{}),
            "{\"collective\":\"all_reduce\",\"nranks\":2,\"size\":134217728,\"count\":33554432,\"type\":\"float\","
            "\"redop\":\"sum\",\"root\":-1,\"out_of_place\":{\"time\":1000,\"alg_bw\":134.22,\"bus_bw\":134.22,"
            "\"nwrong\":0},\"in_place\":null}");
}

TEST(Data, HalfAndBf16ConversionsRoundToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; h++) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (f != f) continue;
    EXPECT_EQ(FloatToHalf(f), h) << h;
  }
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);                  // ties to even: rounds up to inf
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);        // halfway, even stays
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);        // halfway, odd rounds up
  EXPECT_EQ(FloatToHalf(5.960464477539063e-08f), 0x0001);    // smallest subnormal
  EXPECT_EQ(FloatToHalf(2.98023223876953125e-08f), 0x0000);  // half of it: ties to even (zero)
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToFloat(0x4040), 3.0f);
  EXPECT_EQ(FloatToBf16(1.0f + 1.0f / 256), 0x3f80);  // halfway, even stays
}

// A reference all-reduce over in-memory inputs must check clean; one changed element must count once.
TEST(Data, CheckReduceCountsExactlyTheWrongElements) {
  const ccDataType_t types[] = {ccInt8,   ccUint8,   ccInt32,   ccUint32,  ccInt64,
                                ccUint64, ccFloat16, ccFloat32, ccFloat64, ccBfloat16};
  const int nranks = 5;
  const size_t count = 3000;
  for (ccDataType_t t : types) {
    for (int op = 0; op < ccNumOps; op++) {
      const size_t ts = TypeSize(t);
      std::vector<std::vector<char>> in(nranks, std::vector<char>(count * ts));
      for (int r = 0; r < nranks; r++) FillInput(in[r].data(), count, t, op, r, 0, 7);
      // The expected result built from the inputs with the same integer values.
      std::vector<char> out(count * ts);
      for (size_t i = 0; i < count; i++) {
        double acc = static_cast<double>(InputValue(t, op, 0, i, 7));
        for (int r = 1; r < nranks; r++) {
          const double v = static_cast<double>(InputValue(t, op, r, i, 7));
          acc = op == ccProd ? acc * v : op == ccMax ? std::max(acc, v) : op == ccMin ? std::min(acc, v) : acc + v;
        }
        if (op == ccAvg) acc /= nranks;
        if (!IsFloatType(t) && op == ccAvg) acc = static_cast<double>(static_cast<int64_t>(acc));
        std::vector<char> one(ts);
        const int64_t iv = static_cast<int64_t>(acc);
        switch (t) {
          case ccFloat16: { const uint16_t h = FloatToHalf(static_cast<float>(acc)); memcpy(one.data(), &h, 2); break; }
          case ccBfloat16: { const uint16_t b = FloatToBf16(static_cast<float>(acc)); memcpy(one.data(), &b, 2); break; }
          case ccFloat32: { const float f = static_cast<float>(acc); memcpy(one.data(), &f, 4); break; }
          case ccFloat64: memcpy(one.data(), &acc, 8); break;
          default: memcpy(one.data(), &iv, ts); break;  // little endian: the low bytes wrap like the type
        }
        memcpy(out.data() + i * ts, one.data(), ts);
      }
      EXPECT_EQ(CheckReduce(out.data(), count, t, op, nranks, 0, 7), 0u) << TypeName(t) << " " << OpName(op);
      out[10 * ts] ^= 0x40;  // flip one bit of element 10
      EXPECT_EQ(CheckReduce(out.data(), count, t, op, nranks, 0, 7), 1u) << TypeName(t) << " " << OpName(op);
      // Products are mostly 1, so a shifted index only shows in a fraction of the elements.
      // 8-bit averages of small values accept +-1, so they too catch a shift only sometimes.
      const bool weak = op == ccProd || (op == ccAvg && ts == 1);
      EXPECT_GT(CheckReduce(out.data(), count, t, op, nranks, 1, 7), weak ? count / 10 : count / 2)
          << "shifted index must fail: " << TypeName(t) << " " << OpName(op);
    }
  }
}

TEST(Data, CheckCopyIsExactAndRankSpecific) {
  std::vector<float> buf(1000);
  FillInput(buf.data(), buf.size(), ccFloat32, kOpNone, 3, 100, 9);
  EXPECT_EQ(CheckCopy(buf.data(), buf.size(), ccFloat32, 3, 100, 9), 0u);
  EXPECT_GT(CheckCopy(buf.data(), buf.size(), ccFloat32, 2, 100, 9), 900u);
  EXPECT_GT(CheckCopy(buf.data(), buf.size(), ccFloat32, 3, 101, 9), 900u);
  EXPECT_GT(CheckCopy(buf.data(), buf.size(), ccFloat32, 3, 100, 8), 900u);
  buf[5] = 0.5f;
  EXPECT_EQ(CheckCopy(buf.data(), buf.size(), ccFloat32, 3, 100, 9), 1u);
}

}  // namespace
}  // namespace ccperf
