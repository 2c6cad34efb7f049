#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backends.h"
#include "raw_db.h"
#include "store/site_state.h"
#include "store/sqlite/sqlite_push_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::store {
namespace {

using testing::Backend;
using testing::RawDb;

constexpr char kEndpoint1[] = "https://push.example.net/wpush/v2/gAAAAABk-one";
constexpr char kEndpoint2[] = "https://push.example.net/wpush/v2/gAAAAABk-two";
constexpr char kP256dh[] =
    "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM";
constexpr char kAuth[] = "tBHItJI5svbpez7KI4CCXg";
constexpr CategorySet kBreaking = static_cast<CategorySet>(Category::kBreaking);
constexpr CategorySet kLive = static_cast<CategorySet>(Category::kLive);
constexpr CategorySet kExclusive = static_cast<CategorySet>(Category::kExclusive);

// A hex SHA-256 made of one repeated digit: distinct per digit, and easy to spot in a message.
std::string hash_of(char digit) { return std::string(64, digit); }

// PRAGMA user_version of a file this code wrote or upgraded, as RawDb::rows prints it.
const std::string kCurrentVersion = std::to_string(kSqliteSiteStoreSchemaVersion) + "\n";

// Every field, so that EXPECT_EQ compares and prints whole records.
auto fields(const Article& a) {
  return std::make_tuple(a.id, a.slug, a.headline, a.standfirst, a.byline, a.dateline,
                         static_cast<int>(a.category), a.image_url, a.image_alt, a.body_markdown,
                         a.published, a.published_at, a.updated_at, a.video_url, a.created_by,
                         a.image_renditions);
}
auto fields(const Subscription& s) {
  return std::make_tuple(s.id, s.endpoint, s.p256dh, s.auth, static_cast<int>(s.categories),
                         s.created_at, s.updated_at);
}
auto fields(const Alert& a) {
  return std::make_tuple(a.id, a.article_id, static_cast<int>(a.category), a.title, a.body, a.url,
                         a.urgency, a.ttl_seconds, a.topic, static_cast<int>(a.status),
                         a.created_by, a.created_at, a.send_at, a.scheduled);
}
auto fields(const ApiToken& t) {
  return std::make_tuple(t.id, t.name, t.secret_hash, t.scopes, t.created_at, t.revoked);
}
auto fields(const AuditEntry& e) {
  return std::make_tuple(e.id, e.at, e.actor, e.action, e.detail);
}

template <typename T>
std::vector<std::int64_t> ids_of(const std::vector<T>& records) {
  std::vector<std::int64_t> ids;
  for (const auto& r : records) ids.push_back(r.id);
  return ids;
}

std::vector<std::string> slugs_of(const std::vector<Article>& articles) {
  std::vector<std::string> slugs;
  for (const auto& a : articles) slugs.push_back(a.slug);
  return slugs;
}

// An article as the newsroom would store it; the arguments vary what the tests vary.
Article article(const std::string& slug, Category category = Category::kBreaking,
                bool published = true, std::int64_t published_at = 1000) {
  Article a;
  a.slug = slug;
  a.headline = "Harbour bridge reopens after storm";
  a.standfirst = "Traffic is flowing again across the estuary, eight hours after the closure.";
  a.byline = "By Ana Ruiz";
  a.dateline = "LISBON";
  a.category = category;
  a.image_url = "https://img.flashwire.example/bridge.jpg";
  a.image_alt = "Cars crossing the bridge at dusk";
  a.image_renditions = {{"https://img.flashwire.example/bridge-480.jpg", 480},
                        {"/media/bridge-1440.jpg?v=2", 1440}};
  a.body_markdown = "The bridge **reopened** at 18:00.\n\n> Quote with \"marks\" and 'ticks'.";
  a.video_url = "https://video.flashwire.example/bridge.mp4";
  a.published = published;
  a.published_at = published ? published_at : 0;
  a.updated_at = published_at + 5;
  a.created_by = "desk-ana";
  return a;
}

Subscription subscription(const std::string& endpoint, CategorySet categories,
                          std::int64_t now = 1000) {
  return Subscription{0, endpoint, kP256dh, kAuth, categories, now, now};
}

Alert alert(std::int64_t article_id = 0, Category category = Category::kBreaking) {
  Alert a;
  a.article_id = article_id;
  a.category = category;
  a.title = "Bridge reopens";
  a.body = "Traffic flowing again after eight hours.";
  a.url = "https://flashwire.example/a/bridge-reopens";
  a.urgency = "high";
  a.ttl_seconds = 3600;
  a.topic = "bridge";
  a.status = AlertStatus::kQueued;
  a.created_by = "desk-ana";
  a.created_at = 2000;
  return a;
}

ApiToken token(const std::string& name, char hash_digit,
               std::vector<std::string> scopes = {"articles:write", "alerts:send"}) {
  return ApiToken{0, name, hash_of(hash_digit), std::move(scopes), 3000, false};
}

// A site store on the backend backend() names, opened as the application opens it.
class SiteStoreFixture : public testing::BackendFixture<SiteStore, &SiteState::open_site_store> {
 protected:
  SiteStoreFixture() : BackendFixture("site.sqlite") {}

  // Everything stored, table by table, read behind the store's back: equal snapshots mean that
  // nothing changed.
  std::string snapshot() {
    std::string out;
    for (const char* table : {"articles", "subscriptions", "alerts", "api_tokens", "audit_log"}) {
      out +=
          std::string(table) + ":\n" + rows(std::string("SELECT * FROM ") + table + " ORDER BY id");
    }
    out += "alert_events:\n" + rows("SELECT * FROM alert_events ORDER BY alert_id, event");
    out += "live_updates:\n" + rows("SELECT * FROM live_updates ORDER BY id");
    return out;
  }

  std::int64_t create_article_ok(const Article& a) {
    auto id = store().create_article(a);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or(0);
  }
  std::int64_t upsert_ok(const Subscription& s) {
    auto id = store().upsert_subscription(s);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or(0);
  }
  std::int64_t create_alert_ok(const Alert& a) {
    auto id = store().create_alert(a);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or(0);
  }
  std::int64_t create_token_ok(const ApiToken& t) {
    auto id = store().create_token(t);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or(0);
  }
  void append_audit_ok(const AuditEntry& e) {
    auto ok = store().append_audit(e);
    EXPECT_TRUE(ok) << ok.error().message;
  }

  std::vector<Article> latest(CategorySet category, std::size_t limit = 100) {
    auto articles = store().latest_articles(category, limit);
    EXPECT_TRUE(articles) << articles.error().message;
    return articles.value_or(std::vector<Article>{});
  }
  std::vector<Subscription> page(Category category, std::int64_t after_id, std::size_t limit) {
    auto subs = store().subscriptions_page(category, after_id, limit);
    EXPECT_TRUE(subs) << subs.error().message;
    return subs.value_or(std::vector<Subscription>{});
  }
  std::size_t count_subs(CategorySet categories) {
    auto n = store().count_subscriptions(categories);
    EXPECT_TRUE(n) << n.error().message;
    return n.value_or(0);
  }

  std::vector<ArticleMatch> search(const std::string& query, std::size_t limit = 10) {
    auto matches = store().search_articles(query, limit);
    EXPECT_TRUE(matches) << query << ": " << matches.error().message;
    return matches.value_or(std::vector<ArticleMatch>{});
  }
  static std::vector<std::string> slugs(const std::vector<ArticleMatch>& matches) {
    std::vector<std::string> out;
    for (const auto& m : matches) out.push_back(m.article.slug);
    return out;
  }
  static Article story(const std::string& slug, const std::string& headline,
                       const std::string& standfirst, const std::string& body,
                       bool published = true) {
    Article a = article(slug, Category::kBreaking, published);
    a.headline = headline;
    a.standfirst = standfirst;
    a.body_markdown = body;
    return a;
  }
};

// The contract, on every backend.
class SiteStoreTest : public SiteStoreFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, SiteStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         testing::backend_name);

// What only the SQLite files do (WAL, application id, upgrades of old files, locking).
class SqliteSiteStoreTest : public SiteStoreFixture {
 protected:
  Backend backend() const override { return Backend::kSqlite; }
};

// Asserts a failed call's code and that its message gives nothing away.
template <typename T>
void expect_error(const Result<T>& result, ErrorCode code,
                  const std::vector<std::string>& secrets = {}) {
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, code) << result.error().message;
  for (const auto& secret : secrets) {
    EXPECT_EQ(result.error().message.find(secret), std::string::npos) << result.error().message;
  }
}

// --- editors' own subscriptions (test sends) ---

TEST_P(SiteStoreTest, EditorSubscriptionsAreOnePerTokenAndNeverInAnAudience) {
  const auto ana = create_token_ok(token("desk-ana", 'a'));
  const auto ben = create_token_ok(token("desk-ben", 'b'));
  EXPECT_FALSE(store().find_editor_subscription(ana).value().has_value());

  ASSERT_TRUE(store().put_editor_subscription({ana, kEndpoint1, kP256dh, kAuth, 100}));
  ASSERT_TRUE(store().put_editor_subscription({ben, kEndpoint2, kP256dh, kAuth, 101}));
  const EditorSubscription stored = store().find_editor_subscription(ana).value().value();
  EXPECT_EQ(stored.token_id, ana);
  EXPECT_EQ(stored.endpoint, kEndpoint1);
  EXPECT_EQ(stored.p256dh, kP256dh);
  EXPECT_EQ(stored.auth, kAuth);
  EXPECT_EQ(stored.created_at, 100);

  // A second one replaces the first (one browser per editor).
  ASSERT_TRUE(store().put_editor_subscription({ana, kEndpoint2, kP256dh, kAuth, 200}));
  EXPECT_EQ(store().find_editor_subscription(ana).value()->endpoint, kEndpoint2);
  EXPECT_EQ(store().find_editor_subscription(ana).value()->created_at, 200);

  // Readers' side untouched: no audience contains an editor's subscription.
  EXPECT_EQ(count_subs(static_cast<CategorySet>(kBreaking | kLive | kExclusive)), 0u);
  EXPECT_TRUE(page(Category::kBreaking, 0, 10).empty());
  EXPECT_FALSE(store().find_subscription(kEndpoint2).value().has_value());

  // Deleting by endpoint only takes that one; "" takes whatever is stored.
  EXPECT_FALSE(store().delete_editor_subscription(ana, kEndpoint1).value());
  EXPECT_TRUE(store().find_editor_subscription(ana).value().has_value());
  EXPECT_TRUE(store().delete_editor_subscription(ana, kEndpoint2).value());
  EXPECT_FALSE(store().find_editor_subscription(ana).value().has_value());
  EXPECT_TRUE(store().delete_editor_subscription(ben, "").value());
  EXPECT_FALSE(store().delete_editor_subscription(ben, "").value());
}

TEST_P(SiteStoreTest, EditorSubscriptionsRefuseUnknownTokensAndEmptyFields) {
  const auto ana = create_token_ok(token("desk-ana", 'a'));
  expect_error(store().put_editor_subscription({ana + 100, kEndpoint1, kP256dh, kAuth, 1}),
               ErrorCode::kNotFound, {kEndpoint1});
  expect_error(store().put_editor_subscription({ana, "", kP256dh, kAuth, 1}), ErrorCode::kInvalid);
  expect_error(store().put_editor_subscription({ana, kEndpoint1, "", kAuth, 1}),
               ErrorCode::kInvalid);
  expect_error(store().put_editor_subscription({ana, kEndpoint1, kP256dh, "", 1}),
               ErrorCode::kInvalid);
  EXPECT_FALSE(store().find_editor_subscription(ana).value().has_value());
  EXPECT_FALSE(store().find_editor_subscription(ana + 100).value().has_value());
}

// --- articles ---

TEST_P(SiteStoreTest, CreateArticleRoundTripsEveryField) {
  Article published = article("bridge-reopens", Category::kLive, true, 1000);
  Article draft = article("budget-vote-2025", Category::kExclusive, false);
  draft.image_url.clear();
  draft.image_alt.clear();  // no image: no alt text needed, and no renditions
  draft.image_renditions.clear();
  published.id = create_article_ok(published);
  draft.id = create_article_ok(draft);
  EXPECT_GT(published.id, 0);
  EXPECT_NE(draft.id, published.id);

  EXPECT_EQ(fields(store().find_article(published.id).value().value()), fields(published));
  EXPECT_EQ(fields(store().find_article(draft.id).value().value()), fields(draft));
  EXPECT_EQ(fields(store().find_article_by_slug("budget-vote-2025").value().value()),
            fields(draft));
  EXPECT_EQ(store().article_count(), 2u);  // drafts count
}

TEST_P(SiteStoreTest, CreateArticleIgnoresTheIdItIsGiven) {
  Article a = article("given-id");
  a.id = 4242;
  const auto id = create_article_ok(a);
  EXPECT_NE(id, 4242);
  EXPECT_FALSE(store().find_article(4242).value().has_value());
}

TEST_P(SiteStoreTest, FindArticleIsEmptyWhenAbsent) {
  create_article_ok(article("present"));
  EXPECT_FALSE(store().find_article(999).value().has_value());
  EXPECT_FALSE(store().find_article_by_slug("absent").value().has_value());
  EXPECT_FALSE(store().find_article_by_slug("").value().has_value());
}

TEST_P(SiteStoreTest, CreateArticleWithATakenSlugConflictsAndKeepsTheOriginal) {
  Article original = article("storm-warning", Category::kBreaking, true, 1000);
  original.id = create_article_ok(original);
  const std::string before = snapshot();

  Article other = article("storm-warning", Category::kLive, false);
  other.headline = "Something else entirely";
  expect_error(store().create_article(other), ErrorCode::kConflict);

  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(store().find_article_by_slug("storm-warning").value().value()),
            fields(original));
  EXPECT_EQ(store().article_count(), 1u);
}

TEST_P(SiteStoreTest, UpdateArticleReplacesEveryFieldButTheId) {
  Article a = article("draft-slug", Category::kBreaking, false);
  a.id = create_article_ok(a);
  const auto other_id = create_article_ok(article("other"));

  Article changed = article("final-slug", Category::kExclusive, true, 5000);
  changed.id = a.id;
  changed.headline = "Final headline";
  changed.image_url.clear();
  changed.image_alt.clear();
  changed.image_renditions.clear();
  ASSERT_TRUE(store().update_article(changed));

  EXPECT_EQ(fields(store().find_article(a.id).value().value()), fields(changed));
  EXPECT_FALSE(store().find_article_by_slug("draft-slug").value().has_value());
  EXPECT_EQ(fields(store().find_article_by_slug("final-slug").value().value()), fields(changed));
  EXPECT_EQ(store().find_article(other_id).value().value().slug, "other");
  EXPECT_EQ(store().article_count(), 2u);
}

TEST_P(SiteStoreTest, UpdateArticleOfAnAbsentIdIsNotFoundAndWritesNothing) {
  create_article_ok(article("present"));
  const std::string before = snapshot();
  Article absent = article("absent");
  absent.id = 999;
  expect_error(store().update_article(absent), ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(SiteStoreTest, UpdateArticleToAnotherArticlesSlugConflicts) {
  Article a = article("first");
  a.id = create_article_ok(a);
  Article b = article("second");
  b.id = create_article_ok(b);
  const std::string before = snapshot();

  Article clash = b;
  clash.slug = "first";
  clash.headline = "Changed";
  expect_error(store().update_article(clash), ErrorCode::kConflict);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(store().find_article(b.id).value().value()), fields(b));
}

TEST_P(SiteStoreTest, ArticlesRejectWhatTheSchemaCannotHold) {
  Article existing = article("existing");
  existing.id = create_article_ok(existing);
  const std::string before = snapshot();

  struct Case {
    const char* name;
    std::function<void(Article&)> spoil;
  };
  const Case cases[] = {
      {"empty slug", [](Article& a) { a.slug.clear(); }},
      {"upper case", [](Article& a) { a.slug = "Bridge-Reopens"; }},
      {"underscore", [](Article& a) { a.slug = "bridge_reopens"; }},
      {"space", [](Article& a) { a.slug = "bridge reopens"; }},
      {"slash", [](Article& a) { a.slug = "news/bridge"; }},
      {"non-ASCII", [](Article& a) { a.slug = "ponte-s\xc3\xa3o"; }},
      {"NUL byte", [](Article& a) { a.slug = std::string("ab\0cd", 5); }},
      {"121 characters", [](Article& a) { a.slug = std::string(121, 'a'); }},
      {"category 0", [](Article& a) { a.category = static_cast<Category>(0); }},
      {"category 3", [](Article& a) { a.category = static_cast<Category>(3); }},
      {"category 8", [](Article& a) { a.category = static_cast<Category>(8); }},
      {"image without alt", [](Article& a) { a.image_alt.clear(); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Article fresh = article("fresh");
    c.spoil(fresh);
    expect_error(store().create_article(fresh), ErrorCode::kInvalid);
    Article update = existing;
    c.spoil(update);
    expect_error(store().update_article(update), ErrorCode::kInvalid);
    EXPECT_EQ(snapshot(), before);
  }
}

TEST_P(SiteStoreTest, ArticlesAcceptEverySlugCharacterAndTheLongestSlug) {
  const std::string slugs[] = {"a", "0", "-", "abc-xyz-0123456789", std::string(120, 'z')};
  for (const auto& slug : slugs) {
    SCOPED_TRACE(slug);
    const auto id = create_article_ok(article(slug));
    EXPECT_EQ(store().find_article_by_slug(slug).value().value().id, id);
  }
}

TEST_P(SiteStoreTest, LatestArticlesArePublishedOnlyNewestFirst) {
  create_article_ok(article("old-breaking", Category::kBreaking, true, 1000));
  create_article_ok(article("draft-breaking", Category::kBreaking, false));
  create_article_ok(article("live-blog", Category::kLive, true, 3000));
  create_article_ok(article("exclusive", Category::kExclusive, true, 2000));
  create_article_ok(article("new-breaking", Category::kBreaking, true, 4000));
  create_article_ok(article("draft-live", Category::kLive, false));
  // Same publication time: the one stored later comes first.
  create_article_ok(article("tie-first", Category::kExclusive, true, 2500));
  create_article_ok(article("tie-second", Category::kLive, true, 2500));

  using Slugs = std::vector<std::string>;
  struct Case {
    CategorySet category;
    std::size_t limit;
    Slugs expected;
  };
  const Case cases[] = {
      {0,
       100,
       {"new-breaking", "live-blog", "tie-second", "tie-first", "exclusive", "old-breaking"}},
      {0, 2, {"new-breaking", "live-blog"}},
      {0, 0, {}},
      {kBreaking, 100, {"new-breaking", "old-breaking"}},
      {kLive, 100, {"live-blog", "tie-second"}},
      {kExclusive, 100, {"tie-first", "exclusive"}},
      {kLive | kExclusive, 3, {"live-blog", "tie-second", "tie-first"}},
      {kBreaking | kLive | kExclusive,
       100,
       {"new-breaking", "live-blog", "tie-second", "tie-first", "exclusive", "old-breaking"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("category " + std::to_string(c.category) + ", limit " + std::to_string(c.limit));
    EXPECT_EQ(slugs_of(latest(c.category, c.limit)), c.expected);
  }
  EXPECT_EQ(store().article_count(), 8u);
}

TEST_P(SiteStoreTest, DraftArticlesListEveryDraftWithItsAuthorNewestUpdateFirst) {
  Article mine = article("mine", Category::kBreaking, false);
  Article theirs = article("theirs", Category::kLive, false);
  theirs.created_by = "desk-bo";
  theirs.updated_at = 5000;
  mine.id = create_article_ok(mine);
  theirs.id = create_article_ok(theirs);
  create_article_ok(article("out", Category::kBreaking, true));
  auto drafts = store().draft_articles(10);
  ASSERT_TRUE(drafts) << drafts.error().message;
  ASSERT_EQ(drafts->size(), 2u);
  EXPECT_EQ(fields(drafts->at(0)), fields(theirs));
  EXPECT_EQ(fields(drafts->at(1)), fields(mine));
  EXPECT_EQ(store().draft_articles(1).value().size(), 1u);
  // An update keeps the author; publishing takes it off the list.
  Article edited = mine;
  edited.created_by = "someone-else";
  edited.published = true;
  edited.published_at = 6000;
  ASSERT_TRUE(store().update_article(edited));
  EXPECT_EQ(store().find_article(mine.id).value()->created_by, "desk-ana");
  EXPECT_EQ(ids_of(store().draft_articles(10).value()), std::vector<std::int64_t>{theirs.id});
}

TEST_P(SiteStoreTest, LatestArticlesFollowPublishingAndUnpublishing) {
  Article a = article("story", Category::kBreaking, false);
  a.id = create_article_ok(a);
  EXPECT_TRUE(latest(0).empty());

  a.published = true;
  a.published_at = 7000;
  ASSERT_TRUE(store().update_article(a));
  ASSERT_EQ(latest(0).size(), 1u);
  EXPECT_EQ(fields(latest(0)[0]), fields(a));

  a.published = false;
  a.published_at = 0;
  ASSERT_TRUE(store().update_article(a));
  EXPECT_TRUE(latest(0).empty());
}

TEST_P(SiteStoreTest, LatestArticlesRejectsUnknownCategoryBits) {
  create_article_ok(article("story"));
  expect_error(store().latest_articles(8, 10), ErrorCode::kInvalid);
  expect_error(store().latest_articles(0xff, 10), ErrorCode::kInvalid);
}

// --- subscriptions ---

TEST_P(SiteStoreTest, UpsertSubscriptionCreatesAndFindReturnsEveryField) {
  Subscription s = subscription(kEndpoint1, kBreaking | kExclusive, 1000);
  s.updated_at = 1001;
  s.id = upsert_ok(s);
  EXPECT_GT(s.id, 0);
  EXPECT_EQ(fields(store().find_subscription(kEndpoint1).value().value()), fields(s));
  EXPECT_FALSE(store().find_subscription(kEndpoint2).value().has_value());
}

TEST_P(SiteStoreTest, UpsertSubscriptionIsIdempotentByEndpoint) {
  const auto id = upsert_ok(subscription(kEndpoint1, kBreaking, 1000));
  const auto other = upsert_ok(subscription(kEndpoint2, kLive, 1000));
  const std::string before = snapshot();

  // The same subscription again: the same id, nothing else changes.
  EXPECT_EQ(upsert_ok(subscription(kEndpoint1, kBreaking, 1000)), id);
  EXPECT_EQ(snapshot(), before);

  // New keys and categories replace the old; id and created_at stay; updated_at moves.
  Subscription renewed{99, kEndpoint1, "BNewKey", "newAuth", kLive | kExclusive, 5000, 5000};
  EXPECT_EQ(upsert_ok(renewed), id);
  EXPECT_EQ(
      fields(store().find_subscription(kEndpoint1).value().value()),
      fields(Subscription{id, kEndpoint1, "BNewKey", "newAuth", kLive | kExclusive, 1000, 5000}));
  EXPECT_EQ(store().find_subscription(kEndpoint2).value().value().id, other);
  EXPECT_EQ(count_subs(kBreaking | kLive | kExclusive), 2u);
  EXPECT_EQ(count_subs(kBreaking), 0u);
}

TEST_P(SiteStoreTest, SubscriptionsRejectWhatTheSchemaCannotHold) {
  upsert_ok(subscription(kEndpoint1, kBreaking));
  const std::string before = snapshot();

  struct Case {
    const char* name;
    std::function<void(Subscription&)> spoil;
  };
  const Case cases[] = {
      {"empty endpoint", [](Subscription& s) { s.endpoint.clear(); }},
      {"empty p256dh", [](Subscription& s) { s.p256dh.clear(); }},
      {"empty auth", [](Subscription& s) { s.auth.clear(); }},
      {"no categories", [](Subscription& s) { s.categories = 0; }},
      {"unknown category bit", [](Subscription& s) { s.categories = 8; }},
      {"all bits", [](Subscription& s) { s.categories = 0xff; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // Both as a new subscription and as a change to the stored one.
    for (const char* endpoint : {kEndpoint2, kEndpoint1}) {
      Subscription s = subscription(endpoint, kLive, 2000);
      c.spoil(s);
      expect_error(store().upsert_subscription(s), ErrorCode::kInvalid, {endpoint, kP256dh, kAuth});
      EXPECT_EQ(snapshot(), before);
    }
  }
}

TEST_P(SiteStoreTest, DeleteSubscriptionReportsWhetherItWasThere) {
  upsert_ok(subscription(kEndpoint1, kBreaking));
  const auto kept = upsert_ok(subscription(kEndpoint2, kBreaking));
  EXPECT_EQ(store().delete_subscription(kEndpoint1), true);
  EXPECT_EQ(store().delete_subscription(kEndpoint1), false);
  EXPECT_EQ(store().delete_subscription("https://push.example.net/never"), false);
  EXPECT_FALSE(store().find_subscription(kEndpoint1).value().has_value());
  EXPECT_EQ(ids_of(page(Category::kBreaking, 0, 10)), std::vector<std::int64_t>{kept});

  // Subscribing again after unsubscribing is a new subscription.
  EXPECT_NE(upsert_ok(subscription(kEndpoint1, kBreaking)), 0);
  EXPECT_EQ(count_subs(kBreaking), 2u);
}

TEST_P(SiteStoreTest, CountSubscriptionsCountsThoseThatShareAnyCategory) {
  // One subscription for each of the seven category sets, and a second for "breaking" only.
  for (CategorySet set = 1; set <= 7; ++set) {
    upsert_ok(subscription("https://push.example.net/set-" + std::to_string(set), set));
  }
  upsert_ok(subscription("https://push.example.net/set-1-again", kBreaking));

  for (CategorySet query = 0; query <= 7; ++query) {
    SCOPED_TRACE("categories " + std::to_string(query));
    std::size_t expected = (query & kBreaking) != 0 ? 1 : 0;  // the extra subscription
    for (CategorySet set = 1; set <= 7; ++set) expected += (set & query) != 0 ? 1 : 0;
    EXPECT_EQ(count_subs(query), expected);
  }
  EXPECT_EQ(count_subs(kBreaking), 5u);  // sets 1, 3, 5, 7 and the extra
  expect_error(store().count_subscriptions(8), ErrorCode::kInvalid);
}

TEST_P(SiteStoreTest, SubscriptionsPagePagesThroughAllMatchesInIdOrder) {
  constexpr int kTotal = 2500;
  constexpr std::size_t kPageSize = 1000;
  struct Stored {
    std::int64_t id;
    CategorySet categories;
  };
  std::vector<Stored> stored;
  for (int i = 0; i < kTotal; ++i) {
    const auto categories = static_cast<CategorySet>(i % 7 + 1);
    stored.push_back(
        {upsert_ok(subscription("https://push.example.net/s/" + std::to_string(i), categories)),
         categories});
  }
  // Some unsubscribe part-way: their ids must not come back.
  for (int i = 0; i < kTotal; i += 10) {
    ASSERT_EQ(store().delete_subscription("https://push.example.net/s/" + std::to_string(i)), true);
    stored[static_cast<std::size_t>(i)].categories = 0;
  }

  for (const Category category : {Category::kBreaking, Category::kLive, Category::kExclusive}) {
    const auto bit = static_cast<CategorySet>(category);
    SCOPED_TRACE("category " + std::to_string(bit));
    std::vector<std::int64_t> expected;
    for (const auto& s : stored) {
      if ((s.categories & bit) != 0) expected.push_back(s.id);
    }
    ASSERT_GT(expected.size(), kPageSize);

    std::vector<std::int64_t> seen;
    std::int64_t after = 0;
    std::size_t pages = 0;
    for (;;) {
      // Bounded, so that paging that never reaches the end fails instead of hanging.
      ASSERT_LE(pages, expected.size() / kPageSize + 1) << "paging does not end";
      const auto subs = page(category, after, kPageSize);
      ASSERT_LE(subs.size(), kPageSize);
      if (subs.empty()) break;
      ++pages;
      for (const auto& s : subs) {
        ASSERT_GT(s.id, after);
        EXPECT_NE(s.categories & bit, 0);
        EXPECT_EQ(s.p256dh, kP256dh);
        seen.push_back(s.id);
      }
      after = subs.back().id;
    }
    EXPECT_EQ(seen, expected);  // every match exactly once, ascending
    EXPECT_EQ(pages, (expected.size() + kPageSize - 1) / kPageSize);
    EXPECT_EQ(count_subs(bit), expected.size());
  }
}

TEST_P(SiteStoreTest, SubscriptionsPageLimitsAndArguments) {
  const auto a = upsert_ok(subscription(kEndpoint1, kBreaking | kLive));
  const auto b = upsert_ok(subscription(kEndpoint2, kLive));
  EXPECT_EQ(ids_of(page(Category::kLive, 0, 10)), (std::vector<std::int64_t>{a, b}));
  EXPECT_EQ(ids_of(page(Category::kLive, -5, 1)), std::vector<std::int64_t>{a});
  EXPECT_EQ(ids_of(page(Category::kLive, a, 10)), std::vector<std::int64_t>{b});
  EXPECT_TRUE(page(Category::kLive, b, 10).empty());
  EXPECT_TRUE(page(Category::kLive, 0, 0).empty());
  EXPECT_TRUE(page(Category::kExclusive, 0, 10).empty());
  for (const int bad : {0, 3, 7, 8}) {
    SCOPED_TRACE(bad);
    expect_error(store().subscriptions_page(static_cast<Category>(bad), 0, 10),
                 ErrorCode::kInvalid);
  }
}

// --- alerts ---

TEST_P(SiteStoreTest, CreateAlertRoundTripsEveryField) {
  const auto article_id = create_article_ok(article("bridge-reopens"));
  Alert tied = alert(article_id, Category::kLive);
  tied.urgency = "very-low";
  tied.ttl_seconds = 0;
  tied.status = AlertStatus::kSending;
  tied.send_at = 2600;
  Alert untied = alert(0, Category::kExclusive);
  untied.topic.clear();
  untied.url.clear();
  tied.id = create_alert_ok(tied);
  untied.id = create_alert_ok(untied);
  EXPECT_GT(tied.id, 0);
  EXPECT_NE(untied.id, tied.id);

  EXPECT_EQ(fields(store().find_alert(tied.id).value().value()), fields(tied));
  EXPECT_EQ(fields(store().find_alert(untied.id).value().value()), fields(untied));
  EXPECT_FALSE(store().find_alert(999).value().has_value());
}

TEST_P(SiteStoreTest, CreateAlertForAnAbsentArticleIsNotFoundAndWritesNothing) {
  create_article_ok(article("present"));
  const std::string before = snapshot();
  expect_error(store().create_alert(alert(999)), ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(SiteStoreTest, AlertsRejectWhatTheSchemaCannotHold) {
  create_alert_ok(alert());
  const std::string before = snapshot();
  struct Case {
    const char* name;
    std::function<void(Alert&)> spoil;
  };
  const Case cases[] = {
      {"category 0", [](Alert& a) { a.category = static_cast<Category>(0); }},
      {"category 6", [](Alert& a) { a.category = static_cast<Category>(6); }},
      {"unknown urgency", [](Alert& a) { a.urgency = "urgent"; }},
      {"empty urgency", [](Alert& a) { a.urgency.clear(); }},
      {"upper-case urgency", [](Alert& a) { a.urgency = "HIGH"; }},
      {"negative TTL", [](Alert& a) { a.ttl_seconds = -1; }},
      {"negative article id", [](Alert& a) { a.article_id = -1; }},
      {"status out of range", [](Alert& a) { a.status = static_cast<AlertStatus>(5); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Alert a = alert();
    c.spoil(a);
    expect_error(store().create_alert(a), ErrorCode::kInvalid);
    EXPECT_EQ(snapshot(), before);
  }
}

TEST_P(SiteStoreTest, SetAlertStatusChangesOnlyThatAlert) {
  const auto id = create_alert_ok(alert());
  const auto other = create_alert_ok(alert());
  for (const AlertStatus status :
       {AlertStatus::kSending, AlertStatus::kSent, AlertStatus::kFailed, AlertStatus::kCancelled,
        AlertStatus::kQueued, AlertStatus::kSent}) {
    SCOPED_TRACE(static_cast<int>(status));
    ASSERT_TRUE(store().set_alert_status(id, status));
    EXPECT_EQ(store().find_alert(id).value().value().status, status);
    EXPECT_EQ(store().find_alert(other).value().value().status, AlertStatus::kQueued);
  }
  // The same status again is not an error.
  EXPECT_TRUE(store().set_alert_status(id, AlertStatus::kSent));

  const std::string before = snapshot();
  expect_error(store().set_alert_status(999, AlertStatus::kSent), ErrorCode::kNotFound);
  expect_error(store().set_alert_status(id, static_cast<AlertStatus>(9)), ErrorCode::kInvalid);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(SiteStoreTest, RecentAlertsAreNewestFirstAndHonourTheLimit) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    Alert a = alert();
    a.title = "Alert " + std::to_string(i);
    ids.push_back(create_alert_ok(a));
  }
  auto all = store().recent_alerts(100);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(ids_of(*all), (std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  EXPECT_EQ(all->front().title, "Alert 4");
  EXPECT_EQ(ids_of(store().recent_alerts(2).value()), (std::vector<std::int64_t>{ids[4], ids[3]}));
  EXPECT_TRUE(store().recent_alerts(0).value().empty());
}

// --- alert status transitions (the fan-out's compare-and-set) ---

TEST_P(SiteStoreTest, TransitionAlertMovesOnlyFromTheExpectedStatus) {
  const auto id = create_alert_ok(alert());
  const auto other = create_alert_ok(alert());

  auto moved = store().transition_alert(id, AlertStatus::kQueued, AlertStatus::kSending);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_TRUE(*moved);
  EXPECT_EQ(store().find_alert(id).value().value().status, AlertStatus::kSending);
  EXPECT_EQ(store().find_alert(other).value().value().status, AlertStatus::kQueued);

  // The newsroom cancels while the fan-out runs: "sent" must not overwrite "cancelled".
  ASSERT_TRUE(store().transition_alert(id, AlertStatus::kSending, AlertStatus::kCancelled));
  const std::string before = snapshot();
  for (const AlertStatus from :
       {AlertStatus::kQueued, AlertStatus::kSending, AlertStatus::kSent, AlertStatus::kFailed}) {
    SCOPED_TRACE(static_cast<int>(from));
    auto stale = store().transition_alert(id, from, AlertStatus::kSent);
    ASSERT_TRUE(stale) << stale.error().message;
    EXPECT_FALSE(*stale);
  }
  EXPECT_EQ(store().find_alert(id).value().value().status, AlertStatus::kCancelled);
  EXPECT_EQ(snapshot(), before);

  // From a status to itself is a move that changes nothing.
  EXPECT_EQ(store().transition_alert(id, AlertStatus::kCancelled, AlertStatus::kCancelled), true);
}

TEST_P(SiteStoreTest, TransitionAlertOfAnAbsentAlertOrStatusIsAnErrorAndWritesNothing) {
  const auto id = create_alert_ok(alert());
  const std::string before = snapshot();
  expect_error(store().transition_alert(999, AlertStatus::kQueued, AlertStatus::kSending),
               ErrorCode::kNotFound);
  expect_error(store().transition_alert(999, AlertStatus::kSent, AlertStatus::kSending),
               ErrorCode::kNotFound);
  expect_error(store().transition_alert(id, AlertStatus::kQueued, static_cast<AlertStatus>(9)),
               ErrorCode::kInvalid);
  expect_error(store().transition_alert(id, static_cast<AlertStatus>(9), AlertStatus::kQueued),
               ErrorCode::kInvalid);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(SiteStoreTest, AlertsWithStatusAreOldestFirstAndHonourTheLimit) {
  std::vector<std::int64_t> sending;
  for (int i = 0; i < 6; ++i) {
    const auto id = create_alert_ok(alert());
    if (i % 2 == 0) {
      ASSERT_TRUE(store().set_alert_status(id, AlertStatus::kSending));
      sending.push_back(id);
    }
  }
  auto all = store().alerts_with_status(AlertStatus::kSending, 100);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(ids_of(*all), sending);
  for (const Alert& a : *all) EXPECT_EQ(a.status, AlertStatus::kSending);
  EXPECT_EQ(all->front().title, alert().title);  // whole records, not only ids

  EXPECT_EQ(ids_of(store().alerts_with_status(AlertStatus::kSending, 2).value()),
            (std::vector<std::int64_t>{sending[0], sending[1]}));
  EXPECT_EQ(store().alerts_with_status(AlertStatus::kQueued, 100).value().size(), 3u);
  EXPECT_TRUE(store().alerts_with_status(AlertStatus::kSending, 0).value().empty());
  EXPECT_TRUE(store().alerts_with_status(AlertStatus::kFailed, 100).value().empty());

  // A transition takes an alert out of one list and into the other.
  ASSERT_TRUE(store().transition_alert(sending[0], AlertStatus::kSending, AlertStatus::kSent));
  EXPECT_EQ(ids_of(store().alerts_with_status(AlertStatus::kSending, 100).value()),
            (std::vector<std::int64_t>{sending[1], sending[2]}));
  EXPECT_EQ(ids_of(store().alerts_with_status(AlertStatus::kSent, 100).value()),
            std::vector<std::int64_t>{sending[0]});
}

// --- scheduled alerts ---

TEST_P(SiteStoreTest, ScheduleAlertConfirmsOnlyAnUnscheduledDraft) {
  const auto id = create_alert_ok(alert());
  auto scheduled = store().schedule_alert(id, 5000);
  ASSERT_TRUE(scheduled) << scheduled.error().message;
  EXPECT_TRUE(*scheduled);
  const Alert stored = store().find_alert(id).value().value();
  EXPECT_TRUE(stored.scheduled);
  EXPECT_EQ(stored.send_at, 5000);
  EXPECT_EQ(stored.status, AlertStatus::kQueued);

  const std::string before = snapshot();
  EXPECT_EQ(store().schedule_alert(id, 6000), false) << "already scheduled";
  const auto sending = create_alert_ok(alert());
  ASSERT_TRUE(store().set_alert_status(sending, AlertStatus::kSending));
  const std::string with_sending = snapshot();
  EXPECT_EQ(store().schedule_alert(sending, 6000), false) << "no longer a draft";
  expect_error(store().schedule_alert(999, 6000), ErrorCode::kNotFound);
  expect_error(store().schedule_alert(id, 0), ErrorCode::kInvalid);
  EXPECT_EQ(snapshot(), with_sending);
  EXPECT_NE(before, with_sending);
}

TEST_P(SiteStoreTest, ClaimDueAlertsMovesDueScheduledDraftsToSendingOnce) {
  const auto later = create_alert_ok(alert());
  const auto due = create_alert_ok(alert());
  const auto also_due = create_alert_ok(alert());
  const auto unscheduled = create_alert_ok(alert());  // a draft with no confirmation
  const auto cancelled = create_alert_ok(alert());
  ASSERT_TRUE(store().schedule_alert(later, 3000));
  ASSERT_TRUE(store().schedule_alert(due, 2500));
  ASSERT_TRUE(store().schedule_alert(also_due, 2400));
  ASSERT_TRUE(store().schedule_alert(cancelled, 2000));
  ASSERT_TRUE(store().transition_alert(cancelled, AlertStatus::kQueued, AlertStatus::kCancelled));

  EXPECT_TRUE(store().claim_due_alerts(2399, 10).value().empty());
  auto claimed = store().claim_due_alerts(2500, 10);
  ASSERT_TRUE(claimed) << claimed.error().message;
  EXPECT_EQ(*claimed, (std::vector<std::int64_t>{due, also_due}));
  EXPECT_EQ(store().find_alert(due).value()->status, AlertStatus::kSending);
  EXPECT_TRUE(store().claim_due_alerts(2999, 10).value().empty()) << "each is claimed once";
  // The limit: one at a time, the earliest send_at first.
  EXPECT_EQ(store().claim_due_alerts(3000, 1).value(), std::vector<std::int64_t>{later});
  EXPECT_EQ(store().find_alert(unscheduled).value()->status, AlertStatus::kQueued);
  EXPECT_EQ(store().find_alert(cancelled).value()->status, AlertStatus::kCancelled);

  // Claimed means sent: beacons for it count.
  const auto reader = upsert_ok(subscription(kEndpoint1, kBreaking));
  EXPECT_EQ(store().record_alert_event(due, reader, AlertEvent::kReceived, 2600), true);
}

// Nodes racing: two store connections claim the same due alerts; each alert goes to one.
TEST_P(SiteStoreTest, TwoStoresClaimingTogetherGetEachAlertOnce) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(create_alert_ok(alert()));
    ASSERT_TRUE(store().schedule_alert(ids.back(), 2000));
  }
  auto second = open_store();
  ASSERT_NE(second, nullptr);
  std::vector<std::int64_t> first_got, second_got;
  std::thread other([&] {
    for (int i = 0; i < 8; ++i) {
      auto got = second->claim_due_alerts(2000, 1);
      if (got) second_got.insert(second_got.end(), got->begin(), got->end());
    }
  });
  for (int i = 0; i < 8; ++i) {
    auto got = store().claim_due_alerts(2000, 1);
    if (got) first_got.insert(first_got.end(), got->begin(), got->end());
  }
  other.join();
  std::vector<std::int64_t> all = first_got;
  all.insert(all.end(), second_got.begin(), second_got.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, ids);
}

// --- guarded alert writes (the newsroom's duplicate and cap checks) ---

// A guard that refuses when any of the newest alerts has `title`.
AlertGuard no_alert_titled(const std::string& title) {
  return [title](const std::vector<Alert>& newest) {
    return std::none_of(newest.begin(), newest.end(),
                        [&](const Alert& a) { return a.title == title; });
  };
}

TEST_P(SiteStoreTest, GuardedWritesHappenOnlyWhenTheGuardAgrees) {
  Alert first = alert();
  first.title = "Polls close";
  std::vector<std::int64_t> seen;
  auto created = store().guarded_alert_write(GuardedWrite::kCreate, first, 10,
                                             [&](const std::vector<Alert>& newest) {
                                               for (const Alert& a : newest) seen.push_back(a.id);
                                               return true;
                                             });
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_TRUE(created->written);
  EXPECT_FALSE(created->refused);
  EXPECT_TRUE(seen.empty());
  const Alert stored = store().find_alert(created->id).value().value();
  EXPECT_EQ(stored.title, "Polls close");
  EXPECT_EQ(stored.status, AlertStatus::kQueued);

  // Refused: nothing is written.
  const std::string before = snapshot();
  auto refused =
      store().guarded_alert_write(GuardedWrite::kCreate, first, 10, no_alert_titled("Polls close"));
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_TRUE(refused->refused);
  EXPECT_FALSE(refused->written);
  EXPECT_EQ(snapshot(), before);

  // The guard sees the newest alerts, newest first, at most as many as asked for.
  const auto second = create_alert_ok(alert());
  Alert send = first;
  send.id = created->id;
  seen.clear();
  auto sent = store().guarded_alert_write(GuardedWrite::kSend, send, 1,
                                          [&](const std::vector<Alert>& newest) {
                                            for (const Alert& a : newest) seen.push_back(a.id);
                                            return true;
                                          });
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(sent->written);
  EXPECT_EQ(seen, std::vector<std::int64_t>{second});
  EXPECT_EQ(store().find_alert(created->id).value()->status, AlertStatus::kSending);
  // A draft no longer: the compare-and-set refuses, without an error.
  auto again = store().guarded_alert_write(GuardedWrite::kSend, send, 10,
                                           [](const std::vector<Alert>&) { return true; });
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->written);
  EXPECT_FALSE(again->refused);

  // Scheduling a draft; a refused schedule leaves it a plain draft.
  Alert later = alert();
  later.id = second;
  later.send_at = 9000;
  auto refused_schedule = store().guarded_alert_write(
      GuardedWrite::kSchedule, later, 10, [](const std::vector<Alert>&) { return false; });
  ASSERT_TRUE(refused_schedule);
  EXPECT_TRUE(refused_schedule->refused);
  EXPECT_FALSE(store().find_alert(second).value()->scheduled);
  auto scheduled = store().guarded_alert_write(GuardedWrite::kSchedule, later, 10,
                                               [](const std::vector<Alert>&) { return true; });
  ASSERT_TRUE(scheduled) << scheduled.error().message;
  EXPECT_TRUE(scheduled->written);
  EXPECT_TRUE(store().find_alert(second).value()->scheduled);
  EXPECT_EQ(store().find_alert(second).value()->send_at, 9000);

  // Errors as the plain writes', and nothing written.
  const auto yes = [](const std::vector<Alert>&) { return true; };
  const std::string settled = snapshot();
  Alert missing = alert();
  missing.id = 999;
  expect_error(store().guarded_alert_write(GuardedWrite::kSend, missing, 10, yes),
               ErrorCode::kNotFound);
  missing.send_at = 9000;
  expect_error(store().guarded_alert_write(GuardedWrite::kSchedule, missing, 10, yes),
               ErrorCode::kNotFound);
  later.send_at = 0;
  expect_error(store().guarded_alert_write(GuardedWrite::kSchedule, later, 10, yes),
               ErrorCode::kInvalid);
  Alert bad = alert();
  bad.urgency = "now";
  expect_error(store().guarded_alert_write(GuardedWrite::kCreate, bad, 10, yes),
               ErrorCode::kInvalid);
  expect_error(store().guarded_alert_write(GuardedWrite::kCreate, alert(424242), 10, yes),
               ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), settled);
}

// Two editors (two store connections: threads here, nodes in production) write at once. Each
// guard, once in, waits a little for the other to come in too: with the store's lock the other
// cannot until the first has committed, so the two never overlap, and the second's guard sees
// the first's write. Without the lock both would be in at once and both would write.
TEST_P(SiteStoreTest, GuardedWritesOfTwoConnectionsAtOnceTakeTurns) {
  auto second = open_store();
  ASSERT_NE(second, nullptr);
  std::mutex mutex;
  std::condition_variable cv;
  int inside = 0;
  bool overlapped = false;
  const auto enter = [&](const AlertGuard& check) {
    return [&, check](const std::vector<Alert>& newest) {
      std::unique_lock lock(mutex);
      ++inside;
      cv.notify_all();
      // Not a sleep standing in for a condition: the condition must never come true.
      if (cv.wait_for(lock, std::chrono::milliseconds(150), [&] { return inside > 1; }))
        overlapped = true;
      --inside;
      return check(newest);
    };
  };
  const auto race = [&](GuardedWrite write, const Alert& mine, const Alert& theirs,
                        const AlertGuard& check) {
    Result<GuardedWriteResult> a = GuardedWriteResult{};
    Result<GuardedWriteResult> b = GuardedWriteResult{};
    std::thread other([&] { b = second->guarded_alert_write(write, theirs, 100, enter(check)); });
    a = store().guarded_alert_write(write, mine, 100, enter(check));
    other.join();
    EXPECT_TRUE(a) << a.error().message;
    EXPECT_TRUE(b) << b.error().message;
    return std::vector<GuardedWriteResult>{a.value_or(GuardedWriteResult{}),
                                           b.value_or(GuardedWriteResult{})};
  };
  const auto written = [](const std::vector<GuardedWriteResult>& results) {
    return std::count_if(results.begin(), results.end(),
                         [](const GuardedWriteResult& r) { return r.written; });
  };

  // The same alert composed twice at once: one is created, the other refused as a duplicate.
  Alert same = alert();
  same.title = "Dam breached";
  const auto composed = race(GuardedWrite::kCreate, same, same, no_alert_titled("Dam breached"));
  EXPECT_EQ(written(composed), 1);
  EXPECT_EQ(std::count_if(composed.begin(), composed.end(),
                          [](const GuardedWriteResult& r) { return r.refused; }),
            1);
  EXPECT_EQ(rows("SELECT count(*) FROM alerts WHERE title = 'Dam breached'"), "1\n");

  // Two drafts confirmed at once under a cap of one alert going out: one goes.
  Alert x = alert();
  x.id = create_alert_ok(x);
  Alert y = alert();
  y.id = create_alert_ok(y);
  const AlertGuard cap_of_one = [](const std::vector<Alert>& newest) {
    return std::none_of(newest.begin(), newest.end(),
                        [](const Alert& a) { return a.status == AlertStatus::kSending; });
  };
  const auto confirmed = race(GuardedWrite::kSend, x, y, cap_of_one);
  EXPECT_EQ(written(confirmed), 1);
  EXPECT_EQ(rows("SELECT count(*) FROM alerts WHERE status = 1"), "1\n");
  EXPECT_FALSE(overlapped) << "two guards ran at the same time";
}

TEST_P(SiteStoreTest, AlertEventsAreCountedPerAlert) {
  const std::int64_t sub = upsert_ok(subscription(kEndpoint1, kBreaking));
  const std::int64_t other = upsert_ok(subscription(kEndpoint2, kBreaking));
  const std::int64_t first = create_alert_ok(alert());
  const std::int64_t second = create_alert_ok(alert());
  for (const auto id : {first, second})
    ASSERT_TRUE(store().transition_alert(id, AlertStatus::kQueued, AlertStatus::kSending));
  for (const auto& [who, event] :
       std::vector<std::pair<std::int64_t, AlertEvent>>{{sub, AlertEvent::kReceived},
                                                        {other, AlertEvent::kReceived},
                                                        {sub, AlertEvent::kDisplayed},
                                                        {sub, AlertEvent::kClicked}}) {
    auto counted = store().record_alert_event(first, who, event, 1'800'000'000);
    ASSERT_TRUE(counted) << counted.error().message;
    EXPECT_TRUE(*counted);
  }
  EXPECT_TRUE(store().record_alert_event(second, sub, AlertEvent::kDismissed, 1).value());
  const auto counts = store().alert_engagement(first);
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->received, 2u);
  EXPECT_EQ(counts->displayed, 1u);
  EXPECT_EQ(counts->clicked, 1u);
  EXPECT_EQ(counts->dismissed, 0u);
  EXPECT_EQ(store().alert_engagement(second).value().dismissed, 1u);

  auto missing = store().record_alert_event(99999, sub, AlertEvent::kReceived, 1);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().alert_engagement(99999).error().code, ErrorCode::kNotFound);
}

// D5: a beacon counts once per subscription and event, only for an alert that was sent to a
// category the subscription has; drafts (and drafts cancelled before sending) never count.
TEST_P(SiteStoreTest, BeaconsCountOncePerSubscriptionAndOnlyForSentAlerts) {
  const std::int64_t reader = upsert_ok(subscription(kEndpoint1, kBreaking));
  const std::int64_t live_reader = upsert_ok(subscription(kEndpoint2, kLive));
  const std::int64_t sent = create_alert_ok(alert());
  ASSERT_TRUE(store().transition_alert(sent, AlertStatus::kQueued, AlertStatus::kSending));
  EXPECT_TRUE(store().record_alert_event(sent, reader, AlertEvent::kClicked, 1).value());
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(store().record_alert_event(sent, reader, AlertEvent::kClicked, 2).value())
        << "a repeat is not counted";
  }
  EXPECT_EQ(store().alert_engagement(sent).value().clicked, 1u);
  // Another category than the subscription's, and an unknown subscription: not sent to them.
  EXPECT_EQ(store().record_alert_event(sent, live_reader, AlertEvent::kClicked, 1).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store().record_alert_event(sent, 424242, AlertEvent::kClicked, 1).error().code,
            ErrorCode::kNotFound);

  const std::int64_t draft = create_alert_ok(alert());
  const std::int64_t cancelled_draft = create_alert_ok(alert());
  ASSERT_TRUE(
      store().transition_alert(cancelled_draft, AlertStatus::kQueued, AlertStatus::kCancelled));
  const std::int64_t stopped = create_alert_ok(alert());
  ASSERT_TRUE(store().transition_alert(stopped, AlertStatus::kQueued, AlertStatus::kSending));
  ASSERT_TRUE(store().transition_alert(stopped, AlertStatus::kSending, AlertStatus::kCancelled));
  for (const auto id : {draft, cancelled_draft}) {
    auto refused = store().record_alert_event(id, reader, AlertEvent::kReceived, 1);
    ASSERT_FALSE(refused) << id;
    EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(store().alert_engagement(id).value().received, 0u);
  }
  EXPECT_TRUE(store().record_alert_event(stopped, reader, AlertEvent::kReceived, 1).value())
      << "cancelled while sending: some readers got it";
}

// Analytics: each beacon keeps its arrival time and push service; the first report of an event
// is the one kept, and untimed beacons (from before the upgrade) stay out of the times.
TEST_P(SiteStoreTest, BeaconsKeepTheirArrivalForAnalytics) {
  const std::int64_t a = upsert_ok(subscription(kEndpoint1, kBreaking));
  const std::int64_t b = upsert_ok(subscription(kEndpoint2, kBreaking));
  const std::int64_t id = create_alert_ok(alert());
  ASSERT_TRUE(store().transition_alert(id, AlertStatus::kQueued, AlertStatus::kSending));
  ASSERT_TRUE(
      store().record_alert_event(id, b, AlertEvent::kReceived, 1, {9'000, PushService::kMozilla}));
  ASSERT_TRUE(
      store().record_alert_event(id, a, AlertEvent::kReceived, 1, {7'000, PushService::kFcm}));
  EXPECT_FALSE(store()
                   .record_alert_event(id, a, AlertEvent::kReceived, 1, {1'000, PushService::kFcm})
                   .value())
      << "a repeat keeps the first arrival";
  ASSERT_TRUE(
      store().record_alert_event(id, a, AlertEvent::kClicked, 1, {8'000, PushService::kFcm}));
  ASSERT_TRUE(store().record_alert_event(id, b, AlertEvent::kDisplayed, 1));  // untimed
  const auto reach = store().alert_reach(id);
  ASSERT_TRUE(reach) << reach.error().message;
  EXPECT_EQ(reach->received_at_ms, (std::vector<std::int64_t>{7'000, 9'000}));
  const auto at = [&](PushService service, AlertEvent event) {
    return reach->by_service[static_cast<std::size_t>(service)][static_cast<std::size_t>(event)];
  };
  EXPECT_EQ(at(PushService::kFcm, AlertEvent::kReceived), 1u);
  EXPECT_EQ(at(PushService::kFcm, AlertEvent::kClicked), 1u);
  EXPECT_EQ(at(PushService::kMozilla, AlertEvent::kReceived), 1u);
  EXPECT_EQ(at(PushService::kOther, AlertEvent::kDisplayed), 1u);
  EXPECT_EQ(at(PushService::kOwn, AlertEvent::kReceived), 0u);
  const std::int64_t quiet = create_alert_ok(alert());
  EXPECT_TRUE(store().alert_reach(quiet).value().received_at_ms.empty());
  EXPECT_EQ(store().alert_reach(99999).error().code, ErrorCode::kNotFound);
}

TEST_P(SiteStoreTest, CountsOptInStepsPerDayCategoryAndPage) {
  const auto breaking = static_cast<CategorySet>(Category::kBreaking);
  const auto live = static_cast<CategorySet>(Category::kLive);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store().record_optin(20'000, breaking, PageType::kArticle, OptinStep::kShown));
  ASSERT_TRUE(store().record_optin(20'000, breaking, PageType::kArticle, OptinStep::kGranted));
  ASSERT_TRUE(store().record_optin(20'000, live, PageType::kLive, OptinStep::kClicked));
  ASSERT_TRUE(store().record_optin(19'990, 0, PageType::kHome, OptinStep::kUnsubscribed));
  EXPECT_EQ(store().record_optin(20'000, 3, PageType::kHome, OptinStep::kShown).error().code,
            ErrorCode::kInvalid)
      << "one category or none";
  const auto counts = store().optin_counts(19'995);
  ASSERT_TRUE(counts) << counts.error().message;
  ASSERT_EQ(counts->size(), 2u);
  EXPECT_EQ((*counts)[0].category, breaking);
  EXPECT_EQ((*counts)[0].page, PageType::kArticle);
  EXPECT_EQ((*counts)[0].steps[static_cast<std::size_t>(OptinStep::kShown)], 3u);
  EXPECT_EQ((*counts)[0].steps[static_cast<std::size_t>(OptinStep::kGranted)], 1u);
  EXPECT_EQ((*counts)[1].category, live);
  EXPECT_EQ((*counts)[1].steps[static_cast<std::size_t>(OptinStep::kClicked)], 1u);
  EXPECT_EQ(store().optin_counts(0).value().size(), 3u);
  EXPECT_EQ(store().optin_counts(0).value()[0].day, 19'990);
}

TEST_P(SiteStoreTest, PagesTheAuditLogBackwards) {
  for (int i = 1; i <= 5; ++i) append_audit_ok({0, i, "desk", "alert.send", std::to_string(i)});
  const auto first = store().recent_audit(2).value();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].detail, "5");
  EXPECT_EQ(first[1].detail, "4");
  const auto next = store().recent_audit(2, first[1].id).value();
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].detail, "3");
  EXPECT_EQ(next[1].detail, "2");
  const auto last = store().recent_audit(2, next[1].id).value();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].detail, "1");
  EXPECT_TRUE(store().recent_audit(2, last[0].id).value().empty());
}

TEST(AlertEventNames, ParseTheBeaconVocabulary) {
  EXPECT_EQ(parse_alert_event("received"), AlertEvent::kReceived);
  EXPECT_EQ(parse_alert_event("displayed"), AlertEvent::kDisplayed);
  EXPECT_EQ(parse_alert_event("clicked"), AlertEvent::kClicked);
  EXPECT_EQ(parse_alert_event("dismissed"), AlertEvent::kDismissed);
  EXPECT_FALSE(parse_alert_event("opened"));
  EXPECT_FALSE(parse_alert_event(""));
}

// --- API tokens ---

TEST_P(SiteStoreTest, CreateTokenAndFindItByHash) {
  ApiToken ana = token("desk-ana", 'a');
  ApiToken bot = token("ingest-bot", 'b', {});  // no scopes
  ApiToken one = token("one-scope", 'c', {"audit:read"});
  ana.id = create_token_ok(ana);
  bot.id = create_token_ok(bot);
  one.id = create_token_ok(one);
  EXPECT_GT(ana.id, 0);

  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('a')).value().value()), fields(ana));
  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('b')).value().value()), fields(bot));
  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('c')).value().value()), fields(one));
  EXPECT_FALSE(store().find_token_by_hash(hash_of('d')).value().has_value());
  EXPECT_FALSE(store().find_token_by_hash("").value().has_value());
}

TEST_P(SiteStoreTest, CreateTokenWithATakenNameOrHashConflictsAndKeepsTheOriginal) {
  ApiToken original = token("desk-ana", 'a');
  original.id = create_token_ok(original);
  const std::string before = snapshot();

  expect_error(store().create_token(token("desk-ana", 'b', {"audit:read"})), ErrorCode::kConflict,
               {hash_of('b')});
  expect_error(store().create_token(token("desk-bea", 'a')), ErrorCode::kConflict, {hash_of('a')});

  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('a')).value().value()), fields(original));
  EXPECT_FALSE(store().find_token_by_hash(hash_of('b')).value().has_value());
}

TEST_P(SiteStoreTest, TokensRejectWhatTheSchemaCannotHold) {
  create_token_ok(token("desk-ana", 'a'));
  const std::string before = snapshot();
  struct Case {
    const char* name;
    std::function<void(ApiToken&)> spoil;
  };
  const Case cases[] = {
      {"empty name", [](ApiToken& t) { t.name.clear(); }},
      {"empty hash", [](ApiToken& t) { t.secret_hash.clear(); }},
      {"short hash", [](ApiToken& t) { t.secret_hash = std::string(63, 'e'); }},
      {"long hash", [](ApiToken& t) { t.secret_hash = std::string(65, 'e'); }},
      {"upper-case hex", [](ApiToken& t) { t.secret_hash = std::string(64, 'E'); }},
      {"not hex", [](ApiToken& t) { t.secret_hash = std::string(64, 'g'); }},
      {"scope with a space", [](ApiToken& t) { t.scopes = {"articles:write alerts:send"}; }},
      {"scope with a tab", [](ApiToken& t) { t.scopes = {"articles:write\talerts:send"}; }},
      {"empty scope",
       [](ApiToken& t) {
         t.scopes = {"articles:write", ""};
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ApiToken t = token("desk-bea", 'e');
    c.spoil(t);
    expect_error(store().create_token(t), ErrorCode::kInvalid, {std::string(60, 'e')});
    EXPECT_EQ(snapshot(), before);
  }
}

TEST_P(SiteStoreTest, RevokedTokensAreStillFoundAndMarked) {
  ApiToken ana = token("desk-ana", 'a');
  ana.id = create_token_ok(ana);
  const auto bea = create_token_ok(token("desk-bea", 'b'));

  ASSERT_TRUE(store().revoke_token("desk-ana"));
  ana.revoked = true;
  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('a')).value().value()), fields(ana));
  EXPECT_FALSE(store().find_token_by_hash(hash_of('b')).value().value().revoked);
  EXPECT_EQ(store().find_token_by_hash(hash_of('b')).value().value().id, bea);

  // Revoking again is not an error; an unknown name is.
  EXPECT_TRUE(store().revoke_token("desk-ana"));
  const std::string before = snapshot();
  expect_error(store().revoke_token("desk-zed"), ErrorCode::kNotFound);
  expect_error(store().revoke_token(""), ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
}

TEST_P(SiteStoreTest, ListTokensIsOrderedByNameAndIncludesRevoked) {
  EXPECT_TRUE(store().list_tokens().value().empty());
  create_token_ok(token("zeta-bot", 'a'));
  create_token_ok(token("desk-ana", 'b', {}));
  create_token_ok(token("ingest", 'c', {"articles:write"}));
  ASSERT_TRUE(store().revoke_token("ingest"));

  auto tokens = store().list_tokens();
  ASSERT_TRUE(tokens) << tokens.error().message;
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].name, "desk-ana");
  EXPECT_TRUE((*tokens)[0].scopes.empty());
  EXPECT_EQ((*tokens)[1].name, "ingest");
  EXPECT_TRUE((*tokens)[1].revoked);
  EXPECT_EQ((*tokens)[1].scopes, std::vector<std::string>{"articles:write"});
  EXPECT_EQ((*tokens)[2].name, "zeta-bot");
  EXPECT_EQ((*tokens)[2].scopes, (std::vector<std::string>{"articles:write", "alerts:send"}));
  EXPECT_FALSE((*tokens)[2].revoked);
}

// --- audit log ---

TEST_P(SiteStoreTest, RecentAuditIsNewestFirstAndHonoursTheLimit) {
  EXPECT_TRUE(store().recent_audit(10).value().empty());
  append_audit_ok({0, 100, "desk-ana", "article.publish", "bridge-reopens"});
  append_audit_ok({0, 100, "desk-ana", "alert.send", "alert 1 to 1234 subscribers"});
  append_audit_ok({0, 90, "", "token.revoke", "desk-bea"});  // no actor; an earlier clock

  auto all = store().recent_audit(10);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].action, "token.revoke");
  EXPECT_EQ((*all)[1].action, "alert.send");
  EXPECT_EQ((*all)[2].action, "article.publish");
  EXPECT_GT((*all)[0].id, (*all)[1].id);
  EXPECT_GT((*all)[1].id, (*all)[2].id);
  EXPECT_EQ(fields((*all)[1]), fields(AuditEntry{(*all)[1].id, 100, "desk-ana", "alert.send",
                                                 "alert 1 to 1234 subscribers"}));
  EXPECT_EQ(ids_of(store().recent_audit(1).value()), std::vector<std::int64_t>{(*all)[0].id});
  EXPECT_TRUE(store().recent_audit(0).value().empty());
}

TEST_P(SiteStoreTest, AppendAuditRejectsAnEmptyAction) {
  append_audit_ok({0, 100, "desk-ana", "article.publish", ""});
  const std::string before = snapshot();
  expect_error(store().append_audit({0, 100, "desk-ana", "", "detail"}), ErrorCode::kInvalid);
  EXPECT_EQ(snapshot(), before);
}

// --- durability and atomicity ---

TEST_P(SiteStoreTest, EverythingPersistsAcrossCloseAndReopen) {
  Article published = article("persisted", Category::kLive, true, 1000);
  published.id = create_article_ok(published);
  Article draft = article("draft", Category::kBreaking, false);
  draft.id = create_article_ok(draft);
  Subscription sub = subscription(kEndpoint1, kBreaking | kLive, 1000);
  sub.id = upsert_ok(sub);
  Alert al = alert(published.id, Category::kLive);
  al.id = create_alert_ok(al);
  ASSERT_TRUE(store().set_alert_status(al.id, AlertStatus::kSent));
  al.status = AlertStatus::kSent;
  ApiToken tok = token("desk-ana", 'a');
  tok.id = create_token_ok(tok);
  ASSERT_TRUE(store().revoke_token("desk-ana"));
  tok.revoked = true;
  append_audit_ok({0, 100, "desk-ana", "alert.send", "one"});
  const std::string before = snapshot();

  reopen();

  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(store().find_article(published.id).value().value()), fields(published));
  EXPECT_EQ(fields(store().find_article(draft.id).value().value()), fields(draft));
  EXPECT_EQ(slugs_of(latest(0)), std::vector<std::string>{"persisted"});
  EXPECT_EQ(fields(store().find_subscription(kEndpoint1).value().value()), fields(sub));
  EXPECT_EQ(fields(store().find_alert(al.id).value().value()), fields(al));
  EXPECT_EQ(fields(store().find_token_by_hash(hash_of('a')).value().value()), fields(tok));
  EXPECT_EQ(store().recent_audit(10).value().size(), 1u);

  // And the reopened store keeps working on the same data.
  expect_error(store().create_article(article("persisted")), ErrorCode::kConflict);
  EXPECT_EQ(upsert_ok(subscription(kEndpoint1, kExclusive, 2000)), sub.id);
  EXPECT_GT(create_article_ok(article("after-reopen")), draft.id);
}

TEST_F(SqliteSiteStoreTest, OpensWithWalTheCurrentSchemaVersionAndItsOwnApplicationId) {
  store_.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.rows("PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(raw.rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(kSqliteSiteStoreSchemaVersion, 11);
  EXPECT_EQ(raw.rows("PRAGMA application_id"), std::to_string(0x46575353) + "\n");
  EXPECT_EQ(raw.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                     "'articles_fts_%' ORDER BY name"),
            "alert_beacons\nalert_events\nalerts\napi_tokens\narticles\narticles_fts\naudit_"
            "log\neditor_subscriptions\nlive_updates\noptin_counts\n"
            "sqlite_sequence\nsubscriptions\n");
}

TEST_P(SiteStoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto second = open_store();
  ASSERT_NE(second, nullptr);
  const auto id = upsert_ok(subscription(kEndpoint1, kBreaking));
  EXPECT_EQ(second->count_subscriptions(kBreaking), 1u);
  EXPECT_EQ(second->upsert_subscription(subscription(kEndpoint1, kLive, 2000)), id);
  EXPECT_EQ(count_subs(kLive), 1u);
  EXPECT_EQ(count_subs(kBreaking), 0u);
}

// A call that fails after the database has started on it must leave nothing behind. Triggers,
// added behind the store's back, make a call's write fail after part of it ran.
TEST_P(SiteStoreTest, AFailureMidCallChangesNothing) {
  struct Case {
    const char* name;
    const char* op;  // what the failing trigger fires on
    const char* table;
    std::function<bool(SiteStore&)> call;  // true if the call succeeded
  };
  const Case cases[] = {
      {"update of an existing subscription", "UPDATE", "subscriptions",
       [](SiteStore& s) {
         return s.upsert_subscription(subscription(kEndpoint1, kExclusive, 9000)).has_value();
       }},
      {"insert of a new subscription", "INSERT", "subscriptions",
       [](SiteStore& s) {
         return s.upsert_subscription(subscription(kEndpoint2, kExclusive)).has_value();
       }},
      {"article update", "UPDATE", "articles",
       [](SiteStore& s) {
         Article a = s.find_article_by_slug("story").value().value();
         a.headline = "Changed";
         return s.update_article(a).has_value();
       }},
      {"alert insert after the article check", "INSERT", "alerts",
       [](SiteStore& s) {
         const auto id = s.find_article_by_slug("story").value().value().id;
         return s.create_alert(alert(id)).has_value();
       }},
      {"token revocation", "UPDATE", "api_tokens",
       [](SiteStore& s) { return s.revoke_token("desk-ana").has_value(); }},
      {"subscription delete", "DELETE", "subscriptions",
       [](SiteStore& s) { return s.delete_subscription(kEndpoint1).has_value(); }},
      {"audit append", "INSERT", "audit_log",
       [](SiteStore& s) {
         return s.append_audit({0, 1, "desk-ana", "article.publish", "story"}).has_value();
       }},
  };
  create_article_ok(article("story"));
  upsert_ok(subscription(kEndpoint1, kBreaking));
  create_token_ok(token("desk-ana", 'a'));
  append_audit_ok({0, 1, "desk-ana", "token.create", "desk-ana"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string before = snapshot();
    add_failing_trigger(c.op, c.table);

    EXPECT_FALSE(c.call(store()));

    drop_failing_trigger(c.table);
    EXPECT_EQ(snapshot(), before);
    // The store is still usable, with no transaction left open.
    EXPECT_TRUE(c.call(store()));
    EXPECT_TRUE(store().append_audit({0, 2, "test", "after", c.name}));
  }
}

TEST_F(SqliteSiteStoreTest, ALockedDatabaseFailsWithIoAndChangesNothing) {
  upsert_ok(subscription(kEndpoint1, kBreaking));
  auto opened = open_sqlite_site_store(path_, SqliteOptions{.busy_timeout_ms = 0});
  ASSERT_TRUE(opened) << opened.error().message;
  auto impatient = std::move(*opened);
  const std::string before = snapshot();

  RawDb writer(path_);
  writer.exec("BEGIN IMMEDIATE");
  expect_error(impatient->upsert_subscription(subscription(kEndpoint2, kLive)), ErrorCode::kIo,
               {kEndpoint2, kP256dh, kAuth});
  expect_error(impatient->create_article(article("story")), ErrorCode::kIo);
  expect_error(impatient->revoke_token("desk-ana"), ErrorCode::kIo);
  EXPECT_EQ(impatient->count_subscriptions(kBreaking), 1u);  // WAL: readers are not blocked
  writer.exec("ROLLBACK");

  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(impatient->upsert_subscription(subscription(kEndpoint2, kLive)));
  EXPECT_EQ(count_subs(kLive), 1u);
}

// --- opening ---

TEST_F(SqliteSiteStoreTest, PushStoreAndSiteStoreFilesAreNotInterchangeable) {
  const std::string push_path = dir_ + "/push.db";
  {
    auto push = open_sqlite_push_store(push_path);
    ASSERT_TRUE(push) << push.error().message;
    ASSERT_TRUE((*push)->touch_user_agent("0123456789abcdef0123456789abcdef", 1));
  }
  upsert_ok(subscription(kEndpoint1, kBreaking));
  store_.reset();
  EXPECT_NE(RawDb(push_path).rows("PRAGMA application_id"),
            RawDb(path_).rows("PRAGMA application_id"));
  const std::string push_schema = RawDb(push_path).rows("SELECT sql FROM sqlite_schema");
  const std::string site_schema = RawDb(path_).rows("SELECT sql FROM sqlite_schema");

  auto site_on_push = open_sqlite_site_store(push_path);
  expect_error(site_on_push, ErrorCode::kCorrupt);
  auto push_on_site = open_sqlite_push_store(path_);
  expect_error(push_on_site, ErrorCode::kCorrupt);

  // Neither file was touched.
  EXPECT_EQ(RawDb(push_path).rows("SELECT sql FROM sqlite_schema"), push_schema);
  EXPECT_EQ(RawDb(path_).rows("SELECT sql FROM sqlite_schema"), site_schema);
  auto push = open_sqlite_push_store(push_path);
  ASSERT_TRUE(push) << push.error().message;
  EXPECT_EQ((*push)->user_agent_exists("0123456789abcdef0123456789abcdef"), true);
  reopen();
  EXPECT_EQ(count_subs(kBreaking), 1u);
}

TEST_F(SqliteSiteStoreTest, OpeningAFileThatIsNotADatabaseIsCorrupt) {
  struct Case {
    const char* name;
    std::string content;
  };
  const Case cases[] = {
      {"short text", "this is not a database\n"},
      {"a page of garbage", std::string(4096, '\xab')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_ + "/garbage.db";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(c.content.data(), static_cast<std::streamsize>(c.content.size()));
    }
    expect_error(open_sqlite_site_store(path), ErrorCode::kCorrupt);
  }
}

TEST_F(SqliteSiteStoreTest, OpeningWhereNoFileCanBeIsIo) {
  for (const auto& path : {dir_ + "/no/such/directory/site.db", dir_}) {
    SCOPED_TRACE(path);
    expect_error(open_sqlite_site_store(path), ErrorCode::kIo);
  }
}

TEST_F(SqliteSiteStoreTest, OpeningAnotherApplicationsOrANewerFileIsCorruptAndAddsNothing) {
  const std::string our_id = "PRAGMA application_id = " + std::to_string(0x46575353);
  struct Case {
    const char* name;
    std::string setup;
  };
  const Case cases[] = {
      {"tables, no version", "CREATE TABLE notes (body TEXT)"},
      {"other application id", "PRAGMA user_version = 1; PRAGMA application_id = 7"},
      {"our id, newer version",
       our_id + "; PRAGMA user_version = " + std::to_string(kSqliteSiteStoreSchemaVersion + 1)},
      {"our id, version 0", our_id},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_ + "/other.db";
    std::filesystem::remove(path);
    RawDb(path).exec(c.setup);
    const std::string schema_before = RawDb(path).rows("SELECT count(*) FROM sqlite_schema");
    expect_error(open_sqlite_site_store(path), ErrorCode::kCorrupt);
    EXPECT_EQ(RawDb(path).rows("SELECT count(*) FROM sqlite_schema"), schema_before);
  }
}

TEST_F(SqliteSiteStoreTest, OpeningAVersion1FileWithMissingTablesIsCorrupt) {
  store_.reset();
  RawDb(path_).exec("DROP TABLE audit_log");
  expect_error(open_sqlite_site_store(path_), ErrorCode::kCorrupt);
}

TEST(SqliteSiteStoreInMemoryTest, MemoryStoreWorks) {
  auto store = open_sqlite_site_store(":memory:");
  ASSERT_TRUE(store) << store.error().message;
  SiteStore& s = **store;
  auto id = s.create_article(article("in-memory"));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(ids_of(s.latest_articles(0, 10).value()), std::vector<std::int64_t>{*id});
}

// --- live events ---

auto fields(const LiveUpdate& u) {
  return std::make_tuple(u.id, u.article_id, u.body_markdown, u.created_at, u.created_by);
}

LiveUpdate live_update(std::int64_t article_id, const std::string& body, std::int64_t at = 5000) {
  return LiveUpdate{0, article_id, body, at, "desk-ana"};
}

// Live-event tests start with two published live events.
template <typename Base>
class LiveFixture : public Base {
 protected:
  void SetUp() override {
    Base::SetUp();
    if (this->IsSkipped() || this->HasFatalFailure()) return;
    event_ = this->create_article_ok(article("storm-live", Category::kLive, true, 1000));
    other_event_ = this->create_article_ok(article("vote-live", Category::kLive, true, 1100));
  }
  std::int64_t add_ok(const LiveUpdate& u) {
    auto id = this->store().add_live_update(u);
    EXPECT_TRUE(id) << id.error().message;
    return id.value_or(0);
  }
  std::vector<LiveUpdate> recent(std::int64_t article_id, std::size_t limit = 100) {
    auto updates = this->store().recent_live_updates(article_id, limit);
    EXPECT_TRUE(updates) << updates.error().message;
    return updates.value_or(std::vector<LiveUpdate>{});
  }
  std::vector<LiveUpdate> after(std::int64_t article_id, std::int64_t after_id,
                                std::size_t limit = 100) {
    auto updates = this->store().live_updates_after(article_id, after_id, limit);
    EXPECT_TRUE(updates) << updates.error().message;
    return updates.value_or(std::vector<LiveUpdate>{});
  }

  std::int64_t event_ = 0;
  std::int64_t other_event_ = 0;
};
using SiteStoreLiveTest = LiveFixture<SiteStoreTest>;
INSTANTIATE_TEST_SUITE_P(Backends, SiteStoreLiveTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         testing::backend_name);
using SqliteSiteStoreLiveTest = LiveFixture<SqliteSiteStoreTest>;

TEST_P(SiteStoreLiveTest, AddLiveUpdateRoundTripsEveryFieldAndIgnoresTheGivenId) {
  LiveUpdate u = live_update(event_, "Water is **receding**.\n\n> \"Quote\" & <tags>", 5000);
  u.id = 4242;
  const auto id = add_ok(u);
  EXPECT_GT(id, 0);
  EXPECT_NE(id, 4242);
  u.id = id;
  const auto stored = recent(event_);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(fields(stored[0]), fields(u));
  EXPECT_EQ(fields(after(event_, 0).at(0)), fields(u));
}

TEST_P(SiteStoreLiveTest, ListsAreNewestFirstOrAfterAnIdOldestFirstPerEvent) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(add_ok(live_update(event_, "update " + std::to_string(i), 5000 + i)));
    add_ok(live_update(other_event_, "elsewhere " + std::to_string(i)));
  }
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);

  EXPECT_EQ(ids_of(recent(event_)),
            (std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  EXPECT_EQ(ids_of(recent(event_, 2)), (std::vector<std::int64_t>{ids[4], ids[3]}));
  EXPECT_TRUE(recent(event_, 0).empty());
  EXPECT_EQ(ids_of(after(event_, ids[1])), (std::vector<std::int64_t>{ids[2], ids[3], ids[4]}));
  EXPECT_EQ(ids_of(after(event_, ids[1], 2)), (std::vector<std::int64_t>{ids[2], ids[3]}));
  EXPECT_EQ(ids_of(after(event_, 0)), ids);
  EXPECT_EQ(ids_of(after(event_, -7)), ids);
  EXPECT_TRUE(after(event_, ids[4]).empty());
  EXPECT_TRUE(after(event_, ids[4] + 1000).empty());
  // Unknown events have no updates (not an error).
  EXPECT_TRUE(recent(9999).empty());
  EXPECT_TRUE(after(9999, 0).empty());
  EXPECT_EQ(recent(other_event_).size(), 5u);
}

TEST_P(SiteStoreLiveTest, OnlyPublishedLiveArticlesTakeUpdatesAndRefusalsWriteNothing) {
  const auto draft = create_article_ok(article("draft-live", Category::kLive, false));
  const auto breaking = create_article_ok(article("plain-news", Category::kBreaking, true));
  add_ok(live_update(event_, "first"));
  const std::string before = snapshot();

  struct Case {
    const char* name;
    LiveUpdate update;
    ErrorCode code;
  };
  const Case cases[] = {
      {"absent article", live_update(9999, "text"), ErrorCode::kNotFound},
      {"article id 0", live_update(0, "text"), ErrorCode::kNotFound},
      {"negative article id", live_update(-1, "text"), ErrorCode::kNotFound},
      {"a draft live article", live_update(draft, "text"), ErrorCode::kNotFound},
      {"a breaking-news article", live_update(breaking, "text"), ErrorCode::kNotFound},
      {"empty body", live_update(event_, ""), ErrorCode::kInvalid},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error(store().add_live_update(c.update), c.code);
    EXPECT_EQ(snapshot(), before);
  }
  EXPECT_EQ(recent(event_).size(), 1u);
}

TEST_P(SiteStoreLiveTest, AFailedInsertChangesNothingAndIdsAreNeverReused) {
  const auto first = add_ok(live_update(event_, "first"));
  const std::string before = snapshot();
  add_failing_trigger("INSERT", "live_updates");
  EXPECT_FALSE(store().add_live_update(live_update(event_, "second")));
  drop_failing_trigger("live_updates");
  EXPECT_EQ(snapshot(), before);

  const auto second = add_ok(live_update(event_, "second"));
  EXPECT_GT(second, first);
  // Even when the newest update is deleted by hand, its id is not handed out again: readers
  // resume streams by id.
  const std::string delete_newest = "DELETE FROM live_updates WHERE id = " + std::to_string(second);
  place_->exec(file_, delete_newest, delete_newest);
  EXPECT_GT(add_ok(live_update(event_, "third")), second);
}

TEST_P(SiteStoreLiveTest, UpdatesPersistAcrossReopen) {
  LiveUpdate u = live_update(event_, "kept", 7000);
  u.id = add_ok(u);
  const std::string before = snapshot();
  reopen();
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(fields(recent(event_).at(0)), fields(u));
  EXPECT_GT(add_ok(live_update(event_, "after reopen")), u.id);
}

// Undoes versions 11 (editors' subscriptions), 10 (image renditions), 9 (article authors) and 8
// (scheduled alerts), to make files of older versions.
#define FW_DROP_EDITOR_SUBSCRIPTIONS "DROP TABLE editor_subscriptions; "
#define FW_DROP_RENDITIONS \
  FW_DROP_EDITOR_SUBSCRIPTIONS "ALTER TABLE articles DROP COLUMN image_renditions; "
#define FW_DROP_AUTHORS FW_DROP_RENDITIONS "ALTER TABLE articles DROP COLUMN created_by; "
#define FW_DROP_SCHEDULING                                                             \
  FW_DROP_AUTHORS                                                                      \
  "DROP INDEX alerts_due; ALTER TABLE alerts DROP COLUMN send_at; ALTER TABLE alerts " \
  "DROP COLUMN scheduled; "

// Undoes version 3 (the search index), to make files of older versions.
#define FW_DROP_SEARCH_INDEX                                             \
  "DROP TRIGGER articles_fts_insert; DROP TRIGGER articles_fts_delete; " \
  "DROP TRIGGER articles_fts_update; DROP TABLE articles_fts; "

// Undoes version 7 (articles.video_url).
#define FW_DROP_VIDEO "ALTER TABLE articles DROP COLUMN video_url; "

// Undoes version 6 (the live desk's columns of live_updates).
#define FW_DROP_LIVE_DESK                                                                          \
  "DROP INDEX live_updates_by_revision; DROP INDEX live_updates_one_pinned; "                      \
  "ALTER TABLE live_updates DROP COLUMN edited_at; ALTER TABLE live_updates DROP COLUMN deleted; " \
  "ALTER TABLE live_updates DROP COLUMN pinned; ALTER TABLE live_updates DROP COLUMN revision; "

// --- the live desk: corrections, deletions, the pinned update ---

TEST_P(SiteStoreLiveTest, EditsDeletionsAndPinsAreStoredAndEachChangeRaisesTheRevision) {
  const auto first = add_ok(live_update(event_, "first", 5000));
  const auto second = add_ok(live_update(event_, "second", 5001));
  const auto third = add_ok(live_update(event_, "third", 5002));
  add_ok(live_update(other_event_, "elsewhere"));
  auto stored = recent(event_);
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_GT(stored[0].revision, stored[1].revision);
  EXPECT_GT(stored[1].revision, stored[2].revision);
  const std::int64_t before = stored[0].revision;

  ASSERT_TRUE(store().edit_live_update(first, "first, corrected", 6000));
  auto edited = store().find_live_update(first);
  ASSERT_TRUE(edited && edited->has_value());
  EXPECT_EQ((*edited)->body_markdown, "first, corrected");
  EXPECT_EQ((*edited)->edited_at, 6000);
  EXPECT_EQ((*edited)->created_at, 5000) << "a correction keeps the posting time";
  EXPECT_GT((*edited)->revision, before);

  ASSERT_TRUE(store().pin_live_update(event_, first));
  ASSERT_TRUE(store().pin_live_update(event_, first)) << "pinning the pinned one is fine";
  auto pinned = store().pinned_live_update(event_);
  ASSERT_TRUE(pinned && pinned->has_value());
  EXPECT_EQ((*pinned)->id, first);
  EXPECT_TRUE((*pinned)->pinned);
  ASSERT_TRUE(store().pin_live_update(event_, third));
  EXPECT_EQ(store().pinned_live_update(event_).value()->id, third) << "one pinned per event";
  EXPECT_FALSE(store().find_live_update(first).value()->pinned);

  ASSERT_TRUE(store().delete_live_update(third));
  EXPECT_FALSE(store().pinned_live_update(event_).value().has_value())
      << "deleting the pinned update unpins it";
  EXPECT_EQ(ids_of(recent(event_)), (std::vector<std::int64_t>{second, first}));
  EXPECT_EQ(ids_of(after(event_, 0)), (std::vector<std::int64_t>{first, second}));
  auto gone = store().find_live_update(third);
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_TRUE((*gone)->deleted);

  // Another node catches up with everything after the revision it saw, deleted ones included.
  auto changed = store().live_updates_changed(event_, before, 100);
  ASSERT_TRUE(changed) << changed.error().message;
  std::vector<std::int64_t> order;
  for (const auto& u : *changed) order.push_back(u.id);
  EXPECT_EQ(order, (std::vector<std::int64_t>{first, third})) << "first: edited then unpinned; "
                                                                 "third: pinned then deleted";
  for (std::size_t i = 1; i < changed->size(); ++i)
    EXPECT_GT((*changed)[i].revision, (*changed)[i - 1].revision);
  EXPECT_TRUE((*changed)[1].deleted);
  EXPECT_TRUE(store().live_updates_changed(event_, changed->back().revision, 100)->empty());
  EXPECT_EQ(store().live_updates_changed(event_, before, 1)->size(), 1u);

  ASSERT_TRUE(store().pin_live_update(event_, second));
  ASSERT_TRUE(store().pin_live_update(event_, 0));
  EXPECT_FALSE(store().pinned_live_update(event_).value().has_value()) << "0 unpins";
  ASSERT_TRUE(store().pin_live_update(event_, 0)) << "unpinning with none pinned is fine";
}

TEST_P(SiteStoreLiveTest, LiveDeskRefusalsChangeNothing) {
  const auto kept = add_ok(live_update(event_, "kept"));
  const auto deleted = add_ok(live_update(event_, "deleted"));
  const auto elsewhere = add_ok(live_update(other_event_, "elsewhere"));
  ASSERT_TRUE(store().delete_live_update(deleted));
  const std::string before = snapshot();
  expect_error(store().edit_live_update(9999, "text", 1), ErrorCode::kNotFound);
  expect_error(store().edit_live_update(deleted, "text", 1), ErrorCode::kNotFound);
  expect_error(store().edit_live_update(kept, "", 1), ErrorCode::kInvalid);
  expect_error(store().delete_live_update(deleted), ErrorCode::kNotFound);
  expect_error(store().delete_live_update(9999), ErrorCode::kNotFound);
  expect_error(store().pin_live_update(event_, deleted), ErrorCode::kNotFound);
  // An update of another event.
  expect_error(store().pin_live_update(event_, elsewhere), ErrorCode::kNotFound);
  expect_error(store().pin_live_update(event_, 9999), ErrorCode::kNotFound);
  EXPECT_EQ(snapshot(), before);
  EXPECT_FALSE(store().find_live_update(9999).value().has_value());
}

TEST_F(SqliteSiteStoreLiveTest, AVersion5FileKeepsItsUpdatesWithTheirIdsAsRevisions) {
  const auto a = add_ok(live_update(event_, "a"));
  const auto b = add_ok(live_update(event_, "b"));
  store_.reset();
  RawDb(path_).exec(FW_DROP_SCHEDULING FW_DROP_VIDEO FW_DROP_LIVE_DESK "PRAGMA user_version = 5");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  const auto stored = recent(event_);
  ASSERT_EQ(ids_of(stored), (std::vector<std::int64_t>{b, a}));
  EXPECT_EQ(stored[0].revision, b);
  EXPECT_FALSE(stored[0].deleted || stored[0].pinned);
  const auto c = add_ok(live_update(event_, "c"));
  EXPECT_GT(store().find_live_update(c).value()->revision, b);
}

// A data directory from before live updates: version 1, no live_updates table. Made here from a
// current file by undoing what the upgrade adds.
TEST_F(SqliteSiteStoreLiveTest, AVersion1FileIsUpgradedInPlaceKeepingEverything) {
  upsert_ok(subscription(kEndpoint1, kBreaking | kLive));
  const auto alert_id = create_alert_ok(alert(event_, Category::kLive));
  create_token_ok(token("desk-ana", 'a'));
  append_audit_ok({0, 100, "desk-ana", "article.publish", "storm-live"});
  ASSERT_TRUE(store().transition_alert(alert_id, AlertStatus::kQueued, AlertStatus::kSending));
  const auto reader = store().find_subscription(kEndpoint1).value()->id;
  ASSERT_TRUE(store().record_alert_event(alert_id, reader, AlertEvent::kClicked, 200));
  store_.reset();
  {
    RawDb raw(path_);
    raw.exec("DROP TABLE live_updates; DELETE FROM sqlite_sequence; " FW_DROP_SCHEDULING
                 FW_DROP_SEARCH_INDEX
             "DROP TABLE optin_counts; DROP TABLE alert_beacons; ALTER TABLE alerts DROP COLUMN "
             "sent; " FW_DROP_VIDEO "PRAGMA user_version = 1");
  }
  // What version 1 holds, table by table.
  const auto v1_snapshot = [this] {
    RawDb raw(path_);
    std::string out;
    // Version 1's article columns: later versions add some.
    out += "articles:\n" + raw.rows(
                               "SELECT id, slug, headline, standfirst, byline, dateline, category, "
                               "image_url, image_alt, body_markdown, published, published_at, "
                               "updated_at FROM articles");
    for (const char* table : {"subscriptions", "api_tokens", "audit_log"})
      out += std::string(table) + ":\n" + raw.rows(std::string("SELECT * FROM ") + table);
    out += "alerts:\n" + raw.rows(
                             "SELECT id, article_id, category, title, body, url, urgency, "
                             "ttl_seconds, topic, status, created_by, created_at FROM alerts");
    return out + raw.rows("SELECT * FROM alert_events ORDER BY alert_id, event");
  };
  const std::string v1_rows = v1_snapshot();
  ASSERT_NE(v1_rows.find("storm-live"), std::string::npos);

  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(v1_snapshot(), v1_rows) << "nothing stored is lost";
  EXPECT_EQ(RawDb(path_).rows("SELECT sent FROM alerts"), "1\n") << "it was sending";
  EXPECT_NE(RawDb(path_).rows("SELECT name FROM sqlite_schema ORDER BY name").find("live_updates"),
            std::string::npos);
  EXPECT_TRUE(recent(event_).empty());
  const auto id = add_ok(live_update(event_, "first after the upgrade"));
  EXPECT_EQ(ids_of(recent(event_)), std::vector<std::int64_t>{id});
  EXPECT_EQ(count_subs(kLive), 1u);

  // Opening again finds version 6 and changes nothing.
  const std::string upgraded = snapshot();
  reopen();
  EXPECT_EQ(snapshot(), upgraded);
}

TEST_F(SqliteSiteStoreLiveTest, AVersion1FileThatCannotBeUpgradedIsCorruptAndKeptAsItWas) {
  store_.reset();
  {
    RawDb raw(path_);
    // Claims version 1 but already has a table by the name the upgrade adds.
    raw.exec("DROP TABLE live_updates; PRAGMA user_version = 1");
    raw.exec("CREATE TABLE live_updates (note TEXT)");
  }
  const std::string schema_before = RawDb(path_).rows("SELECT sql FROM sqlite_schema");
  expect_error(open_sqlite_site_store(path_), ErrorCode::kCorrupt);
  EXPECT_EQ(RawDb(path_).rows("SELECT sql FROM sqlite_schema"), schema_before);
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), "1\n");
}

// --- search: the same cases on every backend ---

TEST_P(SiteStoreTest, SearchFindsEveryWordInHeadlinesStandfirstsAndBodiesPublishedOnly) {
  create_article_ok(story("ferry", "Ferries run every 15 minutes", "Extra crossings.", "Calm."));
  create_article_ok(story("storm", "Storm warning raised", "Gusts on the coast.",
                          "Ferries stop at 20:00 because of the storm."));
  create_article_ok(story("draft", "Storm ferries draft", "Unpublished.", "storm ferries", false));
  EXPECT_EQ(slugs(search("ferries")), (std::vector<std::string>{"ferry", "storm"}))
      << "a headline match ranks above a body match; drafts never appear";
  EXPECT_EQ(slugs(search("storm ferries")), std::vector<std::string>{"storm"});
  EXPECT_EQ(slugs(search("coast")), std::vector<std::string>{"storm"});
  EXPECT_EQ(slugs(search("FERR")), (std::vector<std::string>{"ferry", "storm"}))
      << "the last word is a prefix, case does not matter";
  EXPECT_TRUE(search("ferr storm").empty()) << "only the last word is a prefix";
  EXPECT_TRUE(search("volcano").empty());
  EXPECT_TRUE(search("draft").empty()) << "a draft is never found, by any of its words";
}

TEST_P(SiteStoreTest, SearchRanksHeadlineAboveStandfirstAboveBody) {
  create_article_ok(story("body", "Quiet day", "Nothing new.", "The tram depot flooded."));
  create_article_ok(story("standfirst", "Quiet night", "The tram depot reopened.", "Text."));
  create_article_ok(story("headline", "Tram depot reopens", "After the flood.", "Text."));
  EXPECT_EQ(slugs(search("tram depot")),
            (std::vector<std::string>{"headline", "standfirst", "body"}));
}

TEST_P(SiteStoreTest, SearchMarksTheMatchedWords) {
  create_article_ok(story("ferry", "Ferries run every 15 minutes", "Extra crossings.", "Calm."));
  const auto matches = search("ferries");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].headline,
            "\x02"
            "Ferries\x03 run every 15 minutes");
  EXPECT_EQ(matches[0].article.headline, "Ferries run every 15 minutes") << "the record unmarked";
  EXPECT_EQ(matches[0].article.image_renditions, article("x").image_renditions)
      << "a match is the whole record";
  const auto standfirst = search("extra");
  ASSERT_EQ(standfirst.size(), 1u);
  EXPECT_EQ(standfirst[0].snippet,
            "\x02"
            "Extra\x03 crossings.");
  EXPECT_EQ(standfirst[0].headline, "Ferries run every 15 minutes") << "nothing to mark";
}

TEST_P(SiteStoreTest, SearchFoldsCaseAndDiacriticsBothWays) {
  create_article_ok(
      story("zurich", "Zürich trams stop", "Café workers strike in São Paulo.", "Text."));
  create_article_ok(story("plain", "Zurich airport opens", "Cafe prices rise.", "Text."));
  EXPECT_EQ(slugs(search("zurich trams")), std::vector<std::string>{"zurich"});
  EXPECT_EQ(slugs(search("ZÜRICH TRAMS")), std::vector<std::string>{"zurich"});
  EXPECT_EQ(slugs(search("zürich airport")), std::vector<std::string>{"plain"});
  EXPECT_EQ(slugs(search("sao paulo")), std::vector<std::string>{"zurich"});
  EXPECT_EQ(search("cafe").size(), 2u);
  EXPECT_EQ(search("café").size(), 2u);
  EXPECT_EQ(search("zur").size(), 2u) << "a prefix folds too";
  const auto marked = search("zurich trams");
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(marked[0].headline,
            "\x02"
            "Zürich\x03 \x02"
            "trams\x03 stop")
      << "the accented word as written is the one marked";
}

TEST_P(SiteStoreTest, SearchReadsNoReaderInputAsSyntax) {
  create_article_ok(story("a", "Council contracts", "Records obtained.", "Text."));
  // Operators, quotes, column filters, tsquery and FTS5 syntax, control bytes, emoji, a cut UTF-8
  // sequence: separators or plain words, never errors.
  for (const std::string& query : std::vector<std::string>{"council AND contracts",
                                                           "\"council",
                                                           "headline:council",
                                                           "council*",
                                                           "council OR",
                                                           "NEAR(council contracts)",
                                                           "council -contracts",
                                                           "(council",
                                                           "council^",
                                                           "council & !",
                                                           "council | contracts",
                                                           "council:*",
                                                           "'council'",
                                                           "council <-> contracts",
                                                           "\\council",
                                                           "council:A",
                                                           "!council",
                                                           "council\\",
                                                           "''",
                                                           std::string("council\0contracts", 17),
                                                           "\x01\x02\x03",
                                                           "🗳️ council",
                                                           "council \xe2\x82",
                                                           "\xff\xfe",
                                                           "%00",
                                                           "council\n\t"}) {
    auto matches = store().search_articles(query, 10);
    ASSERT_TRUE(matches) << query << ": " << matches.error().message;
  }
  EXPECT_TRUE(search("council AND contracts").empty())
      << "AND is just another word that must be found, not an operator";
  EXPECT_EQ(slugs(search("council OR nothing")), std::vector<std::string>{})
      << "OR is a word too: no match means it was not read as 'either'";
  EXPECT_EQ(slugs(search("contracts:council")), std::vector<std::string>{"a"})
      << "not a column filter: both are words of the text";
  EXPECT_EQ(slugs(search("\"council")), std::vector<std::string>{"a"});
  EXPECT_EQ(slugs(search("council | !contracts")), std::vector<std::string>{"a"})
      << "| and ! separate words; they are no operators";
  EXPECT_EQ(slugs(search(std::string("council\0contracts", 17))), std::vector<std::string>{"a"})
      << "NUL separates words";
}

TEST_P(SiteStoreTest, SearchOfEmptyLongAndWordlessQueries) {
  create_article_ok(story("sao", "São Miguel ferry delayed", "Café closed.", "Text."));
  EXPECT_TRUE(search("").empty());
  EXPECT_TRUE(search("  ?! -- ").empty()) << "no word, no match";
  EXPECT_TRUE(search("sao", 0).empty());
  expect_error(store().search_articles(std::string(257, 'a'), 10), ErrorCode::kInvalid);
  EXPECT_TRUE(search(std::string(256, 'a')).empty());
  std::string many_words;
  for (int i = 0; i < 40; ++i) many_words += "sao ";
  EXPECT_EQ(slugs(search(many_words)), std::vector<std::string>{"sao"}) << "the first 12 count";
  EXPECT_EQ(slugs(search(std::string(250, '!') + "sao")), std::vector<std::string>{"sao"});
}

TEST_P(SiteStoreTest, TheSearchIndexFollowsEditsPublishingAndLimits) {
  Article a = story("edit", "Bridge closed", "Inspection.", "Text.", /*published=*/false);
  a.id = create_article_ok(a);
  EXPECT_TRUE(search("bridge").empty()) << "a draft";
  a.published = true;
  a.published_at = 1000;
  ASSERT_TRUE(store().update_article(a));
  EXPECT_EQ(slugs(search("bridge")), std::vector<std::string>{"edit"}) << "found once published";
  a.headline = "Bridge reopened";
  ASSERT_TRUE(store().update_article(a));
  EXPECT_TRUE(search("closed").empty()) << "the old headline is gone from the index";
  EXPECT_EQ(slugs(search("reopened")), std::vector<std::string>{"edit"});
  for (int i = 0; i < 5; ++i) {
    create_article_ok(story("bridge-" + std::to_string(i), "Bridge story", "x.", "y."));
  }
  EXPECT_EQ(search("bridge", 3).size(), 3u);
  EXPECT_EQ(search("bridge", 100).size(), 6u);
}

// --- image renditions ---

TEST_P(SiteStoreTest, ImageRenditionsRoundTripInOrderAndCanBeReplacedOrDropped) {
  Article a = article("renditions");
  a.image_renditions = {{"/assets/demo/storm-960.png", 960},
                        {"https://img.example/s-480.webp?q=1&w=480", 480},
                        {"/a", 1},
                        {"/b", 10000}};
  a.id = create_article_ok(a);
  EXPECT_EQ(store().find_article(a.id).value()->image_renditions, a.image_renditions);
  a.image_renditions = {{"/assets/demo/storm-1440.png", 1440}};
  ASSERT_TRUE(store().update_article(a));
  EXPECT_EQ(store().find_article_by_slug("renditions").value()->image_renditions,
            a.image_renditions);
  a.image_renditions.clear();
  ASSERT_TRUE(store().update_article(a));
  EXPECT_TRUE(store().find_article(a.id).value()->image_renditions.empty());
  EXPECT_TRUE(latest(0).front().image_renditions.empty());
}

TEST_P(SiteStoreTest, ImageRenditionsTheSchemaCannotHoldAreRefusedAndWriteNothing) {
  const std::string before = snapshot();
  const auto refused = [&](std::vector<news::ImageRendition> renditions, bool with_image,
                           const char* reason) {
    Article a = article("refused");
    a.image_renditions = std::move(renditions);
    if (!with_image) {
      a.image_url.clear();
      a.image_alt.clear();
    }
    auto id = store().create_article(a);
    ASSERT_FALSE(id) << reason;
    EXPECT_EQ(id.error().code, ErrorCode::kInvalid) << reason;
    EXPECT_NE(id.error().message.find("create_article: "), std::string::npos) << reason;
  };
  refused({{"/a", 0}}, true, "width 0");
  refused({{"/a", 10001}}, true, "too wide");
  refused({{"/a", -5}}, true, "negative");
  refused({{"", 480}}, true, "no URL");
  refused({{"/a b", 480}}, true, "a space would split the stored line");
  refused({{"/a\nb", 480}}, true, "a newline would split the stored list");
  refused({{"/a", 480}}, false, "renditions without an image");
  std::vector<news::ImageRendition> nine;
  for (int i = 1; i <= 9; ++i) nine.push_back({"/i" + std::to_string(i), i * 100});
  refused(nine, true, "more than 8");
  EXPECT_EQ(snapshot(), before);
  nine.pop_back();
  Article eight = article("eight");
  eight.image_renditions = nine;
  EXPECT_TRUE(store().create_article(eight)) << "8 is the most";
}

// --- search and renditions: what only the SQLite files do ---

TEST_F(SqliteSiteStoreTest, AVersion2FileGetsAnIndexOfWhatItHolds) {
  create_article_ok(story("old", "Harbour report", "Before search existed.", "Text."));
  store_.reset();
  RawDb(path_).exec(
      FW_DROP_SCHEDULING FW_DROP_SEARCH_INDEX FW_DROP_LIVE_DESK FW_DROP_VIDEO
      "DROP TABLE optin_counts; DROP TABLE alert_beacons; ALTER TABLE alerts DROP COLUMN sent; "
      "PRAGMA user_version = 2");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(slugs(search("harbour")), std::vector<std::string>{"old"});
  create_article_ok(story("new", "Harbour reopens", "After.", "Text."));
  EXPECT_EQ(search("harbour").size(), 2u);
}

// A version 9 file (before image renditions): its articles have none, and renditions are kept.
TEST_F(SqliteSiteStoreTest, AVersion9FileGetsArticlesWithoutRenditions) {
  Article old = article("old");
  old.image_renditions.clear();
  old.id = create_article_ok(old);
  store_.reset();
  RawDb(path_).exec(FW_DROP_RENDITIONS "PRAGMA user_version = 9");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(fields(store().find_article(old.id).value().value()), fields(old));
  old.image_renditions = {{"/assets/old-480.png", 480}};
  ASSERT_TRUE(store().update_article(old));
  EXPECT_EQ(store().find_article(old.id).value()->image_renditions, old.image_renditions);
}

// A stored list that does not read back (written behind the store's back) is kCorrupt, not a
// page with a broken srcset.
TEST_F(SqliteSiteStoreTest, StoredRenditionsThatDoNotReadBackAreCorrupt) {
  const std::int64_t id = create_article_ok(article("bad"));
  for (const char* stored : {"480", "x /a", "0 /a", "480 ", "10001 /a", "480 /a\n\n"}) {
    RawDb(path_).exec(std::string("UPDATE articles SET image_renditions = '") + stored +
                      "' WHERE id = " + std::to_string(id));
    expect_error(store().find_article(id), ErrorCode::kCorrupt);
  }
}

// A version 8 file (before article authors): its articles are by "" (unknown).
TEST_F(SqliteSiteStoreTest, AVersion8FileGetsArticleAuthorsAsUnknown) {
  const auto old = create_article_ok(article("old", Category::kBreaking, false));
  store_.reset();
  RawDb(path_).exec(FW_DROP_AUTHORS "PRAGMA user_version = 8");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(store().find_article(old).value()->created_by, "");
  EXPECT_EQ(ids_of(store().draft_articles(10).value()), std::vector<std::int64_t>{old});
}

// A version 10 file (before editors' subscriptions): tokens stay, and editors can subscribe.
TEST_F(SqliteSiteStoreTest, AVersion10FileGetsEditorSubscriptions) {
  const auto ana = create_token_ok(token("desk-ana", 'a'));
  const auto old = create_article_ok(article("old", Category::kBreaking, false));
  store_.reset();
  RawDb(path_).exec(FW_DROP_EDITOR_SUBSCRIPTIONS "PRAGMA user_version = 10");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_TRUE(store().find_article(old).value().has_value());
  ASSERT_TRUE(store().put_editor_subscription({ana, kEndpoint1, kP256dh, kAuth, 5}));
  EXPECT_EQ(store().find_editor_subscription(ana).value()->endpoint, kEndpoint1);
}

// A version 7 file (before scheduled alerts): its alerts become unscheduled, and scheduling works.
TEST_F(SqliteSiteStoreTest, AVersion7FileGetsSchedulingAndKeepsItsAlerts) {
  const auto old = create_alert_ok(alert());
  store_.reset();
  RawDb(path_).exec(FW_DROP_SCHEDULING "PRAGMA user_version = 7");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  const Alert stored = store().find_alert(old).value().value();
  EXPECT_FALSE(stored.scheduled);
  EXPECT_EQ(stored.send_at, 0);
  ASSERT_TRUE(store().schedule_alert(old, 2100));
  EXPECT_EQ(store().claim_due_alerts(2100, 10).value(), std::vector<std::int64_t>{old});
}

// A version 4 file (before analytics): its beacons stay, untimed, and opt-in counting works.
TEST_F(SqliteSiteStoreTest, AVersion4FileKeepsItsBeaconsUntimed) {
  const std::int64_t reader = upsert_ok(subscription(kEndpoint1, kBreaking));
  const std::int64_t id = create_alert_ok(alert());
  ASSERT_TRUE(store().transition_alert(id, AlertStatus::kQueued, AlertStatus::kSending));
  ASSERT_TRUE(
      store().record_alert_event(id, reader, AlertEvent::kReceived, 5, {5'000, PushService::kFcm}));
  store_.reset();
  RawDb(path_).exec(FW_DROP_SCHEDULING FW_DROP_LIVE_DESK FW_DROP_VIDEO
                    "DROP TABLE optin_counts; ALTER TABLE alert_beacons DROP COLUMN at_ms; "
                    "ALTER TABLE alert_beacons DROP COLUMN service; PRAGMA user_version = 4");
  reopen();
  EXPECT_EQ(RawDb(path_).rows("PRAGMA user_version"), kCurrentVersion);
  EXPECT_EQ(store().alert_engagement(id).value().received, 1u);
  const auto reach = store().alert_reach(id).value();
  EXPECT_TRUE(reach.received_at_ms.empty()) << "no arrival time was kept before version 5";
  EXPECT_EQ(reach.by_service[0][0], 1u) << "counted as other";
  EXPECT_TRUE(store().record_optin(1, 0, PageType::kHome, OptinStep::kShown));
}

}  // namespace
}  // namespace flashwire::store
