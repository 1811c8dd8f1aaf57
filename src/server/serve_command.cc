// gemma serve: the CLI front of OpenAIServer.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "kernels/thread_pool.h"
#include "runtime/session_flags.h"
#include "runtime/weight_flags.h"
#include "server/openai_server.h"

namespace gemma {

void AddServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat/completions, completions, models)");
  auto o = std::make_shared<ServerOptions>();
  auto threads = std::make_shared<int>(0);
  auto max_body_mb = std::make_shared<int64_t>(32);
  auto weights = std::make_shared<WeightFlags>();
  cmd->add_option("--model", o->model_dir, "checkpoint folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "TCP port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->parallel, "requests decoded at once (each has its own KV cache)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--ctx", o->ctx, "context per request in tokens (default: min(4096, model maximum))")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' on /v1/ routes");
  cmd->add_option("--max-queue", o->max_queue, "requests that may wait for a slot; more get 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--kv-budget-mb", o->kv_budget_mb, "KV cache memory for all slots; fewer slots when --parallel does not fit (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-body-mb", *max_body_mb, "largest request body")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--model-name", o->model_name, "model id clients send (default: the folder's name)");
  cmd->add_option("--threads", *threads, "worker threads for the model (default: all cores)");
  AddWeightFlags(cmd, weights.get());
  auto sf = std::make_shared<SessionFlags>();
  AddSessionFlags(cmd, sf.get(), kKvDefaultGenerate);
  cmd->add_flag("--literal-special", o->literal_special,
                "treat special-token text in messages/prompts as plain text (requests may override with "
                "\"literal_special\")");
  cmd->callback([=] {
    o->session = ToSessionOptions(*sf, kKvDefaultGenerate);
    BlockTerminationSignals();
    SetDefaultThreads(*threads);
    o->max_body_bytes = static_cast<size_t>(*max_body_mb) << 20;
    o->weights = ToWeightOptions(*weights);
    OpenAIServer server(*o);
    server.Start();
    std::fprintf(stderr, "gemma serve: model '%s' on http://%s:%d (%d slots, context %lld)\n",
                 server.options().model_name.c_str(), server.options().host.c_str(), server.port(), server.slots(),
                 static_cast<long long>(server.options().ctx));
    // Scripts wait for this line on stdout to know the port.
    std::printf("listening on %s:%d\n", server.options().host.c_str(), server.port());
    std::fflush(stdout);
    WaitForTerminationSignal();
    std::fprintf(stderr, "gemma serve: draining in-flight requests\n");
    server.Shutdown();
    std::fprintf(stderr, "gemma serve: stopped\n");
  });
}

}  // namespace gemma
