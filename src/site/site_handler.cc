#include "site/site_handler.h"

#include <zlib.h>

#include <array>
#include <cstdio>

#include "site/assets.h"
#include "site/markdown.h"

namespace flashwire::site {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action "
    "'self'";
constexpr std::string_view kPageCacheControl = "no-cache";  // always revalidate: news changes
constexpr std::string_view kHtml = "text/html; charset=utf-8";

// FNV-1a, 64 bit: a stable content hash for ETags (not a security boundary).
std::string content_tag(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char text[19];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(hash));
  return text;
}

bool accepts_gzip(std::string_view accept_encoding) {
  // Good enough for real clients: "gzip" listed and not explicitly refused with q=0.
  const std::size_t at = accept_encoding.find("gzip");
  if (at == std::string_view::npos) return false;
  const std::string_view rest = accept_encoding.substr(at + 4, 8);
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

}  // namespace

std::string gzip_compress(std::string_view data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return {};
  std::string out(deflateBound(&stream, static_cast<uLong>(data.size())) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return rc == Z_STREAM_END ? out : std::string();
}

SiteHandler::SiteHandler(store::SiteStore& store, SiteApi& api, SiteInfo info,
                         WellKnownFiles well_known)
    : store_(store), api_(api), info_(std::move(info)), well_known_(std::move(well_known)) {}

void SiteHandler::start_websocket(boost::beast::tcp_stream stream, http::Request) {
  boost::beast::error_code ignored;
  stream.socket().close(ignored);  // accepts_websocket() is false: never reached
}

std::optional<SiteHandler::Cached> SiteHandler::render(const std::string& path) {
  Cached out;
  out.content_type = kHtml;
  out.cache_control = kPageCacheControl;
  if (path == "/") {
    std::vector<CategorySection> sections;
    for (const auto category :
         {store::Category::kBreaking, store::Category::kLive, store::Category::kExclusive}) {
      auto latest = store_.latest_articles(static_cast<store::CategorySet>(category), 6);
      if (!latest) return std::nullopt;
      sections.push_back({category, std::move(*latest)});
    }
    out.body = render_home(info_, sections);
  } else if (path.starts_with("/articles/")) {
    auto article = store_.find_article_by_slug(path.substr(10));
    if (!article) return std::nullopt;
    if (!article->has_value() || !(*article)->published) {
      out.status = 404;
      out.body = render_not_found(info_);
    } else {
      out.body = render_article(info_, **article, render_markdown((*article)->body_markdown));
    }
  } else if (path.starts_with("/live/")) {
    // A live event is a live-category article; its body is the first update. Further updates
    // stream from /live/<slug>/events (answered 204 until live updates are stored).
    auto article = store_.find_article_by_slug(path.substr(6));
    if (!article) return std::nullopt;
    if (!article->has_value() || !(*article)->published ||
        (*article)->category != store::Category::kLive) {
      out.status = 404;
      out.body = render_not_found(info_);
    } else {
      const store::Article& event = **article;
      const LiveUpdate first{1, event.published_at, render_markdown(event.body_markdown)};
      out.body =
          render_live(info_, event.slug, event.headline, std::span<const LiveUpdate>(&first, 1));
    }
  } else if (path == "/preferences") {
    out.body = render_preferences(info_);
  } else if (path == "/feed.atom") {
    auto latest = store_.latest_articles(0, 30);
    if (!latest) return std::nullopt;
    const std::int64_t updated = latest->empty() ? 0 : latest->front().updated_at;
    out.content_type = "application/atom+xml; charset=utf-8";
    out.body = render_atom_feed(info_, *latest, updated);
  } else {
    out.status = 404;
    out.body = render_not_found(info_);
  }
  return out;
}

std::optional<const SiteHandler::Cached*> SiteHandler::page(const std::string& path) {
  if (auto hit = cache_.find(path); hit != cache_.end()) return &hit->second;
  auto rendered = render(path);
  if (!rendered) return std::nullopt;
  rendered->etag = content_tag(rendered->body);
  std::string gz = gzip_compress(rendered->body);
  if (!gz.empty() && gz.size() < rendered->body.size()) rendered->gzip_body = std::move(gz);
  // Unknown paths are not cached: anyone could fill the cache with them.
  if (rendered->status == 404) {
    auto [it, inserted] = cache_.insert_or_assign("\x01not-found", std::move(*rendered));
    return &it->second;
  }
  if (cache_.size() >= kMaxCachedPages) cache_.clear();
  auto [it, inserted] = cache_.emplace(path, std::move(*rendered));
  return &it->second;
}

http::Response SiteHandler::respond(const http::Request& request, const Cached& cached) const {
  http::Response response(static_cast<bhttp::status>(cached.status), request.version());
  response.set(bhttp::field::content_type, cached.content_type);
  response.set(bhttp::field::cache_control, cached.cache_control);
  response.set(bhttp::field::etag, cached.etag);
  response.set(bhttp::field::vary, "Accept-Encoding");
  if (cached.status == 200 && request[bhttp::field::if_none_match] == cached.etag) {
    response.result(bhttp::status::not_modified);
    return response;
  }
  const bool gzip =
      !cached.gzip_body.empty() && accepts_gzip(request[bhttp::field::accept_encoding]);
  if (gzip) response.set(bhttp::field::content_encoding, "gzip");
  if (request.method() == bhttp::verb::head) {
    response.content_length(gzip ? cached.gzip_body.size() : cached.body.size());
    return response;
  }
  response.body() = gzip ? cached.gzip_body : cached.body;
  return response;
}

http::Response SiteHandler::handle(const http::Request& request,
                                   const http::RequestContext& context) {
  const std::string_view target = request.target();
  const std::string path(target.substr(0, target.find('?')));

  http::Response response;
  if (path.starts_with("/api/")) {
    std::optional<http::Response> answer;
    if (path.starts_with("/api/newsroom/") || path == "/api/newsroom") {
      if (newsroom_ != nullptr) answer = newsroom_->handle(request, context.remote_address);
    } else {
      answer = api_.handle(request, context.remote_address);
    }
    response = answer ? std::move(*answer)
                      : http::json_error(http::Status::not_found, "not_found", "no such API");
  } else if (path.starts_with("/live/") && path.ends_with("/events")) {
    // 204 tells an EventSource not to reconnect: no live updates are stored yet.
    response = http::Response(http::Status::no_content, request.version());
    response.set(bhttp::field::cache_control, "no-store");
  } else if (path == "/health") {
    response = http::json_response(http::Status::ok, R"({"status":"ok"})");
  } else if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
    response = http::json_error(http::Status::method_not_allowed, "method_not_allowed",
                                "pages are read with GET");
    response.set(bhttp::field::allow, "GET, HEAD");
  } else if (const Asset* asset = find_asset(path)) {
    Cached cached;
    cached.content_type = asset->content_type;
    // The service worker must be re-checked by browsers; versioned assets never change.
    cached.cache_control = path == "/sw.js" || target.find("?v=") == std::string_view::npos
                               ? "no-cache"
                               : "public, max-age=31536000, immutable";
    cached.body = asset->body;
    cached.etag = content_tag(asset->body);
    response = respond(request, cached);
  } else if (path == "/.well-known/apple-app-site-association" ||
             path == "/.well-known/assetlinks.json") {
    const std::string& body = path.ends_with("assetlinks.json")
                                  ? well_known_.assetlinks
                                  : well_known_.apple_app_site_association;
    if (body.empty()) {
      response = http::json_error(http::Status::not_found, "not_found", "no app is configured");
    } else {
      response = http::json_response(http::Status::ok, body);
      response.set(bhttp::field::cache_control, "public, max-age=3600");
    }
  } else {
    auto cached = page(path);
    if (!cached) {
      response =
          http::json_error(http::Status::service_unavailable, "storage", "storage unavailable");
    } else {
      response = respond(request, **cached);
    }
  }
  response.set("Content-Security-Policy", kContentSecurityPolicy);
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "strict-origin-when-cross-origin");
  response.set("X-Frame-Options", "DENY");
  return response;
}

}  // namespace flashwire::site
