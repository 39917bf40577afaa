/**
 * The web page in headless Chromium (Debian package, driven by
 * playwright-core): it shows the model version and evaluation, a demo image
 * click and an upload each show predictions as bars. Saves a screenshot
 * under the temp dir (path logged) for a person to look at.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';
import { needs, tool } from '../lib/testing/services.ts';
import { shapePng } from './testing/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from './testing/harness.ts';

const chromiumBinary = tool(
  '/usr/bin/chromium',
  'run scripts/setup.d/40-chromium.sh (apt-get install chromium)',
);
const run = needs(chromiumBinary).test;

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;
let browser: Browser | undefined;

// Runs only when a test of the file does (jest skips the hooks of skipped tests).
beforeAll(async () => {
  fixture = await tempFixture();
  s = await startTestServer(fixture);
  browser = await chromium.launch({
    executablePath: chromiumBinary.path,
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
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
  await fixture?.cleanup();
});

run('upload and demo images show predictions with bars, model version and metrics', async () => {
  const page = await browser!.newPage({ viewport: { width: 900, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(s.url);
  await page.waitForSelector('body[data-ready="true"]');
  expect(await page.textContent('#model-name')).toBe('demo-classifier');
  expect(await page.textContent('#model-meta')).toContain('version 1');
  expect(await page.textContent('#evaluation')).toContain('accuracy');
  expect(await page.locator('#samples button').count()).toBe(4);

  await page.click('#samples button[data-sample="square.png"]');
  await page.waitForSelector('#predictions li');
  expect(await page.locator('#predictions li').count()).toBe(4);

  const file = join(fixture.root, 'upload.png');
  await writeFile(file, shapePng('cross'));
  const before = await page.textContent('#request');
  await page.setInputFiles('#file', file);
  await page.waitForFunction((prev) => {
    const t = document.querySelector('#request')?.textContent;
    return Boolean(t?.includes('request') && t !== prev);
  }, before);
  const bars = await page.$$eval('#predictions li', (lis) =>
    lis.map((li) => ({
      label: li.querySelector('.label')?.textContent,
      width: (li.querySelector('.bar span') as HTMLElement).style.width,
      text: li.querySelector('.prob')?.textContent,
    })),
  );
  const api = (await (
    await fetch(`${s.url}/predict?k=4`, {
      method: 'POST',
      body: shapePng('cross'),
      headers: { 'content-type': 'image/png' },
    })
  ).json()) as { predictions: { label: string; probability: number }[] };
  expect(bars.map((b) => b.label)).toEqual(api.predictions.map((p) => p.label));
  expect(bars[0]!.text).toBe(`${(api.predictions[0]!.probability * 100).toFixed(1)}%`);
  expect(bars[0]!.width).toBe(`${(api.predictions[0]!.probability * 100).toFixed(1)}%`);
  expect(await page.textContent('#request')).toContain('demo-classifier version 1');

  // A bad upload shows the server's error message.
  await writeFile(join(fixture.root, 'bad.png'), 'not an image');
  await page.setInputFiles('#file', join(fixture.root, 'bad.png'));
  await page.waitForSelector('#error:not([hidden])');
  expect(await page.textContent('#error')).toContain('not an image');

  await page.setInputFiles('#file', file);
  await page.waitForSelector('#error', { state: 'hidden' });
  const shot = join(process.env.SERVING_SCREENSHOT_DIR ?? fixture.root, 'serving-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  // The only console error is the bad upload's 400, which the page showed.
  expect(errors).toEqual([
    'Failed to load resource: the server responded with a status of 400 (Bad Request)',
  ]);
});
