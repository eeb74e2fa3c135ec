// Drives one call of a real Node SDK, with its default request handler and retry strategy, at a
// Breakwater guard, and prints what the app would see as one JSON line. The Go test (sdkjs_test.go)
// starts the guard and the upstream simulator, sets faults, and checks the line.
//
// Usage: node run.cjs '{"sdk":"bedrock","op":"converse","url":"http://127.0.0.1:8787/m/claude"}'
// sdk: bedrock (converse, converse-stream, invoke, invoke-stream), sagemaker (invoke,
// invoke-stream), openai (chat, chat-stream). Optional: maxAttempts (AWS) / maxRetries (OpenAI).
"use strict";

const c = JSON.parse(process.argv[2]);
const creds = { accessKeyId: "app-key-never-forwarded", secretAccessKey: "app-secret-never-forwarded" };
const prompt = "hello from node";

// The AWS SDKs count their attempts in $metadata; the OpenAI SDK does not, so its fetch is wrapped.
let fetches = 0;
let lastReason = "";

async function bedrock() {
  const br = require("@aws-sdk/client-bedrock-runtime");
  const client = new br.BedrockRuntimeClient({ region: "eu-central-1", endpoint: c.url, credentials: creds, maxAttempts: c.maxAttempts });
  const messages = [{ role: "user", content: [{ text: prompt }] }];
  const invokeBody = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 100, messages: [{ role: "user", content: prompt }] });
  const r = { events: 0, text: 0 };
  switch (c.op) {
    case "converse": {
      const out = await client.send(new br.ConverseCommand({ modelId: "app-model", messages }));
      r.text = out.output.message.content[0].text.length;
      r.usage = { in: out.usage.inputTokens, out: out.usage.outputTokens };
      r.attempts = out.$metadata.attempts;
      return r;
    }
    case "converse-stream": {
      const out = await client.send(new br.ConverseStreamCommand({ modelId: "app-model", messages }));
      r.attempts = out.$metadata.attempts;
      for await (const ev of out.stream) {
        r.events++;
        if (ev.contentBlockDelta) r.text += ev.contentBlockDelta.delta.text.length;
        if (ev.metadata) r.usage = { in: ev.metadata.usage.inputTokens, out: ev.metadata.usage.outputTokens };
      }
      return r;
    }
    case "invoke": {
      const out = await client.send(new br.InvokeModelCommand({ modelId: "app-model", contentType: "application/json", body: invokeBody }));
      const body = JSON.parse(Buffer.from(out.body).toString());
      r.text = JSON.stringify(body.content ?? body).length;
      r.usage = body.usage ? { in: body.usage.input_tokens, out: body.usage.output_tokens } : undefined;
      r.attempts = out.$metadata.attempts;
      return r;
    }
    case "invoke-stream": {
      const out = await client.send(new br.InvokeModelWithResponseStreamCommand({ modelId: "app-model", contentType: "application/json", body: invokeBody }));
      r.attempts = out.$metadata.attempts;
      for await (const ev of out.body) {
        if (ev.chunk) {
          r.events++;
          r.text += ev.chunk.bytes.length;
        }
      }
      return r;
    }
  }
  throw new Error("unknown bedrock op " + c.op);
}

async function sagemaker() {
  const sm = require("@aws-sdk/client-sagemaker-runtime");
  const client = new sm.SageMakerRuntimeClient({ region: "eu-central-1", endpoint: c.url, credentials: creds, maxAttempts: c.maxAttempts });
  const body = JSON.stringify({ inputs: prompt, parameters: { max_new_tokens: 50 } });
  const r = { events: 0, text: 0 };
  if (c.op === "invoke") {
    const out = await client.send(new sm.InvokeEndpointCommand({ EndpointName: "app-endpoint", ContentType: "application/json", Body: body }));
    r.text = out.Body.length;
    r.attempts = out.$metadata.attempts;
    return r;
  }
  if (c.op === "invoke-stream") {
    const out = await client.send(new sm.InvokeEndpointWithResponseStreamCommand({ EndpointName: "app-endpoint", ContentType: "application/json", Body: body }));
    r.attempts = out.$metadata.attempts;
    for await (const ev of out.Body) {
      if (ev.PayloadPart) {
        r.events++;
        r.text += ev.PayloadPart.Bytes.length;
      }
    }
    return r;
  }
  throw new Error("unknown sagemaker op " + c.op);
}

async function openai() {
  const { default: OpenAI } = require("openai");
  const client = new OpenAI({
    baseURL: c.url, apiKey: "sk-app-never-forwarded", maxRetries: c.maxRetries,
    fetch: async (url, init) => {
      fetches++;
      const resp = await fetch(url, init);
      lastReason = resp.headers.get("x-breakwater-reason") ?? "";
      return resp;
    },
  });
  const messages = [{ role: "user", content: prompt }];
  const r = { events: 0, text: 0 };
  if (c.op === "chat") {
    const out = await client.chat.completions.create({ model: "app-model", messages });
    r.text = out.choices[0].message.content.length;
    r.usage = { in: out.usage.prompt_tokens, out: out.usage.completion_tokens };
  } else if (c.op === "chat-stream") {
    const stream = await client.chat.completions.create({ model: "app-model", messages, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      r.events++;
      if (chunk.choices[0]?.delta?.content) r.text += chunk.choices[0].delta.content.length;
      if (chunk.usage) r.usage = { in: chunk.usage.prompt_tokens, out: chunk.usage.completion_tokens };
    }
  } else {
    throw new Error("unknown openai op " + c.op);
  }
  r.attempts = fetches;
  return r;
}

function describe(err) {
  const headers = err.$response?.headers ?? {};
  const header = (name) => {
    if (typeof headers.get === "function") return headers.get(name) ?? "";
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    return key ? headers[key] : "";
  };
  return {
    ok: false,
    error: err.name ?? err.constructor?.name,
    class: err.constructor?.name,
    message: err.message,
    status: err.$metadata?.httpStatusCode ?? err.status ?? 0,
    attempts: err.$metadata?.attempts ?? fetches,
    totalRetryDelay: err.$metadata?.totalRetryDelay,
    reason: header("x-breakwater-reason") || (err.headers?.get?.("x-breakwater-reason") ?? "") || lastReason,
    retryAfter: header("retry-after") || (err.headers?.get?.("retry-after") ?? ""),
  };
}

(async () => {
  let out;
  try {
    out = { ok: true, ...(await { bedrock, sagemaker, openai }[c.sdk]()) };
  } catch (err) {
    out = describe(err);
  }
  // Exit at once: a stream the SDK stopped reading at an error keeps its HTTP/2 session (and so
  // this process) alive until the session's idle timeout, which is not what is under test.
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
})();
