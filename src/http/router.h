// Routes each request to the handler registered for its method and path. `flashwire serve`
// assembles its router in src/app/ (the site, the newsroom API, /metrics); modules provide
// handlers and never route to each other.
//
// A route is a path, how it matches, and optionally the methods it takes (none listed: any):
//   exact("/metrics", h, {GET})    the request's path (its target without the query) equals it
//   prefix("/api/newsroom", h)     the path is "/api/newsroom" or lies below it, segment-wise:
//                                  "/api/newsroom/alerts" does, "/api/newsroomx" does not;
//                                  prefix("/", h) matches every path
// Of the routes matching a request's path and method, the one with the longest path wins (exact
// before prefix when both are as long), whatever the order they were added in. A request that
// matches no route is answered 404 (JSON). A route that does not take a request's method does not
// match it: the request goes to the next best route (e.g. POST /metrics to the site's "/").
//
// The router is itself an http::Handler: WebSocket upgrades (accepts_websocket/start_websocket),
// streamed responses (accepts_stream/start_stream) and whether a request blocks (blocks) go to
// the handler the request routes to, and stop_streams() reaches every handler once. `response_headers` are set on every
// response handle() returns, unless the handler already set that field.
//
// Ownership: handlers are not owned and must outlive the router's use. Thread safety: add routes
// before the server runs; from then on the router only reads them, and may be called from the
// server's threads at once (each handler must allow what its server's threads do).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/server.h"

namespace flashwire::http {

using Method = boost::beast::http::verb;

struct RouterOptions {
  // Set on every response handle() returns (the 404 for unrouted requests too) unless the
  // handler set the field itself; e.g. a site's security headers. At most 64 (the constructor
  // throws std::length_error otherwise: a programming error, met at start-up).
  std::vector<std::pair<std::string, std::string>> response_headers;
};

class Router final : public Handler {
 public:
  explicit Router(RouterOptions options = {});

  // Adds a route (see above). `path` starts with '/'; a prefix's trailing '/' is ignored
  // ("/api/newsroom/" is "/api/newsroom"). Returns *this, to chain.
  Router& exact(std::string path, Handler& handler, std::vector<Method> methods = {});
  Router& prefix(std::string path, Handler& handler, std::vector<Method> methods = {});

  // The handler `request` routes to; nullptr when no route matches.
  Handler* route(const Request& request) const;

  Response handle(const Request& request, const RequestContext& context) override;
  bool accepts_websocket(const Request& request) const override;
  void start_websocket(boost::beast::tcp_stream stream, Request request) override;
  bool blocks(const Request& request) const override;
  bool accepts_stream(const Request& request) const override;
  void start_stream(boost::beast::tcp_stream stream, Request request,
                    const RequestContext& context) override;
  void stop_streams() override;

 private:
  struct Route {
    std::string path;
    bool exact = false;
    std::vector<Method> methods;  // empty: any
    Handler* handler = nullptr;
  };
  Router& add(Route route);

  RouterOptions options_;
  std::vector<Route> routes_;
};

}  // namespace flashwire::http
