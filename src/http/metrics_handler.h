// GET /metrics for operators: Prometheus text exposition (version 0.0.4) from a callback,
// answered to loopback clients only. Operators scrape it from the same host or through their own
// proxy; readers never see it: any other client gets 404, any other method 405.
//
// Ownership: `render` is called on the server's thread for every scrape and must be safe to call
// from it. Thread safety: like the server, one thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "http/server.h"

namespace flashwire::http {

class MetricsHandler final : public Handler {
 public:
  explicit MetricsHandler(std::function<std::string()> render);
  Response handle(const Request& request, const RequestContext& context) override;

 private:
  std::function<std::string()> render_;
};

// Whether `address` (as in RequestContext::remote_address) is a loopback address: 127.0.0.0/8,
// ::1, or 127.0.0.0/8 mapped into IPv6.
bool is_loopback_address(std::string_view address);

}  // namespace flashwire::http
