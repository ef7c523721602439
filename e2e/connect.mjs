// Drives the hosted Connect page in Debian's Chromium (playwright-core, no downloaded browser)
// for crates/cli/tests/browser.rs: opens a Connect link, reads the branding it shows, clicks
// "Sign in with <label>" and follows the OAuth dance to the product's redirect URL, then prints
// one JSON object on stdout. Exits non-zero with the reason on stderr when any step fails.
//
//   node e2e/connect.mjs <connect-url> <expected-redirect-prefix> --label HubSpot
//        [--screenshot file.png] [--opener <opener-page-url>]
//
// Without --opener the link opens in the tab and the script waits for the navigation to the
// redirect URL: {"mode": "redirect", "url": …, "branding": {…}}. With --opener it opens the
// product's page, whose "Connect" button calls window.open(connect-url); the script drives the
// popup and waits for the page to receive the popup's message: {"mode": "popup", "message": …,
// "origin": …, "popup_closed": true, "branding": {…}}.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CROSSWALK_CHROMIUM ?? '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 20_000;

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    label: { type: 'string' },
    screenshot: { type: 'string' },
    opener: { type: 'string' },
  },
});
const [connectUrl, redirectPrefix] = positionals;
if (!connectUrl || !redirectPrefix || !options.label) {
  console.error(
    'usage: node e2e/connect.mjs <connect-url> <expected-redirect-prefix> --label <provider label> [--screenshot file.png] [--opener url]',
  );
  process.exit(2);
}

/** What the Connect page shows of the environment's branding. */
async function readBranding(page) {
  return page.evaluate(() => {
    const brand = document.querySelector('.brand');
    const button = document.querySelector('a.button, button');
    const logo = document.querySelector('img.logo');
    return {
      title: document.title,
      heading: document.querySelector('h1')?.textContent ?? null,
      brand_text: brand?.textContent?.trim() ?? null,
      brand_color: brand ? getComputedStyle(brand).color : null,
      button_background: button ? getComputedStyle(button).backgroundColor : null,
      logo_loaded: logo ? logo.complete && logo.naturalWidth > 0 : false,
      // Every button and input stays inside the card (none overflows its right edge).
      controls_inside_card: [...document.querySelectorAll('main a.button, main button, main input')]
        .every((el) => el.getBoundingClientRect().right <= document.querySelector('main').getBoundingClientRect().right),
      providers: [...document.querySelectorAll('section.provider')].map((s) => s.dataset.provider),
    };
  });
}

/** On the Connect page: branding, optional screenshot, then the sign-in link. */
async function signIn(page) {
  await page.waitForLoadState('load');
  const branding = await readBranding(page);
  if (options.screenshot) {
    await page.screenshot({ path: options.screenshot, fullPage: true });
  }
  await page.getByRole('link', { name: `Sign in with ${options.label}` }).click();
  return branding;
}

async function redirectFlow(context) {
  const page = context.pages()[0] ?? (await context.newPage());
  const response = await page.goto(connectUrl);
  if (!response || response.status() !== 200) {
    throw new Error(`the Connect page answered ${response?.status()}`);
  }
  const branding = await signIn(page);
  await page.waitForURL((url) => url.href.startsWith(redirectPrefix));
  return { mode: 'redirect', url: page.url(), branding };
}

async function popupFlow(context) {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(options.opener);
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    page.getByRole('button', { name: 'Connect' }).click(),
  ]);
  const closed = popup.waitForEvent('close');
  const branding = await signIn(popup);
  await page.waitForFunction(() => window.crosswalkResult !== undefined);
  const received = await page.evaluate(() => window.crosswalkResult);
  await closed;
  return {
    mode: 'popup',
    message: received.data,
    origin: received.origin,
    popup_closed: popup.isClosed(),
    opener_url: page.url(),
    branding,
  };
}

const userDataDir = await mkdtemp(join(tmpdir(), 'crosswalk-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
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
    viewport: { width: 800, height: 900 },
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const result = options.opener ? await popupFlow(context) : await redirectFlow(context);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  const pages = context ? context.pages().map((p) => p.url()) : [];
  console.error(`connect.mjs failed: ${error?.stack ?? error}\nopen pages: ${JSON.stringify(pages)}`);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
}
