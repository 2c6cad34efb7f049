// One HTTP request made by a command-line tool, through libcurl's easy interface:
// `flashwire alert send` talking to a running `serve`, `flashwire webpush send` posting one
// message to a push service. http and https only, no redirects followed, a 30-second limit, at
// most `max_body` bytes of the answer's body kept (a longer answer is an error).
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "common/error.h"

namespace flashwire::app {

struct HttpCall {
  std::string method = "POST";  // the body is sent unless this is GET
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;
  std::size_t max_body = 1 << 20;
};

struct HttpAnswer {
  long status = 0;
  std::string body;
  std::vector<std::string> headers;  // "Name: value", as received, status line excluded
  // The first header with this name (case-insensitive), trimmed; "" when absent.
  std::string header(std::string_view name) const;
};

// The answer (whatever its status), or kUnavailable with libcurl's reason why no answer came
// (kInternal when libcurl cannot be set up at all).
tl::expected<HttpAnswer, Error> http_call(const HttpCall& call);

}  // namespace flashwire::app
