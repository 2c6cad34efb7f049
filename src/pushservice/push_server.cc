#include "pushservice/push_server.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flashwire::pushservice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr std::string_view kSubprotocol = "push-notification";

}  // namespace

// One user agent's WebSocket: the transport (ws::Connection) and the protocol state machine in
// one object, the only allocation an idle user agent costs besides its socket's.
class UaConnection final : public ws::Connection, public UaSession {
 public:
  UaConnection(std::shared_ptr<ws::Hub> hub, asio::ip::tcp::socket socket, PushService& service)
      : ws::Connection(std::move(hub), std::move(socket)),
        service_(service),
        protocol_(*this, service, service.clock(), service.options().protocol) {}

  // UaSession
  void send_text(std::string frame) override { ws::Connection::send_text(frame); }
  void close(std::uint16_t code, std::string reason) override { send_close(code, reason); }

 private:
  // ws::Connection
  void on_open() override { service_.connection_opened(); }
  bool on_text(std::string_view text) override { return protocol_.on_text(text); }
  void on_closed() override {
    protocol_.on_disconnect();
    service_.connection_closed();
  }

  PushService& service_;
  UaProtocol protocol_;
};

PushServer::PushServer(asio::io_context& io, std::unique_ptr<PushService> service,
                       PushServerOptions options)
    : io_(io),
      service_(std::move(service)),
      options_(std::move(options)),
      http_(io, *this, options_.http),
      purge_timer_(io) {
  ws::HubOptions hub_options = ws::HubOptions::for_idle_timeout(options_.websocket_idle_timeout);
  hub_options.max_message_bytes = service_->options().protocol.max_frame_bytes;
  hub_options.subprotocol = kSubprotocol;
  hub_options.server_name = options_.http.server_name;
  websockets_ = ws::Hub::create(io_, std::move(hub_options));
}

PushServer::~PushServer() { stop(); }

tl::expected<asio::ip::tcp::endpoint, Error> PushServer::listen(
    const asio::ip::tcp::endpoint& endpoint) {
  auto bound = http_.listen(endpoint);
  if (!bound) return tl::unexpected(bound.error());
  schedule_purge();
  return *bound;
}

void PushServer::stop() {
  http_.stop();
  purge_timer_.cancel();
  service_->persist_unacked();  // before the sessions go: nothing accepted is lost on a clean stop
  websockets_->stop(ws::kCloseGoingAway, "server shutting down");
}

void PushServer::schedule_purge() {
  purge_timer_.expires_after(options_.purge_interval);
  purge_timer_.async_wait([this](const beast::error_code& ec) {
    if (ec) return;
    service_->purge_expired();
    schedule_purge();
  });
}

http::Response PushServer::handle(const http::Request& request, const http::RequestContext&) {
  const std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kPushPrefix = "/wpush/";
  if (path.starts_with(kPushPrefix)) {
    if (request.method() != beast::http::verb::post) {
      auto response = http::json_error(http::Status::method_not_allowed, "method_not_allowed",
                                       "send messages with POST");
      response.set(beast::http::field::allow, "POST");
      return response;
    }
    return service_->handle_push(request, path.substr(kPushPrefix.size()));
  }
  if (path == "/health" && request.method() == beast::http::verb::get) {
    return http::json_response(http::Status::ok, R"({"status":"ok"})");
  }
  if (path == "/metrics" && request.method() == beast::http::verb::get) {
    http::Response response(http::Status::ok, request.version());
    response.set(beast::http::field::content_type, "text/plain; version=0.0.4");
    response.body() = service_->metrics_text();
    return response;
  }
  return http::json_error(http::Status::not_found, "not_found", "no such resource");
}

bool PushServer::accepts_websocket(const http::Request& request) const {
  return request.target() == "/";
}

void PushServer::start_websocket(beast::tcp_stream stream, http::Request request) {
  auto connection = std::make_shared<UaConnection>(websockets_, stream.release_socket(), *service_);
  connection->accept(request);
  // `request` goes here: an idle connection keeps none of its headers.
}

tl::expected<EndpointKey, Error> load_or_create_endpoint_key(
    const std::filesystem::path& path) {
  EndpointKey key{};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    const ssize_t n = ::read(fd, key.data(), key.size());
    char extra;
    const ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size()) || more != 0) {
      return tl::unexpected(
          Error{ErrorCode::kInvalid, path.string() + ": endpoint key must be exactly 32 bytes"});
    }
    return key;
  }
  if (errno != ENOENT)
    return tl::unexpected(Error{ErrorCode::kUnavailable, path.string() +
                                                             ": cannot read endpoint key: " +
                                                             std::strerror(errno)});
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    return tl::unexpected(Error{ErrorCode::kUnavailable, "random generator failed"});
  // Write to a temporary name and rename, so a crash never leaves a short key behind.
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0)
    return tl::unexpected(Error{ErrorCode::kUnavailable, tmp.string() +
                                                             ": cannot create endpoint key: " +
                                                             std::strerror(errno)});
  const bool written =
      ::write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(out) == 0;
  ::close(out);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return tl::unexpected(Error{ErrorCode::kUnavailable, path.string() +
                                                             ": cannot write endpoint key: " +
                                                             std::strerror(errno)});
  }
  return key;
}

}  // namespace flashwire::pushservice
