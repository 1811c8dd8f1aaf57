// Small helpers shared by the command implementations.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gemma {

// "2,651,1234" -> ids; throws Error naming `flag` on anything else.
std::vector<int32_t> ParseIdList(const std::string& text, const std::string& flag);
std::string JoinIds(const std::vector<int32_t>& ids);

}  // namespace gemma
