// idx_reader.cc — IDX parsing over zlib's gzFile (which reads plain files transparently).
#include "idx_reader.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

namespace cctrain {
namespace {

constexpr uint64_t kMaxPayload = 1ull << 30;

// Reads exactly n bytes; false on a short read (truncated) or a zlib error (corrupt gzip stream).
bool ReadExact(gzFile f, void* buf, size_t n, const std::string& path, const char* what, std::string* error) {
  size_t got = 0;
  auto* p = static_cast<uint8_t*>(buf);
  while (got < n) {
    size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
    int r = gzread(f, p + got, static_cast<unsigned>(chunk));
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      *error = path + ": corrupt data while reading the " + what + " (" + (msg ? msg : "zlib error") + ")";
      return false;
    }
    if (r == 0) {
      *error = path + ": truncated: the " + what + " needs " + std::to_string(n) + " bytes, the file has " +
               std::to_string(got);
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

uint32_t BigEndian32(const uint8_t* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

bool ParseHeader(gzFile f, const std::string& path, const std::vector<uint32_t>& expect, IdxArray* out,
                 uint64_t* payload, std::string* error) {
  uint8_t magic[4];
  if (!ReadExact(f, magic, 4, path, "header", error)) return false;
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    char buf[96];
    snprintf(buf, sizeof buf, ": wrong magic %02x %02x %02x %02x (expected 00 00 08 0%zu: unsigned-byte IDX)",
             magic[0], magic[1], magic[2], magic[3], expect.size());
    *error = path + buf;
    return false;
  }
  if (magic[3] != expect.size()) {
    *error = path + ": has " + std::to_string(magic[3]) + " dimensions, expected " + std::to_string(expect.size());
    return false;
  }
  uint8_t dimBytes[16];
  if (!ReadExact(f, dimBytes, 4u * magic[3], path, "header", error)) return false;
  out->dims.resize(magic[3]);
  *payload = 1;
  for (size_t i = 0; i < out->dims.size(); ++i) {
    out->dims[i] = BigEndian32(dimBytes + 4 * i);
    if (expect[i] != 0 && out->dims[i] != expect[i]) {
      *error = path + ": dimension " + std::to_string(i) + " is " + std::to_string(out->dims[i]) + ", expected " +
               std::to_string(expect[i]);
      return false;
    }
    *payload *= out->dims[i];
    if (*payload > kMaxPayload) {
      *error = path + ": payload larger than 1 GiB (dimensions too large)";
      return false;
    }
  }
  return true;
}

}  // namespace

bool ReadIdx(const std::string& path, const std::vector<uint32_t>& expectDims, IdxArray* out, std::string* error) {
  if (expectDims.empty() || expectDims.size() > 4) {
    *error = path + ": expected 1 to 4 dimensions, caller asked for " + std::to_string(expectDims.size());
    return false;
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    *error = path + ": cannot open (" + (errno ? strerror(errno) : "out of memory") + ")";
    return false;
  }
  uint64_t payload = 0;
  bool ok = ParseHeader(f, path, expectDims, out, &payload, error);
  if (ok) {
    out->data.resize(payload);
    ok = ReadExact(f, out->data.data(), payload, path, "payload", error);
  }
  if (ok) {
    uint8_t extra;
    int r = gzread(f, &extra, 1);
    if (r != 0) {
      *error = path + (r > 0 ? ": trailing bytes after the payload (wrong length)" : ": corrupt data after the payload");
      ok = false;
    }
  }
  gzclose(f);
  if (!ok) *out = IdxArray();
  return ok;
}

}  // namespace cctrain
