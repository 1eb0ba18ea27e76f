// Reads UI messages (a JSON array) on stdin and validates them with the AI SDK's
// `validateUIMessages`.
const fs = require('fs');
const { validateUIMessages } = require('ai');

validateUIMessages({ messages: JSON.parse(fs.readFileSync(0, 'utf8')) })
  .then((messages) => process.stdout.write(String(messages.length)))
  .catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
