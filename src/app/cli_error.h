// How subcommands report failure: throw CommandError; main() prints "flashwire: <message>"
// as one line on stderr and exits with the code.
#pragma once

#include <stdexcept>
#include <string>

namespace flashwire::app {

class CommandError : public std::runtime_error {
 public:
  explicit CommandError(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace flashwire::app
