// Reads a RunAgentInput (JSON) on stdin; it must pass @ag-ui/core's RunAgentInputSchema.
const fs = require('fs');
const { RunAgentInputSchema } = require('@ag-ui/core/schemas');

const result = RunAgentInputSchema.safeParse(JSON.parse(fs.readFileSync(0, 'utf8')));
if (!result.success) {
  console.error(`input rejected:\n${result.error}`);
  process.exit(1);
}
process.stdout.write('ok');
