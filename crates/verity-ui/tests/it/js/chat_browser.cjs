// Drives the chat app in headless Chromium (Playwright): types a message, records the
// assistant's text as it streams in, reloads the page and reads the conversation back.
// Usage: node chat_browser.cjs URL PROMPT [approve]. With `approve`, the tool call the
// answer asks approval for is approved (its button clicked) and the resumed answer read.
// Prints {streamed, before, reloaded} as JSON.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [url, prompt, approve] = process.argv.slice(2);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'verity-ui-chromium-'));
  // a fresh profile: Playwright gives Chromium `--user-data-dir` from this argument
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]');
    // every text the last assistant message shows while the answer streams
    await page.evaluate(() => {
      window.__streamed = [];
      new MutationObserver(() => {
        const all = document.querySelectorAll('.message.assistant');
        const last = all[all.length - 1];
        if (!last) return;
        const text = last.textContent;
        if (window.__streamed[window.__streamed.length - 1] !== text) window.__streamed.push(text);
      }).observe(document.getElementById('conversation'), { subtree: true, childList: true, characterData: true });
    });
    await page.fill('#prompt', prompt);
    await page.click('#send');
    await page.waitForSelector('.message.assistant');
    await page.waitForSelector('body[data-busy="false"]');
    if (approve === 'approve') {
      await page.click('.approval button:has-text("Approve")');
      await page.waitForFunction(() => document.querySelectorAll('.message.assistant').length === 2);
      await page.waitForSelector('body[data-busy="false"]');
    }
    const streamed = await page.evaluate(() => window.__streamed);
    const read = () =>
      page.$$eval('.message', (nodes) => nodes.map((n) => ({ role: n.classList[1], text: n.textContent })));
    const before = await read();
    await page.reload();
    await page.waitForSelector('body[data-loaded="true"]');
    const reloaded = await read();
    process.stdout.write(JSON.stringify({ streamed, before, reloaded }));
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
