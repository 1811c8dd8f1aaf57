#include "server/request.h"

#include <cmath>

#include "server/api_error.h"

namespace gemma {

namespace {

using nlohmann::json;

const json* Field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string TypeName(const json& v) { return v.type_name(); }

double Number(const json& v, const std::string& name) {
  if (!v.is_number()) throw BadRequest("'" + name + "' must be a number, got " + TypeName(v), name);
  const double d = v.get<double>();
  if (!std::isfinite(d)) throw BadRequest("'" + name + "' must be finite", name);
  return d;
}

int64_t Integer(const json& v, const std::string& name) {
  if (v.is_number_integer()) return v.get<int64_t>();
  // JavaScript clients may send 16.0 for 16.
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  throw BadRequest("'" + name + "' must be an integer, got " + TypeName(v), name);
}

bool Bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) throw BadRequest("'" + name + "' must be a boolean, got " + TypeName(v), name);
  return v.get<bool>();
}

std::string String(const json& v, const std::string& name) {
  if (!v.is_string()) throw BadRequest("'" + name + "' must be a string, got " + TypeName(v), name);
  return v.get<std::string>();
}

// Fields shared by both endpoints.
void ParseCommon(const json& body, ParsedRequest* r) {
  if (!body.is_object()) throw BadRequest("the request body must be a JSON object");
  const json* model = Field(body, "model");
  if (!model) throw BadRequest("'model' is required", "model");
  r->model = String(*model, "model");

  r->sampling.temperature = 1.0f;
  if (const json* v = Field(body, "temperature")) {
    const double t = Number(*v, "temperature");
    if (t < 0 || t > 2) throw BadRequest("'temperature' must be in [0, 2]", "temperature");
    r->sampling.temperature = static_cast<float>(t);
  }
  if (const json* v = Field(body, "top_p")) {
    const double p = Number(*v, "top_p");
    if (p < 0 || p > 1) throw BadRequest("'top_p' must be in [0, 1]", "top_p");
    // top_p = 0 keeps only the most likely token: greedy.
    if (p == 0) r->sampling.temperature = 0;
    else r->sampling.top_p = static_cast<float>(p);
  }
  if (const json* v = Field(body, "top_k")) {
    const int64_t k = Integer(*v, "top_k");
    if (k < 0 || k > (1 << 30)) throw BadRequest("'top_k' must be >= 0", "top_k");
    r->sampling.top_k = static_cast<int>(k);
  }
  if (const json* v = Field(body, "min_p")) {
    const double p = Number(*v, "min_p");
    if (p < 0 || p > 1) throw BadRequest("'min_p' must be in [0, 1]", "min_p");
    r->sampling.min_p = static_cast<float>(p);
  }
  if (const json* v = Field(body, "seed")) {
    r->sampling.seed = static_cast<uint64_t>(Integer(*v, "seed"));
    r->has_seed = true;
  }
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const json* v = Field(body, name)) {
      const int64_t n = Integer(*v, name);
      if (n < 1) throw BadRequest(std::string("'") + name + "' must be at least 1", name);
      // max_completion_tokens (the newer name) wins when both are given.
      r->max_tokens = n;
    }
  }
  if (const json* v = Field(body, "stop")) {
    if (v->is_string()) {
      r->stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) throw BadRequest("'stop' takes at most 4 sequences", "stop");
      for (const json& s : *v) r->stop.push_back(String(s, "stop"));
    } else {
      throw BadRequest("'stop' must be a string or an array of strings", "stop");
    }
    for (const auto& s : r->stop)
      if (s.empty()) throw BadRequest("'stop' sequences must not be empty", "stop");
  }
  if (const json* v = Field(body, "n")) {
    if (Integer(*v, "n") != 1) throw BadRequest("only n = 1 is supported", "n");
  }
  if (const json* v = Field(body, "stream")) r->stream = Bool(*v, "stream");
  if (const json* v = Field(body, "stream_options")) {
    if (!v->is_object()) throw BadRequest("'stream_options' must be an object", "stream_options");
    if (const json* u = Field(*v, "include_usage")) r->include_usage = Bool(*u, "stream_options.include_usage");
  }
  if (const json* v = Field(body, "ignore_eos")) r->ignore_eos = Bool(*v, "ignore_eos");
  if (const json* v = Field(body, "literal_special")) r->literal_special = Bool(*v, "literal_special");
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    // Accepted for compatibility; only the neutral value is honoured exactly.
    if (const json* v = Field(body, name)) {
      const double d = Number(*v, name);
      if (d < -2 || d > 2) throw BadRequest(std::string("'") + name + "' must be in [-2, 2]", name);
    }
  }
}

// One message's content: a string, or a list of text / image_url parts.
void ParseContent(const json& content, size_t index, ChatMessage* m, std::vector<std::string>* images) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) {
    m->content = content.get<std::string>();
    return;
  }
  if (!content.is_array()) throw BadRequest("'" + where + "' must be a string or an array of parts", where);
  // The chat template trims each text item and concatenates them.
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pw = where + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw BadRequest("'" + pw + "' must be an object", pw);
    const json* type = Field(part, "type");
    if (!type) throw BadRequest("'" + pw + ".type' is required", pw + ".type");
    const std::string t = String(*type, pw + ".type");
    if (t == "text") {
      const json* tx = Field(part, "text");
      if (!tx) throw BadRequest("'" + pw + ".text' is required", pw + ".text");
      std::string s = String(*tx, pw + ".text");
      const auto b = s.find_first_not_of(" \t\n\r");
      const auto e = s.find_last_not_of(" \t\n\r");
      text += b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    } else if (t == "image_url") {
      const json* iu = Field(part, "image_url");
      if (!iu) throw BadRequest("'" + pw + ".image_url' is required", pw + ".image_url");
      if (iu->is_string()) {
        images->push_back(iu->get<std::string>());
      } else if (iu->is_object()) {
        const json* url = Field(*iu, "url");
        if (!url) throw BadRequest("'" + pw + ".image_url.url' is required", pw + ".image_url.url");
        images->push_back(String(*url, pw + ".image_url.url"));
      } else {
        throw BadRequest("'" + pw + ".image_url' must be an object with 'url'", pw + ".image_url");
      }
      ++m->num_images;
    } else {
      throw BadRequest("unsupported content part type '" + t + "' (use 'text' or 'image_url')", pw + ".type");
    }
  }
  m->content = text;
}

}  // namespace

ParsedRequest ParseChatRequest(const json& body) {
  ParsedRequest r;
  r.chat = true;
  ParseCommon(body, &r);
  const json* msgs = Field(body, "messages");
  if (!msgs) throw BadRequest("'messages' is required", "messages");
  if (!msgs->is_array()) throw BadRequest("'messages' must be an array", "messages");
  if (msgs->empty()) throw BadRequest("'messages' must not be empty", "messages");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw BadRequest("'" + where + "' must be an object", where);
    const json* role = Field(m, "role");
    if (!role) throw BadRequest("'" + where + ".role' is required", where + ".role");
    ChatMessage cm;
    cm.role = String(*role, where + ".role");
    // "developer" is OpenAI's newer name for the system role.
    if (cm.role == "developer") cm.role = "system";
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      throw BadRequest("'" + where + ".role' must be 'system', 'developer', 'user' or 'assistant', got '" +
                           cm.role + "'",
                       where + ".role");
    const json* content = Field(m, "content");
    if (!content) {
      if (cm.role != "assistant") throw BadRequest("'" + where + ".content' is required", where + ".content");
    } else {
      ParseContent(*content, i, &cm, &r.image_urls);
    }
    if (cm.role == "system" && cm.num_images > 0)
      throw BadRequest("images are only allowed in user and assistant messages", where + ".content");
    r.messages.push_back(std::move(cm));
  }
  return r;
}

ParsedRequest ParseCompletionRequest(const json& body) {
  ParsedRequest r;
  r.chat = false;
  ParseCommon(body, &r);
  const json* p = Field(body, "prompt");
  if (!p) throw BadRequest("'prompt' is required", "prompt");
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    r.prompt = (*p)[0].get<std::string>();
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
    r.prompt_is_ids = true;
    for (const json& id : *p) {
      const int64_t v = Integer(id, "prompt");
      if (v < 0 || v > INT32_MAX) throw BadRequest("'prompt' token ids must be non-negative", "prompt");
      r.prompt_ids.push_back(static_cast<int32_t>(v));
    }
  } else {
    throw BadRequest("'prompt' must be a string, an array of one string, or an array of token ids", "prompt");
  }
  if (!r.prompt_is_ids && r.prompt.empty()) throw BadRequest("'prompt' must not be empty", "prompt");
  if (const json* v = Field(body, "suffix")) {
    if (!(v->is_string() && v->get<std::string>().empty()))
      throw BadRequest("'suffix' is not supported", "suffix");
  }
  if (const json* v = Field(body, "echo")) {
    if (Bool(*v, "echo")) throw BadRequest("'echo' is not supported", "echo");
  }
  if (const json* v = Field(body, "best_of")) {
    if (Integer(*v, "best_of") != 1) throw BadRequest("only best_of = 1 is supported", "best_of");
  }
  return r;
}

}  // namespace gemma
