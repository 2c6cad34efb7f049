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
//   meanwhile are gone: on reconnecting, every rendered page is dropped, and the open live
//   streams are refilled from the store on the server's thread (SiteHandler::
//   refill_live_streams: what changed after the revision each event's streams last saw).
//
// The listener is the node's one PgListener (serve owns it; the fan-out engine's wake-ups use
// it too). Payloads name the sending node by its id (`[node] id`, by default host:pid; the
// node's own notifications are skipped) and carry ids only — "<node> a <article id>",
// "<node> u <event id> <update id>", and for the live desk's changes
// "<node> e|d|p|n <event id> <update id>" — never content. Two running nodes must not share an
// id: claim_node_id, run on the listener's connection, refuses the second.
//
// Thread safety: the ContentEvents calls come from the server's thread; notifications are
// received on the listener's thread and what touches the site is posted to `io`. The listener
// must be stopped before ClusterSync, the site handler, the store and `io` are gone.
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
  store::pg::PgListener& listener;        // the node's listener; subscribed to by create()
  std::string node_id;                    // this node's id ([node] id), 1-64 printable, no spaces
  site::SiteHandler& site;                // this node's pages and live streams
  store::SiteStore& store;                // read on the server's thread (live updates)
  boost::asio::io_context& io;            // the server's
};

class ClusterSync final : public news::ContentEvents {
 public:
  // The channel every node LISTENs on.
  static constexpr std::string_view kChannel = "flashwire_content";

  // Subscribes to kChannel on deps.listener (started before or after). kInvalid for an empty
  // node id.
  static store::Result<std::unique_ptr<ClusterSync>> create(ClusterSyncDeps deps);

  // For the listener's PgListenerOptions::on_connect: names the session "flashwire node <id>"
  // (pg_stat_activity.application_name, cut to 63 bytes by PostgreSQL) and takes a session-level
  // advisory lock on the id, held as long as the connection (with TCP keepalives of ~25 s on the
  // server's side, so a dead host's lock does not outlive it by long). kConflict when another
  // session holds it — another running node of this store has the same id; kIo when the
  // statement fails.
  static store::Status claim_node_id(store::pg::Connection& conn, const std::string& node_id);

  void article_changed(const news::Article& article) override;
  void live_update_posted(const news::Article& event, const news::LiveUpdate& update) override;
  void live_update_changed(const news::Article& event, const news::LiveUpdate& update,
                           LiveChange change) override;

  // Prometheus text: notifications sent, failed to send, received from other nodes, listener
  // connection losses, and whether the listener is connected now.
  std::string metrics_text() const;

  const std::string& node_id() const { return deps_.node_id; }

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
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> send_failures_{0};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> read_failures_{0};
  std::atomic<bool> send_failing_{false};  // a failing streak is logged once
};

}  // namespace flashwire::app
