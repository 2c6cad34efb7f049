#include "store/sqlite/sqlite_push_store.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "raw_db.h"

namespace flashwire::store {
namespace {

using testing::RawDb;

constexpr char kUa[] = "0123456789abcdef0123456789abcdef";
constexpr char kOtherUa[] = "fedcba9876543210fedcba9876543210";
constexpr char kCh1[] = "7b0c7a3e-3f1e-4a63-9d8f-1d2c3b4a5e6f";
constexpr char kCh2[] = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
constexpr char kCh3[] = "0f0e0d0c-0b0a-4908-8706-050403020100";

VapidKey key_of(std::uint8_t fill) {
  VapidKey key;
  key.fill(fill);
  key[0] = 0x04;  // the uncompressed-point prefix, as a real key has
  return key;
}

std::vector<std::uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

// Every field, so that EXPECT_EQ compares and prints whole messages and channels.
auto fields(const PushMessage& m) {
  return std::make_tuple(m.id, m.uaid, m.channel_id, m.topic, static_cast<int>(m.urgency),
                         m.received_at, m.expires_at, m.encoding, m.data);
}
auto fields(const PushChannel& c) {
  return std::make_tuple(c.uaid, c.channel_id, c.vapid_key, c.created_at);
}

std::vector<std::int64_t> ids_of(const std::vector<PushMessage>& messages) {
  std::vector<std::int64_t> ids;
  for (const auto& m : messages) ids.push_back(m.id);
  return ids;
}

std::vector<std::string> topics_of(const std::vector<PushMessage>& messages) {
  std::vector<std::string> topics;
  for (const auto& m : messages) topics.push_back(m.topic);
  return topics;
}

// A message as a push service would store it; the arguments vary what the tests vary.
PushMessage message(const std::string& uaid, const std::string& channel_id,
                    const std::string& topic = "", std::int64_t received_at = 1000,
                    std::int64_t ttl = 60, std::string_view body = "ciphertext") {
  PushMessage m;
  m.uaid = uaid;
  m.channel_id = channel_id;
  m.topic = topic;
  m.urgency = Urgency::kNormal;
  m.received_at = received_at;
  m.expires_at = received_at + ttl;
  m.encoding = body.empty() ? "" : "aes128gcm";
  m.data = bytes(body);
  return m;
}

class SqlitePushStoreTest : public testing::SqliteStoreFixture<PushStore, &open_sqlite_push_store> {
 protected:
  SqlitePushStoreTest() : SqliteStoreFixture("push.db") {}

  void add_user_agent(const std::string& uaid, std::int64_t now = 1000) {
    auto ok = store().touch_user_agent(uaid, now);
    ASSERT_TRUE(ok) << ok.error().message;
  }

  void add_channel(const std::string& uaid, const std::string& channel_id,
                   std::optional<VapidKey> key = std::nullopt, std::int64_t created_at = 1000) {
    auto ok = store().add_channel(PushChannel{uaid, channel_id, key, created_at});
    ASSERT_TRUE(ok) << ok.error().message;
  }

  StoreMessageResult store_ok(const PushMessage& m, std::size_t cap = 100) {
    auto result = store().store_message(m, cap);
    EXPECT_TRUE(result) << result.error().message;
    return result.value_or(StoreMessageResult{});
  }

  std::vector<PushMessage> pending(const std::string& uaid, std::int64_t now = 0,
                                   std::size_t limit = 1000) {
    auto messages = store().pending_messages(uaid, now, limit);
    EXPECT_TRUE(messages) << messages.error().message;
    return messages.value_or(std::vector<PushMessage>{});
  }

  std::size_t count() {
    auto n = store().message_count();
    EXPECT_TRUE(n) << n.error().message;
    return n.value_or(0);
  }
};

// --- user agents ---

TEST_F(SqlitePushStoreTest, TouchUserAgentCreatesItOnce) {
  EXPECT_EQ(store().user_agent_exists(kUa), false);
  add_user_agent(kUa, 1000);
  EXPECT_EQ(store().user_agent_exists(kUa), true);
  add_user_agent(kUa, 2000);  // a reconnect: not an error, still one user agent
  EXPECT_EQ(store().user_agent_exists(kUa), true);
  EXPECT_EQ(store().user_agent_exists(kOtherUa), false);
}

TEST_F(SqlitePushStoreTest, TouchUserAgentKeepsChannelsAndMessages) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1));
  add_user_agent(kUa, 5000);
  EXPECT_TRUE(store().find_channel(kUa, kCh1).value().has_value());
  EXPECT_EQ(count(), 1u);
}

TEST_F(SqlitePushStoreTest, RemoveUserAgentCascadesToChannelsAndMessages) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  add_channel(kOtherUa, kCh1);
  store_ok(message(kUa, kCh1));
  store_ok(message(kUa, kCh2));
  const auto kept = store_ok(message(kOtherUa, kCh1));

  ASSERT_TRUE(store().remove_user_agent(kUa));

  EXPECT_EQ(store().user_agent_exists(kUa), false);
  EXPECT_TRUE(store().channels_of(kUa).value().empty());
  EXPECT_FALSE(store().find_channel(kUa, kCh1).value().has_value());
  EXPECT_TRUE(pending(kUa).empty());
  EXPECT_EQ(count(), 1u);
  // The other user agent, even with the same channel id, is untouched.
  EXPECT_EQ(store().user_agent_exists(kOtherUa), true);
  EXPECT_TRUE(store().find_channel(kOtherUa, kCh1).value().has_value());
  EXPECT_EQ(ids_of(pending(kOtherUa)), std::vector<std::int64_t>{kept.id});
}

TEST_F(SqlitePushStoreTest, RemoveUnknownUserAgentIsNotAnError) {
  EXPECT_TRUE(store().remove_user_agent(kUa));
}

// --- channels ---

TEST_F(SqlitePushStoreTest, AddChannelStoresKeyAndCreationTime) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1, key_of(0x11), 1234);
  add_channel(kUa, kCh2, std::nullopt, 1235);

  auto with_key = store().find_channel(kUa, kCh1);
  ASSERT_TRUE(with_key && with_key->has_value());
  EXPECT_EQ(fields(**with_key), fields(PushChannel{kUa, kCh1, key_of(0x11), 1234}));
  auto without_key = store().find_channel(kUa, kCh2);
  ASSERT_TRUE(without_key && without_key->has_value());
  EXPECT_EQ(fields(**without_key), fields(PushChannel{kUa, kCh2, std::nullopt, 1235}));
}

TEST_F(SqlitePushStoreTest, FindChannelIsEmptyWhenAbsent) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  EXPECT_FALSE(store().find_channel(kUa, kCh2).value().has_value());
  EXPECT_FALSE(store().find_channel(kOtherUa, kCh1).value().has_value());
}

TEST_F(SqlitePushStoreTest, ChannelsOfListsOnlyThatUserAgentsChannels) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh2, key_of(0x22), 2);
  add_channel(kUa, kCh1, std::nullopt, 1);
  add_channel(kOtherUa, kCh3);

  auto channels = store().channels_of(kUa);
  ASSERT_TRUE(channels) << channels.error().message;
  ASSERT_EQ(channels->size(), 2u);
  // Ordered by channel id.
  EXPECT_EQ(fields((*channels)[0]), fields(PushChannel{kUa, kCh1, std::nullopt, 1}));
  EXPECT_EQ(fields((*channels)[1]), fields(PushChannel{kUa, kCh2, key_of(0x22), 2}));
  EXPECT_TRUE(store().channels_of("00000000000000000000000000000000").value().empty());
}

TEST_F(SqlitePushStoreTest, AddingTheSameChannelAgainIsANoOp) {
  const std::optional<VapidKey> cases[] = {key_of(0x33), std::nullopt};
  for (const auto& key : cases) {
    SCOPED_TRACE(key ? "with a key" : "without a key");
    ASSERT_TRUE(store().remove_user_agent(kUa));
    add_user_agent(kUa);
    add_channel(kUa, kCh1, key, 100);
    auto again = store().add_channel(PushChannel{kUa, kCh1, key, 200});
    EXPECT_TRUE(again) << again.error().message;
    // The first registration stands, creation time included.
    EXPECT_EQ(fields(store().find_channel(kUa, kCh1).value().value()),
              fields(PushChannel{kUa, kCh1, key, 100}));
    EXPECT_EQ(store().channels_of(kUa).value().size(), 1u);
  }
}

TEST_F(SqlitePushStoreTest, AddingTheChannelWithAnotherKeyConflictsAndKeepsTheOriginal) {
  struct Case {
    const char* name;
    std::optional<VapidKey> stored;
    std::optional<VapidKey> attempted;
  };
  const Case cases[] = {
      {"other key", key_of(0x44), key_of(0x55)},
      {"key, then none", key_of(0x44), std::nullopt},
      {"none, then a key", std::nullopt, key_of(0x55)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(store().remove_user_agent(kUa));
    add_user_agent(kUa);
    add_channel(kUa, kCh1, c.stored, 100);
    store_ok(message(kUa, kCh1));

    auto conflict = store().add_channel(PushChannel{kUa, kCh1, c.attempted, 200});
    ASSERT_FALSE(conflict);
    EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
    EXPECT_EQ(conflict.error().message.find(kCh1), std::string::npos);  // no ids in errors
    EXPECT_EQ(fields(store().find_channel(kUa, kCh1).value().value()),
              fields(PushChannel{kUa, kCh1, c.stored, 100}));
    EXPECT_EQ(pending(kUa).size(), 1u);  // its messages are untouched
  }
}

TEST_F(SqlitePushStoreTest, AddChannelForUnknownUserAgentIsNotFoundAndWritesNothing) {
  auto result = store().add_channel(PushChannel{kUa, kCh1, key_of(0x66), 1});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store().user_agent_exists(kUa), false);
  EXPECT_TRUE(store().channels_of(kUa).value().empty());
}

TEST_F(SqlitePushStoreTest, RemoveChannelDeletesItsMessagesAndTellsGoneFromNeverExisted) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  store_ok(message(kUa, kCh1, "a"));
  store_ok(message(kUa, kCh1));
  const auto other = store_ok(message(kUa, kCh2));

  ASSERT_TRUE(store().remove_channel(kUa, kCh1, 5000));

  EXPECT_FALSE(store().find_channel(kUa, kCh1).value().has_value());
  EXPECT_EQ(ids_of(pending(kUa)), std::vector<std::int64_t>{other.id});
  EXPECT_EQ(store().was_removed(kUa, kCh1), true);   // 410 Gone
  EXPECT_EQ(store().was_removed(kUa, kCh3), false);  // 404 Not Found
  EXPECT_EQ(store().was_removed(kUa, kCh2), false);  // still live
  EXPECT_EQ(store().was_removed(kOtherUa, kCh1), false);
}

TEST_F(SqlitePushStoreTest, RemovingAnAbsentChannelIsNotAnErrorAndLeavesNoMark) {
  add_user_agent(kUa);
  EXPECT_TRUE(store().remove_channel(kUa, kCh1, 5000));
  EXPECT_TRUE(store().remove_channel(kOtherUa, kCh1, 5000));
  EXPECT_EQ(store().was_removed(kUa, kCh1), false);
  EXPECT_EQ(store().was_removed(kOtherUa, kCh1), false);
}

TEST_F(SqlitePushStoreTest, RemovingTwiceKeepsTheMark) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  ASSERT_TRUE(store().remove_channel(kUa, kCh1, 5000));
  ASSERT_TRUE(store().remove_channel(kUa, kCh1, 6000));
  EXPECT_EQ(store().was_removed(kUa, kCh1), true);
}

TEST_F(SqlitePushStoreTest, ReAddingARemovedChannelClearsTheMark) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1, key_of(0x77));
  ASSERT_TRUE(store().remove_channel(kUa, kCh1, 5000));
  ASSERT_EQ(store().was_removed(kUa, kCh1), true);

  // A new key is fine: the old registration is gone.
  add_channel(kUa, kCh1, key_of(0x78), 6000);
  EXPECT_EQ(store().was_removed(kUa, kCh1), false);
  EXPECT_EQ(fields(store().find_channel(kUa, kCh1).value().value()),
            fields(PushChannel{kUa, kCh1, key_of(0x78), 6000}));
}

TEST_F(SqlitePushStoreTest, RemoveUserAgentKeepsEarlierRemovedMarks) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  ASSERT_TRUE(store().remove_channel(kUa, kCh1, 5000));
  ASSERT_TRUE(store().remove_user_agent(kUa));
  EXPECT_EQ(store().was_removed(kUa, kCh1), true);
  // Dropped with the user agent, not unsubscribed: see sqlite_push_store.h.
  EXPECT_EQ(store().was_removed(kUa, kCh2), false);
}

// --- messages ---

TEST_F(SqlitePushStoreTest, StoreMessageRoundTripsEveryField) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);

  PushMessage full = message(kUa, kCh1, "scores", 1000, 3600);
  full.urgency = Urgency::kHigh;
  full.data = {0x00, 0xff, 0x10, 0x00, 0x7f};               // binary, with NUL bytes
  PushMessage empty = message(kUa, kCh2, "", 1001, 0, "");  // TTL 0, no body
  empty.urgency = Urgency::kVeryLow;

  full.id = store_ok(full).id;
  empty.id = store_ok(empty).id;
  EXPECT_GT(full.id, 0);
  EXPECT_GT(empty.id, full.id);

  auto messages = pending(kUa, 999);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(fields(messages[0]), fields(full));
  EXPECT_EQ(fields(messages[1]), fields(empty));
  EXPECT_EQ(count(), 2u);
}

TEST_F(SqlitePushStoreTest, StoreMessageKeepsEveryUrgency) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  const Urgency urgencies[] = {Urgency::kVeryLow, Urgency::kLow, Urgency::kNormal, Urgency::kHigh};
  for (const Urgency u : urgencies) {
    PushMessage m = message(kUa, kCh1);
    m.urgency = u;
    store_ok(m);
  }
  auto messages = pending(kUa);
  ASSERT_EQ(messages.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(messages[i].urgency, urgencies[i]);
}

TEST_F(SqlitePushStoreTest, StoreMessageForMissingChannelIsNotFoundAndWritesNothing) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1, "t"));

  struct Case {
    const char* name;
    const char* uaid;
    const char* channel_id;
  };
  const Case cases[] = {
      {"unknown channel", kUa, kCh2},
      {"unknown user agent", kOtherUa, kCh1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto result = store().store_message(message(c.uaid, c.channel_id, "t"), 100);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(count(), 1u);
  }
  EXPECT_EQ(topics_of(pending(kUa)), std::vector<std::string>{"t"});
}

TEST_F(SqlitePushStoreTest, StoreMessageRejectsWhatTheSchemaCannotHold) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1));

  const std::string too_big(4097, 'x');
  struct Case {
    const char* name;
    std::function<void(PushMessage&)> spoil;
    std::size_t cap;
  };
  const Case cases[] = {
      {"empty uaid", [](PushMessage& m) { m.uaid.clear(); }, 100},
      {"empty channel id", [](PushMessage& m) { m.channel_id.clear(); }, 100},
      {"body over 4096 bytes", [&](PushMessage& m) { m.data = bytes(too_big); }, 100},
      {"urgency out of range", [](PushMessage& m) { m.urgency = static_cast<Urgency>(7); }, 100},
      {"expires before received", [](PushMessage& m) { m.expires_at = m.received_at - 1; }, 100},
      {"backlog cap 0", [](PushMessage&) {}, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PushMessage m = message(kUa, kCh1, "t");
    c.spoil(m);
    auto result = store().store_message(m, c.cap);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kInvalid);
    EXPECT_EQ(result.error().message.find("xxxx"), std::string::npos);  // no payload in errors
    EXPECT_EQ(count(), 1u);
  }
}

TEST_F(SqlitePushStoreTest, StoreMessageAcceptsABodyOfExactly4096Bytes) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  const std::string body(4096, '\x5a');
  store_ok(message(kUa, kCh1, "", 1000, 60, body));
  EXPECT_EQ(pending(kUa).at(0).data, bytes(body));
}

TEST_F(SqlitePushStoreTest, TopicReplacesOnlyTheSameChannelAndTopic) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  add_channel(kOtherUa, kCh1);
  const auto old_scores = store_ok(message(kUa, kCh1, "scores"));
  const auto weather = store_ok(message(kUa, kCh1, "weather"));
  const auto untopiced = store_ok(message(kUa, kCh1, ""));
  const auto other_channel = store_ok(message(kUa, kCh2, "scores"));
  const auto other_ua = store_ok(message(kOtherUa, kCh1, "scores"));

  const auto fresh = store_ok(message(kUa, kCh1, "scores", 2000, 60, "newer"));
  EXPECT_EQ(fresh.replaced, 1u);
  EXPECT_EQ(fresh.evicted, 0u);

  auto messages = pending(kUa);
  EXPECT_EQ(ids_of(messages),
            (std::vector<std::int64_t>{weather.id, untopiced.id, other_channel.id, fresh.id}));
  EXPECT_EQ(messages.back().data, bytes("newer"));
  EXPECT_NE(fresh.id, old_scores.id);
  EXPECT_EQ(ids_of(pending(kOtherUa)), std::vector<std::int64_t>{other_ua.id});
}

TEST_F(SqlitePushStoreTest, MessagesWithoutTopicAreNeverReplaced) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(store_ok(message(kUa, kCh1)).replaced, 0u);
  EXPECT_EQ(count(), 3u);
}

TEST_F(SqlitePushStoreTest, TopicReplacementAlsoReplacesExpiredMessages) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1, "t", 1000, 0));
  EXPECT_EQ(store_ok(message(kUa, kCh1, "t", 2000, 60)).replaced, 1u);
  EXPECT_EQ(count(), 1u);
}

TEST_F(SqlitePushStoreTest, BacklogCapEvictsTheOldestAcrossTheUserAgent) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  add_channel(kOtherUa, kCh1);
  const auto other_ua = store_ok(message(kOtherUa, kCh1), 3);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    const auto r = store_ok(message(kUa, i % 2 == 0 ? kCh1 : kCh2), 3);
    EXPECT_EQ(r.evicted, 0u);
    ids.push_back(r.id);
  }

  const auto fourth = store_ok(message(kUa, kCh2), 3);
  EXPECT_EQ(fourth.evicted, 1u);
  EXPECT_EQ(ids_of(pending(kUa)), (std::vector<std::int64_t>{ids[1], ids[2], fourth.id}));

  // A smaller cap evicts down to it in one go.
  const auto fifth = store_ok(message(kUa, kCh1), 1);
  EXPECT_EQ(fifth.evicted, 3u);
  EXPECT_EQ(ids_of(pending(kUa)), std::vector<std::int64_t>{fifth.id});

  // Other user agents' backlogs do not count and are not touched.
  EXPECT_EQ(ids_of(pending(kOtherUa)), std::vector<std::int64_t>{other_ua.id});
}

TEST_F(SqlitePushStoreTest, ReplacementAndEvictionAreCountedInOneCall) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1, "a"), 10);
  const auto b = store_ok(message(kUa, kCh1, "b"), 10);
  const auto c = store_ok(message(kUa, kCh1, "c"), 10);
  // Replaces "a"; then three messages remain against a cap of 2, so "b" goes.
  const auto a2 = store_ok(message(kUa, kCh1, "a"), 2);
  EXPECT_EQ(a2.replaced, 1u);
  EXPECT_EQ(a2.evicted, 1u);
  EXPECT_EQ(ids_of(pending(kUa)), (std::vector<std::int64_t>{c.id, a2.id}));
  EXPECT_NE(b.id, a2.id);
}

TEST_F(SqlitePushStoreTest, PendingMessagesSkipExpiredKeepIdOrderAndHonourTheLimit) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  add_channel(kUa, kCh2);
  // expires_at: 1010, 1100, 1050, 1200
  const auto m1 = store_ok(message(kUa, kCh1, "", 1000, 10));
  const auto m2 = store_ok(message(kUa, kCh2, "", 1000, 100));
  const auto m3 = store_ok(message(kUa, kCh1, "", 1000, 50));
  const auto m4 = store_ok(message(kUa, kCh2, "", 1000, 200));

  struct Case {
    std::int64_t now;
    std::size_t limit;
    std::vector<std::int64_t> expected;
  };
  const Case cases[] = {
      {1000, 100, {m1.id, m2.id, m3.id, m4.id}},
      {1009, 100, {m1.id, m2.id, m3.id, m4.id}},
      {1010, 100, {m2.id, m3.id, m4.id}},  // expires_at == now counts as expired
      {1050, 100, {m2.id, m4.id}},
      {1199, 100, {m4.id}},
      {1200, 100, {}},
      {1000, 2, {m1.id, m2.id}},
      {1010, 2, {m2.id, m3.id}},
      {1000, 0, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("now " + std::to_string(c.now) + ", limit " + std::to_string(c.limit));
    EXPECT_EQ(ids_of(pending(kUa, c.now, c.limit)), c.expected);
  }
  EXPECT_EQ(count(), 4u);  // reading does not delete
  EXPECT_TRUE(pending(kOtherUa, 0).empty());
}

TEST_F(SqlitePushStoreTest, PurgeExpiredDeletesOnlyExpiredAndReturnsTheCount) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1);
  add_channel(kOtherUa, kCh1);
  store_ok(message(kUa, kCh1, "", 1000, 10));       // expires 1010
  store_ok(message(kOtherUa, kCh1, "", 1000, 20));  // expires 1020
  const auto live = store_ok(message(kUa, kCh1, "", 1000, 100));

  EXPECT_EQ(store().purge_expired(1000), 0u);
  EXPECT_EQ(store().purge_expired(1020), 2u);  // <= now
  EXPECT_EQ(store().purge_expired(1020), 0u);
  EXPECT_EQ(count(), 1u);
  EXPECT_EQ(ids_of(pending(kUa)), std::vector<std::int64_t>{live.id});
}

TEST_F(SqlitePushStoreTest, DeleteMessageReportsWhetherItWasThere) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1);
  const auto m = store_ok(message(kUa, kCh1));
  const auto kept = store_ok(message(kUa, kCh1));

  // Another user agent cannot ack it away.
  EXPECT_EQ(store().delete_message(kOtherUa, m.id), false);
  EXPECT_EQ(store().delete_message(kUa, m.id), true);
  EXPECT_EQ(store().delete_message(kUa, m.id), false);
  EXPECT_EQ(store().delete_message(kUa, 999999), false);
  EXPECT_EQ(ids_of(pending(kUa)), std::vector<std::int64_t>{kept.id});
}

TEST_F(SqlitePushStoreTest, MessageIdsAreNeverReused) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  const auto first = store_ok(message(kUa, kCh1));
  ASSERT_EQ(store().delete_message(kUa, first.id), true);
  const auto second = store_ok(message(kUa, kCh1));
  EXPECT_GT(second.id, first.id);
  ASSERT_EQ(store().delete_message(kUa, second.id), true);
  reopen();
  EXPECT_GT(store_ok(message(kUa, kCh1)).id, second.id);
}

// --- durability and atomicity ---

TEST_F(SqlitePushStoreTest, EverythingPersistsAcrossCloseAndReopen) {
  add_user_agent(kUa);
  add_user_agent(kOtherUa);
  add_channel(kUa, kCh1, key_of(0x99), 100);
  add_channel(kUa, kCh2, std::nullopt, 101);
  add_channel(kUa, kCh3);
  ASSERT_TRUE(store().remove_channel(kUa, kCh3, 200));
  PushMessage m1 = message(kUa, kCh1, "topic", 1000, 600, "body one");
  m1.urgency = Urgency::kHigh;
  m1.id = store_ok(m1).id;
  PushMessage m2 = message(kUa, kCh2, "", 1001, 600, "");
  m2.id = store_ok(m2).id;

  reopen();

  EXPECT_EQ(store().user_agent_exists(kUa), true);
  EXPECT_EQ(store().user_agent_exists(kOtherUa), true);
  auto channels = store().channels_of(kUa);
  ASSERT_TRUE(channels);
  ASSERT_EQ(channels->size(), 2u);
  EXPECT_EQ(fields((*channels)[0]), fields(PushChannel{kUa, kCh1, key_of(0x99), 100}));
  EXPECT_EQ(fields((*channels)[1]), fields(PushChannel{kUa, kCh2, std::nullopt, 101}));
  EXPECT_EQ(store().was_removed(kUa, kCh3), true);
  auto messages = pending(kUa, 1000);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(fields(messages[0]), fields(m1));
  EXPECT_EQ(fields(messages[1]), fields(m2));
  EXPECT_EQ(count(), 2u);

  // And the reopened store keeps working on the same data.
  EXPECT_EQ(store_ok(message(kUa, kCh1, "topic")).replaced, 1u);
  auto conflict = store().add_channel(PushChannel{kUa, kCh1, key_of(0x98), 1});
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
}

TEST_F(SqlitePushStoreTest, PersistsWithAnyCheckpointInterval) {
  struct Case {
    const char* name;
    SqliteOptions options;
  };
  const Case cases[] = {
      {"default", SqliteOptions{}},
      {"checkpoint after every page", SqliteOptions{.wal_autocheckpoint_pages = 1}},
      {"SQLite's default interval", SqliteOptions{.wal_autocheckpoint_pages = 0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    store_.reset();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directory(dir_);
    store_ = open_store(c.options);
    ASSERT_NE(store_, nullptr);
    add_user_agent(kUa);
    add_channel(kUa, kCh1);
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 50; ++i)
      ids.push_back(store_ok(message(kUa, kCh1, "", 1000, 60, std::string(3000, 'b'))).id);
    for (int i = 0; i < 50; i += 2)
      ASSERT_EQ(store().delete_message(kUa, ids[static_cast<std::size_t>(i)]), true);
    store_.reset();
    store_ = open_store(c.options);
    ASSERT_NE(store_, nullptr);
    EXPECT_EQ(count(), 25u);
    EXPECT_EQ(pending(kUa).front().id, ids[1]);
  }
}

TEST_F(SqlitePushStoreTest, OpensWithWalAndSchemaVersion1) {
  store_.reset();
  RawDb raw(path_);
  EXPECT_EQ(raw.value("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.value("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                      "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
            "channels,messages,removed_channels,user_agents");
}

TEST_F(SqlitePushStoreTest, TwoStoresOnOneFileSeeEachOthersWrites) {
  auto second = open_store();
  ASSERT_NE(second, nullptr);
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  auto stored = second->store_message(message(kUa, kCh1), 100);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(ids_of(pending(kUa)), std::vector<std::int64_t>{stored->id});
  EXPECT_EQ(store().delete_message(kUa, stored->id), true);
  EXPECT_EQ(second->message_count(), 0u);
}

// A call that fails after it has already changed something must undo it all. Triggers, added
// to the file behind the store's back, make one step of a call fail after the earlier steps ran.
TEST_F(SqlitePushStoreTest, AFailureMidCallRollsBackItsEarlierSteps) {
  struct Case {
    const char* name;
    const char* trigger;
    std::function<bool(PushStore&)> call;  // true if the call succeeded
  };
  const Case cases[] = {
      {"insert fails after the topic replacement",
       "CREATE TRIGGER boom AFTER INSERT ON messages WHEN NEW.encoding = 'boom' "
       "BEGIN SELECT RAISE(ABORT, 'boom'); END",
       [](PushStore& s) {
         PushMessage m = message(kUa, kCh1, "news");
         m.encoding = "boom";
         return s.store_message(m, 100).has_value();
       }},
      {"eviction fails after the insert",
       "CREATE TRIGGER boom BEFORE DELETE ON messages WHEN OLD.topic = 'fragile' "
       "BEGIN SELECT RAISE(ABORT, 'boom'); END",
       [](PushStore& s) { return s.store_message(message(kUa, kCh1), 1).has_value(); }},
      {"removed mark fails after the channel delete",
       "CREATE TRIGGER boom BEFORE INSERT ON removed_channels "
       "BEGIN SELECT RAISE(ABORT, 'boom'); END",
       [](PushStore& s) { return s.remove_channel(kUa, kCh1, 5000).has_value(); }},
      {"cascade fails part-way through removing the user agent",
       "CREATE TRIGGER boom BEFORE DELETE ON messages WHEN OLD.topic = 'fragile' "
       "BEGIN SELECT RAISE(ABORT, 'boom'); END",
       [](PushStore& s) { return s.remove_user_agent(kUa).has_value(); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(store().remove_user_agent(kUa));
    add_user_agent(kUa);
    add_channel(kUa, kCh1);
    add_channel(kUa, kCh2);
    store_ok(message(kUa, kCh1, "news"));
    store_ok(message(kUa, kCh2, "fragile"));
    store_ok(message(kUa, kCh1));
    const auto before = ids_of(pending(kUa));
    {
      RawDb raw(path_);
      raw.exec(c.trigger);
    }

    EXPECT_FALSE(c.call(store()));

    EXPECT_EQ(ids_of(pending(kUa)), before);
    EXPECT_EQ(count(), 3u);
    EXPECT_EQ(store().channels_of(kUa).value().size(), 2u);
    EXPECT_EQ(store().user_agent_exists(kUa), true);
    EXPECT_EQ(store().was_removed(kUa, kCh1), false);
    RawDb(path_).exec("DROP TRIGGER boom");
  }
}

TEST_F(SqlitePushStoreTest, ALockedDatabaseFailsWithIoAndChangesNothing) {
  add_user_agent(kUa);
  add_channel(kUa, kCh1);
  store_ok(message(kUa, kCh1));
  auto impatient = open_store(SqliteOptions{.busy_timeout_ms = 0});
  ASSERT_NE(impatient, nullptr);

  RawDb writer(path_);
  writer.exec("BEGIN IMMEDIATE");
  auto result = impatient->store_message(message(kUa, kCh1), 100);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kIo);
  EXPECT_EQ(impatient->message_count(), 1u);  // WAL: readers are not blocked by the writer
  writer.exec("ROLLBACK");

  EXPECT_TRUE(impatient->store_message(message(kUa, kCh1), 100));
  EXPECT_EQ(count(), 2u);
}

// --- opening ---

TEST_F(SqlitePushStoreTest, OpeningAFileThatIsNotADatabaseIsCorrupt) {
  struct Case {
    const char* name;
    std::string content;
  };
  const Case cases[] = {
      {"short text", "this is not a database\n"},
      {"a page of garbage", std::string(4096, '\xab')},
      {"SQLite magic, garbage header",
       std::string("SQLite format 3\0", 16) + std::string(4080, '\xff')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_ + "/garbage.db";
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(c.content.data(), static_cast<std::streamsize>(c.content.size()));
    }
    auto store = open_sqlite_push_store(path);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code, ErrorCode::kCorrupt) << store.error().message;
  }
}

TEST_F(SqlitePushStoreTest, OpeningWhereNoFileCanBeIsIo) {
  const std::string paths[] = {
      dir_ + "/no/such/directory/push.db",
      dir_,  // a directory, not a file
  };
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    auto store = open_sqlite_push_store(path);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code, ErrorCode::kIo) << store.error().message;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/no"));
}

// The open as an unprivileged user would try it: its exit status says what happened.
enum ReadOnlyOpen { kRefusedAsIo = 0, kCannotDropRoot = 2, kOpened = 3, kOtherError = 4 };

int open_in(const std::string& directory) {
  auto store = open_sqlite_push_store(directory + "/push.db");
  if (store) return kOpened;
  return store.error().code == ErrorCode::kIo ? kRefusedAsIo : kOtherError;
}

TEST_F(SqlitePushStoreTest, OpeningInAReadOnlyDirectoryIsIo) {
  const std::string locked = dir_ + "/locked";
  ASSERT_EQ(mkdir(locked.c_str(), 0500), 0);
  if (geteuid() != 0) {
    EXPECT_EQ(open_in(locked), kRefusedAsIo);
  } else {
    // Root ignores directory permissions (and CI runs as root): the open is tried by a forked
    // child that gave root up for "nobody", which owns the read-only directory.
    constexpr uid_t kNobody = 65534;
    ASSERT_EQ(chmod(dir_.c_str(), 0711), 0);  // "nobody" may pass through to `locked`
    ASSERT_EQ(chown(locked.c_str(), kNobody, kNobody), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0 ||
          geteuid() == 0) {
        _exit(kCannotDropRoot);
      }
      _exit(open_in(locked));
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child was killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), kRefusedAsIo)
        << "2: could not give up root, 3: the store opened, 4: an error other than kIo";
    chmod(dir_.c_str(), 0700);
  }
  EXPECT_FALSE(std::filesystem::exists(locked + "/push.db"));
  chmod(locked.c_str(), 0700);
}

TEST_F(SqlitePushStoreTest, OpeningANewerSchemaVersionIsCorruptAndLeavesTheFileAlone) {
  add_user_agent(kUa);
  store_.reset();
  RawDb(path_).exec("PRAGMA user_version = 99");

  auto store = open_sqlite_push_store(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(store.error().message.find("99"), std::string::npos) << store.error().message;
  EXPECT_EQ(RawDb(path_).value("PRAGMA user_version"), "99");
}

TEST_F(SqlitePushStoreTest, OpeningAnotherApplicationsDatabaseIsCorruptAndAddsNothing) {
  struct Case {
    const char* name;
    const char* setup;
  };
  const Case cases[] = {
      {"tables, no version", "CREATE TABLE notes (body TEXT)"},
      {"version 99, no tables", "PRAGMA user_version = 99"},
      {"version 1, other application id", "PRAGMA user_version = 1; PRAGMA application_id = 7"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_ + "/other.db";
    std::filesystem::remove(path);
    RawDb(path).exec(c.setup);
    const std::string schema_before = RawDb(path).value("SELECT count(*) FROM sqlite_schema");

    auto store = open_sqlite_push_store(path);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code, ErrorCode::kCorrupt) << store.error().message;
    EXPECT_EQ(RawDb(path).value("SELECT count(*) FROM sqlite_schema"), schema_before);
  }
}

TEST_F(SqlitePushStoreTest, OpeningAVersion1FileWithMissingTablesIsCorrupt) {
  store_.reset();
  RawDb(path_).exec("DROP TABLE messages");
  auto store = open_sqlite_push_store(path_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kCorrupt) << store.error().message;
}

TEST_F(SqlitePushStoreTest, AnEmptyExistingFileBecomesAStore) {
  const std::string path = dir_ + "/empty.db";
  std::ofstream(path).close();
  auto store = open_sqlite_push_store(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->message_count(), 0u);
}

TEST(SqlitePushStoreInMemoryTest, MemoryStoreWorks) {
  auto store = open_sqlite_push_store(":memory:");
  ASSERT_TRUE(store) << store.error().message;
  PushStore& s = **store;
  ASSERT_TRUE(s.touch_user_agent(kUa, 1));
  ASSERT_TRUE(s.add_channel(PushChannel{kUa, kCh1, std::nullopt, 1}));
  auto stored = s.store_message(message(kUa, kCh1, "t"), 10);
  ASSERT_TRUE(stored) << stored.error().message;
  auto messages = s.pending_messages(kUa, 0, 10);
  ASSERT_TRUE(messages);
  EXPECT_EQ(ids_of(*messages), std::vector<std::int64_t>{stored->id});
}

}  // namespace
}  // namespace flashwire::store
