// Unit tests of the server's pure parts: request parsing, stop sequences,
// prefix reuse rules, data URLs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/image_input.h"
#include "server/kv_reuse.h"
#include "server/request.h"
#include "server/stop_matcher.h"

namespace gemma {
namespace {

using nlohmann::json;

json Chat(json extra = json::object()) {
  json j = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  j.update(extra);
  return j;
}

std::string ParamOf(const json& body, bool chat = true) {
  try {
    chat ? ParseChatRequest(body) : ParseCompletionRequest(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.param().empty() ? "<none>" : e.param();
  }
  return "";
}

TEST(RequestParse, ChatDefaultsAndFields) {
  ParsedRequest r = ParseChatRequest(Chat({{"temperature", 0}, {"max_completion_tokens", 7}, {"stop", "x"},
                                           {"seed", 5}, {"stream", true},
                                           {"stream_options", {{"include_usage", true}}}}));
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(r.has_seed);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(ParseChatRequest(Chat()).sampling.temperature, 1.0f);
  // Parts: text items trimmed and joined, images counted in order.
  r = ParseChatRequest({{"model", "m"},
                        {"messages",
                         {{{"role", "developer"}, {"content", "sys"}},
                          {{"role", "user"},
                           {"content",
                            {{{"type", "text"}, {"text", " a "}},
                             {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AA=="}}}},
                             {{"type", "text"}, {"text", "b"}}}}}}}});
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.messages[1].num_images, 1);
  EXPECT_EQ(r.image_urls.size(), 1u);
}

TEST(RequestParse, BadInputNamesTheField) {
  EXPECT_EQ(ParamOf(json::array()), "<none>");
  EXPECT_EQ(ParamOf({{"messages", json::array()}}), "model");
  EXPECT_EQ(ParamOf({{"model", 3}}), "model");
  EXPECT_EQ(ParamOf({{"model", "m"}}), "messages");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", json::array()}}), "messages");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", "hi"}}), "messages");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", {{{"role", "tool"}, {"content", "x"}}}}}), "messages[0].role");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", {{{"role", 1}, {"content", "x"}}}}}), "messages[0].role");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", {{{"role", "user"}}}}}), "messages[0].content");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", 5}}}}}), "messages[0].content");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", {{{"type", "audio"}}}}}}}}),
            "messages[0].content[0].type");
  EXPECT_EQ(ParamOf(Chat({{"temperature", "hot"}})), "temperature");
  EXPECT_EQ(ParamOf(Chat({{"temperature", 3}})), "temperature");
  EXPECT_EQ(ParamOf(Chat({{"top_p", 1.5}})), "top_p");
  EXPECT_EQ(ParamOf(Chat({{"max_tokens", 0}})), "max_tokens");
  EXPECT_EQ(ParamOf(Chat({{"max_tokens", 2.5}})), "max_tokens");
  EXPECT_EQ(ParamOf(Chat({{"max_completion_tokens", "9"}})), "max_completion_tokens");
  EXPECT_EQ(ParamOf(Chat({{"stop", 5}})), "stop");
  EXPECT_EQ(ParamOf(Chat({{"stop", {"a", "b", "c", "d", "e"}}})), "stop");
  EXPECT_EQ(ParamOf(Chat({{"stop", ""}})), "stop");
  EXPECT_EQ(ParamOf(Chat({{"n", 2}})), "n");
  EXPECT_EQ(ParamOf(Chat({{"stream", "yes"}})), "stream");
  EXPECT_EQ(ParamOf(Chat({{"seed", "1"}})), "seed");
  EXPECT_EQ(ParamOf({{"model", "m"}}, false), "prompt");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"prompt", ""}}, false), "prompt");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"prompt", {1, "a"}}}, false), "prompt");
  EXPECT_EQ(ParamOf({{"model", "m"}, {"prompt", "x"}, {"echo", true}}, false), "echo");
  EXPECT_EQ(ParamOf(Chat({{"n", 1}, {"max_tokens", 16.0}, {"presence_penalty", 0}})), "");
}

TEST(StopMatcher, HoldsPossibleStartsAndCutsAtTheStop) {
  StopMatcher m({"END", "xy"});
  EXPECT_EQ(m.Push("abc E"), "abc ");
  EXPECT_EQ(m.Push("N"), "");
  EXPECT_EQ(m.Push("x"), "EN");  // "ENx" is not "END"; "x" may start "xy"
  EXPECT_EQ(m.Push("z"), "xz");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Push("12xy34"), "12");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
  StopMatcher none({});
  EXPECT_EQ(none.Push("abc"), "abc");
  StopMatcher tail({"END"});
  EXPECT_EQ(tail.Push("aEN"), "a");
  EXPECT_EQ(tail.Flush(), "EN");
}

TEST(KvReuse, OnlyExactPrefixesWithSameEncoderAndImages) {
  const int32_t img = 99;
  CachedInput have{{}, {1, 2, 3}, {}};
  EXPECT_EQ(ReusablePrefix(have, {{}, {1, 2, 3, 4}, {}}, img), 3);
  EXPECT_EQ(ReusablePrefix(have, {{}, {1, 2, 3}, {}}, img), 3);
  EXPECT_EQ(ReusablePrefix(have, {{}, {1, 2}, {}}, img), -1);     // cache longer than the prompt
  EXPECT_EQ(ReusablePrefix(have, {{}, {1, 5, 3, 4}, {}}, img), -1);  // diverges
  EXPECT_EQ(ReusablePrefix(have, {{}, {1, 2, 3, img}, {}}, img), -1);  // image in the suffix
  EXPECT_EQ(ReusablePrefix({}, {{}, {1}, {}}, img), -1);
  // Encoder input must be identical (T5Gemma 2).
  EXPECT_EQ(ReusablePrefix({{7, 8}, {2}, {}}, {{7, 8}, {2}, {}}, img), 1);
  EXPECT_EQ(ReusablePrefix({{7, 8}, {2}, {}}, {{7, 9}, {2}, {}}, img), -1);
  // Images compare by content.
  auto a = std::make_shared<const std::string>("png-a");
  auto a2 = std::make_shared<const std::string>("png-a");
  auto b = std::make_shared<const std::string>("png-b");
  EXPECT_EQ(ReusablePrefix({{}, {1, img}, {a}}, {{}, {1, img, 5}, {a2}}, img), 2);
  EXPECT_EQ(ReusablePrefix({{}, {1, img}, {a}}, {{}, {1, img, 5}, {b}}, img), -1);
}

TEST(DataUrl, DecodesStrictBase64) {
  EXPECT_EQ(DecodeBase64("aGVsbG8=", "p"), (std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(DecodeBase64("aGVsbG8", "p").size(), 5u);
  EXPECT_EQ(DecodeDataUrl("data:image/png;base64,aGk=", "p"), (std::vector<uint8_t>{'h', 'i'}));
  EXPECT_THROW(DecodeBase64("a$==", "p"), ApiError);
  EXPECT_THROW(DecodeBase64("a", "p"), ApiError);
  EXPECT_THROW(DecodeBase64("aG=k", "p"), ApiError);
  EXPECT_THROW(DecodeDataUrl("https://example.invalid/x.png", "p"), ApiError);
  EXPECT_THROW(DecodeDataUrl("data:image/png,raw", "p"), ApiError);
  EXPECT_THROW(DecodeDataUrl("data:text/plain;base64,aGk=", "p"), ApiError);
  EXPECT_THROW(DecodeDataUrl("data:image/png;base64,", "p"), ApiError);
}

}  // namespace
}  // namespace gemma
