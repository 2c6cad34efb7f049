// PushHostPolicy::check, differentially against libcurl's URL parser (curl_url): the fan-out
// hands an accepted endpoint to libcurl (HTTPS) or to the built-in client (cleartext), so an
// endpoint the policy accepts must mean the same scheme, host and port to curl as the origin
// the policy returned; otherwise the origin the policy checked is not the one we connect to.
//
//
// This is the check that found an accepted endpoint whose authority was more than host[:port]
// ("http://HOST:PORT:1/x", "HOST:PORT.x/y", "[::1]:PORT@/x"), which curl refuses; those forms
// are seeds of the corpus now that the policy refuses them.
#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "webpush/push_hosts.h"

using namespace flashwire::webpush;

namespace {

const PushHostPolicy& policy() {
  static const PushHostPolicy instance = [] {
    auto created = PushHostPolicy::create({"http://127.0.0.1:8090", "http://localhost:8091",
                                           "https://push.example.net", "http://[::1]:8092"});
    FUZZ_CHECK(created.has_value(), "the policy's origins are valid");
    return *created;
  }();
  return instance;
}

struct Curlu {
  CURLU* handle = curl_url();
  ~Curlu() { curl_url_cleanup(handle); }
  std::string get(CURLUPart part, unsigned flags = 0) const {
    char* text = nullptr;
    if (curl_url_get(handle, part, &text, flags) != CURLUE_OK) return {};
    std::string out(text);
    curl_free(text);
    return out;
  }
};

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string url(reinterpret_cast<const char*>(data), size);
  const auto origin = policy().check(url);
  if (!origin) return 0;

  // What the policy says: "scheme://host[:port]".
  const auto scheme_end = origin->find("://");
  FUZZ_CHECK(scheme_end != std::string::npos, "the policy returns an origin");
  const std::string scheme = origin->substr(0, scheme_end);
  std::string host = origin->substr(scheme_end + 3);
  std::string port = scheme == "https" ? "443" : "80";
  const auto port_colon = host.rfind(':');
  if (port_colon != std::string::npos && (host.back() != ']' || host[0] != '[')) {
    port = host.substr(port_colon + 1);
    host.resize(port_colon);
  }

  Curlu curl;
  const CURLUcode parsed = curl_url_set(curl.handle, CURLUPART_URL, url.c_str(), 0);
  if (parsed != CURLUE_OK || url.find('\0') != std::string::npos) {
    std::fprintf(stderr, "accepted by the policy (origin %s), refused by curl: %s\n",
                 origin->c_str(), curl_url_strerror(parsed));
  }
  FUZZ_CHECK(parsed == CURLUE_OK && url.find('\0') == std::string::npos,
             "an endpoint the policy accepts is a URL to curl too");
  const std::string curl_scheme = lower(curl.get(CURLUPART_SCHEME));
  const std::string curl_host = lower(curl.get(CURLUPART_HOST));
  const std::string curl_port = curl.get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (curl_scheme != scheme || curl_host != host || curl_port != port) {
    std::fprintf(stderr, "policy: %s %s %s; curl: %s %s %s\n", scheme.c_str(), host.c_str(),
                 port.c_str(), curl_scheme.c_str(), curl_host.c_str(), curl_port.c_str());
  }
  FUZZ_CHECK(curl_scheme == scheme, "curl sees the scheme the policy checked");
  FUZZ_CHECK(curl_host == host, "curl sees the host the policy checked");
  FUZZ_CHECK(curl_port == port, "curl sees the port the policy checked");
  return 0;
}
