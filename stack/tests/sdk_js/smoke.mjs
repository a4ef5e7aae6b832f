// The OpenAI JS SDK (npm `openai`, the portal's own copy in frontend/node_modules), unchanged,
// against an LLMaaS origin: chat, a stream, embeddings, the Responses API and tools.
// Prints one JSON object on stdout; test_sdk_js.py asserts on it.
//
//   LLMAAS_BASE_URL=http://127.0.0.1:8000/v1 LLMAAS_API_KEY=sk-... \
//   LLMAAS_CHAT_MODEL=smollm2 LLMAAS_EMBEDDING_MODEL=all-minilm-l6-v2 node stack/tests/sdk_js/smoke.mjs
const sdk = new URL("../../../frontend/node_modules/openai/index.mjs", import.meta.url);
const { default: OpenAI } = await import(sdk.href);

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const client = new OpenAI({ baseURL: env("LLMAAS_BASE_URL"), apiKey: env("LLMAAS_API_KEY"), maxRetries: 0 });
const chatModel = env("LLMAAS_CHAT_MODEL");
const embeddingModel = env("LLMAAS_EMBEDDING_MODEL");
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const out = {};

const chat = await client.chat.completions.create({
  model: chatModel,
  messages: [{ role: "user", content: "Name a colour." }],
  max_tokens: 8,
});
out.chat = { content: chat.choices[0].message.content, usage: chat.usage };

const stream = await client.chat.completions.create({
  model: chatModel,
  messages: [{ role: "user", content: "Count to three." }],
  max_tokens: 8,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let chunks = 0;
let streamUsage = null;
for await (const chunk of stream) {
  chunks += 1;
  text += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) streamUsage = chunk.usage;
}
out.stream = { content: text, chunks, usage: streamUsage };

const embeddings = await client.embeddings.create({ model: embeddingModel, input: ["a cat", "a dog"] });
out.embeddings = {
  count: embeddings.data.length,
  dimensions: embeddings.data.map((d) => d.embedding.length),
  finite: embeddings.data.every((d) => d.embedding.every(Number.isFinite)),
  usage: embeddings.usage,
};

const response = await client.responses.create({
  model: chatModel,
  input: "Say hello.",
  max_output_tokens: 16,
});
out.responses = { id: response.id, output_text: response.output_text, usage: response.usage };

// One earlier call in the conversation and greedy decoding: a 135M model then calls the tool too.
const earlierCall = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "London"}' } };
const tools = await client.chat.completions.create({
  model: chatModel,
  messages: [
    { role: "user", content: "What is the weather in London?" },
    { role: "assistant", tool_calls: [earlierCall] },
    { role: "user", content: "What is the weather in Paris?" },
  ],
  tools: [weather],
  tool_choice: "required",
  temperature: 0,
  max_tokens: 48,
});
const message = tools.choices[0].message;
out.tools = {
  finish_reason: tools.choices[0].finish_reason,
  tool_calls: (message.tool_calls ?? []).map((c) => ({ type: c.type, name: c.function.name, arguments: c.function.arguments })),
  usage: tools.usage,
};

process.stdout.write(JSON.stringify(out) + "\n");
