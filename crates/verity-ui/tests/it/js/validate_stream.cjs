// Reads a UI message stream (an SSE body) on stdin and parses it with the AI SDK (`ai`
// package): every chunk must pass the SDK's chunk schema, and the SDK must build the
// assistant message from them. Prints {chunks, message} as JSON.
const fs = require('fs');
const { parseJsonEventStream, uiMessageChunkSchema, readUIMessageStream, validateUIMessages } = require('ai');

async function main() {
  const body = fs.readFileSync(0, 'utf8');
  const bytes = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(body));
      controller.close();
    },
  });
  const chunks = [];
  const parsed = parseJsonEventStream({ stream: bytes, schema: uiMessageChunkSchema }).pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success) {
          throw new Error(`chunk rejected: ${result.error}\n${JSON.stringify(result.rawValue)}`);
        }
        chunks.push(result.value);
        controller.enqueue(result.value);
      },
    }),
  );
  let message;
  const errors = [];
  for await (const m of readUIMessageStream({ stream: parsed, onError: (e) => errors.push(String(e)) })) {
    message = m;
  }
  if (message) {
    await validateUIMessages({ messages: [message] });
  }
  process.stdout.write(JSON.stringify({ chunks: chunks.length, message, errors }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
