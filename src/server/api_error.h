// Errors a request can end with, in the OpenAI error shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace gemma {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "",
           std::string type = "")
      : std::runtime_error(message), status_(status), param_(std::move(param)), code_(std::move(code)),
        type_(type.empty() ? DefaultType(status) : std::move(type)) {}

  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  const std::string& type() const { return type_; }

  nlohmann::json ToJson() const;

  static std::string DefaultType(int status);

 private:
  int status_;
  std::string param_, code_, type_;
};

// 400 naming the offending field.
inline ApiError BadRequest(const std::string& message, const std::string& param = "") {
  return ApiError(400, message, param);
}

}  // namespace gemma
