// stream_executor_test.cc — the stream executor's ordering and failure rules on an emulated stream: a host
// thread runs the stream's copies, events and waits in order, so these tests need no GPU. The collectives
// are real (three ranks as threads, real communicators); only the device side is emulated.
#include "core/stream_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "algorithms/schedules.h"
#include "common/result.h"
#include "core/comm.h"
#include "core/device_buffers.h"
#include "test_util.h"

namespace conccl {
namespace {

// A stream: closures run in order on one thread.
class HostStream {
 public:
  HostStream() : thread_([this] { Loop(); }) {}
  ~HostStream() {
    Push(nullptr);
    thread_.join();
  }
  void Push(std::function<void()> f) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(f));
    ++pushed_;
    cv_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ran_ == pushed_; });
  }
  ccStream_t handle() { return reinterpret_cast<ccStream_t>(this); }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        f = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!f) return;
      f();
      std::lock_guard<std::mutex> lock(mu_);
      ++ran_;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t pushed_ = 0, ran_ = 0;
  std::thread thread_;
};

HostStream* Of(ccStream_t s) { return reinterpret_cast<HostStream*>(s); }

// A gate the test holds closed in front of a stream's work.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

std::atomic<int> gLiveAllocations{0};

// "Device memory": host vectors the test registers as such.
class DeviceRanges {
 public:
  void Add(const void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    ranges_.push_back({static_cast<const char*>(p), bytes});
  }
  bool Contains(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : ranges_)
      if (static_cast<const char*>(p) >= r.first && static_cast<const char*>(p) < r.first + r.second) return true;
    return false;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    ranges_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<const char*, size_t>> ranges_;
};
DeviceRanges gDevice;

// Registered ranges count as device memory; "pinned" memory is malloc'd and counted.
class EmulatedOps : public StreamOps {
 public:
  explicit EmulatedOps(bool failWait = false) : failWait_(failWait) {}
  bool IsDevice(const void* p) override { return gDevice.Contains(p); }
  ccResult_t AllocHost(size_t bytes, void** p) override {
    *p = malloc(bytes ? bytes : 1);
    gLiveAllocations++;
    return ccSuccess;
  }
  void FreeHost(void* p) override {
    gLiveAllocations--;
    free(p);
  }
  ccResult_t CopyAsync(void* dst, const void* src, size_t bytes, ccStream_t s) override {
    Of(s)->Push([=] { memcpy(dst, src, bytes); });
    return ccSuccess;
  }
  struct Event {
    std::mutex mu;
    std::condition_variable cv;
    bool reached = false;
  };
  ccResult_t RecordEvent(ccStream_t s, void** event) override {
    auto* e = new Event;
    Of(s)->Push([e] {
      std::lock_guard<std::mutex> lock(e->mu);
      e->reached = true;
      e->cv.notify_all();
    });
    *event = e;
    return ccSuccess;
  }
  ccResult_t WaitEvent(void* event) override {
    auto* e = static_cast<Event*>(event);
    std::unique_lock<std::mutex> lock(e->mu);
    e->cv.wait(lock, [&] { return e->reached; });
    return ccSuccess;
  }
  void DestroyEvent(void* event) override { delete static_cast<Event*>(event); }
  ccResult_t WaitWordAsync(const volatile uint32_t* word, uint32_t value, ccStream_t s) override {
    if (failWait_) return SetError(ccUnhandledCudaError, "emulated launch failure");
    Of(s)->Push([=] {
      while (static_cast<int32_t>(__atomic_load_n(const_cast<uint32_t*>(word), __ATOMIC_ACQUIRE) - value) < 0)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    });
    return ccSuccess;
  }

 private:
  bool failWait_;
};

constexpr int kRanks = 3;

// Three communicators (threads as ranks) whose executors run on emulated streams.
class StreamExecutorTest : public testing::Test {
 protected:
  void Init(int blocking = 1, bool failWait = false) {
    ccUniqueId id;
    ASSERT_EQ(ccSuccess, ccGetUniqueId(&id));
    cctest::RunRanks(kRanks, [&](int r) {
      ccConfig_t cfg = CC_CONFIG_INITIALIZER;
      cfg.blocking = blocking;
      ccComm_t c = nullptr;
      EXPECT_EQ(ccSuccess, ccCommInitRankConfig(&c, kRanks, id, r, &cfg));
      comms[r] = c;
    });
    for (int r = 0; r < kRanks; ++r) {
      ASSERT_NE(nullptr, comms[r]);
      comms[r]->executor = std::make_unique<StreamExecutor>(comms[r], std::make_unique<EmulatedOps>(failWait));
      gates[r].reset(new Gate);
      Gate* g = gates[r].get();
      streams[r].Push([g] { g->Wait(); });
    }
  }
  void OpenGates() {
    for (auto& g : gates) {
      if (g) g->Open();
    }
  }
  void TearDown() override {
    OpenGates();
    for (ccComm_t c : comms) {
      if (c) {
        EXPECT_EQ(ccSuccess, ccCommDestroy(c));
      }
    }
    for (auto& s : streams) s.WaitIdle();
    EXPECT_EQ(0, gLiveAllocations.load());
    gDevice.Clear();
  }
  // A "device" buffer of n floats.
  std::vector<float>& Device(std::vector<float>& v) {
    gDevice.Add(v.data(), v.size() * sizeof(float));
    return v;
  }
  // Queues an all-reduce of in into out (may be the same buffer) on rank r's stream.
  ccResult_t Queue(int r, const float* in, float* out, size_t n) {
    ccComm* c = comms[r];
    CallBuffers b{streams[r].handle(), in, n * 4, out, n * 4};
    return EnqueueOnStream(c, b, [c, n](const void* s, void* d) {
      return RingAllReduce(*c, s, d, n, ccFloat32, ccSum);
    });
  }

  ccComm_t comms[kRanks] = {};
  HostStream streams[kRanks];
  std::unique_ptr<Gate> gates[kRanks];
};

float In(int op, int rank, size_t i) { return static_cast<float>(op * 1000 + rank * 100 + static_cast<int>(i % 50)); }

TEST_F(StreamExecutorTest, QueuedCollectivesReturnAtOnceAndRunInStreamOrder) {
  Init();
  const size_t n = 3001;
  const int kOps = 4;
  std::vector<std::vector<float>> in(kRanks * kOps, std::vector<float>(n)), out(kRanks * kOps, std::vector<float>(n, -1.0f));
  for (int r = 0; r < kRanks; ++r) {
    for (int k = 0; k < kOps; ++k) {
      for (size_t i = 0; i < n; ++i) in[r * kOps + k][i] = In(k, r, i);
    }
  }
  for (auto& v : in) Device(v);
  for (auto& v : out) Device(v);
  cctest::RunRanks(kRanks, [&](int r) {
    for (int k = 0; k < kOps; ++k) {
      float* dst = k == 2 ? in[r * kOps + k].data() : out[r * kOps + k].data();  // op 2 in place
      ASSERT_EQ(ccSuccess, Queue(r, in[r * kOps + k].data(), dst, n));
    }
  });
  // The streams are held at their gates: nothing has run, and the callers have all returned.
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_TRUE(comms[r]->executor->Busy());
    EXPECT_EQ(-1.0f, out[r * kOps][0]);
  }
  OpenGates();
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    for (int k = 0; k < kOps; ++k) {
      const std::vector<float>& got = k == 2 ? in[r * kOps + k] : out[r * kOps + k];
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(In(k, 0, i) + In(k, 1, i) + In(k, 2, i), got[i]) << r << " " << k << " " << i;
    }
  }
}

TEST_F(StreamExecutorTest, HostCallWaitsForQueuedWork) {
  Init();
  const size_t n = 1000;
  std::vector<std::vector<float>> a(kRanks, std::vector<float>(n)), b(kRanks, std::vector<float>(n));
  for (auto& v : a) Device(v);  // b stays host memory
  OpenGates();
  cctest::RunRanks(kRanks, [&](int r) {
    for (size_t i = 0; i < n; ++i) a[r][i] = In(0, r, i), b[r][i] = In(1, r, i);
    ASSERT_EQ(ccSuccess, Queue(r, a[r].data(), a[r].data(), n));
    // A host-buffer call on the same communicator: runs after the queued one, in the same order everywhere.
    ASSERT_EQ(ccSuccess, ccAllReduce(b[r].data(), b[r].data(), n, ccFloat32, ccSum, comms[r], nullptr));
    EXPECT_FALSE(comms[r]->executor->Busy());
  });
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(In(0, 0, i) + In(0, 1, i) + In(0, 2, i), a[r][i]);
      ASSERT_EQ(In(1, 0, i) + In(1, 1, i) + In(1, 2, i), b[r][i]);
    }
  }
}

TEST_F(StreamExecutorTest, FailedCollectiveReleasesTheStreamAndSetsTheAsyncError) {
  Init();
  OpenGates();
  std::vector<float> buf(kRanks * 16, 1.0f);
  Device(buf);
  cctest::RunRanks(kRanks, [&](int r) {
    CallBuffers b{streams[r].handle(), &buf[r * 16], 64, &buf[r * 16], 64};
    ASSERT_EQ(ccSuccess, EnqueueOnStream(comms[r], b, [](const void*, void*) {
                return SetError(ccInvalidUsage, "emulated failure");
              }));
    comms[r]->executor->Drain();
  });
  for (auto& s : streams) s.WaitIdle();  // the waits were released: nothing hangs
  for (int r = 0; r < kRanks; ++r) {
    ccResult_t e = ccSuccess;
    ASSERT_EQ(ccSuccess, ccCommGetAsyncError(comms[r], &e));
    EXPECT_EQ(ccInvalidUsage, e);
  }
}

TEST_F(StreamExecutorTest, AbortReleasesQueuedWaitsWithoutRunningThem) {
  Init();
  const size_t n = 500;
  std::vector<std::vector<float>> v(kRanks, std::vector<float>(n, 2.0f));
  for (auto& x : v) Device(x);
  for (int r = 0; r < kRanks; ++r) {
    for (int k = 0; k < 3; ++k) ASSERT_EQ(ccSuccess, Queue(r, v[r].data(), v[r].data(), n));
  }
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    OpenGates();
  });
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(ccSuccess, ccCommAbort(comms[r]));
    comms[r] = nullptr;
  }
  opener.join();
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(2.0f, v[r][i]) << "an aborted collective ran or corrupted its buffer";
  }
}

TEST_F(StreamExecutorTest, NonBlockingCommunicatorReportsInProgress) {
  Init(/*blocking=*/0);
  const size_t n = 100;
  std::vector<std::vector<float>> v(kRanks, std::vector<float>(n, 1.0f));
  for (auto& x : v) Device(x);
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(ccInProgress, Queue(r, v[r].data(), v[r].data(), n));
    ccResult_t e = ccSuccess;
    ASSERT_EQ(ccSuccess, ccCommGetAsyncError(comms[r], &e));
    EXPECT_EQ(ccInProgress, e);
  }
  OpenGates();
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    comms[r]->executor->Drain();
    ccResult_t e = ccInProgress;
    ASSERT_EQ(ccSuccess, ccCommGetAsyncError(comms[r], &e));
    EXPECT_EQ(ccSuccess, e);
    EXPECT_EQ(3.0f, v[r][0]);
  }
}

TEST_F(StreamExecutorTest, EnqueueFailureQueuesNothingAndFreesItsStaging) {
  Init(1, /*failWait=*/true);
  OpenGates();
  std::vector<float> v(64, 1.0f);
  Device(v);
  EXPECT_EQ(ccUnhandledCudaError, Queue(0, v.data(), v.data(), v.size()));
  EXPECT_FALSE(comms[0]->executor->Busy());
  streams[0].WaitIdle();  // nothing on the stream waits for the failed call
}

// The public entry points route "device" buffers through the executor: queued, in stream order, correct.
TEST_F(StreamExecutorTest, PublicCollectivesOnDeviceBuffersAreQueued) {
  Init();
  const size_t n = 2048;
  std::vector<std::vector<float>> in(kRanks), sum(kRanks), gathered(kRanks), scattered(kRanks), comp(kRanks);
  for (int r = 0; r < kRanks; ++r) {
    in[r].resize(n);
    for (size_t i = 0; i < n; ++i) in[r][i] = In(0, r, i);
    Device(in[r]), Device(sum[r] = std::vector<float>(n, -1.0f));
    Device(gathered[r] = std::vector<float>(n * kRanks, -1.0f)), Device(scattered[r] = std::vector<float>(n / kRanks));
    Device(comp[r] = std::vector<float>(n, -1.0f));
  }
  cctest::RunRanks(kRanks, [&](int r) {
    ccStream_t s = streams[r].handle();
    ccComm_t c = comms[r];
    ASSERT_EQ(ccSuccess, ccAllReduce(in[r].data(), sum[r].data(), n, ccFloat32, ccSum, c, s));
    ASSERT_EQ(ccSuccess, ccAllGather(in[r].data(), gathered[r].data(), n, ccFloat32, c, s));
    ASSERT_EQ(ccSuccess, ccReduceScatter(in[r].data(), scattered[r].data(), n / kRanks, ccFloat32, ccSum, c, s));
    ccCompressConfig_t cfg;
    ccCompressConfigInit(&cfg);
    cfg.key = 5, cfg.warmupCalls = 0, cfg.minCount = 0;
    ASSERT_EQ(ccSuccess, ccAllreduceCompressed(in[r].data(), comp[r].data(), n, ccFloat32, ccSum, &cfg, c, s));
    EXPECT_TRUE(comms[r]->executor->Busy());  // held at the gate: nothing ran, every call returned
  });
  OpenGates();
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < n; ++i) {
      float want = In(0, 0, i) + In(0, 1, i) + In(0, 2, i);
      ASSERT_EQ(want, sum[r][i]) << i;
      ASSERT_NEAR(want, comp[r][i], 3 * 3 * 150.0 / 127) << i;  // int8: a few steps of the block scale
      ASSERT_EQ(comp[0][i], comp[r][i]) << "compressed results differ between ranks at " << i;
      for (int k = 0; k < kRanks; ++k) ASSERT_EQ(In(0, k, i), gathered[r][k * n + i]);
    }
    for (size_t i = 0; i < n / kRanks; ++i) {
      size_t g = r * (n / kRanks) + i;
      ASSERT_EQ(In(0, 0, g) + In(0, 1, g) + In(0, 2, g), scattered[r][i]);
    }
  }
}

// One thread drives every rank through a group (NCCL's single-thread, several-devices pattern): ccGroupEnd
// queues each rank's call on its stream and returns.
TEST_F(StreamExecutorTest, GroupFromOneThreadQueuesEveryRank) {
  Init();
  const size_t n = 999;
  std::vector<std::vector<float>> v(kRanks, std::vector<float>(n));
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < n; ++i) v[r][i] = In(1, r, i);
    Device(v[r]);
  }
  ASSERT_EQ(ccSuccess, ccGroupStart());
  for (int r = 0; r < kRanks; ++r)
    ASSERT_EQ(ccSuccess, ccAllReduce(v[r].data(), v[r].data(), n, ccFloat32, ccSum, comms[r], streams[r].handle()));
  ASSERT_EQ(ccSuccess, ccGroupEnd());  // returns with the streams still held at their gates
  for (int r = 0; r < kRanks; ++r) EXPECT_TRUE(comms[r]->executor->Busy());
  OpenGates();
  for (auto& s : streams) s.WaitIdle();
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(In(1, 0, i) + In(1, 1, i) + In(1, 2, i), v[r][i]) << i;
  }
}

}  // namespace
}  // namespace conccl
