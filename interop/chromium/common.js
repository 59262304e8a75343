'use strict';
// Shared by driver.js (the interop cases) and capture.js (the SDP fixtures): Debian's Chromium,
// headless, with what it needs to put 127.0.0.1 host candidates in its descriptions.

const { chromium } = require('playwright-core');

/** Where Debian's `chromium` package puts the browser. */
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';

/** The page's origin: http://localhost is a secure context (getUserMedia needs one), and the
 * request never reaches the network, because `route` answers it. */
const ORIGIN = 'http://localhost/';

/**
 * Starts Chromium and opens one blank page at a secure origin.
 * - --allow-loopback-in-peer-connection: gather and pair 127.0.0.1 / ::1.
 * - fake media with an auto-granted getUserMedia: with a media permission, Chromium puts real
 *   host addresses in candidates instead of mDNS `.local` names.
 * - --no-sandbox: the harness runs as root, where Chromium's sandbox refuses to start.
 */
async function open() {
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    timeout: 20000,
    args: [
      '--no-sandbox',
      '--allow-loopback-in-peer-connection',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ],
  });
  const page = await browser.newPage();
  await page.route(`${ORIGIN}**`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>icebreaker</title>' }),
  );
  await page.goto(ORIGIN);
  // The media permission that unmasks host candidates.
  await page.evaluate(async () => {
    window.icebreakerMedia = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  });
  return { browser, page };
}

/** Rejects after `ms` with `what` in the message. */
function deadline(ms, what) {
  let timer;
  const p = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms);
  });
  p.cancel = () => clearTimeout(timer);
  return p;
}

/** `--name value` pairs after the first argument. */
function flags(argv) {
  const out = {};
  for (let i = 0; i + 1 < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

module.exports = { open, deadline, flags, EXECUTABLE };
