// report.cc — nccl-tests' printf formats (see report.h).
#include "report.h"

#include <stdarg.h>
#include <stdint.h>

namespace ccperf {
namespace {

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string FormatCell(const Cell& c) {
  if (!c.valid) return Format("  %7s  %6s  %6s  %6s", "N/A", "N/A", "N/A", "N/A");
  const std::string t = FloatStr(c.timeUs, 7), a = FloatStr(c.algBw, 6), b = FloatStr(c.busBw, 6);
  if (!c.checked) return Format("  %7s  %6s  %6s    N/A", t.c_str(), a.c_str(), b.c_str());
  return Format("  %7s  %6s  %6s  %6g", t.c_str(), a.c_str(), b.c_str(), static_cast<double>(c.wrong));
}

// ratio and nmse of a --codec cell.
std::string FormatCodecCell(const Cell& c) {
  const bool ratio = c.valid && c.ratio == c.ratio;
  const bool nmse = c.valid && c.checked && c.nmse == c.nmse;
  return (ratio ? Format("  %6.4f", c.ratio) : Format("  %6s", "N/A")) +
         (nmse ? Format("  %8.2e", c.nmse) : Format("  %8s", "N/A"));
}

std::string JsonDouble(double v) {
  if (v != v) return "\"nan\"";
  return Format("%.9g", v);
}

// A number, or null for NaN and infinities (JSON has neither).
std::string JsonNumber(double v) { return v == v && v - v == 0 ? Format("%.9g", v) : "null"; }

std::string JsonCell(const Cell& c, bool codec) {
  if (!c.valid) return "null";
  std::string s = "{\"time\":" + JsonDouble(c.timeUs) + ",\"alg_bw\":" + JsonDouble(c.algBw) +
                  ",\"bus_bw\":" + JsonDouble(c.busBw) +
                  ",\"nwrong\":" + (c.checked ? std::to_string(c.wrong) : std::string("null"));
  if (codec) s += ",\"ratio\":" + JsonNumber(c.ratio) + ",\"nmse\":" + (c.checked ? JsonNumber(c.nmse) : "null");
  return s + "}";
}

// Centres text in width columns.
std::string Centre(const char* text, int width) {
  const int len = static_cast<int>(std::string(text).size());
  const int left = (width - len) / 2;
  return Format("%*s%s%*s", left, "", text, width - len - left, "");
}

}  // namespace

std::string FloatStr(double value, int width) {
  int power = 0;
  for (uint64_t v = 1; value >= static_cast<double>(v) && power < 20; v *= 10) power++;
  if (power < width - 2) return Format("%*.2f", width, value);
  if (power < width - 1) return Format("%*.1f", width, value);
  if (power < width + 1) return Format("%*.0f", width, value);
  return width >= 7 ? Format("%*.1e", width, value) : Format("%*.0e", width, value);
}

std::string FormatRow(const RowKey& key, const Cell& outOfPlace, const Cell& inPlace, bool codec) {
  const std::string root = Format("%6i", key.root);
  const std::string pre = Format("%12zu  %12zu  %8s  %6s  %6s", key.bytes, key.count, key.type, key.op, root.c_str());
  if (!codec) return pre + FormatCell(outOfPlace) + FormatCell(inPlace);
  return pre + FormatCell(outOfPlace) + FormatCodecCell(outOfPlace) + FormatCell(inPlace) + FormatCodecCell(inPlace);
}

std::string ColumnHeaderLine(int line, bool codec) {
  if (codec) {  // each group: "  %7s  %6s  %6s  %6s  %6s  %8s" (51 columns)
    switch (line) {
      case 0:
        return Format("# %10s  %12s  %8s  %6s  %6s", "", "", "", "", "") + Centre("out-of-place", 51) +
               Centre("in-place", 51);
      case 1:
        return Format("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %6s  %8s  %7s  %6s  %6s  %6s  %6s  %8s ",
                      "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "ratio", "nmse",
                      "time", "algbw", "busbw", "#wrong", "ratio", "nmse");
      default:
        return Format("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %6s  %8s  %7s  %6s  %6s  %6s  %6s  %8s ",
                      "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "", "", "(us)", "(GB/s)",
                      "(GB/s)", "", "", "");
    }
  }
  switch (line) {
    case 0:
      return Format("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          ",
                    "", "", "", "", "");
    case 1:
      return Format("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s", "size", "count",
                    "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong",
                    0, "");
    default:
      return Format("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s %*s", "(B)", "(elements)",
                    "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "", 0, "");
  }
}

std::string JsonRow(const char* collective, int nranks, const RowKey& key, const Cell& outOfPlace,
                    const Cell& inPlace, const CodecInfo* codec) {
  std::string s = Format("{\"collective\":\"%s\",\"nranks\":%d,\"size\":%zu,\"count\":%zu,\"type\":\"%s\","
                         "\"redop\":\"%s\",\"root\":%d,",
                         collective, nranks, key.bytes, key.count, key.type, key.op, key.root);
  if (codec != nullptr)
    s += Format("\"codec\":\"%s\",\"bits\":%d,\"block\":%d,\"codec_ratio\":%s,\"feedback\":\"%s\",\"algo\":\"%s\",",
                codec->codec, codec->bits, codec->blockSize, JsonNumber(codec->ratio).c_str(), codec->feedback,
                codec->algo);
  const bool k = codec != nullptr;
  return s + "\"out_of_place\":" + JsonCell(outOfPlace, k) + ",\"in_place\":" + JsonCell(inPlace, k) + "}";
}

}  // namespace ccperf
