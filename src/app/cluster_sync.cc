#include "app/cluster_sync.h"

#include <boost/asio/post.hpp>
#include <charconv>
#include <iostream>
#include <sstream>
#include <utility>

namespace flashwire::app {
namespace {

// The first key of the node-id advisory locks (the second is a hash of the id), "FlND": apart
// from the push service's and the migrations' locks, which take one bigint key.
constexpr std::int64_t kNodeLockClass = 0x466c4e44;

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<ClusterSync::Notice> ClusterSync::parse_notice(std::string_view payload) {
  std::vector<std::string_view> words;
  while (!payload.empty() && words.size() < 5) {
    const std::size_t space = payload.find(' ');
    words.push_back(payload.substr(0, space));
    if (space == std::string_view::npos) break;
    payload.remove_prefix(space + 1);
  }
  if (words.size() < 3 || words[0].empty() || words[1].size() != 1) return std::nullopt;
  Notice notice;
  notice.node = std::string(words[0]);
  notice.kind = words[1][0];
  const auto first = parse_id(words[2]);
  if (!first) return std::nullopt;
  notice.first = *first;
  if (notice.kind == 'a' && words.size() == 3) return notice;
  if (std::string_view("uedpn").find(notice.kind) != std::string_view::npos && words.size() == 4) {
    const auto second = parse_id(words[3]);
    if (!second) return std::nullopt;
    notice.second = *second;
    return notice;
  }
  return std::nullopt;
}

ClusterSync::ClusterSync(ClusterSyncDeps deps) : deps_(std::move(deps)) {}

store::Result<std::unique_ptr<ClusterSync>> ClusterSync::create(ClusterSyncDeps deps) {
  if (deps.node_id.empty()) {
    return store::make_error(store::ErrorCode::kInvalid, "cluster: the node id is empty");
  }
  std::unique_ptr<ClusterSync> sync(new ClusterSync(std::move(deps)));
  ClusterSync* self = sync.get();
  auto subscribed = sync->deps_.listener.subscribe(
      std::string(kChannel),
      {.on_notification = [self](std::string_view payload) { self->received(payload); },
       // Whatever other nodes changed meanwhile is unknown: every rendered page goes, and the
       // open live streams are refilled from the store, on the server's thread.
       .on_missed =
           [self] {
             self->deps_.site.invalidate_all();
             boost::asio::post(self->deps_.io, [self] { self->deps_.site.refill_live_streams(); });
           }});
  if (!subscribed) return tl::unexpected(subscribed.error());
  return sync;
}

store::Status ClusterSync::claim_node_id(store::pg::Connection& conn, const std::string& node_id) {
  // The keepalives are the server's side of this session (TCP connections only): the lock of a
  // node whose host died goes within about 25 s, not after the system default of hours, so the
  // node can be started again under its id.
  auto claimed = conn.run(
      "fw_claim_node_id",
      "SELECT set_config('application_name', $1, false), "
      "set_config('tcp_keepalives_idle', '10', false), "
      "set_config('tcp_keepalives_interval', '5', false), "
      "set_config('tcp_keepalives_count', '3', false), "
      "pg_try_advisory_lock($2::integer, hashtext($3))",
      store::pg::Params().add("flashwire node " + node_id).add(kNodeLockClass).add(node_id),
      "claim node id");
  if (!claimed) return tl::unexpected(claimed.error());
  if (!claimed->get_bool(0, 4)) {
    return store::make_error(
        store::ErrorCode::kConflict,
        "node id '" + node_id +
            "' is in use by another running node of this store; give each node its own "
            "[node] id (docs/deploy.md)");
  }
  return {};
}

void ClusterSync::send(const std::string& payload) {
  auto lease = deps_.pool->acquire();
  store::Status sent = lease ? store::pg::notify(**lease, kChannel, payload)
                             : store::Status(tl::unexpected(lease.error()));
  if (sent) {
    sent_.fetch_add(1);
    if (send_failing_) std::cerr << "flashwire: cluster: notifying other nodes works again\n";
    send_failing_ = false;
    return;
  }
  send_failures_.fetch_add(1);
  // Logged once per failing streak: the other nodes keep their pages until the next change
  // that does get through (or until their listener reconnects and drops everything).
  if (!send_failing_) {
    std::cerr << "flashwire: cluster: cannot notify other nodes of a change: "
              << sent.error().message << "\n";
  }
  send_failing_ = true;
}

void ClusterSync::article_changed(const news::Article& article) {
  deps_.site.article_changed(article);
  send(deps_.node_id + " a " + std::to_string(article.id));
}

void ClusterSync::live_update_posted(const news::Article& event, const news::LiveUpdate& update) {
  // As stored, with its revision: the site keeps the newest its streams have had, which is
  // where a refill starts after the listener was away (SiteHandler::refill_live_streams).
  auto stored = deps_.store.find_live_update(update.id);
  deps_.site.live_update_posted(event, stored && *stored ? **stored : update);
  send(deps_.node_id + " u " + std::to_string(event.id) + " " + std::to_string(update.id));
}

namespace {
constexpr std::string_view kChangeKinds = "edpn";  // in the order of news::ContentEvents::LiveChange
}  // namespace

void ClusterSync::live_update_changed(const news::Article& event, const news::LiveUpdate& update,
                                      LiveChange change) {
  deps_.site.live_update_changed(event, update, change);
  send(deps_.node_id + " " + kChangeKinds[static_cast<std::size_t>(change)] + " " +
       std::to_string(event.id) + " " + std::to_string(update.id));
}

void ClusterSync::received(std::string_view payload) {
  const auto notice = parse_notice(payload);
  if (!notice || notice->node == deps_.node_id) return;
  received_.fetch_add(1);
  if (notice->kind == 'a') {
    deps_.site.invalidate_all();
    return;
  }
  // The update is read and streamed on the server's thread, not the listener's.
  if (const std::size_t change = kChangeKinds.find(notice->kind); change != std::string_view::npos) {
    boost::asio::post(deps_.io, [this, event = notice->first, update = notice->second, change] {
      show_live_change(event, update, static_cast<LiveChange>(change));
    });
    return;
  }
  boost::asio::post(deps_.io, [this, event = notice->first, update = notice->second] {
    show_live_update(event, update);
  });
}

void ClusterSync::show_live_update(std::int64_t event_id, std::int64_t update_id) {
  auto event = deps_.store.find_article(event_id);
  auto updates = deps_.store.live_updates_after(event_id, update_id - 1, 1);
  if (!event || !updates) {
    read_failures_.fetch_add(1);
    deps_.site.invalidate_all();  // at least the pages will show it
    return;
  }
  if (!*event || updates->empty() || updates->front().id != update_id) return;  // gone since
  deps_.site.live_update_posted(**event, updates->front());
}

void ClusterSync::show_live_change(std::int64_t event_id, std::int64_t update_id,
                                   LiveChange change) {
  auto event = deps_.store.find_article(event_id);
  auto update = deps_.store.find_live_update(update_id);
  if (!event || !update) {
    read_failures_.fetch_add(1);
    deps_.site.invalidate_all();  // at least the pages will show it
    return;
  }
  if (!*event || !*update || (*update)->article_id != event_id) return;
  // The pages of this node hold the old text or pin: drop them, then tell the open streams.
  deps_.site.live_update_changed(**event, **update, change);
}

std::string ClusterSync::metrics_text() const {
  std::ostringstream out;
  out << "# HELP flashwire_cluster_notifications_sent_total Changes announced to other nodes.\n"
      << "# TYPE flashwire_cluster_notifications_sent_total counter\n"
      << "flashwire_cluster_notifications_sent_total " << sent_.load() << "\n"
      << "# HELP flashwire_cluster_notify_failures_total Changes that could not be announced.\n"
      << "# TYPE flashwire_cluster_notify_failures_total counter\n"
      << "flashwire_cluster_notify_failures_total " << send_failures_.load() << "\n"
      << "# HELP flashwire_cluster_notifications_received_total Changes other nodes announced.\n"
      << "# TYPE flashwire_cluster_notifications_received_total counter\n"
      << "flashwire_cluster_notifications_received_total " << received_.load() << "\n"
      << "# HELP flashwire_cluster_read_failures_total Announced live updates that could not be "
         "read.\n"
      << "# TYPE flashwire_cluster_read_failures_total counter\n"
      << "flashwire_cluster_read_failures_total " << read_failures_.load() << "\n"
      << "# HELP flashwire_cluster_listener_losses_total Connections of the change listener "
         "lost.\n"
      << "# TYPE flashwire_cluster_listener_losses_total counter\n"
      << "flashwire_cluster_listener_losses_total " << deps_.listener.connection_losses() << "\n"
      << "# HELP flashwire_cluster_listener_connected 1 while the change listener is connected.\n"
      << "# TYPE flashwire_cluster_listener_connected gauge\n"
      << "flashwire_cluster_listener_connected " << (deps_.listener.connected() ? 1 : 0) << "\n";
  return out.str();
}

}  // namespace flashwire::app
