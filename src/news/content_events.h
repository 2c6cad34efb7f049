// Content-changed events: how the newsroom tells whoever shows content to readers (the site's
// render cache and live streams) that something changed, without including it.
//
// The newsroom calls these after the change is stored; `flashwire serve` passes the site's
// handler (site/site_handler.h) as the listener. Calls run on the caller's thread (the server's),
// inside the request that made the change, and must not block.
#pragma once

#include "news/article.h"

namespace flashwire::news {

class ContentEvents {
 public:
  virtual ~ContentEvents() = default;
  // `article` was created, edited or published, as stored now: pages that show it, lists and
  // the feed included, are stale.
  virtual void article_changed(const Article& article) = 0;
  // `update` was stored for the live event `event` (a published live-category article).
  virtual void live_update_posted(const Article& event, const LiveUpdate& update) = 0;
  // The live desk changed `update` of `event`; `update` is as stored now. kEdited: its text was
  // corrected; kDeleted: it is gone; kPinned: it is the event's pinned update now (the one
  // pinned before, if any, is not); kUnpinned: the event has no pinned update any more.
  // Not pure, so that listeners that show no live pages need not care.
  enum class LiveChange { kEdited, kDeleted, kPinned, kUnpinned };
  virtual void live_update_changed(const Article& event, const LiveUpdate& update,
                                   LiveChange change) {
    (void)event;
    (void)update;
    (void)change;
  }
};

// Listens to nothing: for a newsroom without readers' pages (tools, tests).
class IgnoredContentEvents final : public ContentEvents {
 public:
  void article_changed(const Article&) override {}
  void live_update_posted(const Article&, const LiveUpdate&) override {}
};

}  // namespace flashwire::news
