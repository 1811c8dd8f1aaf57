// --kv-dtype: per-session settings shared by the front ends that open a
// Session (generate, logits, chat, serve, bench, info). Kept apart from
// weight_flags.h: these choose how a session stores its state, not how the
// model is loaded.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/engine.h"

namespace gemma {

// Defaults: generating commands trade exactness for half the KV bytes (f16
// keeps every golden case's greedy ids and logits within 2e-3); `logits`
// stays exact.
inline constexpr const char* kKvDefaultGenerate = "f16";
inline constexpr const char* kKvDefaultExact = "f32";

struct SessionFlags {
  std::string kv_dtype;  // "" = the command's default
};

// default_kv: what the command uses without the flag ("f32" where results
// must match the reference exactly, "f16" where memory and speed matter).
void AddSessionFlags(CLI::App* cmd, SessionFlags* f, const char* default_kv);
// Throws Error naming --kv-dtype for a value other than f32, f16, bf16.
SessionOptions ToSessionOptions(const SessionFlags& f, const char* default_kv);
KvDType ParseKvDType(const std::string& s, const std::string& flag);

}  // namespace gemma
