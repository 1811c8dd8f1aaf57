// A small pull parser for JSON text held in memory. tokenizer.json is 33 MB,
// nearly all of it one vocab object and one merges array; reading those
// straight into our tables is several times faster than building a DOM first.
// Small sections (normalizer, decoder, ...) are handed to nlohmann as spans.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gemma {

class JsonReader {
 public:
  // `what` names the document in error messages (a path or "tokenizer.json").
  JsonReader(std::string_view text, std::string what);

  // Object iteration: BeginObject(); while (NextKey(&key)) { read value }.
  // NextKey consumes the separating comma and the closing brace.
  void BeginObject();
  bool NextKey(std::string* key);
  // Array iteration: BeginArray(); while (NextElement()) { read value }.
  void BeginArray();
  bool NextElement();

  // Readers for a value of the stated type; anything else throws Error.
  void ReadString(std::string* out);
  int64_t ReadInt();
  bool ReadBool();
  bool TryReadNull();
  // Skips any value (validating it) and returns its raw text.
  std::string_view SkipValue();
  // Next non-space character without consuming it ('\0' at the end).
  char Peek();
  // Throws unless only whitespace remains.
  void ExpectEnd();

  [[noreturn]] void Fail(const std::string& message) const;

 private:
  void SkipSpace();
  void Expect(char c);
  void SkipValueAt(int depth);
  void SkipNumber();

  std::string_view s_;
  size_t pos_ = 0;
  std::string what_;
  // Per-container "first element" flags, kept as a bit stack (depth <= 64).
  uint64_t first_bits_ = 0;
  int depth_ = 0;
};

}  // namespace gemma
