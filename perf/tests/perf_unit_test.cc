// Unit tests of the perf tools' library-free parts: nccl-tests' busbw factors and size rules, size and
// flag parsing, the output format, the deterministic data and checks, and the --codec error bounds.
#include <gtest/gtest.h>

#include <math.h>
#include <string.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "../common/busbw.h"
#include "../common/codec_bound.h"
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

// ---- all_reduce_perf --codec ------------------------------------------------------------------------

ccCompressConfig_t DefaultCompressConfig() {  // ccCompressConfigInit's values (conccl.h); no library here
  ccCompressConfig_t c;
  memset(&c, 0, sizeof(c));
  c.size = sizeof(c);
  c.magic = CC_COMPRESS_CONFIG_MAGIC;
  c.version = CC_VERSION_CODE;
  c.codec = ccCodecInt8;
  c.bits = 8;
  c.ratio = 1.0f / 64.0f;
  c.blockSize = 256;
  c.rounding = ccRoundNearest;
  c.feedback = ccFeedbackNone;
  c.residualCodec = ccResidualInt8;
  c.sketchSize = 0.2f;
  c.beta = 0.9f;
  c.algo = ccAlgoAuto;
  c.seed = 42;
  return c;
}

TEST(CodecOptions, NamesRoundTrip) {
  for (const char* name : {"int8", "int4", "fp16", "bf16", "sign", "randblock", "topk", "summable"}) {
    ccCodec_t c;
    ASSERT_TRUE(ParseCodecName(name, &c)) << name;
    EXPECT_STREQ(CodecName(c), name);
  }
  ccCodec_t c;
  for (const char* bad : {"", "none", "plugin", "INT8", "int16", "top-k"}) EXPECT_FALSE(ParseCodecName(bad, &c)) << bad;
  for (const char* name : {"none", "ef", "ef2", "conef"}) {
    ccFeedback_t f;
    ASSERT_TRUE(ParseFeedbackName(name, &f));
    EXPECT_STREQ(FeedbackName(f), name);
  }
  for (const char* name : {"int8", "int4", "sketch"}) {
    ccResidualCodec_t r;
    ASSERT_TRUE(ParseResidualName(name, &r));
    EXPECT_STREQ(ResidualName(r), name);
  }
  for (const char* name : {"auto", "ring", "tree"}) {
    ccAlgo_t a;
    ASSERT_TRUE(ParseAlgoName(name, &a));
    EXPECT_STREQ(AlgoName(a), name);
  }
  ccRounding_t r;
  EXPECT_TRUE(ParseRoundingName("stochastic", &r));
  EXPECT_EQ(r, ccRoundStochastic);
  EXPECT_FALSE(ParseRoundingName("up", &r));
}

TEST(CodecOptions, ParsesEveryCompressionFlag) {
  Options o;
  std::string err;
  std::vector<std::string> args = {"all_reduce_perf", "--codec", "summable", "--bits", "12", "--block", "512",
                                   "--ratio", "0.25", "--feedback", "conef", "--algo", "tree", "--residual", "sketch",
                                   "--sketch", "0.1", "--beta", "0.5", "--seed", "18446744073709551615",
                                   "--rounding", "stochastic", "-d", "half", "-o", "avg"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  ASSERT_EQ(ParseOptions(static_cast<int>(args.size()), argv.data(), &o, &err, true), ParseStatus::kOk) << err;
  EXPECT_TRUE(o.codec.enabled);
  ccCompressConfig_t c = DefaultCompressConfig();
  ApplyCodecOptions(o.codec, &c);
  EXPECT_EQ(c.codec, ccCodecSummable);
  EXPECT_EQ(c.bits, 12);
  EXPECT_EQ(c.blockSize, 512);
  EXPECT_EQ(c.ratio, 0.25f);
  EXPECT_EQ(c.feedback, ccFeedbackConef);
  EXPECT_EQ(c.algo, ccAlgoTree);
  EXPECT_EQ(c.residualCodec, ccResidualSketch);
  EXPECT_EQ(c.sketchSize, 0.1f);
  EXPECT_EQ(c.beta, 0.5f);
  EXPECT_EQ(c.seed, 18446744073709551615ull);
  EXPECT_EQ(c.rounding, ccRoundStochastic);
  EXPECT_EQ(CodecHeaderLine(c),
            "# codec summable bits 12 block 512 ratio 0.25 feedback conef algo tree rounding stochastic residual "
            "sketch sketch 0.1 beta 0.5 seed 18446744073709551615");
  // Flags left out keep the library's defaults.
  ASSERT_EQ(Parse({"--codec", "int8"}, &o, &err), ParseStatus::kError);  // not all_reduce_perf
  args = {"all_reduce_perf", "--codec", "int8"};
  argv.clear();
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  ASSERT_EQ(ParseOptions(3, argv.data(), &o, &err, true), ParseStatus::kOk) << err;
  c = DefaultCompressConfig();
  ApplyCodecOptions(o.codec, &c);
  EXPECT_EQ(CodecHeaderLine(c), "# codec int8 bits 8 block 256 ratio 0.015625 feedback none algo auto");
  ASSERT_EQ(Parse({}, &o, &err), ParseStatus::kOk);
  EXPECT_FALSE(o.codec.enabled);
}

TEST(CodecOptions, BadCompressionFlagsGiveOneLineErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"--codec", "foo"}, {"--codec", "none"}, {"--codec", "int8", "-d", "int32"}, {"--codec", "int8", "-d", "all"},
      {"--codec", "int8", "-d", "double"}, {"--codec", "int8", "-o", "max"}, {"--codec", "int8", "-o", "all"},
      {"--feedback", "ef"}, {"--bits", "8"}, {"--codec", "int8", "--bits", "4"}, {"--codec", "topk", "--bits", "8"},
      {"--codec", "summable", "--bits", "1"}, {"--codec", "summable", "--bits", "17"},
      {"--codec", "int8", "--block", "31"}, {"--codec", "int8", "--block", "4097"}, {"--codec", "topk", "--ratio", "0"},
      {"--codec", "topk", "--ratio", "1.01"}, {"--codec", "topk", "--ratio", "1e-300"}, {"--codec", "topk", "--ratio", "inf"},
      {"--codec", "int8", "--feedback", "ef3"}, {"--codec", "int8", "--algo", "chain"},
      {"--codec", "int8", "--residual", "int8"}, {"--codec", "int8", "--feedback", "conef", "--residual", "fp8"},
      {"--codec", "int8", "--feedback", "conef", "--sketch", "0.2"},
      {"--codec", "int8", "--feedback", "conef", "--residual", "sketch", "--sketch", "0"},
      {"--codec", "int8", "--feedback", "conef", "--residual", "sketch", "--beta", "1"},
      {"--codec", "int8", "--seed", "-1"}, {"--codec", "int8", "--seed", "18446744073709551616"},
      {"--codec", "int8", "--rounding", "down"}, {"--codec"}};
  for (const auto& a : bad) {
    std::vector<std::string> args = a;
    args.insert(args.begin(), "all_reduce_perf");
    std::vector<char*> argv;
    for (std::string& s : args) argv.push_back(&s[0]);
    argv.push_back(nullptr);
    Options o;
    std::string err;
    EXPECT_EQ(ParseOptions(static_cast<int>(args.size()), argv.data(), &o, &err, true), ParseStatus::kError)
        << a[0] << " " << (a.size() > 1 ? a[1] : "");
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  // Every compression flag is refused by the other tools, even those that prefix a real flag (--block).
  for (const char* flag : {"--codec", "--bits", "--block", "--ratio", "--feedback", "--algo", "--residual", "--sketch",
                           "--beta", "--seed", "--rounding"}) {
    Options o;
    std::string err;
    EXPECT_EQ(Parse({flag, "1"}, &o, &err), ParseStatus::kError) << flag;
    EXPECT_NE(err.find("only valid for all_reduce_perf"), std::string::npos) << err;
  }
}

TEST(CodecBound, MatchesTheIssueFormulaToFirstOrder) {
  for (int n : {1, 2, 4, 8, 32}) {
    BoundParams p;
    p.nranks = n;
    const double M = 12.0;
    p.codec = ccCodecInt8;
    const double int8 = n * 0.5 * M / 127;  // the issue's n * 0.5 * (sum of block maxima) / 127
    EXPECT_GE(SumErrorBound(p, M), int8);
    EXPECT_LE(SumErrorBound(p, M), int8 * (n <= 8 ? 1.02 : 1.2));
    p.codec = ccCodecInt4;
    EXPECT_GE(SumErrorBound(p, M), n * 0.5 * M / 7);
    p.codec = ccCodecSummable;
    p.bits = 8;
    EXPECT_NEAR(SumErrorBound(p, M), n * 0.5 * M / 127, 1e-4 * M);
    p.bits = 4;
    EXPECT_NEAR(SumErrorBound(p, M), n * 0.5 * M / 7, 1e-4 * M);
    p.codec = ccCodecFp16;
    EXPECT_GE(SumErrorBound(p, M), n * ldexp(M, -11));
    p.codec = ccCodecBf16;
    EXPECT_GE(SumErrorBound(p, M), n * ldexp(M, -8));
    EXPECT_LE(SumErrorBound(p, M), n * ldexp(M, -8) * (n <= 8 ? 1.05 : 1.3));
    for (ccCodec_t c : {ccCodecSign, ccCodecTopK, ccCodecRandBlock}) {
      p.codec = c;
      EXPECT_EQ(SumErrorBound(p, M), 0.0);
    }
  }
  BoundParams p;
  p.nranks = 4;
  EXPECT_EQ(CompressionSteps(p), 4);
  const double nearest = SumErrorBound(p, 1);
  p.stochastic = true;  // up to a whole step
  EXPECT_NEAR(SumErrorBound(p, 1) / nearest, 2.0, 0.02);
  p.stochastic = false;
  p.feedback = true;  // the local round trip of error feedback
  EXPECT_EQ(CompressionSteps(p), 5);
  EXPECT_NEAR(SumErrorBound(p, 1) / nearest, 1.25, 0.01);
  EXPECT_EQ(SumErrorBound(p, 0), 0.0);
  EXPECT_EQ(Nmse(0, 0), 0.0);
  EXPECT_EQ(Nmse(1, 4), 0.25);
  EXPECT_TRUE(isinf(Nmse(1, 0)));
}

// Reference models of the codecs over the perf inputs, in float32 as the library computes.
struct Model {
  int n;
  size_t count;
  int op;
  uint64_t seed;
  std::vector<std::vector<float>> x;  // x[rank][i]
  Model(int nranks, size_t cnt, int redop, uint64_t sd) : n(nranks), count(cnt), op(redop), seed(sd) {
    for (int r = 0; r < n; r++) {
      x.emplace_back(count);
      FillInput(x.back().data(), count, ccFloat32, op, r, 0, seed);
    }
  }
  // Block quantization of v[b..e) with L levels (round to nearest even, as nearbyint).
  static void Quantize(std::vector<float>* v, size_t b, size_t e, float L) {
    float m = 0;
    for (size_t i = b; i < e; i++) m = std::max(m, fabsf((*v)[i]));
    const float scale = m / L;
    for (size_t i = b; i < e; i++) (*v)[i] = scale > 0 ? nearbyintf((*v)[i] / scale) * scale : 0.0f;
  }
  // The compressed ring: the partial sum is re-quantized at every hop, n compressions in all.
  std::vector<float> Ring(int block, float L) const {
    std::vector<float> acc(x[0]);
    for (size_t b = 0; b < count; b += block) Quantize(&acc, b, std::min(count, b + block), L);
    for (int r = 1; r < n; r++) {
      for (size_t i = 0; i < count; i++) acc[i] += x[r][i];
      for (size_t b = 0; b < count; b += block) Quantize(&acc, b, std::min(count, b + block), L);
    }
    return acc;
  }
  std::vector<float> Exact() const {
    std::vector<float> s(count, 0.0f);
    for (int r = 0; r < n; r++)
      for (size_t i = 0; i < count; i++) s[i] += x[r][i];
    return s;
  }
  std::vector<float> Finish(std::vector<float> v) const {  // avg: scaled as the library does
    if (op == ccAvg)
      for (float& f : v) f *= 1.0f / static_cast<float>(n);
    return v;
  }
};

size_t Wrong(const std::vector<float>& got, const Model& m, const BoundParams& p, double* nmse = nullptr) {
  const CodecCheck c = CheckCompressed(got.data(), got.size(), ccFloat32, m.op, m.n, m.seed, p);
  if (nmse != nullptr) *nmse = Nmse(c.errSq, c.refSq);
  return c.wrong;
}

BoundParams Bounds(ccCodec_t codec, int n) {
  BoundParams p;
  p.codec = codec;
  p.nranks = n;
  return p;
}

TEST(CodecBound, BlockQuantizedRingStaysInsideAndErrorsShow) {
  for (int n : {2, 3, 5, 9}) {
    for (int op : {ccSum, ccAvg}) {
      const Model m(n, 3000, op, 11);
      for (ccCodec_t codec : {ccCodecInt8, ccCodecInt4}) {
        const BoundParams p = Bounds(codec, n);
        std::vector<float> got = m.Finish(m.Ring(256, codec == ccCodecInt8 ? 127.0f : 7.0f));
        double nmse = 0;
        EXPECT_EQ(Wrong(got, m, p, &nmse), 0u) << CodecName(codec) << " n=" << n << " " << OpName(op);
        EXPECT_GT(nmse, 0.0);
        EXPECT_LT(nmse, codec == ccCodecInt8 ? 1e-3 : 0.2);
        // A lost contribution (one rank's element missing) is far outside the int8 bound.
        if (codec == ccCodecInt8) {
          size_t i = 0;
          while (fabsf(m.x[n - 1][i]) != 4) i++;  // bound at n = 9: about 9 * 0.5 * 36 / 127 = 1.3
          got[i] -= m.x[n - 1][i] / (op == ccAvg ? n : 1);
          EXPECT_EQ(Wrong(got, m, p), 1u) << " n=" << n << " " << OpName(op);
        }
        got[7] = NAN;
        EXPECT_GE(Wrong(got, m, p), 1u);
      }
      const std::vector<float> exact = m.Finish(m.Exact());
      double nmse = 1;
      EXPECT_EQ(Wrong(exact, m, Bounds(ccCodecInt8, n), &nmse), 0u);
      EXPECT_LT(nmse, 1e-12);  // avg: the float32 division
    }
  }
  // The check uses the block maxima: one block off by twice the bound fails all its wrong elements only.
  const Model m(4, 1024, ccSum, 3);
  const BoundParams p = Bounds(ccCodecInt8, 4);
  std::vector<float> got = m.Exact();
  for (size_t i = 256; i < 512; i++) got[i] += 0.5f;  // bound: about 4 * 0.5 * 16 / 127 = 0.25
  EXPECT_EQ(Wrong(got, m, p), 256u);
  got = m.Exact();
  for (size_t i = 256; i < 512; i++) got[i] += 0.2f;
  EXPECT_EQ(Wrong(got, m, p), 0u);
}

TEST(CodecBound, SummableIsTightAndFp16Exact) {
  for (int n : {2, 4, 7}) {
    const Model m(n, 2048, ccSum, 5);
    std::vector<float> got(m.count, 0.0f);
    for (size_t b = 0; b < m.count; b += 256) {
      float S = 0;
      for (int r = 0; r < n; r++)
        for (size_t i = b; i < b + 256; i++) S = std::max(S, fabsf(m.x[r][i]));
      const float scale = S / 127.0f;
      for (size_t i = b; i < b + 256; i++) {
        int32_t q = 0;
        for (int r = 0; r < n; r++) q += static_cast<int32_t>(nearbyintf(m.x[r][i] * (1.0f / scale)));
        got[i] = static_cast<float>(q) * scale;
      }
    }
    BoundParams p = Bounds(ccCodecSummable, n);
    EXPECT_EQ(Wrong(got, m, p), 0u) << n;
    got[100] += 1.0f;
    EXPECT_EQ(Wrong(got, m, p), 1u) << n;
    // Small integers are exact in half and bfloat16: any difference is wrong.
    std::vector<float> exact = m.Exact();
    exact[5] += 0.25f;
    EXPECT_EQ(Wrong(exact, m, Bounds(ccCodecFp16, n)), 1u);
    EXPECT_EQ(Wrong(m.Exact(), m, Bounds(ccCodecBf16, n)), 0u);
  }
}

TEST(CodecBound, SparsifiersKeepTheirPromises) {
  const int n = 4;
  const Model m(n, 4096, ccSum, 9);
  const std::vector<float> exact = m.Exact();
  // randblock: a wrapping block of exact sums, zeros elsewhere.
  std::vector<float> rb(m.count, 0.0f);
  for (size_t k = 0; k < 64; k++) rb[(4070 + k) % m.count] = exact[(4070 + k) % m.count];
  double nmse = 0;
  EXPECT_EQ(Wrong(rb, m, Bounds(ccCodecRandBlock, n), &nmse), 0u);
  EXPECT_GT(nmse, 0.9);
  rb[3] = exact[3] + 1;
  EXPECT_EQ(Wrong(rb, m, Bounds(ccCodecRandBlock, n)), exact[3] + 1 == 0 ? 0u : 1u);
  // topk: each rank's 64 largest |x|, summed.
  std::vector<float> tk(m.count, 0.0f);
  for (int r = 0; r < n; r++) {
    std::vector<size_t> idx(m.count);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + 64, idx.end(),
                      [&](size_t a, size_t b) { return fabsf(m.x[r][a]) > fabsf(m.x[r][b]); });
    for (size_t k = 0; k < 64; k++) tk[idx[k]] += m.x[r][idx[k]];
  }
  EXPECT_EQ(Wrong(tk, m, Bounds(ccCodecTopK, n)), 0u);
  EXPECT_EQ(Wrong(exact, m, Bounds(ccCodecTopK, n)), 0u);  // every rank sending everything is a subset too
  tk[0] = 17;                                               // more than 4 ranks x 4 can make
  EXPECT_EQ(Wrong(tk, m, Bounds(ccCodecTopK, n)), 1u);
  // sign: +-mean|x| per rank and block.
  std::vector<float> sg(m.count, 0.0f);
  double env = 0;
  for (int r = 0; r < n; r++) {
    float mean = 0;
    for (size_t i = 0; i < 256; i++) mean += fabsf(m.x[r][i]);
    mean /= 256;
    env += mean;
    for (size_t i = 0; i < 256; i++) sg[i] += m.x[r][i] < 0 ? -mean : mean;
  }
  EXPECT_EQ(Wrong(std::vector<float>(sg.begin(), sg.begin() + 256), Model(n, 256, ccSum, 9), Bounds(ccCodecSign, n)),
            0u);
  sg[1] = static_cast<float>(1.1 * env);
  EXPECT_EQ(Wrong(std::vector<float>(sg.begin(), sg.begin() + 256), Model(n, 256, ccSum, 9), Bounds(ccCodecSign, n)),
            1u);
}

TEST(CodecBound, HalfAndBfloat16Results) {
  const int n = 5;
  const Model m(n, 1024, ccAvg, 13);
  const std::vector<float> ring = m.Finish(m.Ring(256, 127.0f));
  std::vector<uint16_t> h(m.count), b(m.count);
  for (size_t i = 0; i < m.count; i++) {
    h[i] = FloatToHalf(ring[i]);
    b[i] = FloatToBf16(ring[i]);
  }
  const BoundParams p = Bounds(ccCodecInt8, n);
  EXPECT_EQ(CheckCompressed(h.data(), m.count, ccFloat16, ccAvg, n, 13, p).wrong, 0u);
  EXPECT_EQ(CheckCompressed(b.data(), m.count, ccBfloat16, ccAvg, n, 13, p).wrong, 0u);
  h[9] = 0x7e00;  // NaN
  EXPECT_EQ(CheckCompressed(h.data(), m.count, ccFloat16, ccAvg, n, 13, p).wrong, 1u);
}

TEST(Report, CodecColumnsFollowWrong) {
  Cell c;
  c.valid = true;
  c.timeUs = 1000;
  c.algBw = 1.5;
  c.busBw = 2.25;
  c.checked = true;
  c.ratio = 0.25390625;
  c.nmse = 7.84e-05;
  Cell unchecked = c;
  unchecked.checked = false;
  unchecked.ratio = NAN;
  const RowKey key{4194304, 1048576, "float", "sum", -1};
  EXPECT_EQ(FormatRow(key, c, unchecked, true),
            "     4194304       1048576     float     sum      -1  1000.00    1.50    2.25       0  0.2539  7.84e-05"
            "  1000.00    1.50    2.25    N/A     N/A       N/A");
  EXPECT_EQ(FormatRow(key, c, Cell{}, true).substr(52 + 51), "      N/A     N/A     N/A     N/A     N/A       N/A");
  // Each header column ends where its row field ends.
  const std::string row = FormatRow(key, c, c, true), h1 = ColumnHeaderLine(1, true), h2 = ColumnHeaderLine(2, true);
  for (const char* col : {"#wrong", "ratio", "nmse"}) {
    const size_t end = h1.find(col) + strlen(col);
    EXPECT_NE(row[end - 1], ' ') << col;
    EXPECT_EQ(row[end], ' ') << col;
  }
  EXPECT_EQ(h1.size(), row.size() + 1);
  EXPECT_EQ(h2.size(), h1.size());
  EXPECT_NE(ColumnHeaderLine(0, true).find("out-of-place"), std::string::npos);
  const CodecInfo info{"int8", 8, 256, 0.015625, "ef", "ring"};
  EXPECT_EQ(JsonRow("all_reduce", 4, key, c, unchecked, &info),
            "{\"collective\":\"all_reduce\",\"nranks\":4,\"size\":4194304,\"count\":1048576,\"type\":\"float\","
            "\"redop\":\"sum\",\"root\":-1,\"codec\":\"int8\",\"bits\":8,\"block\":256,\"codec_ratio\":0.015625,"
            "\"feedback\":\"ef\",\"algo\":\"ring\",\"out_of_place\":{\"time\":1000,\"alg_bw\":1.5,\"bus_bw\":2.25,"
            "\"nwrong\":0,\"ratio\":0.25390625,\"nmse\":7.84e-05},\"in_place\":{\"time\":1000,\"alg_bw\":1.5,"
            "\"bus_bw\":2.25,\"nwrong\":null,\"ratio\":null,\"nmse\":null}}");
  // Without --codec nothing changes (the golden layout above).
  EXPECT_EQ(FormatRow(key, c, c), FormatRow(key, c, c, false));
  EXPECT_EQ(JsonRow("all_reduce", 4, key, c, c).find("ratio"), std::string::npos);
}

}  // namespace
}  // namespace ccperf
