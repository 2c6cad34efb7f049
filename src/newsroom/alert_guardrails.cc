// The newsroom's alert guardrails: checks that stop the mistakes an editor makes on deadline (a
// dead link, the same alert twice, too many alerts in an hour, an alert to nobody). Each refusal
// is a 4xx JSON answer {"error": code, "message", "overridable"}; the ones an editor may
// override with {"force": true} are audited as "alert.override" when overridden. The duplicate
// and hourly-cap checks run inside the store transaction that writes the alert
// (NewsroomApi::guarded_write), so they hold when two editors or two nodes act at once.
#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <string>
#include <string_view>

#include "news/article.h"
#include "newsroom/newsroom_api.h"
#include "newsroom/newsroom_call.h"
#include "store/error_kind.h"

namespace flashwire::newsroom {
namespace {

namespace json = boost::json;
using http::Status;

constexpr std::int64_t kDuplicateWindowSeconds = 10 * 60;
constexpr std::int64_t kRateWindowSeconds = 60 * 60;
// How far back the duplicate and rate checks look, in alerts. A cap above this is not
// enforceable and is refused by the configuration.
constexpr std::size_t kAlertsScanned = 1000;

http::Response refusal(Status status, std::string_view code, std::string message, bool overridable,
                       json::object extra = {}) {
  extra["error"] = code;
  extra["message"] = std::move(message);
  extra["overridable"] = overridable;
  return http::json_response(status, json::serialize(extra));
}

// The alert's path on the site without query and fragment: "/articles/x" from
// "https://news.example/articles/x?a#b" (the URL is already known to be on the site).
std::string_view site_path(std::string_view url, std::string_view origin) {
  if (!origin.empty() && url.starts_with(origin)) url.remove_prefix(origin.size());
  if (url.empty()) return "/";
  return url.substr(0, url.find_first_of("?#"));
}

// When an alert goes out, or went out: its send_at when scheduled, else when it was composed
// (a confirmation follows a compose within minutes).
std::int64_t out_at(const store::Alert& a) { return a.scheduled ? a.send_at : a.created_at; }

// Sending, sent or failed (it reached readers, or tried to), or scheduled to.
bool goes_out(const store::Alert& a) {
  return a.status == store::AlertStatus::kSending || a.status == store::AlertStatus::kSent ||
         a.status == store::AlertStatus::kFailed ||
         (a.status == store::AlertStatus::kQueued && a.scheduled);
}

std::int64_t cap_for(const NewsroomApiOptions& options, store::Category category) {
  const std::size_t index = category == store::Category::kBreaking ? 0
                            : category == store::Category::kLive   ? 1
                                                                   : 2;
  const std::int64_t own = options.category_hourly_cap[index];
  return own >= 0 ? own : options.hourly_cap;
}

}  // namespace

std::optional<http::Response> NewsroomApi::check_link(const store::Alert& alert, Guard& guard) {
  const std::string_view path = site_path(alert.url, options_.origin);
  bool found = path == "/" || path == "/preferences" || path == "/search";
  for (const std::string_view prefix : {"/articles/", "/live/"}) {
    if (found || !path.starts_with(prefix)) continue;
    const std::string_view slug = path.substr(prefix.size());
    if (!news::is_slug(slug)) break;
    auto article = store_.find_article_by_slug(std::string(slug));
    if (!article)
      return http::error_answer(store::error_kind(article.error().code), article.error().message);
    const bool live = prefix == "/live/";
    found = article->has_value() && (*article)->published &&
            (!live || (*article)->category == store::Category::kLive);
  }
  if (found) return std::nullopt;
  if (guard.force) {
    guard.overridden.emplace_back("url_not_found");
    return std::nullopt;
  }
  return refusal(Status::unprocessable_entity, "url_not_found",
                 "url: " + std::string(path) +
                     " is not a published article, live event or page of this site; readers "
                     "would land on \"not found\"",
                 true);
}

std::optional<http::Response> NewsroomApi::check_duplicate(const store::Alert& alert,
                                                           std::int64_t at,
                                                           const std::vector<store::Alert>& newest,
                                                           Guard& guard) const {
  // A link names a story when it leads to an article or a live event; two different stories
  // may both send readers to the front page, so for other pages only the title counts. Links
  // compare whole (with origin dropped): a live event's alerts about different updates link
  // to different #update-N and are not duplicates of each other.
  const std::string_view path = site_path(alert.url, options_.origin);
  const bool story_link = path.starts_with("/articles/") || path.starts_with("/live/");
  const auto relative = [this](std::string_view url) {
    if (!options_.origin.empty() && url.starts_with(options_.origin))
      url.remove_prefix(options_.origin.size());
    return url;
  };
  for (const store::Alert& other : newest) {
    if (other.id == alert.id || !goes_out(other)) continue;
    if (std::abs(out_at(other) - at) >= kDuplicateWindowSeconds) continue;
    const bool same_title = other.title == alert.title;
    const bool same_link = story_link && relative(other.url) == relative(alert.url);
    if (!same_title && !same_link) continue;
    if (guard.force) {
      guard.overridden.push_back("duplicate_alert #" + std::to_string(other.id));
      return std::nullopt;
    }
    return refusal(Status::conflict, "duplicate_alert",
                   std::string("alert #") + std::to_string(other.id) + " with the same " +
                       (same_title ? "title" : "link") +
                       " went out (or is scheduled) within 10 minutes",
                   true, json::object{{"duplicate_of", other.id}});
  }
  return std::nullopt;
}

std::optional<http::Response> NewsroomApi::check_rate(const store::Alert& alert, std::int64_t at,
                                                      const std::vector<store::Alert>& newest,
                                                      Guard& guard) const {
  const std::int64_t cap = cap_for(options_, alert.category);
  if (cap <= 0) return std::nullopt;
  const auto in_hour = std::count_if(newest.begin(), newest.end(), [&](const store::Alert& a) {
    return a.id != alert.id && a.category == alert.category && goes_out(a) &&
           out_at(a) > at - kRateWindowSeconds && out_at(a) <= at;
  });
  if (in_hour < cap) return std::nullopt;
  if (guard.force) {
    guard.overridden.emplace_back("rate_capped");
    return std::nullopt;
  }
  const std::string category(store::category_name(alert.category));
  return refusal(Status::too_many_requests, "rate_capped",
                 std::to_string(in_hour) + " " + category +
                     " alerts went out in the last hour; the desk's cap is " + std::to_string(cap) +
                     " an hour",
                 true, json::object{{"cap", cap}, {"in_last_hour", in_hour}});
}

std::variant<http::Response, store::GuardedWriteResult> NewsroomApi::guarded_write(
    store::GuardedWrite write, const store::Alert& alert, std::int64_t at, bool rate,
    Guard& guard) {
  // The checks run inside the store's transaction (they only read `newest` and the options,
  // never the store); an override they note is audited by the caller once the step succeeded.
  std::optional<http::Response> refused;
  auto written = store_.guarded_alert_write(write, alert, kAlertsScanned,
                                            [&](const std::vector<store::Alert>& newest) {
                                              refused = check_duplicate(alert, at, newest, guard);
                                              if (!refused && rate)
                                                refused = check_rate(alert, at, newest, guard);
                                              return !refused.has_value();
                                            });
  if (!written)
    return http::error_answer(store::error_kind(written.error().code), written.error().message);
  if (written->refused && refused) return std::move(*refused);
  return *written;
}

std::optional<http::Response> NewsroomApi::check_audience(std::size_t audience) {
  if (audience > 0) return std::nullopt;
  return refusal(Status::unprocessable_entity, "empty_audience",
                 "nobody subscribes to this category yet: the alert would reach 0 readers", false);
}

void NewsroomApi::record_overrides(const Call& call, std::int64_t alert_id, const Guard& guard) {
  for (const std::string& code : guard.overridden)
    record(call, "alert.override", code + ", #" + std::to_string(alert_id));
}

}  // namespace flashwire::newsroom
