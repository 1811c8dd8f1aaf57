// The official openai npm client against a running `gemma serve`.
// Env: BASE_URL (…/v1), MODEL, API_KEY, SERVER_PID (sent SIGTERM mid-stream
// at the end, to check that the server drains the stream before exiting).
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const { BASE_URL, MODEL, API_KEY, SERVER_PID } = process.env;
const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, timeout: 30_000, maxRetries: 0 });

async function step(name, fn) {
  await fn();
  console.log(`ok - ${name}`);
}

await step('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL]);
});

await step('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }],
    max_tokens: 12,
    temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await step('streaming chat completion', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Count to ten.' }],
    max_completion_tokens: 40,
    temperature: 0.8,
    seed: 7,
    stream: true,
    stream_options: { include_usage: true },
    ignore_eos: true,
  });
  let text = '';
  let pieces = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const c = chunk.choices[0];
    if (c.delta.content) (text += c.delta.content), pieces++;
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(finish, 'length');
  assert.ok(pieces > 1, 'several content chunks');
  assert.equal(usage.completion_tokens, 40);
  // Same seed without streaming: the same text.
  const full = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Count to ten.' }],
    max_completion_tokens: 40,
    temperature: 0.8,
    seed: 7,
    ignore_eos: true,
  });
  assert.equal(full.choices[0].message.content, text);
});

await step('completion', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'the', max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
});

await step('errors surface as typed exceptions', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found',
  );
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && typeof e.message === 'string',
  );
  const wrongKey = new OpenAI({ baseURL: BASE_URL, apiKey: 'wrong', timeout: 10_000, maxRetries: 0 });
  await assert.rejects(wrongKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

await step('SIGTERM drains an in-flight stream', async () => {
  const stream = await client.completions.create({
    model: MODEL,
    prompt: 'Once upon a time',
    max_tokens: 1500,
    stream: true,
    stream_options: { include_usage: true },
    ignore_eos: true,
  });
  let signalled = false;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (!signalled) {
      process.kill(Number(SERVER_PID), 'SIGTERM');
      signalled = true;
    }
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length && chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.ok(signalled);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 1500);
});
