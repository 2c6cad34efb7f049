#include "news/push_service.h"

namespace flashwire::news {
namespace {

bool ends_with_label(std::string_view host, std::string_view domain) {
  return host == domain || (host.size() > domain.size() && host.ends_with(domain) &&
                            host[host.size() - domain.size() - 1] == '.');
}

}  // namespace

PushServiceKind classify_push_service(std::string_view endpoint, std::string_view own_origin) {
  // The origin is what precedes the first '/' after "scheme://"; the own origin must match it
  // whole, so "https://push.example.evil" is not "https://push.example".
  const std::size_t scheme = endpoint.find("://");
  if (scheme == std::string_view::npos) return PushServiceKind::kOther;
  const std::size_t path = endpoint.find('/', scheme + 3);
  const std::string_view origin = endpoint.substr(0, path);
  if (!own_origin.empty() && origin == own_origin) return PushServiceKind::kOwn;
  if (endpoint.substr(0, scheme) != "https") return PushServiceKind::kOther;
  std::string_view host = origin.substr(scheme + 3);
  if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos)
    host = host.substr(0, colon);
  if (host == "fcm.googleapis.com") return PushServiceKind::kFcm;
  if (ends_with_label(host, "push.services.mozilla.com")) return PushServiceKind::kMozilla;
  if (ends_with_label(host, "push.apple.com")) return PushServiceKind::kApple;
  return PushServiceKind::kOther;
}

std::string_view push_service_name(PushServiceKind kind) {
  switch (kind) {
    case PushServiceKind::kFcm:
      return "fcm";
    case PushServiceKind::kMozilla:
      return "mozilla";
    case PushServiceKind::kApple:
      return "apple";
    case PushServiceKind::kOwn:
      return "own";
    case PushServiceKind::kOther:
      break;
  }
  return "other";
}

}  // namespace flashwire::news
