// Waiting for a condition in the Node tests: poll it with a bounded deadline instead of sleeping
// for a guessed time, so a test is as fast as the machine allows and still passes on a busy one.

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls check() (sync or async) until it returns a truthy value, and returns that value. Throws
// "<what>: not within <timeoutMs> ms" once the deadline passes, followed by what describe()
// returns (if given: the state last seen, for the failure message). The deadline bounds a
// failing wait only; a condition that holds returns at once.
export async function waitUntil(check, timeoutMs, what, { intervalMs = 50, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = describe ? `; last seen: ${await describe()}` : '';
      throw new Error(`${what}: not within ${timeoutMs} ms${seen}`);
    }
    await pause(intervalMs);
  }
}
