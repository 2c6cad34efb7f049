// The push service on the network: one HTTP server that answers
//   GET  /                 WebSocket upgrade, subprotocol "push-notification" (user agents)
//   POST /wpush/<token>    RFC 8030 message delivery (application servers)
//   GET  /health           {"status":"ok"}
//   GET  /metrics          Prometheus text
// and a timer that purges expired messages. Everything runs on the given io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_set>

#include "common/clock.h"
#include "http/server.h"
#include "pushservice/service.h"

namespace flashwire::pushservice {

struct PushServerOptions {
  PushServiceOptions service;
  http::ServerOptions http;
  std::chrono::seconds purge_interval{60};
  // WebSocket sessions idle this long are pinged; one that does not answer within the same time
  // again is closed. Firefox's own keep-alive "{}" arrives every 30 minutes.
  std::chrono::seconds websocket_idle_timeout{300};
};

class PushServer final : public http::Handler {
 public:
  PushServer(boost::asio::io_context& io, std::unique_ptr<PushService> service,
             PushServerOptions options);
  ~PushServer() override;

  tl::expected<boost::asio::ip::tcp::endpoint, std::string> listen(
      const boost::asio::ip::tcp::endpoint& endpoint);
  // Stops accepting, closes every WebSocket session.
  void stop();

  PushService& service() { return *service_; }

  // http::Handler
  http::Response handle(const http::Request& request, const http::RequestContext& context) override;
  bool accepts_websocket(const http::Request& request) const override;
  void start_websocket(boost::beast::tcp_stream stream, http::Request request) override;

 private:
  void schedule_purge();

  boost::asio::io_context& io_;
  std::unique_ptr<PushService> service_;
  PushServerOptions options_;
  http::Server http_;
  boost::asio::steady_timer purge_timer_;
  // Open WebSocket sessions, so stop() can close them; shared with the sessions themselves.
  std::shared_ptr<std::unordered_set<class UaConnection*>> sessions_;
};

// Reads the endpoint key from `path`, or creates it (32 random bytes, mode 0600) if missing.
// Errors are one line naming the file.
tl::expected<EndpointKey, std::string> load_or_create_endpoint_key(
    const std::filesystem::path& path);

}  // namespace flashwire::pushservice
