// Bounded load test for `gemma serve`: for each concurrency level, that many
// clients each send a fixed number of streaming chat requests; reports
// throughput and latency percentiles. Every request has a token cap and the
// whole level a time cap, so the script always ends.
// Env: BASE_URL (http://127.0.0.1:PORT), MODEL, LEVELS (default "1,4,16"),
//      MAX_TOKENS (default 32), LEVEL_TIMEOUT_S (default 300).
const BASE_URL = process.env.BASE_URL;
const MODEL = process.env.MODEL;
const LEVELS = (process.env.LEVELS || '1,4,16').split(',').map(Number);
const MAX_TOKENS = Number(process.env.MAX_TOKENS || 32);
const LEVEL_TIMEOUT_MS = 1000 * Number(process.env.LEVEL_TIMEOUT_S || 300);
const ROUNDS = { 1: 4, 4: 2, 16: 1 };  // requests per client, per level

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function oneRequest(client, round, signal) {
  const t0 = performance.now();
  const res = await fetch(`${BASE_URL}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    signal,
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: `Client ${client}, round ${round}: write a short story about a lighthouse.` }],
      max_tokens: MAX_TOKENS,
      temperature: 0.8,
      seed: client * 100 + round,
      ignore_eos: true,  // every request generates exactly MAX_TOKENS
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const times = [];
  let usage = null;
  let buf = '';
  const dec = new TextDecoder();
  for await (const bytes of res.body) {
    buf += dec.decode(bytes, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (j.choices?.[0]?.delta?.content) times.push(performance.now());
    }
  }
  return { t0, times, end: performance.now(), tokens: usage ? usage.completion_tokens : times.length };
}

async function level(c) {
  const rounds = ROUNDS[c] ?? 1;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), LEVEL_TIMEOUT_MS);
  const start = performance.now();
  const results = [];
  await Promise.all(
    Array.from({ length: c }, async (_, client) => {
      for (let r = 0; r < rounds; r++) results.push(await oneRequest(client, r, ctl.signal));
    }),
  );
  clearTimeout(timer);
  const wall = (performance.now() - start) / 1000;
  const ttft = results.map((x) => x.times[0] - x.t0);
  const itl = results.flatMap((x) => x.times.slice(1).map((t, k) => t - x.times[k]));
  const tokens = results.reduce((a, x) => a + x.tokens, 0);
  return {
    concurrency: c,
    requests: results.length,
    tokens,
    wall_s: wall,
    tok_per_s: tokens / wall,
    ttft_p50_ms: pct(ttft, 50),
    ttft_p90_ms: pct(ttft, 90),
    ttft_p99_ms: pct(ttft, 99),
    itl_p50_ms: pct(itl, 50),
    itl_p90_ms: pct(itl, 90),
    itl_p99_ms: pct(itl, 99),
  };
}

const rows = [];
for (const c of LEVELS) {
  const row = await level(c);
  rows.push(row);
  console.error(JSON.stringify(row));
}
const f = (x) => (Number.isFinite(x) ? x.toFixed(x >= 100 ? 0 : 1) : '-');
console.log('| clients | requests | tokens | tokens/s | TTFT p50 / p90 / p99 (ms) | inter-token p50 / p90 / p99 (ms) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.concurrency} | ${r.requests} | ${r.tokens} | ${f(r.tok_per_s)} | ` +
      `${f(r.ttft_p50_ms)} / ${f(r.ttft_p90_ms)} / ${f(r.ttft_p99_ms)} | ` +
      `${f(r.itl_p50_ms)} / ${f(r.itl_p90_ms)} / ${f(r.itl_p99_ms)} |`,
  );
}
