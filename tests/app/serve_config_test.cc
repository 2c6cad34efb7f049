#include "app/serve_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace flashwire::app {
namespace {

class ServeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-config-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    const auto path = dir_ / "flashwire.toml";
    std::ofstream(path) << text;
    return path.string();
  }
  tl::expected<ServeConfig, Error> load(ServeFlags flags = {}) {
    return load_serve_config(flags, [this](const char* name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ServeConfigTest, DefaultsAreAWorkingLocalSite) {
  auto config = load();
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->listen, "127.0.0.1:8080");
  EXPECT_EQ(config->base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(config->data_dir, "data");
  EXPECT_TRUE(config->demo);
  EXPECT_FALSE(config->app);
  EXPECT_FALSE(config->push_service.enabled);
  EXPECT_EQ(config->fanout.concurrency, 256);
  EXPECT_EQ(config->fanout.per_origin_connections, 64);
  EXPECT_EQ(config->fanout.http1_pipeline, 8);
  EXPECT_EQ(config->fanout.https_client, "builtin");
  EXPECT_EQ(config->fanout.ca_file, "");
}

TEST_F(ServeConfigTest, FileThenEnvironmentThenFlags) {
  ServeFlags flags;
  flags.config_file = write(R"(
listen = "127.0.0.1:9000"
data_dir = "/var/lib/flashwire"
site_name = "The Daily Wire"
base_url = "https://news.example/"
demo = false
push_hosts = ["https://push.example.net"]
[push_service]
enabled = true
listen = "127.0.0.1:9001"
[fanout]
threads = 3
concurrency = 512
per_origin_connections = 16
shard_size = 250
per_broadcast_key = true
http1_pipeline = 8
https_client = "curl"
ca_file = "/etc/flashwire/push-ca.pem"
[app]
name = "Daily Wire"
scheme = "dailywire"
ios_app_id = "123456789"
ios_store_url = "https://apps.apple.com/app/id123456789"
android_package = "net.dailywire.app"
android_cert_sha256 = ["AB:CD"]
)");
  env_["FLASHWIRE_LISTEN"] = "127.0.0.1:9100";
  env_["FLASHWIRE_SITE_NAME"] = "Env Wire";
  flags.listen = "127.0.0.1:9200";
  auto config = load(flags);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->listen, "127.0.0.1:9200");        // flag beats environment beats file
  EXPECT_EQ(config->site_name, "Env Wire");           // environment beats file
  EXPECT_EQ(config->data_dir, "/var/lib/flashwire");  // file beats default
  EXPECT_EQ(config->base_url, "https://news.example");
  EXPECT_FALSE(config->demo);
  ASSERT_TRUE(config->app);
  EXPECT_EQ(config->app->scheme, "dailywire");
  EXPECT_EQ(config->app->android_cert_sha256, std::vector<std::string>{"AB:CD"});
  EXPECT_EQ(config->push_service.public_url, "http://127.0.0.1:9001");
  EXPECT_EQ(config->fanout.threads, 3);
  EXPECT_EQ(config->fanout.concurrency, 512);
  EXPECT_EQ(config->fanout.per_origin_connections, 16);
  EXPECT_EQ(config->fanout.shard_size, 250);
  EXPECT_TRUE(config->fanout.per_broadcast_key);
  EXPECT_EQ(config->fanout.http1_pipeline, 8);
  EXPECT_EQ(config->fanout.https_client, "curl");
  EXPECT_EQ(config->fanout.ca_file, "/etc/flashwire/push-ca.pem");
  // The embedded push service's origin is allowed for subscriptions automatically.
  EXPECT_EQ(config->push_hosts,
            (std::vector<std::string>{"https://push.example.net", "http://127.0.0.1:9001"}));
}

TEST_F(ServeConfigTest, StoreUrlFromFileEnvironmentOrFlag) {
  EXPECT_EQ(load()->store_url, "sqlite:");  // the data directory's files
  ServeFlags flags;
  flags.config_file = write("[store]\nurl = \"postgresql://db1/news\"\n");
  EXPECT_EQ(load(flags)->store_url, "postgresql://db1/news");
  env_["FLASHWIRE_STORE_URL"] = "postgresql://db2/news";
  EXPECT_EQ(load(flags)->store_url, "postgresql://db2/news");  // environment beats file
  flags.store_url = "sqlite:";
  EXPECT_EQ(load(flags)->store_url, "sqlite:");  // flag beats environment
}

TEST_F(ServeConfigTest, NoDemoFlagWins) {
  env_["FLASHWIRE_DEMO"] = "1";
  ServeFlags flags;
  flags.no_demo = true;
  auto config = load(flags);
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->demo);
}

TEST_F(ServeConfigTest, BadSettingsStopWithAMessageNamingThem) {
  const std::pair<std::string, std::string> cases[] = {
      {"listen = \"localhost\"", "listen:"},
      {"listen = 8080", "listen: must be a string"},
      {"lisen = \"127.0.0.1:1\"", "unknown setting 'lisen'"},
      {"base_url = \"https://news.example/path\"", "base_url:"},
      {"base_url = \"ftp://news.example\"", "base_url:"},
      {"vapid_subject = \"newsroom@example.com\"", "vapid_subject:"},
      {"vapid_subject = \"mailto:ops@localhost\"", "vapid_subject:"},
      {"push_hosts = [\"127.0.0.1:8090\"]", "push_hosts:"},
      {"push_hosts = \"http://127.0.0.1:8090\"", "push_hosts: must be a list"},
      {"demo = \"yes\"", "demo:"},
      {"site_name = \"\"", "site_name:"},
      {"[push_service]\nenabled = true\nlisten = \"127.0.0.1:8080\"",
       "push_service.listen: must differ"},
      {"[push_service]\nport = 1", "unknown setting 'push_service.port'"},
      {"[fanout]\nhttp1_pipeline = 0", "fanout.http1_pipeline"},
      {"[fanout]\nhttps_client = \"nghttp2\"", "fanout.https_client"},
      {"[fanout]\nca_file = 1", "fanout.ca_file: must be a string"},
      {"[fanout]\nhttp1_pipeline = 65", "fanout.http1_pipeline"},
      {"[fanout]\nconcurrency = \"many\"", "fanout.concurrency"},
      {"[fanout]\nper_broadcast_key = 1", "fanout.per_broadcast_key"},
      {"[fanout]\npipeline = 4", "unknown setting 'fanout.pipeline'"},
      {"[store]\nurl = 5", "store.url: must be a string"},
      {"[store]\nhost = \"db\"", "unknown setting 'store.host'"},
      {"store = \"sqlite:\"", "store: must be a table"},
      {"[app]\nscheme = \"x\"", "app.name:"},
      {"[app]\nname = \"A\"\nscheme = \"https\"", "app.scheme:"},
      {"[app]\nname = \"A\"\nscheme = \"Bad Scheme\"", "app.scheme:"},
      {"[app]\nname = \"A\"\nscheme = \"a\"\nios_app_id = \"id12\"", "app.ios_app_id:"},
      {"[app]\nname = \"A\"\nscheme = \"a\"\nios_store_url = \"http://x\"", "https://"},
      {"this is = not toml", "flashwire.toml:1"},
      {"[http]\ntrusted_proxies = [\"10.0.0.0/40\"]", "http.trusted_proxies: '10.0.0.0/40'"},
      {"[http]\ntrusted_proxies = \"127.0.0.1\"", "http.trusted_proxies: must be a list"},
      {"[http]\nforwarded_header = \"x-real-ip\"", "http.forwarded_header:"},
      {"[http]\nproxies = []", "unknown setting 'http.proxies'"},
      {"[http]\nthreads = 0", "http.threads: must be a whole number from 1 to 256"},
      {"[http]\nthreads = -2", "http.threads: must be a whole number from 1 to 256"},
      {"[http]\nthreads = 100000", "http.threads: must be a whole number from 1 to 256"},
      {"[http]\nthreads = 9999999999999", "http.threads: must be a whole number from 1 to 256"},
      {"[http]\nthreads = \"all\"", "http.threads: must be a whole number from 1 to 256"},
      {"[metrics]\nlisten = \"127.0.0.1:8080\"", "metrics.listen: must differ"},
      {"[metrics]\nlisten = \"metrics\"", "metrics.listen:"},
      {"[metrics]\ntoken = \"x\"", "unknown setting 'metrics.token'"},
      {"[fanout]\nlease_ms = 50", "fanout.lease_ms"},
      {"[fanout]\npoll_ms = 0", "fanout.poll_ms"},
      {"[fanout]\npoll_ms = 5000", "fanout.poll_ms"},
      {"[node]\nid = \"\"", "node.id:"},
      {"[node]\nid = \"node 1\"", "node.id:"},
      {"[node]\nid = 1", "node.id: must be a string"},
      {"[node]\nname = \"a\"", "unknown setting 'node.name'"},
      {"node = \"a\"", "node: must be a table"},
  };
  for (const auto& [text, expected] : cases) {
    ServeFlags flags;
    flags.config_file = write(text);
    auto config = load(flags);
    ASSERT_FALSE(config) << text;
    EXPECT_NE(config.error().message.find(expected), std::string::npos)
        << text << " -> " << config.error().message;
  }
}

TEST_F(ServeConfigTest, ReadsTheNodeIdAndTheLeaseSettings) {
  ServeFlags flags;
  EXPECT_EQ(load(flags)->node_id, "") << "not set: serve uses host:pid";
  EXPECT_EQ(load(flags)->fanout.lease_ms, 10000);
  EXPECT_EQ(load(flags)->fanout.poll_ms, 1000);
  flags.config_file = write("[fanout]\nlease_ms = 3000\npoll_ms = 100\n[node]\nid = \"db-east-1\"");
  auto config = load(flags);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->node_id, "db-east-1");
  EXPECT_EQ(config->fanout.lease_ms, 3000);
  EXPECT_EQ(config->fanout.poll_ms, 100);
}

TEST_F(ServeConfigTest, ReadsTrustedProxiesAndTheMetricsListener) {
  ServeFlags flags;
  EXPECT_TRUE(load(flags)->http.trusted_proxies.empty());
  EXPECT_EQ(load(flags)->metrics.listen, "") << "/metrics is off unless configured";
  flags.config_file = write(
      "[http]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\nforwarded_header = "
      "\"forwarded\"\n[metrics]\nlisten = \"127.0.0.1:9100\"");
  auto config = load(flags);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->http.trusted_proxies, (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8"}));
  EXPECT_EQ(config->http.forwarded_header, "forwarded");
  EXPECT_EQ(config->metrics.listen, "127.0.0.1:9100");
}

TEST_F(ServeConfigTest, HttpThreadsDefaultToTheCoresAndReadAsSet) {
  ServeFlags flags;
  EXPECT_EQ(load(flags)->http.threads, 0) << "not set: one per usable core, decided by serve";
  flags.config_file = write("[http]\nthreads = 3");
  auto config = load(flags);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->http.threads, 3);
}

TEST_F(ServeConfigTest, BadEnvironmentAndMissingFileAreErrors) {
  env_["FLASHWIRE_DEMO"] = "yes";
  EXPECT_FALSE(load());
  env_.clear();
  ServeFlags flags;
  flags.config_file = (dir_ / "missing.toml").string();
  auto config = load(flags);
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("missing.toml"), std::string::npos);
}

}  // namespace
}  // namespace flashwire::app
