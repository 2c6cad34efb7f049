// Micro-benchmarks of the Web Push core: what one alert costs per subscriber.
// Run through bench/webpush/run.sh, which puts these beside `openssl speed` and npm web-push.
// Every operation's result is checked: a failure ends its benchmark with SkipWithError, which
// the ctest smoke run (label bench-smoke) treats as a failed test. FLASHWIRE_BENCH_TAMPER=1
// corrupts BM_Decrypt's body, so that the smoke run can prove it notices.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "webpush/internal/openssl.h"
#include "webpush/message.h"
#include "webpush/vapid.h"

namespace flashwire::webpush {
namespace {

// A 300-byte breaking-news alert, the size the fan-out sends.
Bytes alert_payload() {
  std::string json =
      R"({"title":"Breaking: council approves flood barrier","body":"The vote passed 31-4 after a )"
      R"(six-hour session; construction starts in spring.","url":"https://news.example/a/123?n=)"
      R"(8f2c","tag":"8f2c","icon":"/icon-192.png","timestamp":1795000000000,"category":"breaking"})";
  json.resize(300, ' ');
  return Bytes(json.begin(), json.end());
}

// False (and the benchmark ends with an error naming `what`) when `result` is an error.
template <typename Result>
bool succeeded(benchmark::State& state, const Result& result, const char* what) {
  if (result) return true;
  state.SkipWithError((std::string(what) + ": " + result.error().message).c_str());
  return false;
}

bool succeeded(benchmark::State& state, bool ok, const char* what) {
  if (!ok) state.SkipWithError((std::string(what) + " failed").c_str());
  return ok;
}

void set_rate(benchmark::State& state) {
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_EncryptFreshKey(benchmark::State& state) {
  const P256KeyPair subscriber = P256KeyPair::generate();
  const SubscriptionKeys keys{subscriber.public_key(), {1, 2, 3, 4}};
  const Bytes payload = alert_payload();
  MessageEncryptor encryptor;
  for (auto _ : state) {
    auto body = encryptor.encrypt(keys, payload);
    if (!succeeded(state, body, "encrypt")) break;
    benchmark::DoNotOptimize(body);
  }
  set_rate(state);
}
BENCHMARK(BM_EncryptFreshKey);

void BM_EncryptBroadcastKey(benchmark::State& state) {
  const P256KeyPair broadcast = P256KeyPair::generate();
  const SubscriptionKeys keys{P256KeyPair::generate().public_key(), {1, 2, 3, 4}};
  const Bytes payload = alert_payload();
  MessageEncryptor encryptor;
  for (auto _ : state) {
    auto body = encryptor.encrypt_with_sender_key(broadcast, keys, payload);
    if (!succeeded(state, body, "encrypt_with_sender_key")) break;
    benchmark::DoNotOptimize(body);
  }
  set_rate(state);
}
BENCHMARK(BM_EncryptBroadcastKey);

void BM_Decrypt(benchmark::State& state) {
  const P256KeyPair subscriber = P256KeyPair::generate();
  const AuthSecret auth{5, 6, 7};
  MessageEncryptor encryptor;
  Bytes body = encryptor.encrypt({subscriber.public_key(), auth}, alert_payload()).value();
  if (std::getenv("FLASHWIRE_BENCH_TAMPER") != nullptr) body.back() ^= 1;
  for (auto _ : state) {
    auto plain = decrypt_message(subscriber, auth, body);
    if (!succeeded(state, plain, "decrypt")) break;
    benchmark::DoNotOptimize(plain);
  }
  set_rate(state);
}
BENCHMARK(BM_Decrypt);

void BM_VapidHeaderCached(benchmark::State& state) {
  auto cache =
      VapidTokenCache::create(P256KeyPair::generate(), "mailto:ops@news.example", system_clock())
          .value();
  for (auto _ : state) {
    auto header = cache->authorization("https://fcm.googleapis.com");
    if (!succeeded(state, header, "authorization")) break;
    benchmark::DoNotOptimize(header);
  }
  set_rate(state);
}
BENCHMARK(BM_VapidHeaderCached);

void BM_VapidHeaderUncached(benchmark::State& state) {
  const P256KeyPair key = P256KeyPair::generate();
  for (auto _ : state) {
    const std::int64_t now = system_clock().now_seconds();
    auto token = sign_vapid_token(
        key, {"https://fcm.googleapis.com", now + 43200, "mailto:ops@news.example"}, now);
    if (!succeeded(state, token, "sign_vapid_token")) break;
    auto header = format_vapid_authorization(*token, key.public_key());
    benchmark::DoNotOptimize(header);
  }
  set_rate(state);
}
BENCHMARK(BM_VapidHeaderUncached);

// The floor, part by part: what encryption cannot avoid doing per message.
void BM_Floor_EcdhDerive(benchmark::State& state) {
  const P256KeyPair own = P256KeyPair::generate();
  const P256KeyPair peer = P256KeyPair::generate();
  auto& ec = internal::thread_crypto().ec;
  std::uint8_t secret[32];
  for (auto _ : state) {
    if (!succeeded(state, ec.ecdh(own.scalar(), peer.public_key().point(), secret), "ecdh")) break;
    benchmark::DoNotOptimize(secret);
  }
}
BENCHMARK(BM_Floor_EcdhDerive);

void BM_Floor_KeyGeneration(benchmark::State& state) {
  const P256KeyPair own = P256KeyPair::generate();
  auto& ec = internal::thread_crypto().ec;
  std::uint8_t pub[65];
  for (auto _ : state) {
    if (!succeeded(state, ec.public_from_scalar(own.scalar(), pub), "public_from_scalar")) break;
    benchmark::DoNotOptimize(pub);
  }
}
BENCHMARK(BM_Floor_KeyGeneration);

void BM_Floor_HkdfAndGcm(benchmark::State& state) {
  const std::array<std::uint8_t, 32> secret{9};
  const RawPublicKey ua{4}, as{4};
  const Bytes payload = alert_payload();
  Bytes out(payload.size() + 1 + 16);
  for (auto _ : state) {
    const MessageKeys keys = derive_message_keys(secret, AuthSecret{1}, ua, as, Salt{2});
    internal::thread_crypto().gcm.seal(keys.ece.cek, keys.ece.nonce, payload, out.data());
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Floor_HkdfAndGcm);

}  // namespace
}  // namespace flashwire::webpush

BENCHMARK_MAIN();
