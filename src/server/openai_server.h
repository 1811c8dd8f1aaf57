// `gemma serve`: an OpenAI-compatible HTTP server (cpp-httplib) in front of
// one loaded model. HTTP handler threads parse, tokenize and stream; the
// Scheduler's single thread runs every forward.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/engine.h"
#include "server/job_builder.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
}

namespace gemma {

struct ServerOptions {
  std::string model_dir;
  std::string model_name;  // id in /v1/models; default: the folder's name
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see OpenAIServer::port())
  int parallel = 4;
  int64_t ctx = 0;  // tokens per request; 0: min(4096, the model's maximum)
  int max_queue = 64;
  int64_t kv_budget_mb = 0;  // 0: no limit; else fewer slots when they don't fit
  std::string api_key;       // empty: no authentication
  size_t max_body_bytes = 32u << 20;
  WeightOptions weights;  // --dtype / --embed-dtype / --mmap-only
  SessionOptions session;  // --kv-dtype (here f32 unless set; `gemma serve` defaults to f16)
  bool literal_special = false;  // special-token text in requests stays plain text
};

class OpenAIServer {
 public:
  // Loads the model, tokenizer and (when present) vision tower. Throws Error.
  explicit OpenAIServer(ServerOptions opt);
  ~OpenAIServer();
  OpenAIServer(const OpenAIServer&) = delete;
  OpenAIServer& operator=(const OpenAIServer&) = delete;

  // Binds and starts serving on a background thread. Throws Error.
  void Start();
  int port() const { return port_; }
  const ServerOptions& options() const { return opt_; }
  int slots() const { return scheduler_->options().slots; }

  // Graceful stop: new requests get 503, accepted ones run to completion and
  // their responses are written, then the listener closes.
  void Shutdown();

 private:
  struct InflightToken;
  void Route();

  ServerOptions opt_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<VisionTower> vision_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<JobBuilder> builder_;
  std::unique_ptr<httplib::Server> http_;
  std::thread listen_thread_;
  int port_ = 0;

  std::atomic<bool> draining_{false};
  std::mutex inflight_mu_;
  std::condition_variable inflight_cv_;
  int inflight_ = 0;  // generation responses not yet fully written
  std::atomic<uint64_t> next_id_{1};
  int64_t created_ = 0;
};

// Blocks until SIGTERM or SIGINT, then shuts `server` down gracefully.
// Call before any other thread starts (it blocks those signals process-wide).
void BlockTerminationSignals();
void WaitForTerminationSignal();

}  // namespace gemma
