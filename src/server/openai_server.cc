#include "server/openai_server.h"

#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "kernels/thread_pool.h"
#include "model/kv_cache.h"
#include "server/api_error.h"
#include "server/request.h"
#include "vision/siglip.h"

namespace gemma {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Generated text is valid UTF-8 by construction; replace rather than throw
// if a byte-level model ever emits something else.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) {
  if (e.status() == 503) res.set_header("Retry-After", "1");
  SendJson(res, e.status(), e.ToJson());
}

// Constant-time comparison: the API key must not leak through timing.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

json Usage(const StreamEvent& e) {
  return {{"prompt_tokens", e.prompt_tokens},
          {"completion_tokens", e.completion_tokens},
          {"total_tokens", e.prompt_tokens + e.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", e.cached_tokens}}}};
}

// One response being produced: its ids and the shape of its chunks.
struct Reply {
  bool chat;
  std::string id;
  std::string model;
  int64_t created;

  json Chunk(const json& delta_or_text, const json& finish_reason) const {
    json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
    if (chat) choice["delta"] = delta_or_text;
    else choice["text"] = delta_or_text;
    return {{"id", id},
            {"object", chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})}};
  }

  json Full(const std::string& text, const StreamEvent& end) const {
    json choice = {{"index", 0}, {"finish_reason", end.finish_reason}, {"logprobs", nullptr}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
    else choice["text"] = text;
    return {{"id", id},
            {"object", chat ? "chat.completion" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})},
            {"usage", Usage(end)}};
  }
};

std::string Sse(const json& j) { return "data: " + Dump(j) + "\n\n"; }

// Non-streaming: collect every event, answer once.
void CompleteReply(httplib::Response& res, RequestStream& stream, const Reply& reply) {
  std::string text;
  for (;;) {
    std::optional<StreamEvent> e = stream.Pop(milliseconds(1000));
    if (!e) continue;
    text += e->text;
    if (!e->done) continue;
    if (!e->error.empty()) return SendError(res, ApiError(500, "generation failed: " + e->error));
    return SendJson(res, 200, reply.Full(text, *e));
  }
}

// What a streaming response needs between calls of its content provider.
struct StreamState {
  std::shared_ptr<RequestStream> stream;
  Reply reply;
  bool include_usage = false;
  bool started = false;
  bool finished = false;
  std::function<void()> on_end;
};

// Server-Sent Events: one chunk per piece of text, then the finish chunk,
// the usage chunk if asked, and "data: [DONE]". A failed write means the
// client is gone: the request is cancelled, which frees its slot.
void StreamReply(httplib::Response& res, std::shared_ptr<StreamState> st) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        const auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
        if (st->finished) {
          sink.done();
          return true;
        }
        if (!st->started && st->reply.chat) {
          // OpenAI's first chat chunk carries the role.
          const json first = {{"role", "assistant"}, {"content", ""}};
          if (!write(Sse(st->reply.Chunk(first, nullptr)))) return false;
        }
        st->started = true;
        std::optional<StreamEvent> e = st->stream->Pop(milliseconds(250));
        if (!e) {
          // Nothing yet (queued or in prefill): an SSE comment, which also
          // notices a client that has gone away.
          return write(": keep-alive\n\n");
        }
        if (!e->text.empty()) {
          const json piece = st->reply.chat ? json{{"content", e->text}} : json(e->text);
          if (!write(Sse(st->reply.Chunk(piece, nullptr)))) return false;
        }
        if (!e->done) return true;
        std::string tail;
        if (!e->error.empty()) {
          tail += Sse(ApiError(500, "generation failed: " + e->error).ToJson());
        } else {
          tail += Sse(st->reply.Chunk(st->reply.chat ? json::object() : json(""), e->finish_reason));
          if (st->include_usage) {
            json u = st->reply.Chunk(nullptr, nullptr);
            u["choices"] = json::array();
            u["usage"] = Usage(*e);
            tail += Sse(u);
          }
        }
        tail += "data: [DONE]\n\n";
        st->finished = true;
        if (!write(tail)) return false;
        sink.done();
        return true;
      },
      [st](bool) {
        if (!st->finished) st->stream->Cancel();
        st->on_end();
      });
}

// Slots that fit the KV budget.
int SlotsForBudget(const Engine& engine, int parallel, int64_t ctx, KvDType kv_dtype, int64_t budget_mb) {
  if (budget_mb <= 0) return parallel;
  const ModelConfig& cfg = engine.config();
  size_t per = StackKVBytes(cfg.text, ctx, kv_dtype);
  if (engine.is_encoder_decoder()) {
    // Cross K/V (always f32): every decoder layer keeps K and V of the encoder input (<= ctx).
    per += static_cast<size_t>(cfg.text.num_layers) * cfg.text.num_kv_heads * cfg.text.head_dim * ctx * 2 *
           sizeof(float);
  }
  const int64_t fit = static_cast<int64_t>((budget_mb << 20) / std::max<size_t>(per, 1));
  if (fit < 1)
    throw Error("--kv-budget-mb " + std::to_string(budget_mb) + " is smaller than one request's KV cache (" +
                std::to_string(per >> 20) + " MiB at --ctx " + std::to_string(ctx) + ")");
  return static_cast<int>(std::min<int64_t>(parallel, fit));
}

}  // namespace

OpenAIServer::OpenAIServer(ServerOptions opt) : opt_(std::move(opt)) {
  Check(opt_.parallel >= 1, "--parallel must be at least 1");
  Check(opt_.max_queue >= 0, "--max-queue must be >= 0");
  engine_ = Engine::Load(opt_.model_dir, opt_.weights);
  tok_ = Tokenizer::FromModelDir(opt_.model_dir);
  if (opt_.model_name.empty())
    opt_.model_name = std::filesystem::path(opt_.model_dir).lexically_normal().filename().string();
  if (opt_.model_name.empty() || opt_.model_name == ".")
    opt_.model_name = std::filesystem::absolute(opt_.model_dir).lexically_normal().parent_path().filename().string();
  if (opt_.ctx <= 0) opt_.ctx = std::min<int64_t>(4096, engine_->max_context());
  if (opt_.ctx > engine_->max_context())
    throw Error("--ctx " + std::to_string(opt_.ctx) + " exceeds the model's context of " +
                std::to_string(engine_->max_context()));
  const ModelConfig& cfg = engine_->config();
  if (cfg.vision && HasVisionWeights(engine_->weights())) vision_ = VisionTower::Load(engine_->weights(), cfg);
  SchedulerOptions so;
  so.slots = SlotsForBudget(*engine_, opt_.parallel, opt_.ctx, opt_.session.kv_dtype, opt_.kv_budget_mb);
  so.context = opt_.ctx;
  so.session = opt_.session;
  so.max_queue = opt_.max_queue;
  builder_ = std::make_unique<JobBuilder>(*engine_, *tok_, vision_.get(), opt_.ctx);
  builder_->set_literal_special(opt_.literal_special);
  scheduler_ = std::make_unique<Scheduler>(*engine_, *tok_, vision_.get(), so);
  created_ = static_cast<int64_t>(std::time(nullptr));
  http_ = std::make_unique<httplib::Server>();
  Route();
}

OpenAIServer::~OpenAIServer() {
  if (http_) http_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
  scheduler_.reset();  // before the model it runs
}

void OpenAIServer::Start() {
  if (opt_.host != "127.0.0.1" && opt_.host != "localhost" && opt_.host != "::1")
    std::fprintf(stderr, "warning: listening on %s, not only on loopback\n", opt_.host.c_str());
  if (opt_.port == 0) {
    port_ = http_->bind_to_any_port(opt_.host);
  } else {
    port_ = http_->bind_to_port(opt_.host, opt_.port) ? opt_.port : -1;
  }
  if (port_ <= 0) throw Error("cannot listen on " + opt_.host + ":" + std::to_string(opt_.port));
  listen_thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void OpenAIServer::Shutdown() {
  draining_ = true;
  scheduler_->Drain();
  {
    std::unique_lock<std::mutex> lk(inflight_mu_);
    inflight_cv_.wait(lk, [&] { return inflight_ == 0; });
  }
  http_->stop();
  if (listen_thread_.joinable()) listen_thread_.join();
}

// Holds Shutdown back until the response it guards is written.
struct OpenAIServer::InflightToken {
  explicit InflightToken(OpenAIServer* s) : server(s) {
    std::lock_guard<std::mutex> lk(server->inflight_mu_);
    ++server->inflight_;
  }
  ~InflightToken() {
    std::lock_guard<std::mutex> lk(server->inflight_mu_);
    if (--server->inflight_ == 0) server->inflight_cv_.notify_all();
  }
  OpenAIServer* server;
};

void OpenAIServer::Route() {
  httplib::Server& s = *http_;
  const int threads = std::min(1024, opt_.parallel + opt_.max_queue + 16);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(opt_.max_body_bytes);
  s.set_keep_alive_timeout(2);

  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote its JSON error
    std::string msg = "request failed";
    if (res.status == 404) msg = "unknown endpoint";
    else if (res.status == 405) msg = "method not allowed";
    else if (res.status == 413) msg = "request body too large";
    else if (res.status == 400) msg = "malformed HTTP request";
    SendError(res, ApiError(res.status, msg));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    SendError(res, ApiError(500, msg));
  });

  // API key on every /v1/ route; /health stays open for probes.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0) {
      SendError(res, ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", "", "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!SameSecret(auth.substr(prefix.size()), opt_.api_key)) {
      SendError(res, ApiError(401, "incorrect API key provided", "", "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const SchedulerStats st = scheduler_->stats();
    SendJson(res, draining_ ? 503 : 200,
             {{"status", draining_ ? "draining" : "ok"},
              {"model", opt_.model_name},
              {"slots", st.slots},
              {"active", st.active},
              {"queued", st.queued},
              {"requests_done", st.requests_done},
              {"requests_cancelled", st.requests_cancelled},
              {"prompt_tokens_reused", st.prompt_tokens_reused}});
  });

  const auto model_json = [this] {
    return json{{"id", opt_.model_name}, {"object", "model"}, {"created", created_}, {"owned_by", "gemma"}};
  };
  s.Get("/v1/models", [model_json](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, {{"object", "list"}, {"data", json::array({model_json()})}});
  });
  s.Get(R"(/v1/models/(.+))", [this, model_json](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != opt_.model_name)
      return SendError(res, ApiError(404, "the model '" + std::string(req.matches[1]) + "' does not exist", "model",
                                     "model_not_found"));
    SendJson(res, 200, model_json());
  });

  const auto generate = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      try {
        if (draining_) throw ApiError(503, "the server is shutting down", "", "server_shutting_down");
        json body;
        try {
          body = json::parse(req.body);
        } catch (const json::exception& e) {
          throw BadRequest(std::string("malformed JSON: ") + e.what());
        }
        const ParsedRequest r = chat ? ParseChatRequest(body) : ParseCompletionRequest(body);
        if (r.model != opt_.model_name)
          throw ApiError(404, "the model '" + r.model + "' does not exist (this server has '" + opt_.model_name + "')",
                         "model", "model_not_found");
        GenerationJob job = builder_->Build(r);
        // Counted before Submit so that Shutdown waits for this response.
        auto token = std::make_shared<InflightToken>(this);
        auto stream = scheduler_->Submit(std::move(job));
        if (!stream)
          throw ApiError(503, draining_ ? "the server is shutting down" : "the server is busy: all slots and the queue are full",
                         "", draining_ ? "server_shutting_down" : "server_busy");
        const uint64_t n = next_id_++;
        char idbuf[40];
        std::snprintf(idbuf, sizeof(idbuf), "%s-%08llx%06llx", chat ? "chatcmpl" : "cmpl",
                      static_cast<unsigned long long>(std::time(nullptr)), static_cast<unsigned long long>(n));
        Reply reply{chat, idbuf, opt_.model_name, static_cast<int64_t>(std::time(nullptr))};
        if (r.stream) {
          auto st = std::make_shared<StreamState>();
          st->stream = std::move(stream);
          st->reply = std::move(reply);
          st->include_usage = r.include_usage;
          st->on_end = [token]() mutable { token.reset(); };
          StreamReply(res, std::move(st));
        } else {
          CompleteReply(res, *stream, reply);
        }
      } catch (const ApiError& e) {
        SendError(res, e);
      }
    };
  };
  s.Post("/v1/chat/completions", generate(true));
  s.Post("/v1/completions", generate(false));
}

}  // namespace gemma

namespace gemma {

namespace {
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  // Threads created later inherit the mask, so only sigwait sees them.
  const sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A client that hangs up must not kill the server.
  signal(SIGPIPE, SIG_IGN);
}

void WaitForTerminationSignal() {
  const sigset_t set = TerminationSignals();
  int sig = 0;
  sigwait(&set, &sig);
}

}  // namespace gemma
