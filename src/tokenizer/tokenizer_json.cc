// Loader for Hugging Face tokenizer.json. Supports what Gemma's file uses
// (BPE model; Replace/Prepend normalizers; Split-on-string pre-tokenizer;
// TemplateProcessing; Replace/ByteFallback/Fuse decoders) and rejects
// everything else with an Error rather than tokenizing differently.
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "tokenizer/json_reader.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

using nlohmann::json;

// Reads {"String": "..."}; a Regex pattern is not supported.
std::string StringPattern(const json& p, const std::string& where) {
  if (!p.is_object() || !p.contains("String") || !p["String"].is_string()) {
    throw Error(where + ": only {\"String\": ...} patterns are supported");
  }
  return p["String"].get<std::string>();
}

void ParseNormalizer(const json& n, const std::string& what, ModelSpec* spec) {
  if (n.is_null()) return;
  const std::string type = n.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const json& sub : n.at("normalizers")) ParseNormalizer(sub, what, spec);
  } else if (type == "Replace") {
    spec->normalize.push_back({NormalizeOp::kReplace,
                               StringPattern(n.at("pattern"), what + ": normalizer Replace"),
                               n.at("content").get<std::string>()});
  } else if (type == "Prepend") {
    spec->normalize.push_back({NormalizeOp::kPrepend, "", n.at("prepend").get<std::string>()});
  } else {
    throw Error(what + ": unsupported normalizer type \"" + type + "\"");
  }
}

void ParsePreTokenizer(const json& p, const std::string& what, ModelSpec* spec) {
  if (p.is_null()) return;
  const std::string type = p.at("type").get<std::string>();
  if (type != "Split") throw Error(what + ": unsupported pre_tokenizer type \"" + type + "\"");
  const std::string behavior = p.at("behavior").get<std::string>();
  if (behavior != "MergedWithPrevious" || p.value("invert", false)) {
    throw Error(what + ": unsupported Split pre_tokenizer behavior \"" + behavior + "\"");
  }
  spec->split_after = StringPattern(p.at("pattern"), what + ": pre_tokenizer Split");
  if (spec->split_after.empty()) throw Error(what + ": empty Split pattern");
}

void ParseDecoder(const json& d, const std::string& what, ModelSpec* spec) {
  if (d.is_null()) return;
  const std::string type = d.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const json& sub : d.at("decoders")) ParseDecoder(sub, what, spec);
  } else if (type == "Replace") {
    spec->decode_replace.emplace_back(StringPattern(d.at("pattern"), what + ": decoder Replace"),
                                      d.at("content").get<std::string>());
  } else if (type == "ByteFallback") {
    spec->decode_byte_fallback = true;
  } else if (type != "Fuse") {  // Fuse: we always concatenate
    throw Error(what + ": unsupported decoder type \"" + type + "\"");
  }
}

// TemplateProcessing "single": the special tokens around sequence A.
void ParsePostProcessor(const json& p, const std::string& what, ModelSpec* spec) {
  if (p.is_null()) return;
  const std::string type = p.at("type").get<std::string>();
  if (type != "TemplateProcessing") {
    throw Error(what + ": unsupported post_processor type \"" + type + "\"");
  }
  const json& specials = p.at("special_tokens");
  bool seen_sequence = false;
  for (const json& item : p.at("single")) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    const std::string name = item.at("SpecialToken").at("id").get<std::string>();
    for (const json& id : specials.at(name).at("ids")) {
      (seen_sequence ? spec->bos_suffix : spec->bos_prefix).push_back(id.get<int>());
    }
  }
}

// A small section, given to nlohmann; its exceptions become Error.
template <typename Fn>
void ParseSection(std::string_view raw, const std::string& what, const char* key, Fn fn) {
  try {
    fn(json::parse(raw));
  } catch (const json::exception& e) {
    throw Error(what + ": bad \"" + key + "\": " + e.what());
  }
}

struct ModelSection {
  std::vector<std::string> vocab;
  TokenIndex index;  // over vocab
  bool saw_vocab = false;
  std::vector<MergeSpec> merges;
  // Merges read before the vocab (JSON keys are unordered), resolved later.
  std::vector<std::pair<std::string, std::string>> pending;
  std::string unk_token;
};

constexpr int64_t kMaxId = int64_t{1} << kIdBits;

void ReadVocab(JsonReader& r, const std::string& what, ModelSection* m) {
  std::string key;
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(1 << 18);
  r.BeginObject();
  while (r.NextKey(&key)) {
    const int64_t id = r.ReadInt();
    if (id < 0 || id >= kMaxId) r.Fail("vocab id " + std::to_string(id) + " out of range");
    entries.emplace_back(std::move(key), id);
  }
  m->vocab.assign(entries.size(), std::string());
  std::vector<bool> seen(entries.size(), false);
  for (auto& [token, id] : entries) {
    if (static_cast<size_t>(id) >= entries.size() || seen[id]) {
      throw Error(what + ": model.vocab ids must be 0..N-1 without duplicates (id " +
                  std::to_string(id) + ")");
    }
    seen[id] = true;
    m->vocab[id] = std::move(token);
  }
  const int dup = m->index.Build(m->vocab);
  if (dup >= 0) throw Error(what + ": duplicate vocab token \"" + m->vocab[dup] + "\"");
  m->saw_vocab = true;
}

// Adds merge number m->merges.size() (its rank) once the vocab is known.
void AddMerge(const std::string& a, const std::string& b, const std::string& what,
              ModelSection* m, std::string* joined) {
  const int rank = static_cast<int>(m->merges.size());
  joined->assign(a).append(b);
  const int ia = m->index.Find(a, m->vocab), ib = m->index.Find(b, m->vocab);
  const int ij = m->index.Find(*joined, m->vocab);
  if (ia < 0 || ib < 0 || ij < 0) {
    throw Error(what + ": merge " + std::to_string(rank) + " [\"" + a + "\", \"" + b +
                "\"] uses or makes a token that is not in the vocab");
  }
  m->merges.push_back({ia, ib, ij, rank});
}

void ReadMerges(JsonReader& r, const std::string& what, ModelSection* m) {
  std::string a, b, joined;
  r.BeginArray();
  while (r.NextElement()) {
    if (r.Peek() == '[') {  // newer format: ["left", "right"]
      r.BeginArray();
      if (!r.NextElement()) r.Fail("merge must have two strings");
      r.ReadString(&a);
      if (!r.NextElement()) r.Fail("merge must have two strings");
      r.ReadString(&b);
      if (r.NextElement()) r.Fail("merge must have two strings");
    } else {  // older format: "left right"
      std::string line;
      r.ReadString(&line);
      const size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        r.Fail("merge \"" + line + "\" is not two space-separated tokens");
      }
      a = line.substr(0, sp);
      b = line.substr(sp + 1);
    }
    if (m->saw_vocab) {
      AddMerge(a, b, what, m, &joined);
    } else {
      m->pending.emplace_back(a, b);
    }
  }
}

void ReadModel(JsonReader& r, const std::string& what, ModelSection* m, ModelSpec* spec) {
  std::string key, str;
  bool saw_type = false;
  r.BeginObject();
  while (r.NextKey(&key)) {
    if (key == "type") {
      r.ReadString(&str);
      if (str != "BPE") throw Error(what + ": model.type is \"" + str + "\", only BPE is supported");
      saw_type = true;
    } else if (key == "vocab") {
      ReadVocab(r, what, m);
    } else if (key == "merges") {
      ReadMerges(r, what, m);
    } else if (key == "unk_token") {
      if (!r.TryReadNull()) r.ReadString(&m->unk_token);
    } else if (key == "byte_fallback") {
      spec->byte_fallback = r.ReadBool();
    } else if (key == "fuse_unk") {
      spec->fuse_unk = r.ReadBool();
    } else if (key == "ignore_merges") {
      spec->ignore_merges = r.ReadBool();
    } else if (key == "continuing_subword_prefix" || key == "end_of_word_suffix") {
      if (!r.TryReadNull()) {
        r.ReadString(&str);
        if (!str.empty()) throw Error(what + ": model." + key + " is not supported");
      }
    } else if (key == "dropout") {
      if (!r.TryReadNull()) {
        const std::string_view v = r.SkipValue();
        if (v.find_first_not_of("0.") != std::string_view::npos) {
          throw Error(what + ": BPE dropout is not supported");
        }
      }
    } else {
      r.SkipValue();
    }
  }
  if (!saw_type) throw Error(what + ": model.type is missing");
}

void ReadAddedTokens(JsonReader& r, const std::string& what, ModelSpec* spec) {
  std::string key;
  r.BeginArray();
  while (r.NextElement()) {
    AddedTokenSpec t;
    bool has_content = false;
    r.BeginObject();
    while (r.NextKey(&key)) {
      if (key == "id") {
        const int64_t id = r.ReadInt();
        if (id < 0 || id >= kMaxId) r.Fail("added token id out of range");
        t.id = static_cast<int>(id);
      } else if (key == "content") {
        r.ReadString(&t.content);
        has_content = true;
      } else if (key == "special") {
        t.special = r.ReadBool();
      } else if (key == "lstrip" || key == "rstrip" || key == "single_word") {
        if (r.ReadBool()) throw Error(what + ": added token option " + key + " is not supported");
      } else {
        r.SkipValue();  // "normalized": the contents have no spaces to normalize
      }
    }
    if (t.id < 0 || !has_content) throw Error(what + ": added token without id or content");
    spec->added.push_back(std::move(t));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::FromJsonText(std::string_view text, const std::string& what) {
  ModelSpec spec;
  ModelSection model;
  bool saw_model = false;
  JsonReader r(text, what);
  std::string key;
  r.BeginObject();
  while (r.NextKey(&key)) {
    if (key == "model") {
      ReadModel(r, what, &model, &spec);
      saw_model = true;
    } else if (key == "added_tokens") {
      ReadAddedTokens(r, what, &spec);
    } else if (key == "normalizer") {
      ParseSection(r.SkipValue(), what, "normalizer",
                   [&](const json& j) { ParseNormalizer(j, what, &spec); });
    } else if (key == "pre_tokenizer") {
      ParseSection(r.SkipValue(), what, "pre_tokenizer",
                   [&](const json& j) { ParsePreTokenizer(j, what, &spec); });
    } else if (key == "post_processor") {
      ParseSection(r.SkipValue(), what, "post_processor",
                   [&](const json& j) { ParsePostProcessor(j, what, &spec); });
    } else if (key == "decoder") {
      ParseSection(r.SkipValue(), what, "decoder",
                   [&](const json& j) { ParseDecoder(j, what, &spec); });
    } else {
      r.SkipValue();  // version, truncation, padding
    }
  }
  r.ExpectEnd();
  if (!saw_model || !model.saw_vocab) throw Error(what + ": model.vocab is missing");

  std::string joined;
  for (const auto& [a, b] : model.pending) AddMerge(a, b, what, &model, &joined);
  spec.merges = std::move(model.merges);
  if (!model.unk_token.empty()) {
    spec.unk_id = model.index.Find(model.unk_token, model.vocab);
    if (spec.unk_id < 0) throw Error(what + ": unk_token \"" + model.unk_token + "\" is not in the vocab");
  }
  spec.vocab = std::move(model.vocab);
  spec.vocab_index = std::move(model.index);
  spec.vocab_indexed = true;
  const size_t n = spec.vocab.size();
  size_t total = n;
  for (const AddedTokenSpec& a : spec.added) total = std::max(total, static_cast<size_t>(a.id) + 1);
  // Ids must be dense; checking here also avoids allocating for absurd ids.
  if (total > n + spec.added.size()) {
    throw Error(what + ": token ids have gaps (highest id " + std::to_string(total - 1) + ")");
  }
  for (int id : spec.bos_prefix) {
    if (id < 0 || static_cast<size_t>(id) >= total) throw Error(what + ": post_processor id out of range");
  }
  for (int id : spec.bos_suffix) {
    if (id < 0 || static_cast<size_t>(id) >= total) throw Error(what + ": post_processor id out of range");
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(spec), what));
}

}  // namespace gemma
