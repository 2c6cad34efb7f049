#include "pushservice/push_server.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <cstring>
#include <unordered_set>
#include <vector>

namespace flashwire::pushservice {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kSubprotocol = "push-notification";

bool offers_subprotocol(const http::Request& request) {
  const std::string_view offered = request[beast::http::field::sec_websocket_protocol];
  return offered.find(kSubprotocol) != std::string_view::npos;
}

}  // namespace

// One user agent's WebSocket. Reads frames into the protocol; writes go through a queue because
// Beast allows one write (or close) in flight at a time.
class UaConnection final : public UaSession, public std::enable_shared_from_this<UaConnection> {
 public:
  UaConnection(beast::tcp_stream stream, PushService& service, const Clock& clock,
               const ProtocolOptions& options)
      : ws_(std::move(stream)), service_(service), protocol_(*this, service, clock, options) {}

  asio::awaitable<void> run(http::Request request, std::chrono::seconds idle_timeout,
                            std::weak_ptr<std::unordered_set<UaConnection*>> registry) {
    auto self = shared_from_this();
    websocket::stream_base::timeout timeouts =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(service_.options().protocol.max_frame_bytes);
    const bool echo_protocol = offers_subprotocol(request);
    ws_.set_option(
        websocket::stream_base::decorator([echo_protocol](websocket::response_type& response) {
          response.set(beast::http::field::server, "flashwire");
          if (echo_protocol) response.set(beast::http::field::sec_websocket_protocol, kSubprotocol);
        }));
    auto [accept_ec] = co_await ws_.async_accept(request, kNoThrow);
    // The upgrade request lives in this coroutine's frame for the connection's whole life:
    // release its headers now (memory per idle connection is what the service scales by).
    request = http::Request();
    if (accept_ec) co_return;
    ws_.text(true);
    if (auto live = registry.lock()) live->insert(this);
    service_.connection_opened();

    while (!protocol_.closed()) {
      beast::flat_buffer
          buffer;  // per frame: freed between messages (Beast fills it while waiting)
      auto [ec, bytes] = co_await ws_.async_read(buffer, kNoThrow);
      if (ec) {
        if (ec == websocket::error::message_too_big)
          close(kClosePolicyViolation, "frame too large");
        break;
      }
      if (!ws_.got_text()) {
        close(kCloseProtocolError, "binary frames are not part of the protocol");
        break;
      }
      const auto data = buffer.cdata();
      protocol_.on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    protocol_.on_disconnect();
    service_.connection_closed();
    if (auto live = registry.lock()) live->erase(this);
    // A queued close is still being written by the writer; it holds its own reference.
  }

  void send_text(std::string frame) override {
    if (closing_) return;
    // A browser that does not read its socket must not make the service buffer without end:
    // past the limit the connection is closed; what it did not ack is stored for its return.
    outbox_bytes_ += frame.size();
    if (outbox_bytes_ > kMaxOutboxBytes) {
      outbox_.clear();
      outbox_bytes_ = 0;
      close(kClosePolicyViolation, "not reading fast enough");
      return;
    }
    outbox_.push_back(std::move(frame));
    start_writer();
  }

  void close(std::uint16_t code, std::string reason) override {
    if (closing_) return;
    closing_ = true;
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    start_writer();
  }

 private:
  void start_writer() {
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), write_loop(shared_from_this()), asio::detached);
  }

  // `self` keeps the connection alive until the queue is drained and the close is sent.
  asio::awaitable<void> write_loop([[maybe_unused]] std::shared_ptr<UaConnection> self) {
    // Take the whole queue at a time: an idle connection then holds no queue storage at all.
    bool failed = false;
    while (!outbox_.empty() && !failed) {
      std::vector<std::string> batch;
      batch.swap(outbox_);
      outbox_bytes_ = 0;
      for (const std::string& frame : batch) {
        auto [ec, n] = co_await ws_.async_write(asio::buffer(frame), kNoThrow);
        if (ec) {
          failed = true;
          break;
        }
      }
    }
    if (failed) outbox_.clear();
    if (closing_ && !closed_sent_) {
      closed_sent_ = true;
      co_await ws_.async_close(close_reason_, kNoThrow);  // best effort: the peer may be gone
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
    }
    writing_ = false;
  }

  websocket::stream<beast::tcp_stream> ws_;
  PushService& service_;
  UaProtocol protocol_;
  static constexpr std::size_t kMaxOutboxBytes = 4 * 1024 * 1024;
  std::vector<std::string> outbox_;  // frames waiting for the writer, oldest first
  std::size_t outbox_bytes_ = 0;
  websocket::close_reason close_reason_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_sent_ = false;
};

PushServer::PushServer(asio::io_context& io, std::unique_ptr<PushService> service,
                       PushServerOptions options)
    : io_(io),
      service_(std::move(service)),
      options_(std::move(options)),
      http_(io, *this, options_.http),
      purge_timer_(io),
      sessions_(std::make_shared<std::unordered_set<UaConnection*>>()) {}

PushServer::~PushServer() { stop(); }

tl::expected<asio::ip::tcp::endpoint, std::string> PushServer::listen(
    const asio::ip::tcp::endpoint& endpoint) {
  auto bound = http_.listen(endpoint);
  if (bound) schedule_purge();
  return bound;
}

void PushServer::stop() {
  http_.stop();
  purge_timer_.cancel();
  service_->persist_unacked();  // before the sessions go: nothing accepted is lost on a clean stop
  // Copy: closing may erase from the set.
  const std::vector<UaConnection*> open(sessions_->begin(), sessions_->end());
  for (UaConnection* connection : open) connection->close(1001, "server shutting down");
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
  auto connection = std::make_shared<UaConnection>(std::move(stream), *service_, service_->clock(),
                                                   service_->options().protocol);
  asio::co_spawn(io_,
                 connection->run(std::move(request), options_.websocket_idle_timeout, sessions_),
                 asio::detached);
}

tl::expected<EndpointKey, std::string> load_or_create_endpoint_key(
    const std::filesystem::path& path) {
  EndpointKey key{};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    const ssize_t n = ::read(fd, key.data(), key.size());
    char extra;
    const ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size()) || more != 0) {
      return tl::unexpected(path.string() + ": endpoint key must be exactly 32 bytes");
    }
    return key;
  }
  if (errno != ENOENT)
    return tl::unexpected(path.string() + ": cannot read endpoint key: " + std::strerror(errno));
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    return tl::unexpected(std::string("random generator failed"));
  // Write to a temporary name and rename, so a crash never leaves a short key behind.
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0)
    return tl::unexpected(tmp.string() + ": cannot create endpoint key: " + std::strerror(errno));
  const bool written =
      ::write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(out) == 0;
  ::close(out);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return tl::unexpected(path.string() + ": cannot write endpoint key: " + std::strerror(errno));
  }
  return key;
}

}  // namespace flashwire::pushservice
