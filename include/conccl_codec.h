/*
 * conccl_codec.h — the codec ABI: a versioned C ops table that compresses float32 blocks for
 * ccAllreduceCompressed. Built-in codecs fill it; a plugin libconccl-codec-<name>.so exports
 * `const ccCodec_v1_t ccCodecPlugin_v1` and is found through CONCCL_CODEC_PLUGIN (a name or a path).
 * Self-contained: only C types; no ConCCL internals.
 *
 * Capacities are explicit (zstd style): every function that writes bytes is given the capacity of its
 * output and fails with ccCodecErrorCapacity instead of writing past it; compressedBound() tells the
 * capacity a count needs. decompress() must validate its input length and never read past it.
 */
#ifndef CONCCL_CODEC_H_
#define CONCCL_CODEC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CC_CODEC_ABI_VERSION 1

/* Codec function results (plain ints so plugins need no other header). */
#define ccCodecOk 0
#define ccCodecErrorArgument 1  /* bad parameters (block size, bits) */
#define ccCodecErrorCapacity 2  /* output capacity too small */
#define ccCodecErrorCorrupt 3   /* input bytes inconsistent with the count or parameters */

/* Parameters of one compression call, filled by ConCCL from ccCompressConfig_t. */
typedef struct {
  uint32_t blockSize;   /* elements per block (codecs with per-block scales); 32..4096 */
  uint32_t bits;        /* bits per element where the codec has a choice */
  uint32_t stochastic;  /* 1 = stochastic rounding, 0 = nearest */
  float ratio;          /* fraction of elements kept (top-k and sparsifying plugins) */
  uint64_t seed;        /* counter-based randomness: (seed, stream, element index) -> same numbers on every rank */
  uint64_t stream;      /* distinct per call and key */
  uint64_t firstIndex;  /* global index of element 0 of this call's input (chunks of one vector) */
} ccCodecParams_v1_t;

/* Flags of a codec table. */
#define CC_CODEC_FLAG_ALLGATHER 1u  /* compressed forms are not re-compressed per hop: all-gather them */

typedef struct {
  const char* name;        /* short name, e.g. "int8"; a plugin's name must not clash with built-ins */
  uint32_t abiVersion;     /* CC_CODEC_ABI_VERSION this table was written for */
  uint32_t wireId;         /* id written in every block header; plugins use values >= 128 */
  uint32_t flags;          /* CC_CODEC_FLAG_* */
  uint32_t reserved;
  /* Bytes needed to compress `count` elements (an upper bound; exact for fixed-rate codecs). */
  size_t (*compressedBound)(const ccCodecParams_v1_t* p, size_t count);
  /* Compresses in[0..count) into out (capacity outCap); *outBytes receives the size written. */
  int (*compress)(const ccCodecParams_v1_t* p, const float* in, size_t count, void* out, size_t outCap,
                  size_t* outBytes);
  /* Decompresses exactly `count` elements from inBytes bytes into out. */
  int (*decompress)(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, float* out, size_t count);
  /* Optional fused hop (NULL = decompress, add, compress): out = C(D(in) + local). */
  int (*decompressAddCompress)(const ccCodecParams_v1_t* p, const void* in, size_t inBytes, const float* local,
                               size_t count, void* out, size_t outCap, size_t* outBytes);
  /* Worst-case absolute error of one compress/decompress round trip of in[0..count), per element. */
  double (*errorBound)(const ccCodecParams_v1_t* p, const float* in, size_t count);
} ccCodec_v1_t;

#ifdef __cplusplus
}
#endif
#endif /* CONCCL_CODEC_H_ */
