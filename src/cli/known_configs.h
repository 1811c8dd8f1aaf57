// The real configs of the released models (configs/*.json), compiled in so
// that init-random works from any directory.
#pragma once
#include <string>

namespace gemma {

// config.json text for a known model name, or null.
const char* KnownConfig(const std::string& name);
std::string KnownConfigNames();

}  // namespace gemma
