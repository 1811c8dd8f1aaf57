#include "tokenizer/json_reader.h"

#include <cstring>

#include "base/error.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

constexpr int kMaxDepth = 64;  // bounds recursion on hostile input

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

JsonReader::JsonReader(std::string_view text, std::string what)
    : s_(text), what_(std::move(what)) {}

void JsonReader::Fail(const std::string& message) const {
  throw Error(what_ + ": invalid JSON at byte " + std::to_string(pos_) + ": " + message);
}

void JsonReader::SkipSpace() {
  while (pos_ < s_.size()) {
    const char c = s_[pos_];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
    ++pos_;
  }
}

char JsonReader::Peek() {
  SkipSpace();
  return pos_ < s_.size() ? s_[pos_] : '\0';
}

void JsonReader::Expect(char c) {
  SkipSpace();
  if (pos_ >= s_.size() || s_[pos_] != c) Fail(std::string("expected '") + c + "'");
  ++pos_;
}

void JsonReader::ExpectEnd() {
  SkipSpace();
  if (pos_ != s_.size()) Fail("trailing data after the top-level value");
}

void JsonReader::BeginObject() {
  Expect('{');
  if (depth_ >= kMaxDepth) Fail("nested too deeply");
  first_bits_ |= uint64_t{1} << depth_++;
}

void JsonReader::BeginArray() {
  Expect('[');
  if (depth_ >= kMaxDepth) Fail("nested too deeply");
  first_bits_ |= uint64_t{1} << depth_++;
}

bool JsonReader::NextKey(std::string* key) {
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  const char c = Peek();
  if (c == '}') {
    ++pos_;
    --depth_;
    return false;
  }
  if (first_bits_ & bit) {
    first_bits_ &= ~bit;
  } else {
    Expect(',');
  }
  ReadString(key);
  Expect(':');
  return true;
}

bool JsonReader::NextElement() {
  const uint64_t bit = uint64_t{1} << (depth_ - 1);
  const char c = Peek();
  if (c == ']') {
    ++pos_;
    --depth_;
    return false;
  }
  if (first_bits_ & bit) {
    first_bits_ &= ~bit;
  } else {
    Expect(',');
  }
  return true;
}

void JsonReader::ReadString(std::string* out) {
  Expect('"');
  out->clear();
  while (true) {
    // Copy the plain run up to the next quote, escape or control character.
    size_t end = pos_;
    while (end < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[end]);
      if (c == '"' || c == '\\' || c < 0x20) break;
      ++end;
    }
    const std::string_view run = s_.substr(pos_, end - pos_);
    const size_t bad = utf8::FindInvalid(run);
    if (bad != std::string_view::npos) {
      pos_ += bad;
      Fail("invalid UTF-8 in string");
    }
    out->append(run);
    pos_ = end;
    if (pos_ >= s_.size()) Fail("unterminated string");
    const char c = s_[pos_];
    if (c == '"') {
      ++pos_;
      return;
    }
    if (c != '\\') Fail("control character in string");
    if (pos_ + 1 >= s_.size()) Fail("unterminated string");
    const char e = s_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        auto read4 = [&]() -> uint32_t {
          if (pos_ + 4 > s_.size()) Fail("short \\u escape");
          uint32_t v = 0;
          for (int k = 0; k < 4; ++k) {
            const int h = HexValue(s_[pos_ + k]);
            if (h < 0) Fail("bad hex digit in \\u escape");
            v = (v << 4) | static_cast<uint32_t>(h);
          }
          pos_ += 4;
          return v;
        };
        uint32_t cp = read4();
        if (cp >= 0xDC00 && cp <= 0xDFFF) Fail("lone low surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
            Fail("lone high surrogate");
          }
          pos_ += 2;
          const uint32_t lo = read4();
          if (lo < 0xDC00 || lo > 0xDFFF) Fail("bad surrogate pair");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        utf8::Append(cp, out);
        break;
      }
      default:
        pos_ -= 1;
        Fail("bad escape");
    }
  }
}

int64_t JsonReader::ReadInt() {
  SkipSpace();
  const size_t start = pos_;
  bool neg = false;
  if (pos_ < s_.size() && s_[pos_] == '-') {
    neg = true;
    ++pos_;
  }
  int64_t v = 0;
  size_t digits = 0;
  while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
    if (digits >= 15) Fail("integer too large");
    v = v * 10 + (s_[pos_] - '0');
    ++pos_;
    ++digits;
  }
  if (digits == 0) {
    pos_ = start;
    Fail("expected an integer");
  }
  if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
    Fail("expected an integer, got a fraction");
  }
  return neg ? -v : v;
}

bool JsonReader::ReadBool() {
  SkipSpace();
  if (s_.substr(pos_, 4) == "true") {
    pos_ += 4;
    return true;
  }
  if (s_.substr(pos_, 5) == "false") {
    pos_ += 5;
    return false;
  }
  Fail("expected true or false");
}

bool JsonReader::TryReadNull() {
  SkipSpace();
  if (s_.substr(pos_, 4) == "null") {
    pos_ += 4;
    return true;
  }
  return false;
}

void JsonReader::SkipNumber() {
  const size_t start = pos_;
  if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
  auto digits = [&]() {
    const size_t d = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ - d;
  };
  if (digits() == 0) {
    pos_ = start;
    Fail("unexpected character");
  }
  if (pos_ < s_.size() && s_[pos_] == '.') {
    ++pos_;
    if (digits() == 0) Fail("bad number");
  }
  if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
    ++pos_;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
    if (digits() == 0) Fail("bad number");
  }
}

void JsonReader::SkipValueAt(int depth) {
  if (depth > kMaxDepth) Fail("nested too deeply");
  const char c = Peek();
  if (c == '{') {
    ++pos_;
    if (Peek() == '}') {
      ++pos_;
      return;
    }
    std::string key;
    do {
      ReadString(&key);
      Expect(':');
      SkipValueAt(depth + 1);
    } while (Peek() == ',' && ++pos_);
    Expect('}');
  } else if (c == '[') {
    ++pos_;
    if (Peek() == ']') {
      ++pos_;
      return;
    }
    do {
      SkipValueAt(depth + 1);
    } while (Peek() == ',' && ++pos_);
    Expect(']');
  } else if (c == '"') {
    std::string tmp;
    ReadString(&tmp);
  } else if (c == 't' || c == 'f') {
    ReadBool();
  } else if (c == 'n') {
    if (!TryReadNull()) Fail("unexpected character");
  } else {
    SkipNumber();
  }
}

std::string_view JsonReader::SkipValue() {
  SkipSpace();
  const size_t start = pos_;
  SkipValueAt(depth_);
  return s_.substr(start, pos_ - start);
}

}  // namespace gemma
