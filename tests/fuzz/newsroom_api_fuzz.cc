// The newsroom's JSON request parsers (newsroom/newsroom_api.h), through NewsroomApi::handle
// with a valid editor token and a fresh SQLite store per input (so every input reproduces on
// its own). The first input byte picks the request; the rest is its JSON body:
//   0 POST /articles   1 PUT /articles/1   2 POST /alerts   3 POST /alerts/1/send
//   4 POST /live/live-event/updates   5 POST /articles/1/publish   6 POST /alerts/1/cancel
//   7 GET /api/newsroom/<first line of the rest>
// Properties: every answer is one of the documented statuses (never 500: the store works);
// every body is a JSON object, errors with "error" and "message"; a body that is not a JSON
// object is refused with 400 invalid_json.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "fuzz_check.h"
#include "news/alert_queue.h"
#include "news/content_events.h"
#include "newsroom/api_tokens.h"
#include "newsroom/newsroom_api.h"
#include "store/sqlite/sqlite_site_store.h"

using namespace flashwire;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::string_view kSecret = "fw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr std::int64_t kNow = 1796520000;

std::unique_ptr<store::SiteStore> fresh_store() {
  auto opened = store::open_sqlite_site_store(":memory:");
  FUZZ_CHECK(opened.has_value(), "an in-memory store opens");
  auto& site = **opened;
  store::ApiToken token;
  token.name = "desk";
  token.secret_hash = newsroom::hash_token_secret(kSecret);
  token.scopes = {"articles:write", "alerts:send", "tokens:admin"};
  token.created_at = kNow;
  FUZZ_CHECK(site.create_token(token).has_value(), "the token is stored");
  news::Article live;
  live.slug = "live-event";
  live.headline = "Live: the event";
  live.category = news::Category::kLive;
  live.body_markdown = "Updates follow.";
  live.published = true;
  live.published_at = kNow - 60;
  live.updated_at = kNow - 60;
  FUZZ_CHECK(site.create_article(live).has_value(), "the live article is stored");
  return std::move(*opened);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 70 * 1024) return 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  static constexpr struct {
    bhttp::verb method;
    std::string_view target;
  } kRoutes[] = {
      {bhttp::verb::post, "/api/newsroom/articles"},
      {bhttp::verb::put, "/api/newsroom/articles/1"},
      {bhttp::verb::post, "/api/newsroom/alerts"},
      {bhttp::verb::post, "/api/newsroom/alerts/1/send"},
      {bhttp::verb::post, "/api/newsroom/live/live-event/updates"},
      {bhttp::verb::post, "/api/newsroom/articles/1/publish"},
      {bhttp::verb::post, "/api/newsroom/alerts/1/cancel"},
      {bhttp::verb::get, ""},
  };
  const auto& route = kRoutes[data[0] % 8];
  http::Request request;
  request.method(route.method);
  if (route.target.empty()) {
    const auto line_end = body.find('\n');
    request.target("/api/newsroom/" + std::string(body.substr(0, line_end)));
    body = {};
  } else {
    request.target(std::string(route.target));
  }
  request.set(bhttp::field::authorization, "Bearer " + std::string(kSecret));
  request.set(bhttp::field::content_type, "application/json");
  request.body() = std::string(body);
  request.prepare_payload();

  auto store = fresh_store();
  ManualClock clock(kNow);
  news::PendingAlertQueue queue;
  news::IgnoredContentEvents events;
  newsroom::NewsroomApi api(*store, clock, queue, events, {.origin = "https://news.example"});
  const http::Response response = api.handle(request, {.remote_address = "127.0.0.1"});
  const unsigned status = response.result_int();
  if (status == 500) std::fprintf(stderr, "500: %s\n", response.body().c_str());
  // 422 and 429 are the alert guardrails' refusals (url_not_found, empty_audience; rate_capped).
  FUZZ_CHECK(status == 200 || status == 201 || status == 202 || status == 400 || status == 404 ||
                 status == 405 || status == 409 || status == 413 || status == 415 ||
                 status == 422 || status == 429,
             "a documented status (no storage failure, no 5xx)");
  boost::system::error_code ec;
  const auto answer = boost::json::parse(response.body(), ec);
  FUZZ_CHECK(!ec && answer.is_object(), "every answer is a JSON object");
  if (status >= 400) {
    FUZZ_CHECK(answer.as_object().contains("error") && answer.as_object().contains("message"),
               "an error names itself and says why");
  }
  if (route.method != bhttp::verb::get && !body.empty() && status != 413) {
    const auto sent = boost::json::parse(body, ec);
    if (ec || !sent.is_object())
      FUZZ_CHECK(status == 400 && answer.at("error") == "invalid_json",
                 "a body that is not a JSON object is refused as invalid_json");
  }
  return 0;
}
