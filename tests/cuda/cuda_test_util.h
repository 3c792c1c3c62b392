// cuda_test_util.h — helpers of the CUDA tests: skip without a GPU, device buffers with RAII.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

// Skips the test (with the runtime's reason) when this machine has no usable GPU.
#define CC_REQUIRE_GPU()                                                                      \
  do {                                                                                        \
    int n_ = 0;                                                                               \
    cudaError_t e_ = cudaGetDeviceCount(&n_);                                                 \
    if (e_ != cudaSuccess || n_ == 0) {                                                       \
      cudaGetLastError();                                                                     \
      GTEST_SKIP() << "no usable GPU: cudaGetDeviceCount returned " << int(e_) << " ("        \
                   << cudaGetErrorString(e_) << "), " << n_ << " devices";                    \
    }                                                                                         \
  } while (0)

#define CUDA_OK(expr) ASSERT_EQ(cudaSuccess, static_cast<cudaError_t>(expr)) << #expr

// A device allocation of n elements of T.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    if (cudaMalloc(&p_, (n ? n : 1) * sizeof(T)) != cudaSuccess) p_ = nullptr;
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return p_; }
  void Upload(const std::vector<T>& v) { cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> Download() const {
    std::vector<T> v(n_);
    cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

// Index of the first element whose bits differ, or -1; two NaNs count as equal whatever their payloads
// (GPU arithmetic on NaN returns the canonical NaN, the CPU passes its input's payload through).
inline long FirstFloatDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y && !(a[i] != a[i] && b[i] != b[i])) return static_cast<long>(i);
  }
  return -1;
}

// Index of the first differing byte, or -1.
template <typename A, typename B>
long FirstByteDiff(const std::vector<A>& a, const std::vector<B>& b) {
  size_t na = a.size() * sizeof(A), nb = b.size() * sizeof(B);
  if (na != nb) return 0;
  const unsigned char* x = reinterpret_cast<const unsigned char*>(a.data());
  const unsigned char* y = reinterpret_cast<const unsigned char*>(b.data());
  for (size_t i = 0; i < na; ++i)
    if (x[i] != y[i]) return static_cast<long>(i);
  return -1;
}
