#include "fanout/http1_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "fanout/http1_answer.h"

namespace flashwire::fanout {
namespace {

namespace http = boost::beast::http;
using boost::beast::string_view;
using boost::system::error_code;

using AnswerParser = Http1AnswerParser;

// "http://host[:port]" → host and port; IPv6 literals in brackets.
bool split_origin(std::string_view origin, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "http://";
  if (!origin.starts_with(kScheme)) return false;
  std::string_view authority = origin.substr(kScheme.size());
  std::string_view port_part;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port_part = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_part = authority.substr(colon + 1);
  }
  port = port_part.empty() ? "80" : std::string(port_part);
  return !host.empty();
}

thread_local std::array<char, 64 * 1024> read_buffer;

// Whether an idle connection is still usable: no EOF, no error, no bytes nobody asked for.
bool still_open(int fd) {
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

constexpr std::uint32_t kRead = EPOLLIN;
constexpr std::uint32_t kWrite = EPOLLOUT;

}  // namespace

struct Http1Client::Pending {
  std::uint64_t tag = 0;
  TimePoint deadline{};
  std::string request;
};

struct Http1Client::Connection {
  Origin* origin = nullptr;
  int fd = -1;
  bool connected = false;
  bool closed = false;
  bool watching_write = false;
  bool dirty = false;
  TimePoint connect_deadline{};
  TimePoint idle_since{};       // when `pending` last became empty
  std::deque<Pending> pending;  // written or to be written, in order; answers come in this order
  std::size_t next_write = 0;   // index into pending of the first request not wholly written
  std::size_t written = 0;      // bytes of pending[next_write] already written
  std::string in;               // bytes read and not yet parsed
  std::optional<AnswerParser> parser;
};

struct Http1Client::Origin {
  std::string name;
  bool unresolvable = false;
  sockaddr_storage address{};
  socklen_t address_size = 0;
  std::size_t depth = 1;
  std::vector<std::unique_ptr<Connection>> connections;
  std::deque<Pending> queue;  // waiting for room on a connection
};

Http1Client::Http1Client(Options options, int epoll_fd) : options_(options), epoll_fd_(epoll_fd) {
  options_.connections_per_origin = std::max(1L, options_.connections_per_origin);
  options_.pipeline_depth = std::max<std::size_t>(1, options_.pipeline_depth);
}

tl::expected<std::unique_ptr<Http1Client>, Error> Http1Client::create(Options options) {
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    return tl::unexpected(
        Error{ErrorCode::kUnavailable, std::string("epoll_create1: ") + strerror(errno)});
  }
  return std::unique_ptr<Http1Client>(new Http1Client(options, epoll_fd));
}

Http1Client::~Http1Client() {
  for (auto& [name, origin] : origins_) {
    for (auto& connection : origin->connections) {
      if (connection->fd >= 0) ::close(connection->fd);
    }
  }
  ::close(epoll_fd_);
}

Http1Client::Origin& Http1Client::origin_for(std::string_view name) {
  auto it = origins_.find(name);
  if (it != origins_.end()) return *it->second;
  auto origin = std::make_unique<Origin>();
  origin->name = std::string(name);
  origin->depth = options_.pipeline_depth;
  std::string host;
  std::string port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (split_origin(name, host, port) &&
      ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) == 0 && found != nullptr) {
    std::memcpy(&origin->address, found->ai_addr, found->ai_addrlen);
    origin->address_size = found->ai_addrlen;
  } else {
    origin->unresolvable = true;
  }
  if (found != nullptr) ::freeaddrinfo(found);
  return *origins_.emplace(origin->name, std::move(origin)).first->second;
}

void Http1Client::submit(std::uint64_t tag, std::string_view origin_name, std::string request,
                         TimePoint now) {
  ++active_;
  Origin& origin = origin_for(origin_name);
  if (origin.unresolvable) {
    finish(tag, 0, {}, TransportFailure::kConnect);
    return;
  }
  origin.queue.push_back({tag, now + options_.request_timeout, std::move(request)});
  pump(origin, now);
}

// Hands queued requests to connections: an idle one first, then a new one while under the
// cap, then (pipelining) the least busy one with room.
void Http1Client::pump(Origin& origin, TimePoint now) {
  while (!origin.queue.empty()) {
    Connection* idle = nullptr;
    Connection* least = nullptr;
    Connection* stale = nullptr;
    for (auto& c : origin.connections) {
      if (c->pending.empty()) {
        if (c->connected && now - c->idle_since >= options_.idle_check && !still_open(c->fd)) {
          stale = c.get();
        } else {
          idle = c.get();
        }
        break;
      }
      if (c->pending.size() < origin.depth &&
          (least == nullptr || c->pending.size() < least->pending.size())) {
        least = c.get();
      }
    }
    if (stale != nullptr) {
      close(*stale, std::nullopt);  // nothing on it; close() pumps this origin again
      continue;
    }
    Connection* chosen = idle;
    if (chosen == nullptr &&
        origin.connections.size() < static_cast<std::size_t>(options_.connections_per_origin)) {
      chosen = open_connection(origin, now);
      if (chosen == nullptr) {
        Pending failed = std::move(origin.queue.front());
        origin.queue.pop_front();
        finish(failed.tag, 0, {}, TransportFailure::kConnect);
        continue;
      }
    }
    if (chosen == nullptr) chosen = least;
    if (chosen == nullptr) return;  // every connection is full: wait for answers
    chosen->pending.push_back(std::move(origin.queue.front()));
    origin.queue.pop_front();
    if (chosen->connected && !chosen->dirty) {
      chosen->dirty = true;
      dirty_.push_back(chosen);
    }
  }
}

Http1Client::Connection* Http1Client::open_connection(Origin& origin, TimePoint now) {
  const int fd = ::socket(origin.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&origin.address), origin.address_size);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return nullptr;
  }
  auto connection = std::make_unique<Connection>();
  connection->origin = &origin;
  connection->fd = fd;
  connection->connected = rc == 0;
  connection->connect_deadline = now + options_.connect_timeout;
  connection->idle_since = now;
  epoll_event event{};
  event.events = connection->connected ? kRead : kRead | kWrite;
  event.data.ptr = connection.get();
  connection->watching_write = !connection->connected;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    ::close(fd);
    return nullptr;
  }
  origin.connections.push_back(std::move(connection));
  return origin.connections.back().get();
}

void Http1Client::watch(Connection& connection, bool writable) {
  if (connection.watching_write == writable) return;
  epoll_event event{};
  event.events = writable ? kRead | kWrite : kRead;
  event.data.ptr = &connection;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
  connection.watching_write = writable;
}

void Http1Client::on_connected(Connection& connection) {
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
    close(connection, TransportFailure::kConnect);
    return;
  }
  connection.connected = true;
  flush(connection);
}

void Http1Client::flush(Connection& connection) {
  if (!connection.connected || connection.closed) return;
  while (connection.next_write < connection.pending.size()) {
    std::array<iovec, 64> parts;
    std::size_t count = 0;
    for (std::size_t i = connection.next_write;
         i < connection.pending.size() && count < parts.size(); ++i, ++count) {
      const std::string& request = connection.pending[i].request;
      const std::size_t skip = i == connection.next_write ? connection.written : 0;
      parts[count] = {const_cast<char*>(request.data()) + skip, request.size() - skip};
    }
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = count;
    const ssize_t n = ::sendmsg(connection.fd, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      close(connection, TransportFailure::kBroken);
      return;
    }
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      const std::size_t remaining =
          connection.pending[connection.next_write].request.size() - connection.written;
      if (left >= remaining) {
        left -= remaining;
        ++connection.next_write;
        connection.written = 0;
      } else {
        connection.written += left;
        left = 0;
      }
    }
  }
  watch(connection, connection.next_write < connection.pending.size());
}

void Http1Client::on_readable(Connection& connection) {
  const ssize_t n = ::recv(connection.fd, read_buffer.data(), read_buffer.size(), 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    close(connection, TransportFailure::kBroken);
    return;
  }
  if (n == 0) {
    // A close-delimited body ends here; anything else still waiting never got its answer.
    if (connection.parser && !connection.pending.empty()) {
      error_code ec;
      connection.parser->put_eof(ec);
      if (!ec && connection.parser->is_done()) {
        Pending answered = std::move(connection.pending.front());
        connection.pending.pop_front();
        if (connection.next_write > 0) --connection.next_write;
        finish(answered.tag, connection.parser->status, std::move(connection.parser->retry_after),
               std::nullopt);
        connection.parser.reset();
      }
    }
    close(connection,
          connection.pending.empty() ? std::nullopt : std::optional(TransportFailure::kBroken));
    return;
  }

  std::string_view data(read_buffer.data(), static_cast<std::size_t>(n));
  if (!connection.in.empty()) {
    connection.in.append(data);
    data = connection.in;
  }
  std::size_t offset = 0;
  while (offset < data.size()) {
    if (connection.pending.empty() || connection.next_write == 0) {
      close(connection, TransportFailure::kBroken);  // an answer to nothing we asked
      return;
    }
    if (!connection.parser) connection.parser.emplace(options_.max_response_bytes);
    AnswerParser& parser = *connection.parser;
    error_code ec;
    const std::size_t used =
        parser.put(boost::asio::const_buffer(data.data() + offset, data.size() - offset), ec);
    offset += used;
    if (ec == http::error::need_more) break;
    if (ec) {
      close(connection, TransportFailure::kBroken);
      return;
    }
    if (!parser.is_done()) {
      if (used == 0) break;
      continue;
    }
    if (parser.status >= 100 && parser.status < 200 && parser.status != 101) {
      connection.parser.reset();  // interim answer; the final one follows
      continue;
    }
    const bool keep_alive = parser.keep_alive() && parser.status != 101;
    Pending answered = std::move(connection.pending.front());
    connection.pending.pop_front();
    --connection.next_write;
    finish(answered.tag, parser.status, std::move(parser.retry_after), std::nullopt);
    connection.parser.reset();
    if (connection.pending.empty()) connection.idle_since = SteadyClock::now();
    if (!keep_alive) {
      // The service reads nothing more on this connection: what was written behind this
      // request goes again on another connection, and pipelining to it stops.
      if (!connection.pending.empty()) connection.origin->depth = 1;
      close(connection, std::nullopt, 0);
      return;
    }
  }
  if (offset >= data.size()) {
    connection.in.clear();
  } else if (connection.in.empty()) {
    connection.in.assign(data.substr(offset));
  } else {
    connection.in.erase(0, offset);
  }
  Origin& origin = *connection.origin;
  if (!origin.queue.empty()) pump(origin, SteadyClock::now());
}

void Http1Client::close(Connection& connection, std::optional<TransportFailure> failure,
                        std::size_t requeue_from) {
  if (connection.closed) return;
  connection.closed = true;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection.fd, nullptr);
  ::close(connection.fd);
  connection.fd = -1;
  Origin& origin = *connection.origin;
  if (connection.connected) {
    // Requests not yet written at all never reached the service: they go again, whatever
    // ended this connection.
    requeue_from = std::min(requeue_from, connection.next_write + (connection.written > 0 ? 1 : 0));
  }
  for (std::size_t i = connection.pending.size(); i-- > 0;) {
    Pending& p = connection.pending[i];
    if (i >= requeue_from) {
      origin.queue.push_front(std::move(p));
    } else {
      finish(p.tag, 0, {}, failure.value_or(TransportFailure::kBroken));
    }
  }
  connection.pending.clear();
  auto& list = origin.connections;
  auto it = std::find_if(list.begin(), list.end(),
                         [&connection](const auto& c) { return c.get() == &connection; });
  if (it != list.end()) {
    graveyard_.push_back(std::move(*it));
    *it = std::move(list.back());
    list.pop_back();
  }
  if (!origin.queue.empty()) pump(origin, SteadyClock::now());
}

void Http1Client::expire(TimePoint now) {
  std::vector<std::pair<Connection*, TransportFailure>> late;
  for (auto& [name, origin] : origins_) {
    for (auto& c : origin->connections) {
      if (!c->connected && now >= c->connect_deadline) {
        late.emplace_back(c.get(), TransportFailure::kTimeout);
      } else if (!c->pending.empty() && now >= c->pending.front().deadline) {
        late.emplace_back(c.get(), TransportFailure::kTimeout);
      }
    }
    while (!origin->queue.empty() && now >= origin->queue.front().deadline) {
      finish(origin->queue.front().tag, 0, {}, TransportFailure::kTimeout);
      origin->queue.pop_front();
    }
  }
  for (auto& [connection, failure] : late) close(*connection, failure);
}

void Http1Client::finish(std::uint64_t tag, int status, std::string retry_after,
                         std::optional<TransportFailure> failure) {
  --active_;
  done_.push_back({tag, status, std::move(retry_after), failure});
}

void Http1Client::run(int timeout_ms, std::vector<Completion>& done) {
  auto flush_dirty = [this] {
    // flush() may close a connection; the graveyard keeps it valid until the end of run().
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
      Connection* c = dirty_[i];
      c->dirty = false;
      flush(*c);
    }
    dirty_.clear();
  };
  flush_dirty();
  if (!done_.empty()) timeout_ms = 0;
  if (active_ > 0) timeout_ms = std::min(timeout_ms, 100);  // request and connect timeouts
  std::array<epoll_event, 128> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                             std::max(0, timeout_ms));
  for (int i = 0; i < n; ++i) {
    auto* connection = static_cast<Connection*>(events[i].data.ptr);
    if (connection->closed) continue;
    const std::uint32_t what = events[i].events;
    if (!connection->connected) {
      if ((what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) on_connected(*connection);
      continue;
    }
    if ((what & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(*connection);
    if ((what & EPOLLOUT) != 0 && !connection->closed) flush(*connection);
  }
  const TimePoint now = SteadyClock::now();
  if (now >= next_expiry_check_) {
    expire(now);
    next_expiry_check_ = now + Millis(50);
  }
  flush_dirty();
  graveyard_.clear();
  if (done.empty()) {
    done.swap(done_);
  } else {
    done.insert(done.end(), std::make_move_iterator(done_.begin()),
                std::make_move_iterator(done_.end()));
    done_.clear();
  }
}

namespace detail {

// Mirrors the parse loop of Http1Client::on_readable, without a socket.
ParsedAnswers parse_answers_for_fuzzing(std::string_view bytes, std::size_t requests,
                                        std::size_t piece, std::size_t max_response_bytes) {
  ParsedAnswers out;
  std::optional<AnswerParser> parser;
  std::string in;
  piece = std::max<std::size_t>(piece, 1);
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    std::string_view data = bytes.substr(at, piece);
    if (!in.empty()) {
      in.append(data);
      data = in;
    }
    std::size_t offset = 0;
    while (offset < data.size()) {
      if (out.answers.size() == requests) {
        out.broken = true;
        return out;
      }
      if (!parser) parser.emplace(max_response_bytes);
      error_code ec;
      const std::size_t used =
          parser->put(boost::asio::const_buffer(data.data() + offset, data.size() - offset), ec);
      offset += used;
      if (ec == http::error::need_more) break;
      if (ec) {
        out.broken = true;
        return out;
      }
      if (!parser->is_done()) {
        if (used == 0) break;
        continue;
      }
      if (parser->status >= 100 && parser->status < 200 && parser->status != 101) {
        parser.reset();
        continue;
      }
      out.answers.push_back({parser->status, std::move(parser->retry_after)});
      const bool keep_alive = parser->keep_alive() && parser->status != 101;
      parser.reset();
      if (!keep_alive) {
        out.closed = true;
        return out;
      }
    }
    if (offset >= data.size()) {
      in.clear();
    } else if (in.empty()) {
      in.assign(data.substr(offset));
    } else {
      in.erase(0, offset);
    }
  }
  return out;
}

}  // namespace detail
}  // namespace flashwire::fanout
