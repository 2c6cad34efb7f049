#include "fanout/h2_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>

#include "fanout/http1_answer.h"

namespace flashwire::fanout {

struct H2Client::Pending {
  std::uint64_t tag = 0;
  std::string path;
  std::shared_ptr<const HeaderList> headers;
  webpush::Bytes body;
  std::size_t body_sent = 0;
  TimePoint deadline{};
  int status = 0;  // final status, once its HEADERS arrived
  std::string retry_after;
  int resends = 0;
  // Completed (its answer is whole) while the stream is still open: kept until the stream closes,
  // since nghttp2 may still read its body.
  bool completed = false;
};

struct H2Client::Origin {
  std::string name;       // "https://host:port"
  std::string host;       // for SNI and the name check
  std::string authority;  // host[:port], for :authority
  bool host_is_ip = false;
  std::string port = "443";
  sockaddr_storage address{};
  socklen_t address_length = 0;
  bool resolved = false;
  std::deque<std::unique_ptr<Pending>> queue;
  std::vector<Connection*> connections;
  bool http1 = false;              // the service chose HTTP/1.1 (or nothing) by ALPN
  SSL_SESSION* session = nullptr;  // the last one the server gave, for resumption
  ~Origin() {
    if (session != nullptr) SSL_SESSION_free(session);
  }
};

struct H2Client::Connection {
  enum class State : std::uint8_t { kConnecting, kHandshake, kOpen };
  H2Client* client = nullptr;
  Origin* origin = nullptr;
  int fd = -1;
  SSL* ssl = nullptr;
  nghttp2_session* h2 = nullptr;
  State state = State::kConnecting;
  bool settings_received = false;
  bool goaway = false;
  bool closed = false;
  bool watching_write = false;
  TimePoint connect_deadline{};
  std::string out;  // bytes for SSL_write
  std::map<std::int32_t, std::unique_ptr<Pending>> streams;
  // HTTP/2 liveness: when the last bytes arrived, and the PING sent since, if any.
  TimePoint last_read{};
  TimePoint ping_sent{};
  bool ping_outstanding = false;
  // HTTP/1.1 over TLS: the one request on this connection, whether any byte of it was written,
  // and the answer read so far.
  bool http1 = false;
  std::unique_ptr<Pending> current;
  bool current_sent_any = false;
  std::string in;
  std::optional<Http1AnswerParser> parser;
  ~Connection() {
    if (h2 != nullptr) nghttp2_session_del(h2);
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  bool ready() const { return state == State::kOpen && settings_received && !goaway && !closed; }
};

namespace {

int ssl_connection_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool parse_origin(std::string_view origin, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "https://";
  if (!origin.starts_with(kScheme)) return false;
  std::string_view rest = origin.substr(kScheme.size());
  if (rest.starts_with('[')) {
    const auto end = rest.find(']');
    if (end == std::string_view::npos) return false;
    host = std::string(rest.substr(1, end - 1));
    rest.remove_prefix(end + 1);
    if (rest.starts_with(':')) port = std::string(rest.substr(1));
    return !host.empty();
  }
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos) {
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  } else {
    host = std::string(rest);
  }
  return !host.empty() && !port.empty();
}

std::string tls_error_text(SSL* ssl) {
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  const unsigned long code = ERR_peek_last_error();
  if (code != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    return std::string("TLS handshake failed: ") + text.data();
  }
  return "TLS handshake failed";
}

}  // namespace

// nghttp2's callbacks, with the connection as the session's user data.
namespace {

H2Client::Connection& conn_of(void* user) { return *static_cast<H2Client::Connection*>(user); }

int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  H2Client::Connection& c = conn_of(user);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    auto* pending = static_cast<H2Client::Pending*>(
        nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (pending != nullptr && pending->status != 0) {
      c.client->answer_complete(c, frame->hd.stream_id);
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
    c.settings_received = true;
  } else if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
    c.ping_outstanding = false;  // the service is there
  } else if (frame->hd.type == NGHTTP2_GOAWAY) {
    // Open no new stream here; nghttp2 closes the streams above last_stream_id with
    // REFUSED_STREAM, which sends them again elsewhere.
    c.goaway = true;
  }
  return 0;
}

int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
              std::uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* pending = static_cast<H2Client::Pending*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (pending == nullptr) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), name_length);
  const std::string_view v(reinterpret_cast<const char*>(value), value_length);
  if (n == ":status") {
    int status = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
    // 1xx answers are interim: the final one follows.
    if (ec == std::errc() && end == v.data() + v.size() && status >= 200) pending->status = status;
  } else if (n == "retry-after") {
    pending->retry_after.assign(v);
  }
  return 0;
}

ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                  std::uint32_t* flags, nghttp2_data_source* source, void*) {
  auto* pending = static_cast<H2Client::Pending*>(source->ptr);
  const std::size_t n = std::min(length, pending->body.size() - pending->body_sent);
  std::memcpy(buffer, pending->body.data() + pending->body_sent, n);
  pending->body_sent += n;
  if (pending->body_sent == pending->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace

int h2_on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                       void* user);

H2Client::H2Client(Options options, int epoll_fd, SSL_CTX* tls)
    : options_(std::move(options)), epoll_fd_(epoll_fd), tls_(tls) {}

tl::expected<std::unique_ptr<H2Client>, Error> H2Client::create(Options options) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    return tl::unexpected(
        Error{ErrorCode::kUnavailable, std::string("epoll_create1: ") + std::strerror(errno)});
  }
  SSL_CTX* tls = SSL_CTX_new(TLS_client_method());
  if (tls == nullptr || SSL_CTX_set_default_verify_paths(tls) != 1) {
    if (tls != nullptr) SSL_CTX_free(tls);
    ::close(epoll_fd);
    ERR_clear_error();
    return tl::unexpected(Error{ErrorCode::kUnavailable, "TLS context: cannot be made"});
  }
  if (options.extra_ca) options.extra_ca->add_to(tls);
  SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
  // h2 first; a service that only speaks HTTP/1.1 picks the second (or ignores ALPN).
  static constexpr unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(tls, kAlpn, sizeof kAlpn);
  SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Session resumption: each new session (TLS 1.3 tickets arrive after the handshake) is kept
  // on its origin and offered by the next connection there.
  SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tls, [](SSL* ssl, SSL_SESSION* session) -> int {
    auto* c = static_cast<Connection*>(SSL_get_ex_data(ssl, ssl_connection_index()));
    if (c == nullptr) return 0;
    if (c->origin->session != nullptr) SSL_SESSION_free(c->origin->session);
    c->origin->session = session;
    return 1;  // we keep the reference
  });
  return std::unique_ptr<H2Client>(new H2Client(std::move(options), epoll_fd, tls));
}

H2Client::~H2Client() {
  for (auto& [name, origin] : origins_) {
    for (Connection* c : origin->connections) delete c;
    origin->connections.clear();
  }
  graveyard_.clear();
  origins_.clear();
  if (tls_ != nullptr) SSL_CTX_free(tls_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

H2Client::Origin& H2Client::origin_for(std::string_view name) {
  auto found = origins_.find(name);
  if (found != origins_.end()) return *found->second;
  auto origin = std::make_unique<Origin>();
  origin->name = std::string(name);
  std::string host;
  std::string port = "443";
  if (parse_origin(name, host, port)) {
    origin->host = host;
    origin->port = port;
    in6_addr ip6{};
    in_addr ip4{};
    origin->host_is_ip =
        inet_pton(AF_INET, host.c_str(), &ip4) == 1 || inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
    origin->authority = std::string(name.substr(std::string_view("https://").size()));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &result) == 0 && result != nullptr) {
      std::memcpy(&origin->address, result->ai_addr, result->ai_addrlen);
      origin->address_length = result->ai_addrlen;
      origin->resolved = true;
      freeaddrinfo(result);
    }
  }
  return *origins_.emplace(origin->name, std::move(origin)).first->second;
}

void H2Client::submit(std::uint64_t tag, std::string_view origin_name, std::string path,
                      std::shared_ptr<const HeaderList> headers, webpush::Bytes body,
                      TimePoint now) {
  Origin& origin = origin_for(origin_name);
  auto pending = std::make_unique<Pending>();
  pending->tag = tag;
  pending->path = std::move(path);
  pending->headers = std::move(headers);
  pending->body = std::move(body);
  pending->deadline = now + options_.request_timeout;
  ++active_;
  if (!origin.resolved) {
    finish(*pending, 0, TransportFailure::kConnect, "cannot resolve " + origin.name);
    return;
  }
  origin.queue.push_back(std::move(pending));
  to_pump_.push_back(&origin);
}

void H2Client::finish(Pending& p, int status, std::optional<TransportFailure> failure,
                      std::string error) {
  --active_;
  done_.push_back({p.tag, status, std::move(p.retry_after), failure, std::move(error)});
}

void H2Client::pump(Origin& origin, TimePoint now) {
  while (!origin.queue.empty()) {
    Connection* best = nullptr;
    std::size_t best_load = 0;
    std::size_t opening = 0;
    std::size_t usable = 0;
    for (Connection* c : origin.connections) {
      if (c->closed || c->goaway) continue;
      ++usable;
      if (!c->ready()) {
        ++opening;
        continue;
      }
      const std::size_t load = c->http1 ? (c->current ? 1 : 0) : c->streams.size();
      const std::size_t limit =
          c->http1 ? 1
                   : std::min<std::size_t>(options_.max_streams,
                                           nghttp2_session_get_remote_settings(
                                               c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
      if (load < limit && (best == nullptr || load < best_load)) {
        best = c;
        best_load = load;
      }
    }
    if (best != nullptr) {
      auto pending = std::move(origin.queue.front());
      origin.queue.pop_front();
      if (best->http1) {
        start_http1(*best, std::move(pending));
      } else {
        start_stream(*best, std::move(pending));
      }
      continue;
    }
    // Every connection is full or still opening: open one more up to the cap — over HTTP/2 one
    // at a time (it carries many requests), over HTTP/1.1 one per request waiting.
    const long cap =
        origin.http1 ? options_.http1_connections_per_origin : options_.connections_per_origin;
    const bool may_open = origin.http1 ? opening < origin.queue.size() : opening == 0;
    if (may_open && static_cast<long>(usable) < cap) {
      if (!open_connection(origin, now)) continue;  // it failed the queue or a request
      if (origin.http1) continue;
    }
    break;
  }
  for (Connection* c : std::vector<Connection*>(origin.connections)) {
    if (c->state == Connection::State::kOpen && !c->closed) flush(*c);
  }
}

bool H2Client::open_connection(Origin& origin, TimePoint now) {
  const int fd = ::socket(origin.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    // Out of descriptors or similar: fail one request so the queue does not wait forever.
    auto pending = std::move(origin.queue.front());
    origin.queue.pop_front();
    finish(*pending, 0, TransportFailure::kConnect, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto c = std::make_unique<Connection>();
  c->client = this;
  c->origin = &origin;
  c->fd = fd;
  c->connect_deadline = now + options_.connect_timeout;
  const int r =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&origin.address), origin.address_length);
  Connection* raw = c.release();
  origin.connections.push_back(raw);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT;
  event.data.ptr = raw;
  raw->watching_write = true;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  if (r != 0 && errno != EINPROGRESS) {
    close(*raw, TransportFailure::kConnect, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  return true;
}

void H2Client::handshake(Connection& c) {
  if (c.ssl == nullptr) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      close(c, TransportFailure::kConnect, std::string("connect: ") + std::strerror(error));
      return;
    }
    c.state = Connection::State::kHandshake;
    c.ssl = SSL_new(tls_);
    SSL_set_ex_data(c.ssl, ssl_connection_index(), &c);
    SSL_set_fd(c.ssl, c.fd);
    if (c.origin->host_is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), c.origin->host.c_str());
    } else {
      // SSL_set_tlsext_host_name, without the macro's C cast.
      SSL_ctrl(c.ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(c.origin->host.c_str()));
      SSL_set1_host(c.ssl, c.origin->host.c_str());
    }
    if (c.origin->session != nullptr) SSL_set_session(c.ssl, c.origin->session);
    SSL_set_connect_state(c.ssl);
  }
  ERR_clear_error();
  const int r = SSL_do_handshake(c.ssl);
  if (r != 1) {
    const int why = SSL_get_error(c.ssl, r);
    if (why == SSL_ERROR_WANT_READ) return watch(c, false);
    if (why == SSL_ERROR_WANT_WRITE) return watch(c, true);
    const bool certificate = SSL_get_verify_result(c.ssl) != X509_V_OK;
    const std::string text = tls_error_text(c.ssl);
    ERR_clear_error();
    close(c, certificate ? TransportFailure::kTls : TransportFailure::kConnect, text);
    return;
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_length = 0;
  SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_length);
  c.state = Connection::State::kOpen;
  c.last_read = SteadyClock::now();
  if (alpn_length != 2 || std::memcmp(alpn, "h2", 2) != 0) {
    // No h2 (ALPN absent or http/1.1): HTTP/1.1 over this connection, and over the origin's
    // next ones.
    c.http1 = true;
    c.settings_received = true;  // nothing to wait for
    c.origin->http1 = true;
    to_pump_.push_back(c.origin);
    read_tls(c);  // a TLS 1.3 ticket, or the end
    return;
  }
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, h2_on_stream_close);
  nghttp2_session_client_new(&c.h2, callbacks, &c);
  nghttp2_session_callbacks_del(callbacks);
  const std::array<nghttp2_settings_entry, 2> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
  }};
  nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  flush(c);
  if (!c.closed) read_tls(c);  // the server's SETTINGS may already be here
}

void H2Client::start_stream(Connection& c, std::unique_ptr<Pending> pending) {
  const std::string length = std::to_string(pending->body.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(6 + pending->headers->size());
  auto add = [&nva](std::string_view name, std::string_view value) {
    nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  add(":method", "POST");
  add(":scheme", "https");
  add(":authority", c.origin->authority);
  add(":path", pending->path);
  for (const auto& [name, value] : *pending->headers) add(name, value);
  add("content-length", length);
  pending->body_sent = 0;
  pending->status = 0;
  pending->retry_after.clear();
  nghttp2_data_provider provider{};
  provider.source.ptr = pending.get();
  provider.read_callback = read_body;
  const std::int32_t id =
      nghttp2_submit_request(c.h2, nullptr, nva.data(), nva.size(), &provider, pending.get());
  if (id < 0) {
    finish(*pending, 0, TransportFailure::kBroken, std::string("HTTP/2: ") + nghttp2_strerror(id));
    return;
  }
  c.streams.emplace(id, std::move(pending));
}

void H2Client::start_http1(Connection& c, std::unique_ptr<Pending> pending) {
  std::string& out = c.out;  // empty: the connection was idle
  out.reserve(pending->path.size() + pending->body.size() + 512);
  out.append("POST ").append(pending->path).append(" HTTP/1.1\r\nhost: ");
  out.append(c.origin->authority).append("\r\n");
  for (const auto& [name, value] : *pending->headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out.append("content-length: ").append(std::to_string(pending->body.size())).append("\r\n\r\n");
  out.append(reinterpret_cast<const char*>(pending->body.data()), pending->body.size());
  pending->status = 0;
  pending->retry_after.clear();
  c.current = std::move(pending);
  c.current_sent_any = false;
  c.parser.reset();
  c.in.clear();
}

void H2Client::read_http1(Connection& c, const std::uint8_t* data, std::size_t length) {
  if (!c.current) {
    // Bytes nobody asked for: nothing is in flight, so the connection just ends.
    close(c, TransportFailure::kBroken, {});
    return;
  }
  c.in.append(reinterpret_cast<const char*>(data), length);
  std::size_t offset = 0;
  while (offset < c.in.size()) {
    if (!c.parser) c.parser.emplace(64 * 1024);
    Http1AnswerParser& parser = *c.parser;
    boost::system::error_code ec;
    const std::size_t used =
        parser.put(boost::asio::const_buffer(c.in.data() + offset, c.in.size() - offset), ec);
    offset += used;
    if (ec == boost::beast::http::error::need_more) break;
    if (ec) {
      close(c, TransportFailure::kBroken, "malformed HTTP/1.1 answer: " + ec.message());
      return;
    }
    if (!parser.is_done()) {
      if (used == 0) break;
      continue;
    }
    if (parser.status >= 100 && parser.status < 200 && parser.status != 101) {
      c.parser.reset();  // interim answer; the final one follows
      continue;
    }
    // An answer before the whole body was written leaves the connection unusable (the rest of
    // the body would read as the next request); so does one that ends it.
    const bool reusable =
        parser.keep_alive() && parser.status != 101 && c.out.empty() && offset == c.in.size();
    std::unique_ptr<Pending> p = std::move(c.current);
    p->retry_after = std::move(parser.retry_after);
    const int status = parser.status;
    c.parser.reset();
    c.in.clear();
    finish(*p, status, std::nullopt, {});
    if (!reusable) {
      close(c, TransportFailure::kBroken, {});  // nothing is left on it
      return;
    }
    to_pump_.push_back(c.origin);
    return;
  }
  c.in.erase(0, offset);
}

void H2Client::flush(Connection& c) {
  if (c.closed || c.ssl == nullptr || (c.h2 == nullptr && !c.http1)) return;
  for (; c.h2 != nullptr;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(c.h2, &data);
    if (n < 0) {
      close(c, TransportFailure::kBroken,
            std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) break;
    c.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  while (!c.out.empty()) {
    ERR_clear_error();
    const int w = SSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
    if (w > 0) {
      c.out.erase(0, static_cast<std::size_t>(w));
      if (c.current) c.current_sent_any = true;
      continue;
    }
    const int why = SSL_get_error(c.ssl, w);
    if (why == SSL_ERROR_WANT_WRITE || why == SSL_ERROR_WANT_READ) break;
    close(c, TransportFailure::kBroken, "connection lost while sending");
    return;
  }
  watch(c, !c.out.empty());
  // Nothing left to do on a connection the server is retiring: close it quietly.
  if (c.h2 != nullptr && c.goaway && c.streams.empty() && c.out.empty()) {
    close(c, TransportFailure::kBroken, {});
  }
}

void H2Client::read_tls(Connection& c) {
  std::array<std::uint8_t, 16384> buffer{};
  for (;;) {
    ERR_clear_error();
    const int r = SSL_read(c.ssl, buffer.data(), static_cast<int>(buffer.size()));
    if (r > 0) {
      c.last_read = SteadyClock::now();
      if (c.http1) {
        read_http1(c, buffer.data(), static_cast<std::size_t>(r));
        if (c.closed) return;
        continue;
      }
      const ssize_t used =
          nghttp2_session_mem_recv(c.h2, buffer.data(), static_cast<std::size_t>(r));
      if (used < 0) {
        close(c, TransportFailure::kBroken,
              std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(used)));
        return;
      }
      if (c.closed) return;
      continue;
    }
    const int why = SSL_get_error(c.ssl, r);
    if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) break;
    ERR_clear_error();
    if (c.http1 && c.current && c.parser) {
      // An HTTP/1.1 answer whose body runs to the end of the connection ends here.
      boost::system::error_code ec;
      c.parser->put_eof(ec);
      if (!ec && c.parser->is_done() && c.parser->status >= 200) {
        std::unique_ptr<Pending> p = std::move(c.current);
        p->retry_after = std::move(c.parser->retry_after);
        finish(*p, c.parser->status, std::nullopt, {});
      }
    }
    close(c, TransportFailure::kBroken,
          why == SSL_ERROR_ZERO_RETURN ? "the push service closed the connection"
                                       : "connection reset");
    return;
  }
  flush(c);
}

void H2Client::check_liveness(Connection& c, TimePoint now) {
  if (options_.ping_after.count() <= 0 || c.h2 == nullptr || c.closed) return;
  if (c.ping_outstanding) {
    if (now - c.ping_sent >= options_.ping_timeout) {
      close(c, TransportFailure::kBroken, "no answer to an HTTP/2 PING: the connection is dead");
    }
    return;
  }
  if (now - c.last_read < options_.ping_after) return;
  if (nghttp2_submit_ping(c.h2, NGHTTP2_FLAG_NONE, nullptr) != 0) return;
  c.ping_outstanding = true;
  c.ping_sent = now;
  flush(c);
}

void H2Client::watch(Connection& c, bool writable) {
  if (c.closed || c.watching_write == writable) return;
  epoll_event event{};
  event.events = EPOLLIN | (writable ? EPOLLOUT : 0U);
  event.data.ptr = &c;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event);
  c.watching_write = writable;
}

int h2_on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                       void* user) {
  auto& c = *static_cast<H2Client::Connection*>(user);
  c.client->stream_closed(c, stream_id, error_code);
  return 0;
}

void H2Client::answer_complete(Connection& c, std::int32_t stream_id) {
  auto found = c.streams.find(stream_id);
  if (found == c.streams.end() || found->second->completed) return;
  Pending& p = *found->second;
  p.completed = true;
  finish(p, p.status, std::nullopt, {});
  // A whole answer before the whole body was sent (an early answer: nginx's `return`): the rest
  // of the body is not needed (RFC 9113 §8.1), and a server that does not read it may never open
  // the flow-control window for it, so the stream would never close. Ended here.
  if (nghttp2_session_get_stream_local_close(c.h2, stream_id) == 0) {
    nghttp2_submit_rst_stream(c.h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
  }
}

void H2Client::stream_closed(Connection& c, std::int32_t stream_id, std::uint32_t error_code) {
  auto found = c.streams.find(stream_id);
  if (found == c.streams.end()) return;  // cancelled by us (timeout)
  std::unique_ptr<Pending> p = std::move(found->second);
  c.streams.erase(found);
  if (p->completed) return;  // its answer was already passed on
  if (p->status != 0) {
    // The answer counts even if the stream then ended abnormally (an early answer, then a reset
    // of the body we were still sending).
    finish(*p, p->status, std::nullopt, {});
  } else if (error_code == NGHTTP2_REFUSED_STREAM && p->resends < options_.max_resends) {
    // Provably not processed (RST_STREAM REFUSED_STREAM, or above GOAWAY's last stream id).
    ++p->resends;
    c.origin->queue.push_front(std::move(p));
    to_pump_.push_back(c.origin);
  } else {
    finish(*p, 0, TransportFailure::kBroken,
           std::string("HTTP/2 stream reset: ") + nghttp2_http2_strerror(error_code));
  }
}

void H2Client::close(Connection& c, TransportFailure failure, const std::string& error) {
  if (c.closed) return;
  c.closed = true;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  Origin& origin = *c.origin;
  const bool never_opened = c.state != Connection::State::kOpen;
  // Streams still open: the connection ended under them with no answer.
  auto streams = std::move(c.streams);
  c.streams.clear();
  for (auto& [id, p] : streams) {
    (void)id;
    // (Streams above a GOAWAY's last id were already closed by nghttp2 as REFUSED_STREAM.)
    if (p->completed) continue;
    if (p->status != 0) {
      finish(*p, p->status, std::nullopt, {});
    } else {
      finish(*p, 0, failure, error.empty() ? "connection closed" : error);
    }
  }
  if (c.current) {
    if (c.current_sent_any) {
      finish(*c.current, 0, failure, error.empty() ? "connection closed" : error);
    } else {
      origin.queue.push_front(std::move(c.current));  // not a byte of it left: it goes again
    }
    c.current.reset();
  }
  std::erase(origin.connections, &c);
  graveyard_.emplace_back(&c);
  if (never_opened) {
    // The origin cannot be reached (or its certificate does not verify): unless another
    // connection is up, everything waiting for it fails now, with one handshake spent.
    const bool other = std::any_of(origin.connections.begin(), origin.connections.end(),
                                   [](const Connection* o) { return o->ready(); });
    if (!other) {
      while (!origin.queue.empty()) {
        auto p = std::move(origin.queue.front());
        origin.queue.pop_front();
        finish(*p, 0, failure, error);
      }
    }
  }
  to_pump_.push_back(&origin);
}

void H2Client::on_event(Connection& c, std::uint32_t events) {
  if (c.closed) return;
  switch (c.state) {
    case Connection::State::kConnecting:
    case Connection::State::kHandshake:
      handshake(c);
      // The server's SETTINGS may have come with the end of the handshake (TLS 1.2: nginx):
      // then nothing else will wake the requests waiting for this connection.
      if (!c.closed && c.ready() && !c.origin->queue.empty()) to_pump_.push_back(c.origin);
      return;
    case Connection::State::kOpen:
      if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) read_tls(c);
      if (!c.closed && (events & EPOLLOUT) != 0) flush(c);
      if (!c.closed && c.ready() && !c.origin->queue.empty()) to_pump_.push_back(c.origin);
      return;
  }
}

void H2Client::expire(TimePoint now) {
  for (auto& [name, origin] : origins_) {
    for (Connection* c : std::vector<Connection*>(origin->connections)) {
      if (c->closed) continue;
      if (c->state != Connection::State::kOpen || !c->settings_received) {
        if (now >= c->connect_deadline) {
          close(*c, TransportFailure::kTimeout, "connect or TLS handshake timed out");
        }
        continue;
      }
      if (c->http1) {
        if (c->current && now >= c->current->deadline) {
          close(*c, TransportFailure::kTimeout, "no answer in time");
        }
        continue;
      }
      check_liveness(*c, now);
      if (c->closed) continue;
      std::vector<std::int32_t> late;
      for (const auto& [id, p] : c->streams) {
        if (now >= p->deadline) late.push_back(id);
      }
      for (const std::int32_t id : late) {
        auto p = std::move(c->streams[id]);
        c->streams.erase(id);
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        if (!p->completed) finish(*p, 0, TransportFailure::kTimeout, "no answer in time");
      }
      if (!late.empty()) flush(*c);
    }
    while (!origin->queue.empty() && now >= origin->queue.front()->deadline) {
      auto p = std::move(origin->queue.front());
      origin->queue.pop_front();
      finish(*p, 0, TransportFailure::kTimeout, "no connection in time");
    }
  }
}

void H2Client::run(int timeout_ms, std::vector<Completion>& done) {
  auto now = SteadyClock::now();
  for (std::size_t i = 0; i < to_pump_.size(); ++i) pump(*to_pump_[i], now);
  to_pump_.clear();
  std::array<epoll_event, 64> events{};
  const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                           done_.empty() ? timeout_ms : 0);
  for (int i = 0; i < n; ++i) {
    on_event(*static_cast<Connection*>(events[i].data.ptr), events[i].events);
  }
  now = SteadyClock::now();
  if (now >= next_expiry_check_) {
    expire(now);
    next_expiry_check_ = now + Millis(100);
  }
  for (std::size_t i = 0; i < to_pump_.size(); ++i) pump(*to_pump_[i], now);
  to_pump_.clear();
  graveyard_.clear();
  done.insert(done.end(), std::make_move_iterator(done_.begin()),
              std::make_move_iterator(done_.end()));
  done_.clear();
}

}  // namespace flashwire::fanout
