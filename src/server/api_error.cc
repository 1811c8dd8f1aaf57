#include "server/api_error.h"

namespace gemma {

std::string ApiError::DefaultType(int status) {
  if (status == 404) return "invalid_request_error";
  if (status == 503) return "server_overloaded";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

nlohmann::json ApiError::ToJson() const {
  nlohmann::json e = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  if (!code_.empty()) e["code"] = code_;
  return {{"error", e}};
}

}  // namespace gemma
