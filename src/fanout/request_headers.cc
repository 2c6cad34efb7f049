#include "fanout/request_headers.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include "fanout/pipeline.h"

namespace flashwire::fanout {

const RequestHeaders* RequestHeaderCache::get(const std::string& origin, std::int64_t now_unix) {
  Entry& entry = entries_[origin];
  if (entry.built && entry.built_at == now_unix) return &entry.headers;
  if (entry.authorization.empty() || now_unix >= entry.authorization_until) {
    auto authorization = vapid_.authorization(origin);
    if (!authorization) return nullptr;
    entry.authorization = *authorization;
    entry.authorization_until = now_unix + 300;
  }
  // Canonical names; HTTP/2 lower-cases them.
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(7);
  fields.emplace_back("TTL",
                      std::to_string(message_.zero_ttl ? 0 : message_.deadline_unix - now_unix));
  fields.emplace_back("Content-Encoding", "aes128gcm");
  fields.emplace_back("Content-Type", "application/octet-stream");
  fields.emplace_back("Authorization", entry.authorization);
  if (!message_.urgency.empty()) fields.emplace_back("Urgency", message_.urgency);
  if (!message_.topic.empty()) {
    // Apple refuses some topic lengths: those get a stand-in there (fanout/pipeline.h).
    std::string topic = topic_for_origin(message_.topic, origin);
    if (!topic.empty()) fields.emplace_back("Topic", std::move(topic));
  }
  fields.emplace_back("User-Agent", "flashwire");

  RequestHeaders& h = entry.headers;
  h.http1 = "Host: " + origin.substr(origin.find("://") + 3) + "\r\n";
  auto h2 = std::make_shared<H2Client::HeaderList>();
  curl_slist* list = nullptr;
  for (const auto& [name, value] : fields) {
    h.http1.append(name).append(": ").append(value).append("\r\n");
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    h2->emplace_back(std::move(lower), value);
    list = curl_slist_append(list, (name + ": " + value).c_str());
  }
  list = curl_slist_append(list, "Expect:");
  h.h2 = std::move(h2);
  h.curl = std::shared_ptr<curl_slist>(list, curl_slist_free_all);
  entry.built = true;
  entry.built_at = now_unix;
  return &h;
}

}  // namespace flashwire::fanout
