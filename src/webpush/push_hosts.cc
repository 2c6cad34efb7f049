#include "webpush/push_hosts.h"

#include <algorithm>
#include <boost/url/parse.hpp>

#include "webpush/vapid.h"

namespace flashwire::webpush {
namespace {

// `host` is `suffix` under one or more DNS labels of letters, digits and '-' ("a.b.suffix"):
// anything else there ("+x", "%41", "a..b") is no host name, and libcurl would refuse it.
bool ends_with_label(std::string_view host, std::string_view suffix) {
  if (host.size() <= suffix.size() + 1 || !host.ends_with(suffix) ||
      host[host.size() - suffix.size() - 1] != '.') {
    return false;
  }
  const std::string_view labels = host.substr(0, host.size() - suffix.size() - 1);
  for (std::size_t start = 0; start <= labels.size();) {
    const std::size_t end = std::min(labels.find('.', start), labels.size());
    if (end == start) return false;  // empty label
    for (std::size_t i = start; i < end; ++i) {
      const char c = labels[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    start = end + 1;
  }
  return true;
}

bool is_builtin_push_host(std::string_view host) {
  return host == "fcm.googleapis.com" || host == "updates.push.services.mozilla.com" ||
         host == "web.push.apple.com" || ends_with_label(host, "push.apple.com") ||
         ends_with_label(host, "notify.windows.com");
}

}  // namespace

Result<PushHostPolicy> PushHostPolicy::create(const std::vector<std::string>& extra_origins,
                                              bool allow_builtin) {
  PushHostPolicy policy;
  policy.allow_builtin_ = allow_builtin;
  for (const auto& origin : extra_origins) {
    if (auto ok = validate_vapid_audience(origin); !ok) {
      return make_error(
          ErrorCode::kInvalid,
          "push host '" + origin + "' is not an origin like https://push.example.net");
    }
    policy.extra_origins_.push_back(origin);
  }
  return policy;
}

Result<std::string> PushHostPolicy::check(std::string_view endpoint_url) const {
  if (endpoint_url.size() > 2048)
    return make_error(ErrorCode::kInvalid, "endpoint is longer than 2048 characters");
  auto origin = audience_for_endpoint(endpoint_url);
  if (!origin) return tl::unexpected(origin.error());
  auto parsed = boost::urls::parse_absolute_uri(endpoint_url);
  if (parsed->has_fragment())
    return make_error(ErrorCode::kInvalid, "endpoint must not have a fragment");
  // A push resource is a path on the push service (RFC 8030 §5).
  if (!parsed->encoded_path().starts_with('/'))
    return make_error(ErrorCode::kInvalid, "endpoint path must start with /");
  if (std::find(extra_origins_.begin(), extra_origins_.end(), *origin) != extra_origins_.end())
    return *origin;
  if (allow_builtin_ && origin->starts_with("https://") && !parsed->has_port() &&
      is_builtin_push_host(origin->substr(8))) {
    return *origin;
  }
  return make_error(ErrorCode::kInvalid, "endpoint is not on an allowed push service");
}

}  // namespace flashwire::webpush
