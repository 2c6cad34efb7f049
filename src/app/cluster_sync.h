// ClusterSync: what readers see stays the same on every node of a site that shares one
// PostgreSQL store. It stands between the newsroom and the node's own site handler as the
// newsroom's news::ContentEvents:
//
// - a change made on this node goes to the local handler (as on one node) and, once stored, to
//   every other node as a NOTIFY on the channel "flashwire_content";
// - a change another node announces drops this node's rendered pages (SiteHandler::
//   invalidate_all, from the listener's thread); a live update is read back from the store on
//   the server's thread and handed to the local handler, which streams it to this node's readers;
//   so is an update the live desk corrected, deleted, pinned or unpinned (as it is stored now);
// - when the listener loses its connection (PostgreSQL restarted, failover), notifications sent
//   meanwhile are gone: on reconnecting, every rendered page is dropped. Live updates posted in
//   between reach this node's readers when their stream reconnects or they reload the page.
//
// Payloads name the sending node (a random id per process; its own notifications are skipped)
// and ids only — "<node> a <article id>", "<node> u <event id> <update id>", and for the live
// desk's changes "<node> e|d|p|n <event id> <update id>" — never content.
//
// Thread safety: the ContentEvents calls come from the server's thread; notifications are
// received on the listener's thread and what touches the site is posted to `io`. stop() (or the
// destructor) must run before the site handler, the store and `io` are gone.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "news/content_events.h"
#include "site/site_handler.h"
#include "store/error.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_listener.h"
#include "store/site_store.h"

namespace flashwire::app {

struct ClusterSyncDeps {
  std::shared_ptr<store::pg::Pool> pool;  // the store's pool: notifications are sent through it
  site::SiteHandler& site;                // this node's pages and live streams
  store::SiteStore& store;                // read on the server's thread (live updates)
  boost::asio::io_context& io;            // the server's
};

class ClusterSync final : public news::ContentEvents {
 public:
  // The channel every node LISTENs on.
  static constexpr std::string_view kChannel = "flashwire_content";

  // Connects the listener (errors as pg::PgListener::start: the server cannot be reached).
  static store::Result<std::unique_ptr<ClusterSync>> start(ClusterSyncDeps deps);
  ~ClusterSync() override;

  void article_changed(const news::Article& article) override;
  void live_update_posted(const news::Article& event, const news::LiveUpdate& update) override;
  void live_update_changed(const news::Article& event, const news::LiveUpdate& update,
                           LiveChange change) override;

  // Stops listening; idempotent.
  void stop();

  // Prometheus text: notifications sent, failed to send, received from other nodes, listener
  // connection losses, and whether the listener is connected now.
  std::string metrics_text() const;

  const std::string& node_id() const { return node_id_; }

  // Parses a payload as sent by another node; exposed for tests. nullopt when malformed.
  struct Notice {
    std::string node;
    // 'a' article changed, 'u' live update posted; the live desk's changes to an update:
    // 'e' edited, 'd' deleted, 'p' pinned, 'n' unpinned.
    char kind = 0;
    std::int64_t first = 0;
    std::int64_t second = 0;
  };
  static std::optional<Notice> parse_notice(std::string_view payload);

 private:
  explicit ClusterSync(ClusterSyncDeps deps);
  void send(const std::string& payload);
  void received(std::string_view payload);
  void show_live_update(std::int64_t event_id, std::int64_t update_id);
  void show_live_change(std::int64_t event_id, std::int64_t update_id, LiveChange change);

  ClusterSyncDeps deps_;
  std::string node_id_;
  std::unique_ptr<store::pg::PgListener> listener_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> send_failures_{0};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> read_failures_{0};
  std::atomic<bool> send_failing_{false};  // a failing streak is logged once
};

}  // namespace flashwire::app
