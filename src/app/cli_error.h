// How subcommands report failure: throw CommandError; main() prints "flashwire: <message>"
// as one line on stderr and exits with the code.
#pragma once

#include <stdexcept>
#include <string>
#include <tl/expected.hpp>

namespace flashwire::app {

class CommandError : public std::runtime_error {
 public:
  explicit CommandError(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The value held by `result`, or CommandError("<what>: <message>") for an error whose type has a
// `message` member (flashwire::Error, store::Error).
template <typename T, typename E>
T unwrap(tl::expected<T, E> result, const std::string& what) {
  if (!result) throw CommandError(what + ": " + result.error().message);
  return std::move(*result);
}

}  // namespace flashwire::app
