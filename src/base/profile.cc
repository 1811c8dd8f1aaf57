#include "base/profile.h"

#include <cstdio>

namespace gemma::prof {

std::atomic<bool> g_enabled{false};

namespace {
// Stages are timed on the thread that runs the forward pass; one at a time.
double g_seconds[kStageCount] = {};
const char* const kNames[kStageCount] = {"norms+residual", "q/k/v proj", "q/k norm+rope", "attention",
                                         "kv append",      "o proj",     "gate/up proj",  "gelu*up",
                                         "down proj",      "head"};
}  // namespace

void Enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

void Reset() {
  for (double& s : g_seconds) s = 0;
}

void Add(Stage s, double seconds) { g_seconds[s] += seconds; }

std::string Report(const std::string& title) {
  double total = 0;
  for (double s : g_seconds) total += s;
  std::string out = title + " (" + std::to_string(total * 1e3) + " ms in stages)\n";
  char line[128];
  for (int i = 0; i < kStageCount; ++i) {
    std::snprintf(line, sizeof(line), "  %-16s %9.2f ms %5.1f%%\n", kNames[i], g_seconds[i] * 1e3,
                  total > 0 ? 100 * g_seconds[i] / total : 0.0);
    out += line;
  }
  return out;
}

}  // namespace gemma::prof
