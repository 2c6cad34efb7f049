// Server-Sent Events streams keyed by a number: keeps the open connections and fans each event
// out to the readers of its key. The site streams a live event's updates to readers of its live
// page (key: the event's article id); the newsroom streams an alert's figures to editors (key:
// the alert id, publish_frame).
//
// What a reader receives (https://html.spec.whatwg.org/multipage/server-sent-events.html):
//   the response head given to add_reader (200, text/event-stream; no Content-Length: the body
//   ends when the connection closes), then "retry: <ms>" (how long EventSource waits before it
//   reconnects), the backlog, and from then on one event per update:
//
//     id: 42
//     event: update
//     data: {"id":42,"at":1741788300,"html":"<p>…</p>\n"}
//
//   and a comment line (": keep-alive") after every `heartbeat_interval` without an event, so
//   that the reader and proxies see a live connection. EventSource sends the last id it saw as
//   Last-Event-ID when it reconnects; the caller turns that into the backlog.
//
// Bounds: at most `max_readers` readers (accepting() says whether one more fits). Each reader's
// outbox holds at most `max_outbox_events` events and `max_outbox_bytes` bytes; a reader that
// falls further behind is disconnected (counted in readers_dropped()) rather than buffered
// without end: its EventSource reconnects and catches up from the store. A write that does not
// complete within `write_timeout` disconnects too. A reader that closes its end is noticed at
// once (the connection is read), not at the next write.
//
// Ownership: LiveStream owns the connections handed to it. stop() ends them all: queued events
// are dropped, each socket is shut down (FIN, not reset) and closed. The connections' coroutines
// share state with the LiveStream, so it may be destroyed before they finish unwinding.
//
// Thread safety: every member function may be called from any thread. A reader's connection is
// only ever touched on its own executor (the io_context the server accepted it on):
// publish() and stop() hand their work to it, running it at once when called there.
// add_reader() must be called on the executor of the stream it is given.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "http/server.h"

namespace flashwire::http {

struct LiveStreamOptions {
  // Concurrent readers, all events together; one more is refused (the caller answers 503).
  std::size_t max_readers = 2000;
  // Events queued for one reader beyond which it is disconnected. Default 32.
  std::size_t max_outbox_events = 32;
  // Bytes queued for one reader beyond which it is disconnected (one event is always taken, so
  // an update larger than this still reaches a reader who keeps up). Default 1 MiB.
  std::size_t max_outbox_bytes = 1024 * 1024;
  // Quiet time after which a comment line is sent. Default 20 s (proxies often cut idle
  // connections at 30 to 60 s).
  std::chrono::milliseconds heartbeat_interval{20'000};
  // The "retry:" hint: how long a disconnected EventSource waits before reconnecting. 3 s.
  std::chrono::milliseconds retry_hint{3'000};
  // A write (head, event, heartbeat) that takes longer disconnects the reader. Default 30 s.
  std::chrono::milliseconds write_timeout{30'000};
};

// One live update as readers receive it. `html` is trusted HTML (the site renders it from the
// update's Markdown).
struct LiveEvent {
  std::int64_t id = 0;  // the update's id: the SSE event id
  std::int64_t at = 0;  // Unix seconds
  std::string html;
};

// The event's wire form: "id: <id>\nevent: update\ndata: <JSON {id, at, html}>\n\n". The JSON is
// on one line (its string escapes cover line breaks), as a data: field requires.
std::string format_live_event(const LiveEvent& event);

class LiveStream {
 public:
  explicit LiveStream(LiveStreamOptions options = {});
  ~LiveStream();
  LiveStream(const LiveStream&) = delete;
  LiveStream& operator=(const LiveStream&) = delete;

  // Whether add_reader would take one more reader: not stopped and below max_readers.
  bool accepting() const;

  // Takes `stream` as a reader of `event_id` (the live event's article id): writes `head` (a 200
  // response with the stream's headers and no body; it is sent as given, without Content-Length),
  // the retry hint and `backlog` (updates the reader missed, oldest first; not subject to the
  // outbox bounds), then every event published for `event_id` until the reader leaves, falls
  // behind, or stop(). Call only when accepting(); otherwise the connection is closed at once.
  void add_reader(boost::beast::tcp_stream stream, http::Response head, std::int64_t event_id,
                  std::span<const LiveEvent> backlog);

  // Writes `response` (a refusal: 404, 503, …; its Content-Length is set here) and closes the
  // connection. Bounded by write_timeout; not counted as a reader.
  void refuse(boost::beast::tcp_stream stream, http::Response response);

  // Queues `event` for every current reader of `event_id`. Readers whose outbox is full are
  // disconnected.
  void publish(std::int64_t event_id, const LiveEvent& event);

  // As publish, for any event stream keyed like this one (the newsroom streams alerts by id):
  // `frame` is one complete event in the wire form ("event: …\ndata: …\n\n").
  void publish_frame(std::int64_t event_id, std::string frame);
  // Readers of `event_id` connected now.
  std::size_t readers_of(std::int64_t event_id) const;

  // Ends every stream and refuses new readers from then on. Idempotent.
  void stop();

  std::size_t readers() const;            // connected now
  std::uint64_t readers_dropped() const;  // disconnected so far for falling behind

 private:
  struct Reader;
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace flashwire::http
