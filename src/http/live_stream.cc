#include "http/live_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/asio/dispatch.hpp>
#include <atomic>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <unordered_set>

namespace flashwire::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Frame = std::shared_ptr<const std::string>;  // one event's bytes, shared by its readers
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kHeartbeat = ": keep-alive\n\n";

}  // namespace

std::string format_live_event(const LiveEvent& event) {
  boost::json::object data;
  data["id"] = event.id;
  data["at"] = event.at;
  data["html"] = event.html;
  std::string out = "id: " + std::to_string(event.id) + "\nevent: update\ndata: ";
  out += boost::json::serialize(data);
  out += "\n\n";
  return out;
}

// Everything but `executor` and `event_id` is touched only on the reader's own executor (the
// io_context its connection belongs to); other threads dispatch there.
struct LiveStream::Reader {
  Reader(beast::tcp_stream s, std::int64_t event)
      : stream(std::move(s)),
        executor(stream.get_executor()),
        event_id(event),
        wake(stream.get_executor()) {}

  // Ends the connection soon: the writer stops at its next step, and a write in progress (to a
  // reader who does not read) is cancelled rather than waited for.
  void close_soon() {
    if (closing) return;
    closing = true;
    wake.cancel();
    if (writing) {
      beast::error_code ignored;
      stream.socket().cancel(ignored);
    }
  }

  beast::tcp_stream stream;
  const asio::any_io_executor executor;
  const std::int64_t event_id;
  std::deque<Frame> outbox;
  std::size_t outbox_bytes = 0;
  asio::steady_timer wake;  // waited on while the outbox is empty; cancelled to wake the writer
  bool writing = false;
  bool closing = false;
};

struct LiveStream::State : std::enable_shared_from_this<LiveStream::State> {
  explicit State(LiveStreamOptions o) : options(std::move(o)) {}

  LiveStreamOptions options;
  mutable std::mutex mutex;  // guards by_event, reader_count and stopped
  // Readers by event id; the coroutines hold the readers, this only finds them.
  std::unordered_map<std::int64_t, std::unordered_set<std::shared_ptr<Reader>>> by_event;
  std::size_t reader_count = 0;
  bool stopped = false;
  std::atomic<std::uint64_t> dropped = 0;

  // Queues `frame` for `reader`, or disconnects it when its outbox is full. On its executor.
  void deliver(Reader& reader, const Frame& frame) {
    if (reader.closing) return;
    const bool full = reader.outbox.size() >= options.max_outbox_events ||
                      (!reader.outbox.empty() &&
                       reader.outbox_bytes + frame->size() > options.max_outbox_bytes);
    if (full) {
      ++dropped;
      reader.close_soon();
      return;
    }
    reader.outbox.push_back(frame);
    reader.outbox_bytes += frame->size();
    reader.wake.cancel();
  }

  void remove(const std::shared_ptr<Reader>& reader) {
    const std::lock_guard lock(mutex);
    const auto event = by_event.find(reader->event_id);
    if (event == by_event.end() || event->second.erase(reader) == 0) return;
    --reader_count;
    if (event->second.empty()) by_event.erase(event);
  }

  // Writes the head, then the outbox as it fills, with heartbeats in between, until the reader
  // goes away or is closed; then shuts the connection down.
  asio::awaitable<void> write_loop(std::shared_ptr<Reader> reader, http::Response head) {
    auto self = shared_from_this();
    beast::error_code ec;
    {
      beast::http::response_serializer<beast::http::string_body> serializer(head);
      reader->writing = true;
      reader->stream.expires_after(options.write_timeout);
      auto [write_ec, bytes] =
          co_await beast::http::async_write_header(reader->stream, serializer, kNoThrow);
      reader->writing = false;
      ec = write_ec;
    }
    while (!ec && !reader->closing) {
      std::string_view bytes;
      Frame frame;
      if (reader->outbox.empty()) {
        reader->wake.expires_after(options.heartbeat_interval);
        auto [wait_ec] = co_await reader->wake.async_wait(kNoThrow);
        if (reader->closing) break;
        if (wait_ec || !reader->outbox.empty()) continue;  // woken: something was queued
        bytes = kHeartbeat;
      } else {
        frame = std::move(reader->outbox.front());
        reader->outbox.pop_front();
        reader->outbox_bytes -= frame->size();
        bytes = *frame;
      }
      reader->writing = true;
      reader->stream.expires_after(options.write_timeout);
      auto [write_ec, written] =
          co_await asio::async_write(reader->stream, asio::buffer(bytes), kNoThrow);
      reader->writing = false;
      reader->stream.expires_never();
      ec = write_ec;
    }
    remove(reader);
    reader->closing = true;
    reader->outbox.clear();
    beast::error_code ignored;
    reader->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    reader->stream.socket().close(ignored);
  }

  // Reads (and drops) whatever the reader sends, to notice at once when it closes its end. Reads
  // the socket directly: the stream's write timeout must not apply to this open-ended read.
  asio::awaitable<void> watch_loop(std::shared_ptr<Reader> reader) {
    auto self = shared_from_this();
    char scratch[512];
    for (;;) {
      auto [ec, n] =
          co_await reader->stream.socket().async_read_some(asio::buffer(scratch), kNoThrow);
      if (ec || reader->closing) break;
    }
    reader->close_soon();
  }

  asio::awaitable<void> refuse(beast::tcp_stream stream, http::Response response) {
    auto self = shared_from_this();
    response.keep_alive(false);
    response.prepare_payload();
    stream.expires_after(options.write_timeout);
    co_await beast::http::async_write(stream, response, kNoThrow);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
  }
};

LiveStream::LiveStream(LiveStreamOptions options)
    : state_(std::make_shared<State>(std::move(options))) {}

LiveStream::~LiveStream() { stop(); }

bool LiveStream::accepting() const {
  const std::lock_guard lock(state_->mutex);
  return !state_->stopped && state_->reader_count < state_->options.max_readers;
}

void LiveStream::add_reader(beast::tcp_stream stream, http::Response head, std::int64_t event_id,
                            std::span<const LiveEvent> backlog) {
  const auto executor = stream.get_executor();
  auto reader = std::make_shared<Reader>(std::move(stream), event_id);
  // The retry hint and the backlog go out as one write, ahead of anything published later
  // (publish reaches this reader through its executor, which is this thread).
  std::string first = "retry: " + std::to_string(state_->options.retry_hint.count()) + "\n\n";
  for (const LiveEvent& event : backlog) first += format_live_event(event);
  reader->outbox_bytes = first.size();
  reader->outbox.push_back(std::make_shared<const std::string>(std::move(first)));
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->stopped || state_->reader_count >= state_->options.max_readers) {
      beast::error_code ignored;
      reader->stream.socket().close(ignored);
      return;
    }
    state_->by_event[event_id].insert(reader);
    ++state_->reader_count;
  }
  head.keep_alive(false);  // the body ends when the connection does
  asio::co_spawn(executor, state_->write_loop(reader, std::move(head)), asio::detached);
  asio::co_spawn(executor, state_->watch_loop(reader), asio::detached);
}

void LiveStream::refuse(beast::tcp_stream stream, http::Response response) {
  const auto executor = stream.get_executor();
  asio::co_spawn(executor, state_->refuse(std::move(stream), std::move(response)), asio::detached);
}

void LiveStream::publish(std::int64_t event_id, const LiveEvent& event) {
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->by_event.find(event_id) == state_->by_event.end()) return;
  }
  publish_frame(event_id, format_live_event(event));
}

std::size_t LiveStream::readers_of(std::int64_t event_id) const {
  const std::lock_guard lock(state_->mutex);
  const auto readers = state_->by_event.find(event_id);
  return readers == state_->by_event.end() ? 0 : readers->second.size();
}

void LiveStream::publish_frame(std::int64_t event_id, std::string bytes) {
  std::vector<std::shared_ptr<Reader>> readers;
  {
    const std::lock_guard lock(state_->mutex);
    const auto found = state_->by_event.find(event_id);
    if (found == state_->by_event.end()) return;
    readers.assign(found->second.begin(), found->second.end());
  }
  const auto frame = std::make_shared<const std::string>(std::move(bytes));
  for (auto& reader : readers) {
    Reader& target = *reader;
    asio::dispatch(target.executor, [state = state_, reader = std::move(reader), frame] {
      state->deliver(*reader, frame);
    });
  }
}

void LiveStream::stop() {
  std::vector<std::shared_ptr<Reader>> readers;
  {
    const std::lock_guard lock(state_->mutex);
    state_->stopped = true;
    for (const auto& [event, event_readers] : state_->by_event)
      readers.insert(readers.end(), event_readers.begin(), event_readers.end());
  }
  for (auto& reader : readers) {
    Reader& target = *reader;
    asio::dispatch(target.executor, [reader = std::move(reader)] { reader->close_soon(); });
  }
}

std::size_t LiveStream::readers() const {
  const std::lock_guard lock(state_->mutex);
  return state_->reader_count;
}

std::uint64_t LiveStream::readers_dropped() const { return state_->dropped; }

}  // namespace flashwire::http
