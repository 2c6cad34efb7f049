#include "app/http_call.h"

#include <curl/curl.h>

#include <boost/beast/core/string.hpp>
#include <memory>

namespace flashwire::app {
namespace {

struct Collected {
  HttpAnswer* answer;
  std::size_t max_body;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* collected = static_cast<Collected*>(user);
  const std::size_t n = size * count;
  if (collected->answer->body.size() + n > collected->max_body) return 0;  // ends the transfer
  collected->answer->body.append(data, n);
  return n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* headers = static_cast<std::vector<std::string>*>(user);
  const std::size_t n = size * count;
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new status line: only the final answer's headers count
  } else if (!line.empty()) {
    headers->push_back(std::move(line));
  }
  return n;
}

}  // namespace

std::string HttpAnswer::header(std::string_view name) const {
  for (const auto& line : headers) {
    if (line.size() > name.size() && line[name.size()] == ':' &&
        boost::beast::iequals(std::string_view(line).substr(0, name.size()), name)) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      return value;
    }
  }
  return {};
}

tl::expected<HttpAnswer, Error> http_call(const HttpCall& call) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return tl::unexpected(Error{ErrorCode::kInternal, "cannot initialise libcurl"});
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr,
                                                                      &curl_slist_free_all);
  for (const auto& line : call.headers) {
    curl_slist* more = curl_slist_append(headers.get(), line.c_str());
    if (more == nullptr) return tl::unexpected(Error{ErrorCode::kInternal, "out of memory"});
    headers.release();
    headers.reset(more);
  }
  HttpAnswer answer;
  Collected collected{&answer, call.max_body};
  CURL* e = curl.get();
  curl_easy_setopt(e, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  if (call.method != "GET") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(call.body.size()));
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &collected);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &answer.headers);
  if (const CURLcode rc = curl_easy_perform(e); rc != CURLE_OK) {
    return tl::unexpected(Error{ErrorCode::kUnavailable, curl_easy_strerror(rc)});
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace flashwire::app
