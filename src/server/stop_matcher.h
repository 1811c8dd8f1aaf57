// Stop sequences on streamed text: text that could still be the start of a
// stop sequence is held back until the next piece decides it, so a client
// never sees part of a stop sequence.
#pragma once
#include <string>
#include <vector>

namespace gemma {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds generated text; returns the text that is now safe to emit. After a
  // stop sequence is found, stopped() is true and the text before it is the
  // last thing returned.
  std::string Push(const std::string& text);
  // Releases the held-back text at the end of generation.
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace gemma
