// report.h — nccl-tests' output layout: header, device lines, column header, rows, footer; and the
// JSON-lines file of -J (one object per row, with nccl-tests' JSON key names).
#ifndef CONCCL_PERF_REPORT_H_
#define CONCCL_PERF_REPORT_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <string>

namespace ccperf {

// nccl-tests' getFloatStr: %.2f, then %.1f, %.0f, then exponent form, to fit `width` characters.
std::string FloatStr(double value, int width);

// One placement (out-of-place or in-place) of one row.
struct Cell {
  bool valid = false;    // false: not run (in place is not defined for this collective): printed N/A
  double timeUs = 0;
  double algBw = 0;      // GB/s, 1e9 bytes
  double busBw = 0;
  bool checked = false;  // false (-c 0): #wrong is N/A
  int64_t wrong = 0;
  // --codec only (printed when the row is formatted with codec = true); NaN prints N/A.
  double ratio = 0;      // bytes on the wire / uncompressed ring all-reduce bytes (max over ranks)
  double nmse = 0;       // ||result - exact||^2 / ||exact||^2 of the checked call (max over ranks)
};

// The compression parameters a JSON row carries (all_reduce_perf --codec).
struct CodecInfo {
  const char* codec;     // "int8"
  int bits;
  int blockSize;
  double ratio;          // the config's ratio (randblock, topk)
  const char* feedback;  // "none"
  const char* algo;      // "auto"
};

struct RowKey {
  size_t bytes;       // max(send bytes, recv bytes)
  size_t count;       // the count argument of the call
  const char* type;
  const char* op;     // "none" for collectives without reduction
  int root;           // -1 for collectives without root
};

// The row text without its newline: preamble, out-of-place cell, in-place cell. codec: each cell also
// prints ratio (%6.4f) and nmse (%8.2e) after #wrong.
std::string FormatRow(const RowKey& key, const Cell& outOfPlace, const Cell& inPlace, bool codec = false);
// The three lines of the column header (without newlines), in order; codec: with ratio and nmse.
std::string ColumnHeaderLine(int line, bool codec = false);
// One JSON object (no newline) for a row. With codec, the row gains "codec", "bits", "block",
// "codec_ratio", "feedback" and "algo", and each cell "ratio" and "nmse".
std::string JsonRow(const char* collective, int nranks, const RowKey& key, const Cell& outOfPlace,
                    const Cell& inPlace, const CodecInfo* codec = nullptr);

}  // namespace ccperf

#endif  // CONCCL_PERF_REPORT_H_
