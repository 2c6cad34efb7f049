#include "scripted_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace flashwire::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// How often blocked threads look at the stop flag.
constexpr int kPollMs = 20;
// Upper bound of one request's head and body: tests send Web Push messages (< 5 KiB).
constexpr std::size_t kMaxRequestBytes = 1 << 20;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

ScriptedHttpServer::ScriptedHttpServer()
    : ScriptedHttpServer([](const RecordedRequest&, int) { return ScriptedResponse{}; }) {}

ScriptedHttpServer::ScriptedHttpServer(Script script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("bind/listen: " + std::string(std::strerror(errno)));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptedHttpServer::~ScriptedHttpServer() { stop(); }

void ScriptedHttpServer::set_script(Script script) {
  std::lock_guard lock(mutex_);
  script_ = std::move(script);
}

std::vector<RecordedRequest> ScriptedHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t ScriptedHttpServer::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

int ScriptedHttpServer::count(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto it = per_path_.find(path);
  return it == per_path_.end() ? 0 : it->second;
}

int ScriptedHttpServer::max_concurrent() const {
  std::lock_guard lock(mutex_);
  return max_active_;
}

int ScriptedHttpServer::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

bool ScriptedHttpServer::wait_for_requests(std::size_t n, Millis timeout) const {
  std::unique_lock lock(mutex_);
  return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void ScriptedHttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
}

bool ScriptedHttpServer::pause(Millis delay) {
  const auto until = Clock::now() + delay;
  while (Clock::now() < until) {
    if (stopping_) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(Millis(kPollMs), until - Clock::now()));
  }
  return !stopping_;
}

void ScriptedHttpServer::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    open_fds_.insert(fd);
    const int connection = ++connections_;
    workers_.emplace_back([this, fd, connection] { serve(fd, connection); });
  }
}

// Reads one request from `fd` into `request`, keeping what follows it in `buffer`. False on end
// of stream, error, a malformed or oversized request, or stop.
bool ScriptedHttpServer::read_request(int fd, std::string& buffer, RecordedRequest& request) {
  auto read_more = [&]() -> bool {
    while (!stopping_) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, kPollMs);
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) continue;
      char chunk[8192];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
      return buffer.size() <= kMaxRequestBytes;
    }
    return false;
  };

  std::size_t head_end;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return false;
  }
  const std::string head = buffer.substr(0, head_end);
  buffer.erase(0, head_end + 4);
  std::size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const auto sp1 = request_line.find(' ');
  const auto sp2 = sp1 == std::string::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return false;
  request.method = request_line.substr(0, sp1);
  request.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      request.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
  }

  const std::size_t length = static_cast<std::size_t>(
      std::strtoull(request.header("content-length").c_str(), nullptr, 10));
  if (length > kMaxRequestBytes) return false;
  while (buffer.size() < length) {
    if (!read_more()) return false;
  }
  request.body = buffer.substr(0, length);
  buffer.erase(0, length);
  request.arrived = Clock::now();
  return true;
}

// Waits until the client closes the connection (or we stop), discarding anything it sends.
void ScriptedHttpServer::hold(int fd) {
  while (!stopping_) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

void ScriptedHttpServer::serve(int fd, int connection) {
  std::string buffer;
  bool reset = false;
  while (!stopping_) {
    RecordedRequest request;
    request.connection = connection;
    if (!read_request(fd, buffer, request)) break;

    ScriptedResponse response;
    {
      std::lock_guard lock(mutex_);
      const int nth = ++per_path_[request.path];
      response = script_(request, nth);
      requests_.push_back(request);
      max_active_ = std::max(max_active_, ++active_);
    }
    arrived_.notify_all();

    bool keep_going = pause(response.delay);
    switch (response.action) {
      case ScriptedResponse::Action::kAnswer:
        if (keep_going) {
          std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                            reason_phrase(response.status) + "\r\nContent-Length: 0\r\n";
          for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
          out += "\r\n";
          keep_going = send_all(fd, out);
        }
        break;
      case ScriptedResponse::Action::kClose:
        keep_going = false;
        break;
      case ScriptedResponse::Action::kReset:
        reset = true;
        keep_going = false;
        break;
      case ScriptedResponse::Action::kHold:
        hold(fd);
        keep_going = false;
        break;
    }
    {
      std::lock_guard lock(mutex_);
      --active_;
    }
    if (!keep_going) break;
  }
  if (reset) {
    const linger rst{1, 0};  // close() then sends RST instead of FIN
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
  }
  std::lock_guard lock(mutex_);
  open_fds_.erase(fd);
  ::close(fd);
}

}  // namespace flashwire::testing
