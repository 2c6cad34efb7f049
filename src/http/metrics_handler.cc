#include "http/metrics_handler.h"

namespace flashwire::http {

MetricsHandler::MetricsHandler(std::function<std::string()> render) : render_(std::move(render)) {}

Response MetricsHandler::handle(const Request& request, const RequestContext& context) {
  if (!is_loopback_address(context.remote_address))
    return json_error(Status::not_found, "not_found", "nothing is served here");
  if (request.method() != boost::beast::http::verb::get) {
    Response response =
        json_error(Status::method_not_allowed, "method_not_allowed", "metrics are read with GET");
    response.set(boost::beast::http::field::allow, "GET");
    return response;
  }
  Response response(Status::ok, request.version());
  response.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4");
  response.set(boost::beast::http::field::cache_control, "no-store");
  response.body() = render_();
  response.prepare_payload();
  return response;
}

bool is_loopback_address(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

}  // namespace flashwire::http
