// local.cc — see local.h.
#include "transports/local.h"

#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "common/result.h"

namespace conccl {
namespace {

struct LocalMsg {
  Request* req;
  char* data;  // receive destination or send source
  size_t bytes;
  Doorbell* bell;  // the poster's doorbell, rung on completion
};

struct Mailbox {
  std::deque<LocalMsg> sends;
  std::deque<LocalMsg> recvs;
};

// The receiving side of one rank: mailboxes keyed by (source rank, channel).
struct LocalEndpoint {
  std::mutex mu;
  bool closed = false;
  std::set<int> closedSources;  // ranks that shut down: receives from them fail at once
  std::map<std::pair<int, int>, Mailbox> boxes;
};

class Registry {
 public:
  static Registry& Get() {
    static Registry* r = new Registry();  // leaked on purpose: outlives static destruction order
    return *r;
  }
  void Add(uint64_t comm, int rank, std::shared_ptr<LocalEndpoint> ep) {
    std::lock_guard<std::mutex> lock(mu_);
    map_[{comm, rank}] = std::move(ep);
  }
  void Remove(uint64_t comm, int rank) {
    std::lock_guard<std::mutex> lock(mu_);
    map_.erase({comm, rank});
  }
  std::vector<std::shared_ptr<LocalEndpoint>> FindAll(uint64_t comm) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<LocalEndpoint>> out;
    for (auto& kv : map_)
      if (kv.first.first == comm) out.push_back(kv.second);
    return out;
  }
  std::shared_ptr<LocalEndpoint> Find(uint64_t comm, int rank) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find({comm, rank});
    return it == map_.end() ? nullptr : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<uint64_t, int>, std::shared_ptr<LocalEndpoint>> map_;
};

void Deliver(const LocalMsg& send, const LocalMsg& recv) {
  if (send.bytes > recv.bytes) {
    recv.req->Fail(ccRemoteError, "message of " + std::to_string(send.bytes) + " bytes is larger than the posted " +
                                      std::to_string(recv.bytes) + "-byte receive");
    send.req->Fail(ccRemoteError, "the peer's receive buffer is smaller than the message");
  } else {
    if (send.bytes) memcpy(recv.data, send.data, send.bytes);
    recv.req->Complete(send.bytes);
    send.req->Complete(send.bytes);
  }
  recv.bell->Ring();
  if (send.bell != recv.bell) send.bell->Ring();
}

class LocalTransport : public Transport {
 public:
  explicit LocalTransport(const TransportContext& ctx) : ctx_(ctx), self_(std::make_shared<LocalEndpoint>()) {
    Registry::Get().Add(ctx_.commHash, ctx_.rank, self_);
    peers_.resize(ctx_.nranks);
  }
  ~LocalTransport() override {
    Shutdown();
    Registry::Get().Remove(ctx_.commHash, ctx_.rank);
  }
  const char* Name() const override { return "local"; }

  ccResult_t Isend(int peer, int channel, const void* data, size_t bytes, Request** out) override {
    std::shared_ptr<LocalEndpoint> ep;
    CC_CHECK(PeerEndpoint(peer, &ep));
    auto* req = new Request();
    *out = req;
    LocalMsg msg{req, const_cast<char*>(static_cast<const char*>(data)), bytes, ctx_.doorbell};
    Post(ep.get(), {ctx_.rank, channel}, msg, /*isSend=*/true);
    return ccSuccess;
  }

  ccResult_t Irecv(int peer, int channel, void* data, size_t capacity, Request** out) override {
    auto* req = new Request();
    *out = req;
    LocalMsg msg{req, static_cast<char*>(data), capacity, ctx_.doorbell};
    Post(self_.get(), {peer, channel}, msg, /*isSend=*/false);
    return ccSuccess;
  }

  void Shutdown() override {
    std::deque<LocalMsg> failed;
    {
      std::lock_guard<std::mutex> lock(self_->mu);
      if (self_->closed) return;
      self_->closed = true;
      for (auto& kv : self_->boxes) {
        for (auto& m : kv.second.sends) failed.push_back(m);
        for (auto& m : kv.second.recvs) failed.push_back(m);
      }
      self_->boxes.clear();
    }
    // Receives that peers posted from us, and our sends waiting in their mailboxes, fail too.
    for (auto& ep : Registry::Get().FindAll(ctx_.commHash)) {
      if (ep == self_) continue;
      std::lock_guard<std::mutex> lock(ep->mu);
      ep->closedSources.insert(ctx_.rank);
      for (auto it = ep->boxes.begin(); it != ep->boxes.end();) {
        if (it->first.first != ctx_.rank) {
          ++it;
          continue;
        }
        for (auto& m : it->second.sends) failed.push_back(m);
        for (auto& m : it->second.recvs) failed.push_back(m);
        it = ep->boxes.erase(it);
      }
    }
    for (auto& m : failed) {
      m.req->Fail(ccRemoteError, "connection closed (rank " + std::to_string(ctx_.rank) + " shut down)");
      m.bell->Ring();
    }
    std::lock_guard<std::mutex> lock(sendMu_);
    shutdown_ = true;
  }

 private:
  // Finds the peer's endpoint. Every rank registers before the rendezvous completes, so a peer missing
  // after init has shut down.
  ccResult_t PeerEndpoint(int peer, std::shared_ptr<LocalEndpoint>* out) {
    std::lock_guard<std::mutex> lock(sendMu_);
    if (shutdown_) return SetError(ccRemoteError, "local transport of rank %d is shut down", ctx_.rank);
    if (!peers_[peer]) peers_[peer] = Registry::Get().Find(ctx_.commHash, peer);
    if (!peers_[peer]) return SetError(ccRemoteError, "rank %d has shut down (local transport)", peer);
    *out = peers_[peer];
    return ccSuccess;
  }

  // Queues msg in ep's mailbox `key`; if its counterpart is waiting, delivers (outside the lock).
  void Post(LocalEndpoint* ep, std::pair<int, int> key, const LocalMsg& msg, bool isSend) {
    LocalMsg send{}, recv{};
    {
      std::lock_guard<std::mutex> lock(ep->mu);
      if (ep->closed || ep->closedSources.count(key.first)) {
        msg.req->Fail(ccRemoteError, isSend ? "the receiving rank closed its connection"
                                            : "peer rank " + std::to_string(key.first) + " closed its connection");
        msg.bell->Ring();
        return;
      }
      Mailbox& box = ep->boxes[key];
      auto& other = isSend ? box.recvs : box.sends;
      if (other.empty()) {
        (isSend ? box.sends : box.recvs).push_back(msg);
        return;
      }
      (isSend ? recv : send) = other.front();
      other.pop_front();
      (isSend ? send : recv) = msg;
    }
    Deliver(send, recv);
  }

  TransportContext ctx_;
  std::shared_ptr<LocalEndpoint> self_;
  std::mutex sendMu_;
  bool shutdown_ = false;
  std::vector<std::shared_ptr<LocalEndpoint>> peers_;
};

}  // namespace

std::unique_ptr<Transport> CreateLocalTransport(const TransportContext& ctx) {
  return std::make_unique<LocalTransport>(ctx);
}

}  // namespace conccl
