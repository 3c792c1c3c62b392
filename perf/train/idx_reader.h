// idx_reader.h — reads the IDX files of (Fashion-)MNIST, plain or gzip-compressed (zlib), into memory.
// Contract: ReadIdx checks the magic (0x0000 0x08 ndims), every dimension against what the caller expects
// (0 = any) and the exact payload length (a truncated file or trailing bytes are errors). It never throws,
// never exits: on any failure it returns false and sets *error to one line naming the file and the fault.
#ifndef CONCCL_TRAIN_IDX_READER_H_
#define CONCCL_TRAIN_IDX_READER_H_

#include <stdint.h>

#include <string>
#include <vector>

namespace cctrain {

struct IdxArray {
  std::vector<uint32_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels
  std::vector<uint8_t> data;   // unsigned bytes, row-major, product(dims) entries
};

// Reads path (gzip or plain; zlib detects which). expectDims lists the expected dimensions: its length is
// the expected number of dimensions, and each nonzero entry must match exactly. Only unsigned-byte IDX
// (type code 0x08) is accepted. Limits: at most 4 dimensions and 1 GiB of payload.
bool ReadIdx(const std::string& path, const std::vector<uint32_t>& expectDims, IdxArray* out, std::string* error);

}  // namespace cctrain

#endif  // CONCCL_TRAIN_IDX_READER_H_
