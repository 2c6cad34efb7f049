// A scripted HTTP/1.1 server on 127.0.0.1 for tests of HTTP clients (the fan-out pipeline).
//
// Every request is recorded (method, path, headers, body, arrival time) and answered as the
// script says: a status and headers, after an optional delay, or no answer at all (close the
// connection, reset it, or hold it until the client gives up). Keep-alive connections carry
// any number of requests. Loopback only, port chosen by the kernel, plain POSIX sockets, one
// thread per connection: small and obvious rather than fast.
//
// Thread safety: every method may be called from any thread while the server runs; the script
// is called from connection threads, one call at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace flashwire::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::chrono::steady_clock::time_point arrived;  // when the whole request had been read
  int connection = 0;                             // which connection carried it (from 1)

  // The header's value, or "" when absent.
  std::string header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ScriptedResponse {
  enum class Action {
    kAnswer,  // send the status and headers (after `delay`)
    kClose,   // close the connection without an answer (after `delay`)
    kReset,   // reset the connection (RST) without an answer (after `delay`)
    kHold,    // never answer; wait until the client closes the connection
  };
  int status = 201;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  Action action = Action::kAnswer;

  static ScriptedResponse answer(int status,
                                 std::vector<std::pair<std::string, std::string>> headers = {},
                                 std::chrono::milliseconds delay = {}) {
    return {status, std::move(headers), delay, Action::kAnswer};
  }
  static ScriptedResponse close() { return {0, {}, {}, Action::kClose}; }
  static ScriptedResponse reset() { return {0, {}, {}, Action::kReset}; }
  static ScriptedResponse hold() { return {0, {}, {}, Action::kHold}; }
};

class ScriptedHttpServer {
 public:
  // `request` is the request being answered; `nth` counts the requests for its path so far,
  // this one included (1 for the first).
  using Script = std::function<ScriptedResponse(const RecordedRequest& request, int nth)>;

  // Starts listening on 127.0.0.1 at a free port. Answers 201 to everything until set_script.
  ScriptedHttpServer();
  explicit ScriptedHttpServer(Script script);
  ~ScriptedHttpServer();
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  int port() const { return port_; }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path) const { return origin() + path; }

  void set_script(Script script);
  // Every request so far, in order of arrival.
  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  // Requests for `path` so far.
  int count(const std::string& path) const;
  // Most requests that were waiting for their answer at the same time.
  int max_concurrent() const;
  int connections() const;
  // Waits until at least `n` requests have arrived or `timeout` passes; true if they did.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

  // Stops accepting, drops every connection and joins the threads. Idempotent.
  void stop();

 private:
  void accept_loop();
  void serve(int fd, int connection);
  bool read_request(int fd, std::string& buffer, RecordedRequest& request);
  void hold(int fd);
  // Sleeps `delay` unless stopping; false if the server is stopping.
  bool pause(std::chrono::milliseconds delay);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  Script script_;
  std::vector<RecordedRequest> requests_;
  std::map<std::string, int> per_path_;
  int active_ = 0;
  int max_active_ = 0;
  int connections_ = 0;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
};

}  // namespace flashwire::testing
