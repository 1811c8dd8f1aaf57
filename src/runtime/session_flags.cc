#include "runtime/session_flags.h"

#include "base/error.h"

namespace gemma {

void AddSessionFlags(CLI::App* cmd, SessionFlags* f, const char* default_kv) {
  cmd->add_option("--kv-dtype", f->kv_dtype,
                  std::string("KV cache storage: f32 (exact) | f16 | bf16 (half the bytes) | int8 (a quarter, one "
                              "scale per head row; fastest at long context) (default ") +
                      default_kv + ")");
}

KvDType ParseKvDType(const std::string& s, const std::string& flag) {
  if (s == "f32") return KvDType::kF32;
  if (s == "f16") return KvDType::kF16;
  if (s == "bf16") return KvDType::kBF16;
  if (s == "int8") return KvDType::kI8;
  throw Error(flag + ": unknown KV cache dtype '" + s + "' (expected f32, f16, bf16 or int8)");
}

SessionOptions ToSessionOptions(const SessionFlags& f, const char* default_kv) {
  SessionOptions o;
  o.kv_dtype = ParseKvDType(f.kv_dtype.empty() ? default_kv : f.kv_dtype, "--kv-dtype");
  return o;
}

}  // namespace gemma
