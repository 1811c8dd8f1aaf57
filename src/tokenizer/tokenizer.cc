#include "tokenizer/tokenizer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

// Rust's u8::from_str_radix(s, 16) for a 2-byte s, as the reference
// ByteFallback decoder uses it on "<0xNN>": hex digits of either case, and
// (a quirk of from_str_radix) a leading '+'.
int ParseHexByte(std::string_view s) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s[0] == '+') return hex(s[1]);
  const int hi = hex(s[0]), lo = hex(s[1]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

// The byte a decoded token stands for under the ByteFallback decoder, or -1.
int DecoderByteValue(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  return ParseHexByte(std::string_view(t).substr(3, 2));
}

void ReplaceAll(std::string* s, const std::string& from, const std::string& to, std::string* tmp) {
  if (from.empty() || s->find(from) == std::string::npos) return;
  tmp->clear();
  size_t pos = 0;
  while (true) {
    const size_t hit = s->find(from, pos);
    if (hit == std::string::npos) break;
    tmp->append(*s, pos, hit - pos);
    tmp->append(to);
    pos = hit + from.size();
  }
  tmp->append(*s, pos, std::string::npos);
  s->swap(*tmp);
}

// Length of the UTF-8 sequence led by byte c (input already validated).
inline size_t LeadLength(unsigned char c) {
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

// A read-only mapping of a whole file: no copy of the 33 MB tokenizer.json.
class FileView {
 public:
  explicit FileView(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open tokenizer file: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw Error(path + ": cannot map file: " + std::strerror(errno));
      }
      data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~FileView() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  FileView(const FileView&) = delete;
  FileView& operator=(const FileView&) = delete;
  std::string_view text() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

struct Tokenizer::Scratch {
  // A queued merge of symbol `left` with its right neighbour. Ordered by
  // key = rank << 32 | left: lowest rank first, then leftmost (symbols are
  // indexed in text order). `ids` packs the left and right symbol ids when
  // queued and the merge result, 21 bits each: a symbol's id only changes by
  // growing, so equal ids mean the pair is still there, else the entry is
  // stale. 16 bytes, because long words make heaps of millions.
  struct Candidate {
    uint64_t key;
    uint64_t ids;
  };
  struct Later {
    bool operator()(const Candidate& a, const Candidate& b) const { return a.key > b.key; }
  };
  std::string norm, tmp;
  std::vector<Symbol> syms;
  std::vector<Candidate> heap;
};

Tokenizer::Tokenizer(ModelSpec spec, const std::string& what) {
  const size_t n_vocab = spec.vocab.size();
  size_t total = n_vocab;
  for (const AddedTokenSpec& a : spec.added) total = std::max(total, static_cast<size_t>(a.id) + 1);
  if (!spec.vocab_indexed) {
    const int dup = spec.vocab_index.Build(spec.vocab);
    if (dup >= 0) throw Error(what + ": duplicate vocab token \"" + spec.vocab[dup] + "\"");
  }
  model_index_ = std::move(spec.vocab_index);
  num_model_ids_ = static_cast<int>(n_vocab);
  pieces_ = std::move(spec.vocab);
  pieces_.resize(total);
  std::vector<bool> present(total, false);
  std::fill(present.begin(), present.begin() + n_vocab, true);
  special_.assign(total, 0);
  trie_.emplace_back();
  for (const AddedTokenSpec& a : spec.added) {
    if (a.content.empty()) throw Error(what + ": added token " + std::to_string(a.id) + " is empty");
    if (static_cast<size_t>(a.id) >= n_vocab) {
      pieces_[a.id] = a.content;
    } else if (pieces_[a.id] != a.content) {
      overrides_[a.id] = a.content;  // BPE keeps the vocab string
    }
    present[a.id] = true;
    special_[a.id] = a.special;
    added_ids_[a.content] = a.id;
    int node = 0;
    for (unsigned char c : a.content) {
      int next = -1;
      for (const auto& [byte, kid] : trie_[node].kids) {
        if (byte == c) next = kid;
      }
      if (next < 0) {
        next = static_cast<int>(trie_.size());
        trie_[node].kids.emplace_back(c, next);
        trie_.emplace_back();
      }
      node = next;
    }
    trie_[node].token = a.id;
    trie_[node].special = a.special;
    trie_first_[static_cast<unsigned char>(a.content[0])] = true;
  }
  for (size_t id = 0; id < total; ++id) {
    if (!present[id]) throw Error(what + ": token id " + std::to_string(id) + " has no string");
  }

  // Decoder tables: per-token text after the rewrites, and byte tokens.
  decoded_.resize(total);
  byte_value_.assign(total, -1);
  std::string tmp;
  for (size_t id = 0; id < total; ++id) {
    auto o = overrides_.find(static_cast<int>(id));
    decoded_[id] = o == overrides_.end() ? pieces_[id] : o->second;
    for (const auto& [from, to] : spec.decode_replace) ReplaceAll(&decoded_[id], from, to, &tmp);
    if (spec.decode_byte_fallback) byte_value_[id] = static_cast<int16_t>(DecoderByteValue(decoded_[id]));
  }

  // Encoder tables: single code points, byte tokens, merges.
  bmp_ids_.assign(0x10000, -1);
  for (size_t id = 0; id < n_vocab; ++id) {
    const std::string& p = pieces_[id];
    if (p.empty() || !utf8::IsValid(p)) continue;
    const size_t len = LeadLength(static_cast<unsigned char>(p[0]));
    if (len != p.size()) continue;
    const uint32_t cp = utf8::Decode(p, 0, len);
    if (cp < 0x10000) {
      bmp_ids_[cp] = static_cast<int>(id);
    } else {
      astral_ids_[cp] = static_cast<int>(id);
    }
  }
  have_all_bytes_ = true;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = ModelId(name);
    if (byte_ids_[b] < 0) have_all_bytes_ = false;
  }
  // Characters that some token has right before a U+2581 (see EncodeSegments).
  static constexpr std::string_view kSpace = "\xE2\x96\x81";
  for (size_t id = 0; id < n_vocab; ++id) {
    const std::string_view p = pieces_[id];
    if (!utf8::IsValid(p)) continue;
    for (size_t i = p.find(kSpace, 1); i != std::string_view::npos; i = p.find(kSpace, i + 3)) {
      size_t q = i - 1;
      while (q > 0 && (static_cast<unsigned char>(p[q]) & 0xC0) == 0x80) --q;
      before_space_.insert(utf8::Decode(p, q, i - q));
    }
  }
  merges_.Reserve(spec.merges.size());
  for (const MergeSpec& m : spec.merges) merges_.Insert(m.left, m.right, m.rank, m.result);

  unk_id_ = spec.unk_id;
  byte_fallback_ = spec.byte_fallback;
  fuse_unk_ = spec.fuse_unk;
  ignore_merges_ = spec.ignore_merges;
  normalize_ = std::move(spec.normalize);
  split_after_ = std::move(spec.split_after);
  bos_prefix_ = std::move(spec.bos_prefix);
  bos_suffix_ = std::move(spec.bos_suffix);
}

std::unique_ptr<Tokenizer> Tokenizer::FromFile(const std::string& path) {
  const FileView file(path);
  const std::string_view data = file.text();
  const size_t first = data.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && data[first] == '{') return FromJsonText(data, path);
  return FromSentencePiece(data, path);
}

std::unique_ptr<Tokenizer> Tokenizer::FromModelDir(const std::string& dir) {
  namespace fs = std::filesystem;
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return FromFile(p.string());
  }
  throw Error(dir + ": no tokenizer.json or tokenizer.model in this directory");
}

int Tokenizer::CharId(uint32_t cp) const {
  if (cp < 0x10000) return bmp_ids_[cp];
  auto it = astral_ids_.find(cp);
  return it == astral_ids_.end() ? -1 : it->second;
}

size_t Tokenizer::MatchAdded(std::string_view text, size_t pos, bool parse_special, int* id) const {
  size_t best = 0;
  int node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int next = -1;
    for (const auto& [byte, kid] : trie_[node].kids) {
      if (byte == c) {
        next = kid;
        break;
      }
    }
    if (next < 0) break;
    node = next;
    const TrieNode& n = trie_[node];
    if (n.token >= 0 && (parse_special || !n.special)) {
      best = i + 1 - pos;
      *id = n.token;
    }
  }
  return best;
}

std::vector<int> Tokenizer::Encode(std::string_view text, bool add_bos, bool parse_special) const {
  const size_t bad = utf8::FindInvalid(text);
  if (bad != std::string_view::npos) {
    throw Error("Encode: input is not valid UTF-8 (invalid byte at offset " + std::to_string(bad) +
                ")");
  }
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos) out.insert(out.end(), bos_prefix_.begin(), bos_prefix_.end());
  Scratch scratch;
  size_t start = 0;
  for (size_t i = 0; i < text.size();) {
    int id = -1;
    const size_t len = trie_first_[static_cast<unsigned char>(text[i])]
                           ? MatchAdded(text, i, parse_special, &id)
                           : 0;
    if (len == 0) {
      ++i;
      continue;
    }
    EncodePiece(text.substr(start, i - start), scratch, &out);
    out.push_back(id);
    i += len;
    start = i;
  }
  EncodePiece(text.substr(start), scratch, &out);
  if (add_bos) out.insert(out.end(), bos_suffix_.begin(), bos_suffix_.end());
  return out;
}

void Tokenizer::EncodePiece(std::string_view piece, Scratch& s, std::vector<int>* out) const {
  if (piece.empty()) return;
  std::string_view text = piece;
  if (!normalize_.empty()) {
    s.norm.assign(piece);
    for (const NormalizeOp& op : normalize_) {
      if (op.kind == NormalizeOp::kReplace) {
        ReplaceAll(&s.norm, op.pattern, op.content, &s.tmp);
      } else if (!s.norm.empty()) {
        s.norm.insert(0, op.content);
      }
    }
    text = s.norm;
  }
  if (split_after_.empty()) {
    EncodeSegments(text, s, out);
    return;
  }
  size_t start = 0;
  while (start < text.size()) {
    const size_t hit = text.find(split_after_, start);
    const size_t end = hit == std::string_view::npos ? text.size() : hit + split_after_.size();
    EncodeSegments(text.substr(start, end - start), s, out);
    start = end;
  }
}

void Tokenizer::EncodeSegments(std::string_view word, Scratch& s, std::vector<int>* out) const {
  // Cut before each U+2581 whose preceding character x is a vocab token and
  // no vocab token contains "x\u2581": no merge can then join the two sides,
  // so BPE on the parts gives the same ids, with much smaller merge queues.
  size_t start = 0;
  if (!ignore_merges_) {  // with ignore_merges the whole word is looked up first
    static constexpr std::string_view kSpace = "\xE2\x96\x81";
    for (size_t p = word.find(kSpace, 1); p != std::string_view::npos; p = word.find(kSpace, p + 3)) {
      size_t q = p - 1;
      while (q > start && (static_cast<unsigned char>(word[q]) & 0xC0) == 0x80) --q;
      const uint32_t x = utf8::Decode(word, q, p - q);
      if (CharId(x) < 0 || before_space_.count(x) != 0) continue;
      EncodeWord(word.substr(start, p - start), s, out);
      start = p;
    }
  }
  EncodeWord(word.substr(start), s, out);
}

void Tokenizer::EncodeWord(std::string_view word, Scratch& s, std::vector<int>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int id = ModelId(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  // One symbol per code point; unknown code points become byte tokens.
  std::vector<Symbol>& syms = s.syms;
  syms.clear();
  auto push = [&](int id) {
    const int k = static_cast<int>(syms.size());
    syms.push_back(Symbol{id, k - 1, k + 1});
  };
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    const size_t len = LeadLength(static_cast<unsigned char>(word[i]));
    const int id = CharId(utf8::Decode(word, i, len));
    if (id >= 0) {
      push(id);
      last_unk = false;
    } else if (byte_fallback_ && have_all_bytes_) {
      for (size_t k = 0; k < len; ++k) push(byte_ids_[static_cast<unsigned char>(word[i + k])]);
      last_unk = false;
    } else {
      if (unk_id_ < 0) {
        throw Error("Encode: no token for the character at byte " + std::to_string(i) +
                    " of a word and the tokenizer has no unk token");
      }
      if (!(fuse_unk_ && last_unk)) push(unk_id_);
      last_unk = true;
    }
    i += len;
  }
  syms.back().next = -1;
  if (syms.size() > 1) {
    // Merge by rank, leftmost first on ties.
    auto& heap = s.heap;
    heap.clear();
    constexpr uint64_t kIdMask = (uint64_t{1} << kIdBits) - 1;
    auto pack = [](int left_id, int right_id, int result) {
      return (uint64_t(left_id) << (2 * kIdBits)) | (uint64_t(right_id) << kIdBits) | uint64_t(result);
    };
    auto queue = [&](int left, int right) {
      const MergeTable::Entry* m = merges_.Find(syms[left].id, syms[right].id);
      if (m == nullptr) return false;
      heap.push_back({(uint64_t{static_cast<uint32_t>(m->rank)} << 32) | static_cast<uint32_t>(left),
                      pack(syms[left].id, syms[right].id, m->result)});
      return true;
    };
    for (int k = 0; k + 1 < static_cast<int>(syms.size()); ++k) queue(k, k + 1);
    std::make_heap(heap.begin(), heap.end(), Scratch::Later());
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), Scratch::Later());
      const Scratch::Candidate c = heap.back();
      heap.pop_back();
      const int left = static_cast<int>(c.key & 0xFFFFFFFFu);
      Symbol& l = syms[left];
      if (l.next < 0 || (c.ids >> kIdBits) != ((uint64_t(l.id) << kIdBits) | uint64_t(syms[l.next].id))) {
        continue;  // stale: dead symbol (id -1) or a side has grown
      }
      Symbol& r = syms[l.next];
      l.id = static_cast<int>(c.ids & kIdMask);
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = left;
      r.id = -1;  // dead
      if (l.prev >= 0 && queue(l.prev, left)) std::push_heap(heap.begin(), heap.end(), Scratch::Later());
      if (l.next >= 0 && queue(left, l.next)) std::push_heap(heap.begin(), heap.end(), Scratch::Later());
    }
  }
  for (int k = 0; k >= 0; k = syms[k].next) out->push_back(syms[k].id);
}

void Tokenizer::CheckId(int id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("token id " + std::to_string(id) + " is out of range [0, " +
                std::to_string(vocab_size()) + ")");
  }
}

const std::string& Tokenizer::TokenText(int id) const {
  CheckId(id);
  if (!overrides_.empty()) {
    if (auto it = overrides_.find(id); it != overrides_.end()) return it->second;
  }
  return pieces_[id];
}

std::optional<int> Tokenizer::TokenId(std::string_view token) const {
  const std::string key(token);
  if (auto it = added_ids_.find(key); it != added_ids_.end()) return it->second;
  const int id = ModelId(token);
  if (id >= 0) return id;
  return std::nullopt;
}

bool Tokenizer::IsSpecial(int id) const {
  CheckId(id);
  return special_[id] != 0;
}

void Tokenizer::FlushBytes(std::string* bytes, std::string* out) {
  if (bytes->empty()) return;
  if (utf8::IsValid(*bytes)) {
    out->append(*bytes);
  } else {
    for (size_t i = 0; i < bytes->size(); ++i) out->append(utf8::kReplacementChar);
  }
  bytes->clear();
}

void Tokenizer::DecodeStep(int id, bool skip_special, std::string* bytes, std::string* out) const {
  CheckId(id);
  if (skip_special && special_[id]) return;  // skipped before the decoder runs
  if (byte_value_[id] >= 0) {
    bytes->push_back(static_cast<char>(byte_value_[id]));
    return;
  }
  FlushBytes(bytes, out);
  out->append(decoded_[id]);
}

std::string Tokenizer::Decode(const std::vector<int>& ids, bool skip_special) const {
  std::string out, bytes;
  for (int id : ids) DecodeStep(id, skip_special, &bytes, &out);
  FlushBytes(&bytes, &out);
  return out;
}

std::string StreamDecoder::Push(int id) {
  std::string out;
  tok_->DecodeStep(id, skip_special_, &bytes_, &out);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  Tokenizer::FlushBytes(&bytes_, &out);
  return out;
}

}  // namespace gemma
