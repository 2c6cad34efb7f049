// Test support for the SQLite stores: a fixture that opens a store on a file in a fresh
// directory, and direct access to that file for looking at what a store wrote and for setting
// up what it would never write itself (damaged tables, foreign data, triggers).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/sqlite/sqlite_options.h"

namespace flashwire::store::testing {

class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK) << path;
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
  }
  // The first column of the first row, as text ("" when there is no row or it is NULL).
  std::string value(const std::string& sql) {
    std::string out;
    query(sql, [&out](sqlite3_stmt* stmt, bool first) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (first && text != nullptr) out = reinterpret_cast<const char*>(text);
    });
    return out;
  }
  // Every row and column of the result, as text: "a|b\nc|d\n" (NULL for nulls).
  std::string rows(const std::string& sql) {
    std::string out;
    query(sql, [&out](sqlite3_stmt* stmt, bool) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0) out += '|';
        const unsigned char* text = sqlite3_column_text(stmt, i);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out += '\n';
    });
    return out;
  }

 private:
  template <typename OnRow>
  void query(const std::string& sql, OnRow on_row) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    bool first = true;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      on_row(stmt, first);
      first = false;
    }
    sqlite3_finalize(stmt);
  }

  sqlite3* db_ = nullptr;
};

// A store of type `Store`, opened by `open` on `<fresh dir>/<file_name>` before each test.
template <typename Store, auto open>
class SqliteStoreFixture : public ::testing::Test {
 protected:
  explicit SqliteStoreFixture(std::string file_name) : file_name_(std::move(file_name)) {}

  void SetUp() override {
    std::string pattern = "/tmp/flashwire-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/" + file_name_;
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> open_store(const SqliteOptions& options = {}) {
    auto store = open(path_, options);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  // Closes the store and opens it again from the same file.
  void reopen() {
    store_.reset();
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  Store& store() { return *store_; }

  std::string file_name_;
  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

}  // namespace flashwire::store::testing
