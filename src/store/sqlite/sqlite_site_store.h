// SiteStore on one SQLite database file: the news site's and newsroom's durable state.
//
// Durability, locking and sharing are as for the push store (see sqlite_push_store.h): WAL mode
// with synchronous=NORMAL, every mutating call one BEGIN IMMEDIATE transaction, several stores may
// open the same file and a writer waits up to `busy_timeout_ms` for the lock before failing with
// kIo. The file is told apart from a push store's (and any other SQLite file) by its
// PRAGMA application_id; opening one as the other is kCorrupt.
//
// What the schema holds, and so what is kInvalid (the message names the field, never its value):
// - Article: slug of 1 to 120 characters from [a-z0-9-]; category one of the Category values;
//   image_alt not empty when image_url is set.
// - Subscription: endpoint, p256dh and auth not empty; categories a non-empty subset of the
//   Category bits (1 to 7).
// - Alert: category one of the Category values; urgency one of RFC 8030's "very-low", "low",
//   "normal", "high"; ttl_seconds >= 0; article_id >= 0; status one of the AlertStatus values.
// - ApiToken: name not empty; secret_hash 64 lower-case hex characters (a SHA-256 in hex);
//   each scope not empty and without whitespace (scopes are stored space-separated).
// - AuditEntry: action not empty.
// - LiveUpdate: body_markdown not empty.
// - CategorySet arguments of queries: bits other than the Category values are kInvalid.
//
// Behaviour the SiteStore contract leaves open, decided here:
// - create_* ignore the id in their argument; update_article finds the article by id and replaces
//   every other field (a new slug that another article has is kConflict).
// - An alert's article_id, when not 0, must name a stored article: kNotFound otherwise.
// - upsert_subscription stores created_at and updated_at as given when it creates; when the
//   endpoint exists it replaces p256dh, auth and categories and takes updated_at from the
//   argument, keeping id and created_at.
// - count_subscriptions(0) is 0; subscriptions_page with a `category` that is not exactly one
//   Category value is kInvalid; a limit of 0 gives an empty page.
// - latest_articles orders by published_at, newest first, then by id, highest first;
//   article_count counts drafts too.
// - recent_alerts and recent_audit are newest first by id (the order they were stored in).
// - add_live_update checks that the article is published and live in the same transaction as
//   the insert; live update ids are never reused (AUTOINCREMENT), across events too.
// - list_tokens lists revoked tokens too, ordered by name. Revoking a revoked token succeeds.
// - set_alert_status allows any transition; it is the caller's state machine.
// - Error messages name the operation and SQLite's reason, never endpoints, keys, secrets or
// hashes.
//
// Thread safety: as SiteStore; one thread at a time per store object.
#pragma once

#include <memory>
#include <string>

#include "store/error.h"
#include "store/site_store.h"
#include "store/sqlite/sqlite_options.h"

namespace flashwire::store {

// The schema version this code writes and reads (PRAGMA user_version).
// Version 2 added live_updates, version 3 the full-text index articles_fts (FTS5), version 4
// per-subscription beacons (alert_beacons, alerts.sent), version 5 beacon arrival times and push
// services and the opt-in counters (optin_counts), version 6 the live desk's edited, deleted,
// pinned and revision columns of live_updates, version 7 articles.video_url, version 8 scheduled
// alerts (send_at, scheduled), version 9 articles.created_by, version 10
// articles.image_renditions; an older file is upgraded when opened, keeping its data.
inline constexpr int kSqliteSiteStoreSchemaVersion = 10;

// Opens the site store at `path`, creating the file and its schema if the file does not exist or
// is empty, and upgrading the schema of an older file in place (one transaction; nothing stored
// is lost). ":memory:" gives a private in-memory store (no WAL).
// Errors: kIo when the file cannot be opened or created (missing directory, no permission, the
// database stays locked past the busy timeout); kCorrupt when the file is not a SQLite database,
// is another application's database (a push store's included), has a schema version newer than
// this code knows, or lacks the tables its version promises.
Result<std::unique_ptr<SiteStore>> open_sqlite_site_store(const std::string& path,
                                                          const SqliteOptions& options = {});

}  // namespace flashwire::store
