// Helpers for the server tests: tiny model folders with a tokenizer, and a
// real server on a loopback port.
#pragma once
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/openai_server.h"

namespace gemma::testing {

// A fresh folder holding the golden checkpoint `golden` (tests/data/golden/)
// and tests/server/tiny-tokenizer.json as tokenizer.json.
std::string MakeModelDir(const std::string& golden);

// Starts a server for `golden` on 127.0.0.1 with an ephemeral port.
std::unique_ptr<OpenAIServer> StartServer(const std::string& golden, ServerOptions opt = {});

struct HttpResult {
  int status = 0;  // 0: no response
  nlohmann::json body;
  std::string raw;
  httplib::Headers headers;
};

HttpResult PostJson(int port, const std::string& path, const std::string& body,
                    const httplib::Headers& headers = {});
HttpResult PostJson(int port, const std::string& path, const nlohmann::json& body,
                    const httplib::Headers& headers = {});
HttpResult Get(int port, const std::string& path, const httplib::Headers& headers = {});

// True when `r` is an OpenAI error: {"error": {"message": str, "type": str, ...}}.
bool IsOpenAIError(const HttpResult& r);

}  // namespace gemma::testing
