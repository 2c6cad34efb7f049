#include "app/webpush_command.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_error.h"
#include "app/http_call.h"
#include "common/clock.h"
#include "webpush/base64url.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

namespace flashwire::app {
namespace {

using namespace flashwire::webpush;

// More than any Web Push body or plaintext can be; guards against piping in a whole disk.
constexpr std::size_t kMaxInputBytes = 1 << 20;

Bytes read_input(const std::string& path) {
  Bytes data;
  std::FILE* file = path.empty() || path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) throw CommandError("cannot open " + path + " for reading");
  std::uint8_t buffer[8192];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    data.insert(data.end(), buffer, buffer + n);
    if (data.size() > kMaxInputBytes) {
      if (file != stdin) std::fclose(file);
      throw CommandError("input is larger than 1 MiB");
    }
  }
  const bool failed = std::ferror(file) != 0;
  if (file != stdin) std::fclose(file);
  if (failed) throw CommandError("error reading " + (path.empty() ? std::string("stdin") : path));
  return data;
}

void write_output(const std::string& path, ByteView data) {
  std::FILE* file = path.empty() || path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (file == nullptr) throw CommandError("cannot open " + path + " for writing");
  const bool ok =
      std::fwrite(data.data(), 1, data.size(), file) == data.size() && std::fflush(file) == 0;
  if (file != stdout) std::fclose(file);
  if (!ok) throw CommandError("error writing " + (path.empty() ? std::string("stdout") : path));
}

void add_webpush_encrypt(CLI::App& webpush) {
  struct Args {
    std::string p256dh, auth, in, out, as_private, salt;
    std::size_t padding = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = webpush.add_subcommand(
      "encrypt", "Encrypt a message for a subscription (RFC 8291 aes128gcm body, binary)");
  cmd->add_option("--p256dh", args->p256dh, "Subscription public key, base64url")->required();
  cmd->add_option("--auth", args->auth, "Subscription auth secret, base64url (16 bytes)")
      ->required();
  cmd->add_option("--in", args->in, "Plaintext file (default: stdin)");
  cmd->add_option("--out", args->out, "Output file (default: stdout)");
  cmd->add_option("--padding", args->padding, "Zero bytes of padding inside the record");
  auto* as_private =
      cmd->add_option("--as-private", args->as_private,
                      "Sender private key, base64url (default: a new key per message)");
  cmd->add_option("--salt", args->salt, "Salt, base64url (16 bytes); for reproducing test vectors")
      ->needs(as_private);
  cmd->callback([args] {
    const SubscriptionKeys keys =
        unwrap(SubscriptionKeys::from_base64url(args->p256dh, args->auth), "subscription");
    const Bytes plaintext = read_input(args->in);
    Bytes body;
    if (!args->as_private.empty()) {
      const P256KeyPair sender =
          unwrap(P256KeyPair::from_private_base64url(args->as_private), "--as-private");
      std::unique_ptr<RandomSource> fixed;
      if (!args->salt.empty()) {
        Bytes salt = unwrap(base64url_decode(args->salt), "--salt");
        if (salt.size() != 16) throw CommandError("--salt: must be 16 bytes");
        fixed = std::make_unique<FixedRandom>(std::vector<std::vector<std::uint8_t>>{salt});
      }
      MessageEncryptor encryptor(fixed ? *fixed : system_random());
      body = unwrap(encryptor.encrypt_with_sender_key(sender, keys, plaintext, args->padding),
                    "encrypt");
    } else {
      MessageEncryptor encryptor;
      body = unwrap(encryptor.encrypt(keys, plaintext, args->padding), "encrypt");
    }
    write_output(args->out, body);
  });
}

void add_webpush_decrypt(CLI::App& webpush) {
  struct Args {
    std::string ua_private, auth, in, out;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = webpush.add_subcommand("decrypt", "Decrypt a Web Push body as the browser would");
  cmd->add_option("--ua-private", args->ua_private, "Subscriber private key, base64url (32 bytes)")
      ->required();
  cmd->add_option("--auth", args->auth, "Subscription auth secret, base64url (16 bytes)")
      ->required();
  cmd->add_option("--in", args->in, "aes128gcm body file (default: stdin)");
  cmd->add_option("--out", args->out, "Output file (default: stdout)");
  cmd->callback([args] {
    const P256KeyPair subscriber =
        unwrap(P256KeyPair::from_private_base64url(args->ua_private), "--ua-private");
    const Bytes auth_bytes = unwrap(base64url_decode(args->auth), "--auth");
    if (auth_bytes.size() != 16) throw CommandError("--auth: secret must be 16 bytes");
    AuthSecret auth;
    std::copy(auth_bytes.begin(), auth_bytes.end(), auth.begin());
    const Bytes body = read_input(args->in);
    const Bytes plaintext = unwrap(decrypt_message(subscriber, auth, body), "decrypt");
    write_output(args->out, plaintext);
  });
}

void add_webpush_send(CLI::App& webpush) {
  struct Args {
    std::string endpoint, p256dh, auth, vapid_private, vapid_subject, urgency, topic, in;
    std::int64_t ttl = 60;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = webpush.add_subcommand(
      "send",
      "Encrypt, VAPID-sign and POST one message to a push endpoint; prints the outcome as JSON");
  cmd->add_option("--endpoint", args->endpoint, "The subscription's endpoint URL (http or https)")
      ->required();
  cmd->add_option("--p256dh", args->p256dh, "Subscription public key, base64url")->required();
  cmd->add_option("--auth", args->auth, "Subscription auth secret, base64url (16 bytes)")
      ->required();
  cmd->add_option("--vapid-private", args->vapid_private, "VAPID private key, base64url")
      ->required();
  cmd->add_option("--vapid-sub", args->vapid_subject, "VAPID contact: mailto:address or https: URL")
      ->required();
  cmd->add_option("--ttl", args->ttl, "Seconds the push service may keep the message")
      ->capture_default_str();
  cmd->add_option("--urgency", args->urgency, "very-low, low, normal or high");
  cmd->add_option("--topic", args->topic,
                  "Replaces an undelivered message with the same topic (<= 32 base64url chars)");
  cmd->add_option("--in", args->in, "Plaintext file (default: stdin)");
  cmd->callback([args] {
    if (args->ttl < 0) throw CommandError("--ttl must not be negative");
    if (!args->urgency.empty() && args->urgency != "very-low" && args->urgency != "low" &&
        args->urgency != "normal" && args->urgency != "high") {
      throw CommandError("--urgency must be very-low, low, normal or high");
    }
    const SubscriptionKeys keys =
        unwrap(SubscriptionKeys::from_base64url(args->p256dh, args->auth), "subscription");
    const P256KeyPair vapid_key =
        unwrap(P256KeyPair::from_private_base64url(args->vapid_private), "--vapid-private");
    const std::string audience = unwrap(audience_for_endpoint(args->endpoint), "--endpoint");
    const std::int64_t now = system_clock().now_seconds();
    const std::string token = unwrap(
        sign_vapid_token(vapid_key, {audience, now + 12 * 60 * 60, args->vapid_subject}, now),
        "vapid");
    const Bytes plaintext = read_input(args->in);
    MessageEncryptor encryptor;
    const Bytes body = unwrap(encryptor.encrypt(keys, plaintext), "encrypt");

    HttpCall call;
    call.url = args->endpoint;
    call.headers = {"TTL: " + std::to_string(args->ttl), "Content-Encoding: aes128gcm",
                    "Content-Type: application/octet-stream",
                    "Authorization: " + format_vapid_authorization(token, vapid_key.public_key())};
    if (!args->urgency.empty()) call.headers.push_back("Urgency: " + args->urgency);
    if (!args->topic.empty()) call.headers.push_back("Topic: " + args->topic);
    call.body = std::string_view(reinterpret_cast<const char*>(body.data()), body.size());
    call.max_body = 64 * 1024;  // a push service has no reason to say more
    auto answer = http_call(call);
    if (!answer) throw CommandError("cannot reach the push service: " + answer.error().message);
    const long status = answer->status;
    const std::string& response_body = answer->body;

    boost::json::object out;
    out["status"] = status;
    out["location"] = answer->header("Location");
    const std::string ttl = answer->header("TTL");
    out["ttl"] =
        ttl.empty() ? boost::json::value(nullptr) : boost::json::value(std::atoll(ttl.c_str()));
    std::cout << boost::json::serialize(out) << std::endl;
    if (status < 200 || status >= 300) {
      std::string first_line = response_body.substr(0, response_body.find('\n')).substr(0, 300);
      throw CommandError("push service answered " + std::to_string(status) + ": " + first_line);
    }
  });
}

}  // namespace

void add_webpush_command(CLI::App& app) {
  auto* webpush = app.add_subcommand("webpush", "Web Push message encryption (RFC 8291)");
  webpush->require_subcommand(1);
  add_webpush_encrypt(*webpush);
  add_webpush_decrypt(*webpush);
  add_webpush_send(*webpush);
}

}  // namespace flashwire::app
