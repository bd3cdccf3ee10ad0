// Drives the web page in headless Chromium for BrowserTest: chat with the model and watch the run view.
//   node browser.js BASE_URL SCREENSHOT_DIR   → prints one JSON object with what it saw
// NODE_PATH points at the node_modules holding playwright-core; Chromium is Debian's /usr/bin/chromium.
const { chromium } = require('playwright-core');

const [base, shots] = process.argv.slice(2);
// The time limit's timer is unref'd, so it does not keep node running once the work is done.
const deadline = (ms) => new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after ' + ms + ' ms')), ms).unref());

async function main() {
  const t0 = Date.now(), timings = {};
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const out = { foreign: [], consoleErrors: [], timings };
  timings.launch = Date.now() - t0;
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    page.on('request', (r) => { if (!r.url().startsWith(base)) out.foreign.push(r.url()); });
    page.on('console', (m) => { if (m.type() === 'error') out.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => out.consoleErrors.push(String(e)));
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('model:'), null, { timeout: 10000 });

    // Every form control has a label (accessibility), checked in the page.
    out.unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, textarea')]
      .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id));

    // Chat: type with the keyboard, Enter sends; record every change of the reply's text as it streams in.
    await page.evaluate(() => {
      window.__lengths = [];
      new MutationObserver(() => {
        const t = document.querySelector('#messages li.assistant .text');
        if (t) window.__lengths.push(t.textContent.length);
      }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
    });
    // A slow link (4 kB/s down, as Chromium's DevTools emulates it) spreads the reply's server-sent events over about
    // a second, so the page must show the text growing; on a fast link a loaded machine may deliver them all in one read.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 4000, uploadThroughput: -1 });
    // Temperature 2 and seed 3: the random tiny model's reply is then all 24 tokens (without a seed it sometimes
    // stopped at a special token after a word or two — a clean-clone CI run saw a 10-character reply arrive in one
    // read — and one word cannot show streaming). BrowserTest checks the text against the API's for the same seed.
    await page.$eval('#temperature', (el) => { el.value = '2'; el.dispatchEvent(new Event('input', { bubbles: true })); });
    await page.fill('#max-tokens', '24');
    await page.fill('#seed', '3');
    await page.focus('#prompt');
    await page.keyboard.type('Hello, tiny model!');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('done'), null, { timeout: 30000 });
    timings.chat = Date.now() - t0;
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    out.lengths = await page.evaluate(() => window.__lengths);
    out.reply = await page.textContent('#messages li.assistant .text');
    out.user = await page.textContent('#messages li.user .text');
    out.chatStatus = await page.textContent('#status');
    await page.screenshot({ path: shots + '/chat.png', fullPage: true });

    // The run view: the loss curve gains points while the run trains.
    await page.click('#tab-run');
    await page.waitForFunction(() => Number(document.getElementById('loss-chart').dataset.points || 0) > 0, null, { timeout: 10000 });
    const first = await page.evaluate(() => Number(document.getElementById('loss-chart').dataset.points));
    await page.waitForFunction((n) => Number(document.getElementById('loss-chart').dataset.points) >= n + 3, first, { timeout: 15000 });
    const later = await page.evaluate(() => Number(document.getElementById('loss-chart').dataset.points));
    timings.run = Date.now() - t0;
    out.points = [first, later];
    out.stats = await page.textContent('#run-stats');
    out.samples = await page.textContent('#samples');
    await page.screenshot({ path: shots + '/run.png', fullPage: true });

    // A phone-sized window.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#tab-chat');
    await page.screenshot({ path: shots + '/chat-phone.png', fullPage: true });
    out.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
}

Promise.race([main(), deadline(90000)]).catch((e) => { console.error(e); process.exit(1); });
