// Reads an AG-UI SSE body on stdin; every event must pass @ag-ui/core's EventSchemas.
// Prints the number of events.
const fs = require('fs');
const { EventSchemas } = require('@ag-ui/core/schemas');

const body = fs.readFileSync(0, 'utf8');
const events = body.split('\n\n').filter((e) => e.length > 0);
for (const event of events) {
  if (!event.startsWith('data: ')) throw new Error(`not an SSE data event: ${event}`);
  const result = EventSchemas.safeParse(JSON.parse(event.slice(6)));
  if (!result.success) {
    console.error(`event rejected: ${event}\n${result.error}`);
    process.exit(1);
  }
}
process.stdout.write(String(events.length));
