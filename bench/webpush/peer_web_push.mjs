// The peer: npm web-push's generateRequestDetails(), the request it builds for one message
// (fresh ECDH key pair and salt, aes128gcm body, VAPID JWT signed again for every message).
// No I/O: this is the same work BM_EncryptFreshKey + a VAPID header do in Flashwire.
// Usage: node bench/webpush/peer_web_push.mjs [--seconds S] [--max N]; prints one JSON line.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';

const require = createRequire(import.meta.url);
const webpush = require('web-push');
const pkg = require('web-push/package.json');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = option('--seconds', 3);
const max = option('--max', 200000);

const ua = crypto.createECDH('prime256v1');
ua.generateKeys();
const subscription = {
  endpoint: 'https://fcm.googleapis.com/fcm/send/bench',
  keys: { p256dh: ua.getPublicKey('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
};
const vapid = webpush.generateVAPIDKeys();
const payload = Buffer.alloc(300, 'a');
const options = {
  vapidDetails: { subject: 'mailto:ops@news.example', publicKey: vapid.publicKey, privateKey: vapid.privateKey },
  TTL: 3600, urgency: 'high', contentEncoding: 'aes128gcm',
};

for (let i = 0; i < 200; i++) webpush.generateRequestDetails(subscription, payload, options);  // warm up

const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let n = 0;
const deadline = t0 + BigInt(Math.round(seconds * 1e9));
while (n < max) {
  webpush.generateRequestDetails(subscription, payload, options);
  n++;
  if ((n & 63) === 0 && process.hrtime.bigint() > deadline) break;
}
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(JSON.stringify({
  peer: `web-push@${pkg.version}`, op: 'generateRequestDetails', payload_bytes: payload.length, n,
  wall_s: +wall.toFixed(3), cpu_s: +cpuSeconds.toFixed(3),
  msgs_per_cpu_s: Math.round(n / cpuSeconds), us_per_msg: +(cpuSeconds * 1e6 / n).toFixed(1),
}));
