// Polls the /stats counters of several sinks (../shared/peers/web-push-node/sink.js) every
// INTERVAL ms over kept-alive connections and records, per sink, when its count of received
// messages first reached 90 % and 100 % of what it expects. Used by vendor.sh's `vendors`
// scenario: one long-lived process instead of a curl per sink per poll, so the polling itself
// takes little CPU from the sender it measures.
//
// Usage: node origin_progress.mjs --t0 EPOCH_MS [--interval 100] [--deadline 300] PORT:WANT...
//   Times are seconds since --t0 (taken by the caller just before it starts the sender). Prints
//   one JSON line {"PORT": {"want": N, "got": N, "t90": s|null, "t100": s|null}, ...} when every
//   sink has reached its count, when the deadline (seconds) passes, or on SIGTERM.
// HTTPS sinks are trusted through NODE_EXTRA_CA_CERTS, as vendor.sh exports it.
import https from 'node:https';

const args = process.argv.slice(2);
let t0 = Date.now();
let interval = 100;
let deadline = 300;
const sinks = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--t0') t0 = Number(args[++i]);
  else if (args[i] === '--interval') interval = Number(args[++i]);
  else if (args[i] === '--deadline') deadline = Number(args[++i]);
  else {
    const [port, want] = args[i].split(':').map(Number);
    if (!Number.isInteger(port) || !Number.isInteger(want) || want <= 0) {
      console.error(`origin_progress: bad PORT:WANT "${args[i]}"`);
      process.exit(2);
    }
    sinks.push({ port, want, got: 0, t90: null, t100: null });
  }
}
if (sinks.length === 0 || !Number.isFinite(t0) || !(interval > 0) || !(deadline > 0)) {
  console.error('usage: node origin_progress.mjs --t0 EPOCH_MS [--interval MS] [--deadline S] PORT:WANT...');
  process.exit(2);
}

const agent = new https.Agent({ keepAlive: true, maxSockets: sinks.length });
const received = (port) =>
  new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/stats', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(Number(JSON.parse(body).received) || 0);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
  });

let done = false;
function finish() {
  if (done) return;
  done = true;
  const out = {};
  for (const s of sinks) out[s.port] = { want: s.want, got: s.got, t90: s.t90, t100: s.t100 };
  console.log(JSON.stringify(out));
  agent.destroy();
  process.exit(0);
}
process.on('SIGTERM', finish);

const seconds = () => Math.round((Date.now() - t0) / 10) / 100;
while (!done) {
  const counts = await Promise.all(sinks.map((s) => received(s.port)));
  const now = seconds();
  sinks.forEach((s, i) => {
    if (counts[i] === null) return;
    s.got = counts[i];
    if (s.t90 === null && s.got * 10 >= s.want * 9) s.t90 = now;
    if (s.t100 === null && s.got >= s.want) s.t100 = now;
  });
  if (sinks.every((s) => s.t100 !== null) || now > deadline) finish();
  await new Promise((r) => setTimeout(r, interval));
}
