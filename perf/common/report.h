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
};

struct RowKey {
  size_t bytes;       // max(send bytes, recv bytes)
  size_t count;       // the count argument of the call
  const char* type;
  const char* op;     // "none" for collectives without reduction
  int root;           // -1 for collectives without root
};

// The row text without its newline: preamble, out-of-place cell, in-place cell.
std::string FormatRow(const RowKey& key, const Cell& outOfPlace, const Cell& inPlace);
// The three lines of the column header (without newlines), in order.
std::string ColumnHeaderLine(int line);
// One JSON object (no newline) for a row.
std::string JsonRow(const char* collective, int nranks, const RowKey& key, const Cell& outOfPlace,
                    const Cell& inPlace);

}  // namespace ccperf

#endif  // CONCCL_PERF_REPORT_H_
