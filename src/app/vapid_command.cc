#include "app/vapid_command.h"

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "app/cli_error.h"
#include "common/clock.h"
#include "webpush/base64url.h"
#include "webpush/vapid.h"

namespace flashwire::app {
namespace {

using namespace flashwire::webpush;

void add_vapid_generate(CLI::App& vapid) {
  auto* cmd = vapid.add_subcommand("generate", "Generate a VAPID key pair; prints one JSON line");
  cmd->callback([] {
    const P256KeyPair key = P256KeyPair::generate();
    std::cout << "{\"publicKey\":\"" << key.public_key().to_base64url() << "\",\"privateKey\":\""
              << base64url_encode(key.raw_private()) << "\"}\n";
  });
}

void add_vapid_header(CLI::App& vapid) {
  struct Args {
    std::string audience, subject, private_key;
    std::int64_t exp_seconds = 12 * 60 * 60;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      vapid.add_subcommand("header", "Print an Authorization header value (vapid t=…, k=…)");
  cmd->add_option("--aud", args->audience, "Push service origin, e.g. https://fcm.googleapis.com")
      ->required();
  cmd->add_option("--sub", args->subject, "Contact: mailto:address or https: URL")->required();
  cmd->add_option("--private-key", args->private_key, "VAPID private key, base64url (32 bytes)")
      ->required();
  cmd->add_option("--exp-seconds", args->exp_seconds, "Token lifetime in seconds (at most 86400)")
      ->capture_default_str();
  cmd->callback([args] {
    const P256KeyPair key =
        unwrap(P256KeyPair::from_private_base64url(args->private_key), "--private-key");
    const std::int64_t now = system_clock().now_seconds();
    const VapidClaims claims{args->audience, now + args->exp_seconds, args->subject};
    const std::string token = unwrap(sign_vapid_token(key, claims, now), "vapid");
    std::cout << format_vapid_authorization(token, key.public_key()) << '\n';
  });
}

void add_vapid_verify(CLI::App& vapid) {
  struct Args {
    std::string header, audience, public_key;
    std::int64_t at = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = vapid.add_subcommand(
      "verify",
      "Verify an Authorization header as a push service would; prints the claims as JSON");
  cmd->add_option("--header", args->header, "The header value: vapid t=…, k=…")->required();
  cmd->add_option("--aud", args->audience, "The origin the token must be for")->required();
  cmd->add_option("--public-key", args->public_key, "Also require k to be this key (base64url)");
  cmd->add_option("--at", args->at, "Verify as of this Unix time instead of now");
  cmd->callback([args] {
    const VapidAuthorization auth = unwrap(parse_vapid_authorization(args->header), "--header");
    if (!args->public_key.empty()) {
      const P256PublicKey expected =
          unwrap(P256PublicKey::from_base64url(args->public_key), "--public-key");
      if (!(expected == auth.key)) throw CommandError("vapid: k is not the expected public key");
    }
    const std::int64_t now = args->at != 0 ? args->at : system_clock().now_seconds();
    const VapidClaims claims =
        unwrap(verify_vapid_token(auth.token, auth.key, args->audience, now), "vapid");
    // The claims were verified and aud matched a validated origin; sub is echoed as parsed JSON
    // would be only if it is printable, otherwise left out.
    std::cout << "{\"aud\":\"" << claims.audience << "\",\"exp\":" << claims.expires_at;
    if (validate_vapid_subject(claims.subject))
      std::cout << ",\"sub\":\"" << claims.subject << "\"";
    std::cout << "}\n";
  });
}

}  // namespace

void add_vapid_command(CLI::App& app) {
  auto* vapid = app.add_subcommand("vapid", "VAPID (RFC 8292) keys and headers");
  vapid->require_subcommand(1);
  add_vapid_generate(*vapid);
  add_vapid_header(*vapid);
  add_vapid_verify(*vapid);
}

}  // namespace flashwire::app
