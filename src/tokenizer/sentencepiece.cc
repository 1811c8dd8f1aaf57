// Loader for a SentencePiece tokenizer.model (a serialized ModelProto) of
// BPE type, read with a minimal protobuf wire-format reader. Only the fields
// below are used (numbers from sentencepiece_model.proto):
//   ModelProto     { pieces = 1; trainer_spec = 2; normalizer_spec = 3; }
//   SentencePiece  { string piece = 1; float score = 2; Type type = 3; }
//   TrainerSpec    { model_type = 3; treat_whitespace_as_suffix = 24;
//                    byte_fallback = 35; bos_id = 41; }
//   NormalizerSpec { name = 1; precompiled_charsmap = 2; add_dummy_prefix = 3;
//                    remove_extra_whitespaces = 4; escape_whitespaces = 5; }
//
// SentencePiece BPE merges the adjacent pair whose concatenation is the
// highest-scoring piece, leftmost on ties. That is BPE by rank with
// rank = the piece's position in descending score order (equal scores share
// a rank), so the model becomes an ordinary ModelSpec. Differences from the
// sentencepiece library: CONTROL pieces (<bos>, ...) are matched in the text
// as special tokens (as in Hugging Face's conversion), and normalizations
// Gemma does not use (dummy prefix, whitespace folding, charsmaps) are
// rejected rather than approximated.
#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

class ProtoReader {
 public:
  ProtoReader(std::string_view data, const std::string& what) : s_(data), what_(what) {}

  bool done() const { return pos_ >= s_.size(); }

  // Reads a field key; returns the field number, sets *wire.
  uint64_t Key(int* wire) {
    const uint64_t key = Varint();
    *wire = static_cast<int>(key & 7);
    return key >> 3;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= s_.size()) Fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(s_[pos_++]);
      v |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    Fail("varint too long");
  }
  std::string_view Bytes() {
    const uint64_t n = Varint();
    if (n > s_.size() - pos_) Fail("length past the end");
    const std::string_view out = s_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  float Fixed32Float() {
    if (s_.size() - pos_ < 4) Fail("truncated fixed32");
    uint32_t bits = 0;
    for (int k = 0; k < 4; ++k) bits |= uint32_t{static_cast<uint8_t>(s_[pos_ + k])} << (8 * k);
    pos_ += 4;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  void Skip(int wire) {
    switch (wire) {
      case 0: Varint(); break;
      case 1: Advance(8); break;
      case 2: Bytes(); break;
      case 5: Advance(4); break;
      default: Fail("unsupported wire type " + std::to_string(wire));
    }
  }
  // Reads a bool/enum/int field value, checking its wire type.
  uint64_t VarintField(int wire) {
    if (wire != 0) Fail("expected a varint field");
    return Varint();
  }
  std::string_view BytesField(int wire) {
    if (wire != 2) Fail("expected a length-delimited field");
    return Bytes();
  }
  [[noreturn]] void Fail(const std::string& message) const {
    throw Error(what_ + ": invalid SentencePiece model at byte " + std::to_string(pos_) + ": " + message);
  }

 private:
  void Advance(size_t n) {
    if (s_.size() - pos_ < n) Fail("truncated field");
    pos_ += n;
  }
  std::string_view s_;
  size_t pos_ = 0;
  const std::string& what_;
};

struct Piece {
  std::string text;
  float score = 0;
  int type = kNormal;
};

Piece ReadPiece(std::string_view bytes, const std::string& what) {
  ProtoReader r(bytes, what);
  Piece p;
  while (!r.done()) {
    int wire;
    switch (r.Key(&wire)) {
      case 1: p.text = std::string(r.BytesField(wire)); break;
      case 2:
        if (wire != 5) r.Fail("piece score must be a float");
        p.score = r.Fixed32Float();
        break;
      case 3: p.type = static_cast<int>(r.VarintField(wire)); break;
      default: r.Skip(wire);
    }
  }
  return p;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::FromSentencePiece(std::string_view proto, const std::string& what) {
  std::vector<Piece> pieces;
  int model_type = 1;  // proto default: UNIGRAM
  bool byte_fallback = false, suffix_whitespace = false;
  int64_t bos_id = 1;  // proto default
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
  bool charsmap = false;

  ProtoReader r(proto, what);
  while (!r.done()) {
    int wire;
    const uint64_t field = r.Key(&wire);
    if (field == 1) {
      pieces.push_back(ReadPiece(r.BytesField(wire), what));
    } else if (field == 2) {
      ProtoReader t(r.BytesField(wire), what);
      while (!t.done()) {
        int w;
        switch (t.Key(&w)) {
          case 3: model_type = static_cast<int>(t.VarintField(w)); break;
          case 24: suffix_whitespace = t.VarintField(w) != 0; break;
          case 35: byte_fallback = t.VarintField(w) != 0; break;
          case 41: bos_id = static_cast<int32_t>(t.VarintField(w)); break;
          default: t.Skip(w);
        }
      }
    } else if (field == 3) {
      ProtoReader n(r.BytesField(wire), what);
      while (!n.done()) {
        int w;
        switch (n.Key(&w)) {
          case 2: charsmap = !n.BytesField(w).empty(); break;
          case 3: add_dummy_prefix = n.VarintField(w) != 0; break;
          case 4: remove_extra_whitespaces = n.VarintField(w) != 0; break;
          case 5: escape_whitespaces = n.VarintField(w) != 0; break;
          default: n.Skip(w);
        }
      }
    } else {
      r.Skip(wire);
    }
  }
  if (model_type != 2) throw Error(what + ": SentencePiece model type " + std::to_string(model_type) + " is not BPE");
  if (pieces.empty()) throw Error(what + ": SentencePiece model has no pieces");
  if (pieces.size() >= (size_t{1} << kIdBits)) throw Error(what + ": too many pieces");
  if (charsmap || add_dummy_prefix || remove_extra_whitespaces || suffix_whitespace) {
    throw Error(what + ": unsupported SentencePiece normalization (needs no charsmap, "
                "add_dummy_prefix=false, remove_extra_whitespaces=false, "
                "treat_whitespace_as_suffix=false)");
  }

  ModelSpec spec;
  spec.byte_fallback = byte_fallback;
  spec.fuse_unk = true;
  spec.decode_byte_fallback = true;
  if (escape_whitespaces) {
    spec.normalize.push_back({NormalizeOp::kReplace, " ", "\xE2\x96\x81"});
    spec.decode_replace.emplace_back("\xE2\x96\x81", " ");
  }
  spec.vocab.reserve(pieces.size());
  for (size_t id = 0; id < pieces.size(); ++id) {
    Piece& p = pieces[id];
    if (p.text.empty() || !utf8::IsValid(p.text)) {
      throw Error(what + ": piece " + std::to_string(id) + " is empty or not UTF-8");
    }
    if (p.type == kUnknown && spec.unk_id < 0) spec.unk_id = static_cast<int>(id);
    if (p.type == kControl || p.type == kUnknown || p.type == kUserDefined) {
      spec.added.push_back({p.text, static_cast<int>(id), p.type != kUserDefined});
    }
    spec.vocab.push_back(p.text);
  }
  const int dup = spec.vocab_index.Build(spec.vocab);
  if (dup >= 0) throw Error(what + ": duplicate piece \"" + spec.vocab[dup] + "\"");
  spec.vocab_indexed = true;

  // Rank of each normal piece: position in descending score order, equal
  // scores sharing a rank (SentencePiece then prefers the leftmost pair).
  std::vector<int> order;
  for (size_t id = 0; id < pieces.size(); ++id) {
    if (pieces[id].type == kNormal) order.push_back(static_cast<int>(id));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return pieces[a].score > pieces[b].score; });
  std::vector<int> rank(pieces.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) {
    const bool tie = i > 0 && pieces[order[i]].score == pieces[order[i - 1]].score;
    rank[order[i]] = tie ? rank[order[i - 1]] : static_cast<int>(i);
  }
  // Every split of a normal piece into two normal pieces is a merge.
  for (int id : order) {
    const std::string& t = pieces[id].text;
    for (size_t k = utf8::SequenceLength(t, 0); k < t.size(); k += utf8::SequenceLength(t, k)) {
      const int left = spec.vocab_index.Find(std::string_view(t).substr(0, k), spec.vocab);
      if (left < 0 || pieces[left].type != kNormal) continue;
      const int right = spec.vocab_index.Find(std::string_view(t).substr(k), spec.vocab);
      if (right < 0 || pieces[right].type != kNormal) continue;
      spec.merges.push_back({left, right, id, rank[id]});
    }
  }
  if (bos_id >= 0 && static_cast<size_t>(bos_id) < pieces.size()) spec.bos_prefix.push_back(static_cast<int>(bos_id));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(spec), what));
}

}  // namespace gemma
