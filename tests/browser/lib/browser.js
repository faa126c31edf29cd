// Debian's Chromium under Playwright (no browser downloads), and screenshots under target/browser-screenshots/.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot } from './stack.js';

export const CHROMIUM = process.env.WEFT_CHROMIUM || '/usr/bin/chromium';
const shots = join(repoRoot, 'target', 'browser-screenshots');

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
