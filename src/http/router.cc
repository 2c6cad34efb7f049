#include "http/router.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <boost/beast/core/string.hpp>

namespace flashwire::http {
namespace {

std::string_view path_of(const Request& request) {
  const std::string_view target = request.target();
  return target.substr(0, target.find('?'));
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return path.starts_with('/');
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

Router::Router(RouterOptions options) : options_(std::move(options)) {
  // handle() keeps one bit per header; a longer list is a programming error, caught at start-up.
  if (options_.response_headers.size() > 64)
    throw std::length_error("http::Router: more than 64 response headers");
}

Router& Router::exact(std::string path, Handler& handler, std::vector<Method> methods) {
  return add(Route{std::move(path), true, std::move(methods), &handler});
}

Router& Router::prefix(std::string path, Handler& handler, std::vector<Method> methods) {
  while (path.size() > 1 && path.ends_with('/')) path.pop_back();
  return add(Route{std::move(path), false, std::move(methods), &handler});
}

Router& Router::add(Route route) {
  routes_.push_back(std::move(route));
  return *this;
}

Handler* Router::route(const Request& request) const {
  const std::string_view path = path_of(request);
  const Route* best = nullptr;
  for (const Route& candidate : routes_) {
    const bool path_matches =
        candidate.exact ? path == candidate.path : prefix_matches(candidate.path, path);
    if (!path_matches) continue;
    if (!candidate.methods.empty() && std::find(candidate.methods.begin(), candidate.methods.end(),
                                                request.method()) == candidate.methods.end())
      continue;
    const bool better =
        best == nullptr || candidate.path.size() > best->path.size() ||
        (candidate.path.size() == best->path.size() && candidate.exact && !best->exact);
    if (better) best = &candidate;
  }
  return best == nullptr ? nullptr : best->handler;
}

Response Router::handle(const Request& request, const RequestContext& context) {
  Handler* handler = route(request);
  Response response = handler != nullptr
                          ? handler->handle(request, context)
                          : json_error(Status::not_found, "not_found", "nothing is served here");
  // One pass over the answer's fields (a dozen at most), names compared length first, instead
  // of a search of the field tree per configured header: this runs on every request.
  std::uint64_t present = 0;  // bit i: response_headers[i] was set by the handler
  for (const auto& field : response) {
    for (std::size_t i = 0; i < options_.response_headers.size(); ++i) {
      if (boost::beast::iequals(field.name_string(), options_.response_headers[i].first))
        present |= std::uint64_t{1} << i;
    }
  }
  for (std::size_t i = 0; i < options_.response_headers.size(); ++i) {
    if ((present & (std::uint64_t{1} << i)) == 0)
      response.insert(options_.response_headers[i].first, options_.response_headers[i].second);
  }
  return response;
}

bool Router::accepts_websocket(const Request& request) const {
  const Handler* handler = route(request);
  return handler != nullptr && handler->accepts_websocket(request);
}

void Router::start_websocket(boost::beast::tcp_stream stream, Request request) {
  if (Handler* handler = route(request)) {
    handler->start_websocket(std::move(stream), std::move(request));
    return;
  }
  boost::beast::error_code ignored;
  stream.socket().close(ignored);  // accepts_websocket() said false: not reached
}

bool Router::blocks(const Request& request) const {
  const Handler* handler = route(request);
  return handler != nullptr && handler->blocks(request);
}

bool Router::accepts_stream(const Request& request) const {
  const Handler* handler = route(request);
  return handler != nullptr && handler->accepts_stream(request);
}

void Router::start_stream(boost::beast::tcp_stream stream, Request request,
                          const RequestContext& context) {
  if (Handler* handler = route(request)) {
    handler->start_stream(std::move(stream), std::move(request), context);
    return;
  }
  boost::beast::error_code ignored;
  stream.socket().close(ignored);  // accepts_stream() said false: not reached
}

void Router::stop_streams() {
  std::vector<Handler*> stopped;
  for (const Route& route : routes_) {
    if (std::find(stopped.begin(), stopped.end(), route.handler) != stopped.end()) continue;
    stopped.push_back(route.handler);
    route.handler->stop_streams();
  }
}

}  // namespace flashwire::http
