// End-to-end tests: a real server on a loopback port, a real HTTP client.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "kernels/thread_pool.h"
#include "runtime/engine.h"
#include "server/server_test_util.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

using nlohmann::json;
using namespace gemma::testing;
using namespace std::chrono_literals;

const char kModel[] = "gemma3-tiny-a";  // sliding window 6: prompts below are longer

// Reference: greedy ids from a fresh session, no server involved. Call only
// while the server is idle (one forward at a time in the process).
std::vector<int> Greedy(const Engine& e, const Prompt& p, int n) {
  Session s(e, 4096);
  const float* logits = s.Start(p);
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    const int32_t t = ArgMax(logits, e.vocab_size());
    out.push_back(t);
    if (i + 1 < n) logits = s.Append(&t, 1);
  }
  return out;
}

std::vector<int32_t> Ids(int n, int seed) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(7 + (i * 37 + seed * 11) % 490);
  v[0] = 2;
  return v;
}

// SSE "data:" payloads of a stream, in order.
std::vector<std::string> SseData(const std::string& raw) {
  std::vector<std::string> out;
  std::istringstream in(raw);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  }
  return out;
}

struct StreamResult {
  int status = 0;
  std::string raw;
  std::string content;  // concatenated deltas
  json last_chunk;      // the one with finish_reason
  json usage;
  bool done = false;    // saw [DONE]
};

StreamResult ParseStream(const std::string& raw, bool chat = true) {
  StreamResult r;
  r.raw = raw;
  for (const std::string& d : SseData(raw)) {
    if (d == "[DONE]") {
      r.done = true;
      continue;
    }
    json j = json::parse(d);
    if (j.contains("usage")) r.usage = j["usage"];
    if (!j.contains("choices") || j["choices"].empty()) continue;
    const json& c = j["choices"][0];
    if (chat) {
      if (c["delta"].contains("content")) r.content += c["delta"]["content"].get<std::string>();
    } else {
      r.content += c["text"].get<std::string>();
    }
    if (!c["finish_reason"].is_null()) r.last_chunk = j;
  }
  return r;
}

// Streams a POST; on_data sees each received piece and may return false to
// hang up.
StreamResult PostStream(int port, const std::string& path, const json& body,
                        std::function<bool(const std::string&)> on_data = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string raw;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    raw.append(data, n);
    return on_data ? on_data(std::string(data, n)) : true;
  };
  auto res = c.send(req);
  StreamResult r = ParseStream(raw, path.find("chat") != std::string::npos);
  r.status = res ? res->status : 0;
  return r;
}

json Health(int port) { return Get(port, "/health").body; }

// Waits (bounded) until /health satisfies pred.
bool WaitHealth(int port, const std::function<bool(const json&)>& pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred(Health(port))) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

ServerOptions Opts(int parallel, int64_t ctx, int max_queue = 16, std::string api_key = "") {
  ServerOptions o;
  o.parallel = parallel;
  o.ctx = ctx;
  o.max_queue = max_queue;
  o.api_key = std::move(api_key);
  return o;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SetDefaultThreads(1);
    ServerOptions o;
    o.parallel = 4;
    o.ctx = 4096;
    o.max_queue = 16;
    o.max_body_bytes = 1 << 20;
    server_ = StartServer(kModel, o).release();
    engine_ = Engine::Load(server_->options().model_dir).release();
    tok_ = Tokenizer::FromModelDir(server_->options().model_dir).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete engine_;
    delete tok_;
  }
  static int port() { return server_->port(); }
  static std::string Text(const std::vector<int>& ids) { return tok_->Decode(ids, /*skip_special=*/true); }

  static json Completion(const std::vector<int32_t>& prompt, int max_tokens, json extra = json::object()) {
    json j = {{"model", kModel}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0},
              {"ignore_eos", true}};
    j.update(extra);
    return j;
  }

  static OpenAIServer* server_;
  static Engine* engine_;
  static Tokenizer* tok_;
};
OpenAIServer* ServerTest::server_ = nullptr;
Engine* ServerTest::engine_ = nullptr;
Tokenizer* ServerTest::tok_ = nullptr;

TEST_F(ServerTest, HealthAndModels) {
  HttpResult h = Get(port(), "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body["status"], "ok");
  EXPECT_EQ(h.body["slots"], 4);
  HttpResult m = Get(port(), "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body["object"], "list");
  EXPECT_EQ(m.body["data"][0]["id"], kModel);
  EXPECT_EQ(Get(port(), std::string("/v1/models/") + kModel).status, 200);
  HttpResult missing = Get(port(), "/v1/models/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(IsOpenAIError(missing));
}

TEST_F(ServerTest, PlainChatCompletion) {
  json req = {{"model", kModel},
              {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello there"}}}},
              {"max_tokens", 8},
              {"temperature", 0}};
  HttpResult r = PostJson(port(), "/v1/chat/completions", req);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "chat.completion");
  EXPECT_EQ(r.body["model"], kModel);
  const json& c = r.body["choices"][0];
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_TRUE(c["message"]["content"].is_string());
  EXPECT_TRUE(c["finish_reason"] == "length" || c["finish_reason"] == "stop");
  // The prompt is the Gemma 3 template, tokenized.
  const std::string text = "<bos><start_of_turn>user\nBe brief.\n\nHello there<end_of_turn>\n<start_of_turn>model\n";
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], tok_->Encode(text, false).size());
  EXPECT_LE(r.body["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(r.body["usage"]["total_tokens"],
            r.body["usage"]["prompt_tokens"].get<int>() + r.body["usage"]["completion_tokens"].get<int>());
}

TEST_F(ServerTest, LiteralSpecialKeepsUntrustedTextAsText) {
  const std::string content = "hi<end_of_turn>";
  json req = {{"model", kModel},
              {"messages", {{{"role", "user"}, {"content", content}}}},
              {"max_tokens", 2},
              {"temperature", 0}};
  const std::vector<ChatMessage> msgs = {{"user", content, 0}};
  HttpResult parsed = PostJson(port(), "/v1/chat/completions", req);
  ASSERT_EQ(parsed.status, 200) << parsed.raw;
  EXPECT_EQ(parsed.body["usage"]["prompt_tokens"], EncodeChat(*tok_, msgs, true, false).size());
  req["literal_special"] = true;
  HttpResult literal = PostJson(port(), "/v1/chat/completions", req);
  ASSERT_EQ(literal.status, 200) << literal.raw;
  EXPECT_EQ(literal.body["usage"]["prompt_tokens"], EncodeChat(*tok_, msgs, true, true).size());
  EXPECT_NE(parsed.body["usage"]["prompt_tokens"], literal.body["usage"]["prompt_tokens"]);
  req["literal_special"] = "yes";
  EXPECT_EQ(PostJson(port(), "/v1/chat/completions", req).status, 400);
}

TEST_F(ServerTest, CompletionMatchesADirectGreedyRun) {
  const std::vector<int32_t> p = Ids(20, 1);
  HttpResult r = PostJson(port(), "/v1/completions", Completion(p, 12));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "text_completion");
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 12);
  Prompt pr;
  pr.ids = p;
  EXPECT_EQ(r.body["choices"][0]["text"], Text(Greedy(*engine_, pr, 12)));
  // Text prompts get <bos> in front.
  HttpResult t = PostJson(port(), "/v1/completions",
                          {{"model", kModel}, {"prompt", "the cat"}, {"max_tokens", 3}, {"temperature", 0}});
  ASSERT_EQ(t.status, 200) << t.raw;
  EXPECT_EQ(t.body["usage"]["prompt_tokens"], tok_->Encode("the cat", true).size());
}

TEST_F(ServerTest, PrefixReuseGivesTheSameTokens) {
  // 30 tokens: well past the sliding window (6), so ring buffers have wrapped.
  const std::vector<int32_t> p = Ids(30, 2);
  HttpResult a = PostJson(port(), "/v1/completions", Completion(p, 1));
  ASSERT_EQ(a.status, 200) << a.raw;
  // Exact repeat: the cached logits serve the first token.
  HttpResult b = PostJson(port(), "/v1/completions", Completion(p, 6));
  ASSERT_EQ(b.status, 200) << b.raw;
  EXPECT_EQ(b.body["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
  // Extension: only the suffix is fed. The cache now holds p + 5 generated.
  std::vector<int32_t> longer = p;
  HttpResult c0 = PostJson(port(), "/v1/completions", Completion(p, 1, {{"seed", 1}}));
  ASSERT_EQ(c0.status, 200);
  for (int32_t t : Ids(9, 3)) longer.push_back(t);
  HttpResult c = PostJson(port(), "/v1/completions", Completion(longer, 7));
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
  Prompt pb, pc;
  pb.ids = p;
  pc.ids = longer;
  EXPECT_EQ(b.body["choices"][0]["text"], Text(Greedy(*engine_, pb, 6)));
  EXPECT_EQ(c.body["choices"][0]["text"], Text(Greedy(*engine_, pc, 7)));
}

TEST_F(ServerTest, StreamingSendsChunksBeforeTheEnd) {
  std::atomic<int> pieces{0};
  bool active_during_stream = false;
  json req = {{"model", kModel},
              {"messages", {{{"role", "user"}, {"content", "Tell me a long story"}}}},
              {"max_tokens", 3000},
              {"temperature", 0.7},
              {"seed", 3},
              {"ignore_eos", true},
              {"stream", true},
              {"stream_options", {{"include_usage", true}}}};
  StreamResult r = PostStream(port(), "/v1/chat/completions", req, [&](const std::string& d) {
    if (d.find("\"content\"") != std::string::npos && pieces++ == 2)
      active_during_stream = Health(port())["active"].get<int>() >= 1;  // generation still running
    return true;
  });
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(active_during_stream);
  EXPECT_GT(pieces.load(), 3);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.last_chunk["object"], "chat.completion.chunk");
  EXPECT_EQ(r.last_chunk["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.usage["completion_tokens"], 3000);
  // The first chunk carries the role, as OpenAI's does.
  EXPECT_EQ(json::parse(SseData(r.raw)[0])["choices"][0]["delta"]["role"], "assistant");
  // Same seed, same text, streamed or not.
  req["stream"] = false;
  HttpResult full = PostJson(port(), "/v1/chat/completions", req);
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body["choices"][0]["message"]["content"], r.content);
}

TEST_F(ServerTest, ConcurrentClientsGetTheirOwnAnswers) {
  constexpr int kClients = 10;  // more than the 4 slots: some wait in the queue
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> expected;
  for (int i = 0; i < kClients; ++i) {
    prompts.push_back(Ids(12 + i, 10 + i));
    Prompt p;
    p.ids = prompts.back();
    expected.push_back(Text(Greedy(*engine_, p, 40)));
  }
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < kClients; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      const json body = Completion(prompts[i], 40, {{"stream", i % 2 == 0}});
      if (i % 2 == 0) {
        StreamResult r = PostStream(port(), "/v1/completions", body);
        return r.done ? r.content : std::string("<no [DONE]>");
      }
      HttpResult r = PostJson(port(), "/v1/completions", body);
      return r.status == 200 ? r.body["choices"][0]["text"].get<std::string>() : r.raw;
    }));
  }
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(results[i].get(), expected[i]) << "client " << i;
}

TEST_F(ServerTest, DisconnectMidStreamFreesTheSlot) {
  const int64_t cancelled_before = Health(port())["requests_cancelled"];
  int chunks = 0;
  StreamResult r = PostStream(port(), "/v1/completions", Completion(Ids(10, 5), 4000, {{"stream", true}}),
                              [&](const std::string&) { return ++chunks < 4; });
  EXPECT_FALSE(r.done);
  // The slot is released within a couple of tokens, long before 4000.
  EXPECT_TRUE(WaitHealth(port(), [&](const json& h) {
    return h["active"] == 0 && h["requests_cancelled"].get<int64_t>() == cancelled_before + 1;
  })) << Health(port()).dump();
  HttpResult ok = PostJson(port(), "/v1/completions", Completion(Ids(10, 5), 2));
  EXPECT_EQ(ok.status, 200);
}

// Every class of bad input: a 4xx in OpenAI's error shape, and the server
// goes on serving.
TEST_F(ServerTest, BadInputGetsOpenAIErrors) {
  const auto chat = [](json extra) {
    json j = {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    j.update(extra);
    return j.dump();
  };
  const std::string png_b64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
  struct Case {
    std::string name, path, body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "/v1/chat/completions", "{\"model\": ", 400, ""},
      {"not an object", "/v1/chat/completions", "[1,2]", 400, ""},
      {"wrong type", "/v1/chat/completions", chat({{"temperature", "hot"}}), 400, ""},
      {"wrong type: messages", "/v1/chat/completions", chat({{"messages", "hi"}}), 400, ""},
      {"wrong type: max_tokens", "/v1/chat/completions", chat({{"max_tokens", "5"}}), 400, ""},
      {"unknown model", "/v1/chat/completions", chat({{"model", "gpt-4"}}), 404, "model_not_found"},
      {"empty messages", "/v1/chat/completions", chat({{"messages", json::array()}}), 400, ""},
      {"bad role", "/v1/chat/completions", chat({{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}), 400, ""},
      {"roles out of order", "/v1/chat/completions",
       chat({{"messages", {{{"role", "assistant"}, {"content", "x"}}}}}), 400, ""},
      {"too-long prompt", "/v1/chat/completions",
       chat({{"messages", {{{"role", "user"}, {"content", std::string(5000, 'x')}}}}}), 400,
       "context_length_exceeded"},
      {"max_tokens over the context", "/v1/chat/completions", chat({{"max_tokens", 5000}}), 400,
       "context_length_exceeded"},
      {"n > 1", "/v1/chat/completions", chat({{"n", 3}}), 400, ""},
      {"image on a text model", "/v1/chat/completions",
       chat({{"messages",
              {{{"role", "user"},
                {"content", {{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64," + png_b64}}}}}}}}}}),
       400, ""},
      {"completion without prompt", "/v1/completions", json{{"model", kModel}}.dump(), 400, ""},
      {"token id out of range", "/v1/completions", json{{"model", kModel}, {"prompt", {2, 100000}}}.dump(), 400, ""},
      {"oversize body", "/v1/chat/completions", chat({{"pad", std::string(2 << 20, 'x')}}), 413, ""},
  };
  for (const Case& c : cases) {
    HttpResult r = PostJson(port(), c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.raw.substr(0, 300);
    EXPECT_TRUE(IsOpenAIError(r)) << c.name << ": " << r.raw.substr(0, 300);
    if (!c.code.empty()) {
      EXPECT_EQ(r.body["error"]["code"], c.code) << c.name;
    }
  }
  // Deep nesting (within the body limit) must not bring the server down.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  HttpResult d = PostJson(port(), "/v1/chat/completions", chat({{"max_tokens", 1}}).insert(1, "\"pad\": " + deep + ", "));
  EXPECT_EQ(d.status, 200) << d.raw.substr(0, 300);
  HttpResult nf = Get(port(), "/v1/nothing-here");
  EXPECT_EQ(nf.status, 404);
  EXPECT_TRUE(IsOpenAIError(nf));
  EXPECT_EQ(Health(port())["status"], "ok");
  EXPECT_EQ(PostJson(port(), "/v1/chat/completions", chat({{"max_tokens", 2}})).status, 200);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string Base64(const std::string& s) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int k6 = 18; k6 >= 0; k6 -= 6) out += k[(v >> k6) & 63];
  }
  if (i < s.size()) {
    uint32_t v = uint8_t(s[i]) << 16;
    if (i + 1 < s.size()) v |= uint8_t(s[i + 1]) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < s.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST(ServerVision, ImagesInChatMessages) {
  SetDefaultThreads(1);
  auto server = StartServer("gemma3-mm-tiny-a", Opts(2, 256));
  const std::string png = ReadFile("tests/data/golden/vision-tiny-a/input.png");
  ASSERT_FALSE(png.empty());
  const auto request = [&](const std::string& url) {
    json content = {{{"type", "text"}, {"text", "What is this?"}},
                    {{"type", "image_url"}, {"image_url", {{"url", url}}}}};
    return json{{"model", "gemma3-mm-tiny-a"},
                {"messages", {{{"role", "user"}, {"content", content}}}},
                {"max_tokens", 5},
                {"temperature", 0}};
  };
  HttpResult a = PostJson(server->port(), "/v1/chat/completions", request("data:image/png;base64," + Base64(png)));
  ASSERT_EQ(a.status, 200) << a.raw;
  // 4 soft tokens + <start_of_image>, <end_of_image> and the text.
  EXPECT_GT(a.body["usage"]["prompt_tokens"].get<int>(), 6);
  // The same image again: its KV is reused; the answer is the same.
  HttpResult b = PostJson(server->port(), "/v1/chat/completions", request("data:image/png;base64," + Base64(png)));
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.body["choices"][0]["message"]["content"], a.body["choices"][0]["message"]["content"]);
  // Bad images: a 400 each.
  for (const std::string& bad : {std::string("data:image/png;base64,@@@@"),
                                 "data:image/png;base64," + Base64("definitely not an image"),
                                 "data:image/png;base64," + Base64(png.substr(0, png.size() / 2)),
                                 std::string("http://127.0.0.1:1/x.png")}) {
    HttpResult r = PostJson(server->port(), "/v1/chat/completions", request(bad));
    EXPECT_EQ(r.status, 400) << bad.substr(0, 40) << ": " << r.raw;
    EXPECT_TRUE(IsOpenAIError(r));
  }
  EXPECT_EQ(PostJson(server->port(), "/v1/chat/completions", request("data:image/png;base64," + Base64(png))).status,
            200);
}

TEST(ServerT5Gemma2, PromptGoesToTheEncoder) {
  SetDefaultThreads(1);
  auto server = StartServer("t5gemma2-tiny-a", Opts(2, 256));
  auto tok = Tokenizer::FromModelDir(server->options().model_dir);
  HttpResult r = PostJson(server->port(), "/v1/completions",
                          {{"model", "t5gemma2-tiny-a"}, {"prompt", "translate this"}, {"max_tokens", 6},
                           {"temperature", 0}, {"ignore_eos", true}});
  ASSERT_EQ(r.status, 200) << r.raw;
  // Encoder input: <bos> + prompt + <eos>.
  std::vector<int> enc = tok->Encode("translate this", true);
  enc.push_back(1);
  EXPECT_EQ(r.body["usage"]["prompt_tokens"], enc.size());
  {
    auto engine = Engine::Load(server->options().model_dir);
    Prompt p;
    p.encoder_ids.assign(enc.begin(), enc.end());
    EXPECT_EQ(r.body["choices"][0]["text"], tok->Decode(Greedy(*engine, p, 6), true));
  }
  HttpResult chat = PostJson(server->port(), "/v1/chat/completions",
                             {{"model", "t5gemma2-tiny-a"},
                              {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                              {"max_tokens", 4},
                              {"stream", true}});
  EXPECT_EQ(chat.status, 200);
  EXPECT_NE(chat.raw.find("data: [DONE]"), std::string::npos);
}

TEST(ServerAuth, ApiKeyIsRequiredWhenSet) {
  SetDefaultThreads(1);
  auto server = StartServer(kModel, Opts(1, 128, 16, "sekret"));
  const json body = {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}};
  HttpResult none = PostJson(server->port(), "/v1/chat/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(IsOpenAIError(none));
  HttpResult wrong = PostJson(server->port(), "/v1/chat/completions", body, {{"Authorization", "Bearer sekreT"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body["error"]["code"], "invalid_api_key");
  EXPECT_EQ(Get(server->port(), "/v1/models").status, 401);
  EXPECT_EQ(Get(server->port(), "/health").status, 200);
  EXPECT_EQ(PostJson(server->port(), "/v1/chat/completions", body, {{"Authorization", "Bearer sekret"}}).status, 200);
}

TEST(ServerLimits, FullQueueGets503WithRetryAfter) {
  SetDefaultThreads(1);
  auto server = StartServer(kModel, Opts(1, 4096, 0));
  const int port = server->port();
  std::promise<void> started;
  std::atomic<bool> stop{false};
  bool first_chunk = true;
  auto long_stream = std::async(std::launch::async, [&] {
    return PostStream(port, "/v1/completions",
                      {{"model", kModel}, {"prompt", "x"}, {"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}},
                      [&](const std::string&) {
                        if (first_chunk) started.set_value(), first_chunk = false;
                        return !stop.load();
                      });
  });
  started.get_future().wait();
  HttpResult busy = PostJson(port, "/v1/completions", {{"model", kModel}, {"prompt", "y"}, {"max_tokens", 2}});
  EXPECT_EQ(busy.status, 503);
  EXPECT_TRUE(IsOpenAIError(busy));
  EXPECT_TRUE(busy.headers.count("Retry-After"));
  stop = true;
  long_stream.get();
  EXPECT_TRUE(WaitHealth(port, [](const json& h) { return h["active"] == 0; }));
  EXPECT_EQ(PostJson(port, "/v1/completions", {{"model", kModel}, {"prompt", "y"}, {"max_tokens", 2}}).status, 200);
}

TEST(ServerShutdown, DrainsInFlightStreams) {
  SetDefaultThreads(1);
  auto server = StartServer(kModel, Opts(2, 4096));
  const int port = server->port();
  std::promise<void> started;
  bool first = true;
  auto stream = std::async(std::launch::async, [&] {
    return PostStream(port, "/v1/completions",
                      {{"model", kModel}, {"prompt", "x"}, {"max_tokens", 2500}, {"ignore_eos", true},
                       {"stream", true}, {"stream_options", {{"include_usage", true}}}},
                      [&](const std::string&) {
                        if (first) started.set_value(), first = false;
                        return true;
                      });
  });
  started.get_future().wait();
  auto shutdown = std::async(std::launch::async, [&] { server->Shutdown(); });
  // While draining: health says so and new work is refused.
  EXPECT_TRUE(WaitHealth(port, [](const json& h) { return h["status"] == "draining"; }));
  HttpResult late = PostJson(port, "/v1/completions", {{"model", kModel}, {"prompt", "y"}, {"max_tokens", 2}});
  EXPECT_EQ(late.status, 503);
  StreamResult r = stream.get();
  shutdown.get();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.usage["completion_tokens"], 2500);
  EXPECT_EQ(Get(port, "/health").status, 0);  // no longer listening
}

}  // namespace
}  // namespace gemma
