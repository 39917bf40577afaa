/**
 * The web page in headless Chromium (Debian package, driven by
 * playwright-core): it shows the model version and evaluation, a demo image
 * click and an upload each show predictions as bars; and it is the model's
 * card: the artifact's learning curves and confusion matrix, live accuracy
 * from feedback, the drift status, and where each version runs with the
 * promotion history (from a real models.lock.json). Saves a screenshot under
 * the temp dir (path logged) for a person to look at.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from '@jest/globals';
import { type Browser, chromium } from 'playwright-core';
import { addCandidate, emptyLock, pinVersion, writeLock } from '../lock/index.ts';
import { fakeFiles, makeEntry } from '../testing/lock/fixtures.ts';
import { needs, tool } from '../testing/services.ts';
import { shapePng } from '../testing/serving/fixture.ts';
import { startTestServer, type TestServer, tempFixture } from '../testing/serving/harness.ts';

const chromiumBinary = tool(
  '/usr/bin/chromium',
  'run scripts/setup.d/40-chromium.sh (apt-get install chromium)',
);
const run = needs(chromiumBinary).test;

let fixture: Awaited<ReturnType<typeof tempFixture>>;
let s: TestServer;
let browser: Browser | undefined;
/** The two versions' ids (content-addressed: lock/schema.ts). */
let v1: string;
let v2: string;

// Runs only when a test of the file does (jest skips the hooks of skipped tests).
beforeAll(async () => {
  fixture = await tempFixture();
  // The fixture artifact as the first version of a real lock: dev and staging run it, prod ran it and moved on.
  const first = addCandidate(emptyLock(), {
    model: 'demo-classifier',
    entry: makeEntry(fixture.pin.digests, { artifactUri: fixture.dir, metrics: { accuracy: 0.25 } }),
  });
  const second = addCandidate(first.lock, {
    model: 'demo-classifier',
    entry: makeEntry(fakeFiles(2), { metrics: { accuracy: 0.97 } }),
  });
  let lock = second.lock;
  v1 = first.version;
  v2 = second.version;
  for (const [env, version, at] of [
    ['dev', v1, '2026-11-01T10:00:00.000Z'],
    ['staging', v1, '2026-11-02T10:00:00.000Z'],
    ['prod', v2, '2026-11-03T10:00:00.000Z'],
  ] as const) {
    lock = pinVersion(lock, { model: 'demo-classifier', env, version, at, by: 'octocat' });
  }
  const lockPath = join(fixture.root, 'models.lock.json');
  await writeLock(lockPath, lock);
  s = await startTestServer(fixture, {
    ...Object.fromEntries(
      Object.keys(fixture.env)
        .filter((k) => k.startsWith('SERVING_MODEL_'))
        .map((k) => [k, '']),
    ),
    SERVING_LOCK_FILE: lockPath,
    SERVING_ENVIRONMENT: 'staging',
  });
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
  expect(await page.textContent('#model-meta')).toContain(`version ${fixture.pin.version}`);
  expect(await page.textContent('#evaluation')).toContain('accuracy');
  // Per class, by name (metrics.json per_class).
  expect(await page.locator('#per-class tbody tr').count()).toBe(4);
  expect(await page.textContent('#per-class tr[data-label="square"]')).toContain('0.250');
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
  expect(await page.textContent('#request')).toContain(`demo-classifier version ${fixture.pin.version}`);

  // A bad upload shows the server's error message.
  await writeFile(join(fixture.root, 'bad.png'), 'not an image');
  await page.setInputFiles('#file', join(fixture.root, 'bad.png'));
  await page.waitForSelector('#error:not([hidden])');
  expect(await page.textContent('#error')).toContain('not an image');

  await page.setInputFiles('#file', file);
  await page.waitForSelector('#error', { state: 'hidden' });

  // The model card. Feedback on an answer shows up as live accuracy after a reload.
  const answer = (await (
    await fetch(`${s.url}/predict`, {
      method: 'POST',
      body: shapePng('square'),
      headers: { 'content-type': 'image/png' },
    })
  ).json()) as { feedback_id: string; predictions: { label: string }[] };
  const fb = await fetch(`${s.url}/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ feedback_id: answer.feedback_id, label: answer.predictions[0]!.label }),
  });
  expect(fb.status).toBe(200);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  expect(await page.textContent('#live-accuracy')).toBe('100.0%');
  expect(await page.textContent('#live-samples')).toBe('over the last 1 feedback(s)');
  // The fixture's reference statistics are a stub: the page says drift is off and why.
  expect(await page.textContent('#drift-status')).toBe('off');
  expect(await page.textContent('#drift-detail')).toMatch(/reference/);
  for (const plot of ['learning-curves', 'confusion-matrix']) {
    await page.waitForFunction(
      (id) => ((document.querySelector(`#${id} img`) as HTMLImageElement | null)?.naturalWidth ?? 0) > 0,
      plot,
    );
  }
  const sizes = await page.$$eval('#plots img', (imgs) =>
    imgs.map((i) => [(i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).naturalHeight]),
  );
  expect(sizes).toEqual([
    [1000, 440],
    [720, 720],
  ]);
  const pins = await page.$$eval('#pins tbody tr', (rows) =>
    rows.map((r) => ({
      cells: [...r.querySelectorAll('td')].map((c) => c.textContent),
      current: r.className,
    })),
  );
  expect(pins).toEqual([
    { cells: ['dev', v1, expect.any(String), '0.2500'], current: 'current' },
    { cells: ['prod', v2, expect.any(String), '0.9700'], current: '' },
    { cells: ['staging', v1, expect.any(String), '0.2500'], current: 'current' },
  ]);
  const history = await page.$$eval('#promotions tbody tr', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)),
  );
  expect(history).toEqual([
    ['2026-11-03 10:00', 'prod', '–', v2, 'octocat'],
    ['2026-11-02 10:00', 'staging', '–', v1, 'octocat'],
    ['2026-11-01 10:00', 'dev', '–', v1, 'octocat'],
  ]);
  const shot = join(process.env.SERVING_SCREENSHOT_DIR ?? fixture.root, 'serving-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  // The only console error is the bad upload's 400, which the page showed.
  expect(errors).toEqual([
    'Failed to load resource: the server responded with a status of 400 (Bad Request)',
  ]);
});
