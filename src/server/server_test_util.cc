#include "server/server_test_util.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <vector>

namespace gemma::testing {

namespace fs = std::filesystem;

namespace {
// The model folders this process made, removed when it exits (a test run
// must not leave copies of the checkpoints behind in /tmp).
struct MadeDirs {
  std::mutex mu;
  std::vector<fs::path> dirs;
  ~MadeDirs() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};
MadeDirs& Made() {
  static MadeDirs made;
  return made;
}
}  // namespace

std::string MakeModelDir(const std::string& golden) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() / ("gemma_server_test_" + std::to_string(getpid()) + "_" +
                                                    std::to_string(counter++) + "_" + golden);
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::lock_guard<std::mutex> lock(Made().mu);
    Made().dirs.push_back(dir);
  }
  const fs::path src = fs::path("tests/data/golden") / golden;
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(src / f, dir / f);
  fs::copy_file("tests/server/tiny-tokenizer.json", dir / "tokenizer.json");
  return dir.string();
}

std::unique_ptr<OpenAIServer> StartServer(const std::string& golden, ServerOptions opt) {
  opt.model_dir = MakeModelDir(golden);
  opt.host = "127.0.0.1";
  opt.port = 0;
  if (opt.model_name.empty()) opt.model_name = golden;
  auto s = std::make_unique<OpenAIServer>(opt);
  s->Start();
  return s;
}

namespace {
HttpResult Finish(const httplib::Result& res) {
  HttpResult r;
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return r;
}
}  // namespace

HttpResult PostJson(int port, const std::string& path, const std::string& body, const httplib::Headers& headers) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  return Finish(c.Post(path.c_str(), headers, body, "application/json"));
}

HttpResult PostJson(int port, const std::string& path, const nlohmann::json& body, const httplib::Headers& headers) {
  return PostJson(port, path, body.dump(), headers);
}

HttpResult Get(int port, const std::string& path, const httplib::Headers& headers) {
  httplib::Client c("127.0.0.1", port);
  return Finish(c.Get(path.c_str(), headers));
}

bool IsOpenAIError(const HttpResult& r) {
  if (!r.body.is_object() || !r.body.contains("error")) return false;
  const auto& e = r.body["error"];
  return e.is_object() && e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty() &&
         e.contains("type") && e["type"].is_string();
}

}  // namespace gemma::testing
