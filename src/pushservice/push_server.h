// The push service on the network: one HTTP server that answers
//   GET  /                 WebSocket upgrade, subprotocol "push-notification" (user agents)
//   POST /wpush/<token>    RFC 8030 message delivery (application servers)
//   GET  /health           {"status":"ok"}
//   GET  /metrics          Prometheus text
// and a timer that purges expired messages. Everything runs on the given io_context, on one thread.
//
// The WebSocket side is pushservice/websocket.h (a lean RFC 6455 layer: an idle user agent holds
// a socket, one readiness wait and its session object, no buffers and no timer of its own).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "http/server.h"
#include "pushservice/service.h"
#include "pushservice/websocket.h"

namespace flashwire::pushservice {

struct PushServerOptions {
  PushServiceOptions service;
  http::ServerOptions http;
  std::chrono::seconds purge_interval{60};
  // WebSocket sessions idle this long are pinged; one that does not answer within the same time
  // again is closed. Firefox's own keep-alive "{}" arrives every 30 minutes. Checked by one sweep
  // over all connections about every eighth of this (1 to 30 s), so the times are that coarse.
  std::chrono::seconds websocket_idle_timeout{300};
};

class PushServer final : public http::Handler {
 public:
  PushServer(boost::asio::io_context& io, std::unique_ptr<PushService> service,
             PushServerOptions options);
  ~PushServer() override;

  // Binds and starts accepting; the bound endpoint, or the error of http::Server::listen
  // (kUnavailable naming the address and why it cannot be bound).
  tl::expected<boost::asio::ip::tcp::endpoint, Error> listen(
      const boost::asio::ip::tcp::endpoint& endpoint);
  // Stops accepting, stores what connected user agents have not acked, and sends every WebSocket
  // session a close frame (1001); upgrades arriving later are refused with 503.
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
  // The WebSocket connections: their shared read buffer, keep-alive sweep and shutdown. Shared
  // with the connections themselves, which may outlive this object by a close handshake.
  std::shared_ptr<ws::Hub> websockets_;
};

// Reads the endpoint key from `path`, or creates it (32 random bytes, mode 0600) if missing.
// Errors name the file: kInvalid for a file that is not a key, kUnavailable when it cannot be
// read or written (or no random bytes could be had).
tl::expected<EndpointKey, Error> load_or_create_endpoint_key(
    const std::filesystem::path& path);

}  // namespace flashwire::pushservice
