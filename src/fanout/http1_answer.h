// The answer side of an HTTP/1.1 request as the fan-out reads it: Beast's parser for one
// response that keeps only the status and Retry-After and discards the body. Shared by the
// cleartext HTTP/1.1 client (fanout/http1_client.h) and the HTTP/1.1-over-TLS fallback of the
// HTTPS client (fanout/h2_client.h).
//
// One parser per answer; feed it with put() until is_done() (Beast's contract: need_more asks for
// more bytes, any other error is a malformed answer). Interim 1xx answers end a parse like any
// other: the caller starts a new parser for the final one. Thread safety: none.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace flashwire::fanout {

class Http1AnswerParser final : public boost::beast::http::basic_parser<false> {
 public:
  // `limit`: the most bytes one answer may take, head (at most 16 KiB of it) and body.
  explicit Http1AnswerParser(std::size_t limit) {
    eager(true);
    header_limit(static_cast<std::uint32_t>(limit < 16 * 1024 ? limit : 16 * 1024));
    body_limit(limit);
  }
  int status = 0;
  std::string retry_after;

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::system::error_code;
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override { status = code; }
  void on_field_impl(boost::beast::http::field name, string_view, string_view value,
                     error_code&) override {
    if (name == boost::beast::http::field::retry_after) {
      retry_after.assign(value.data(), value.size());
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

}  // namespace flashwire::fanout
