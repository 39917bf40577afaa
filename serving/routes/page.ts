/**
 * The web page and the model card behind it: the page's own files, `GET
 * /api/model` (the model, its evaluation, plots, live accuracy, drift and
 * where each version runs), the training plots of the artifact and the demo
 * images (docs/serving.md "Web page").
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import { PLOT_FILES } from '../../model/artifact/format.ts';
import { ProjectError } from '../../platform/index.ts';
import { PAGE_CSP } from '../security.ts';
import type { RouteDeps } from './deps.ts';

const PUBLIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
};
/** The plots training writes into every artifact, shown on the page. */
const PLOTS: readonly string[] = PLOT_FILES;
const SAMPLE_NAME = /^[A-Za-z0-9._-]+\.(png|jpe?g)$/i;

/** The fields `keys` of `value` (or null when there is no value). */
function pick<T extends object, K extends keyof T>(value: T | null, keys: K[]): Pick<T, K> | { samples: 0 } {
  if (!value) return { samples: 0 };
  return Object.fromEntries(keys.map((k) => [k, value[k]])) as Pick<T, K>;
}

type PageDeps = Pick<
  RouteDeps,
  'model' | 'config' | 'logger' | 'backend' | 'publicDir' | 'accuracy' | 'drift'
>;

/** The demo images: the artifact's samples/ and the files of SERVING_SAMPLES_DIR, sorted. */
function sampleLister({ model, config, logger }: Pick<PageDeps, 'model' | 'config' | 'logger'>) {
  const artifactSamples = [...model.files.keys()]
    .filter((f) => f.startsWith('samples/'))
    .map((f) => f.slice(8));
  return async (): Promise<string[]> => {
    const names = new Set(artifactSamples.filter((n) => SAMPLE_NAME.test(n)));
    if (config.samplesDir) {
      try {
        for (const n of await readdir(config.samplesDir)) if (SAMPLE_NAME.test(n)) names.add(n);
      } catch (e) {
        logger.warn('samples folder cannot be read', { dir: config.samplesDir, error: (e as Error).message });
      }
    }
    return [...names].sort();
  };
}

export function pageRouter(deps: PageDeps): Router {
  const { model, config, backend, publicDir, accuracy, drift } = deps;
  const publicFiles = new Map(
    Object.entries(PUBLIC_FILES).map(([route, file]) => [route, readFileSync(join(publicDir, file))]),
  );
  const listSamples = sampleLister(deps);
  const router = new Router();
  for (const [route, bytes] of publicFiles) {
    router.get(route, (ctx) => {
      ctx.type = CONTENT_TYPES[PUBLIC_FILES[route]!.split('.').pop()!]!;
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('Content-Security-Policy', PAGE_CSP);
      ctx.body = bytes;
    });
  }
  router.get('/api/model', async (ctx) => {
    ctx.body = {
      model: model.name,
      version: model.version,
      sha256: model.sha256,
      backend,
      labels: model.labels,
      input: { width: model.spec.width, height: model.spec.height, channels: model.spec.channels },
      evaluation: model.evaluation ?? null,
      samples: await listSamples(),
      // The model card: the artifact's plots, live accuracy, drift, and where each version runs.
      plots: PLOTS.filter((f) => model.files.has(f)),
      live:
        config.feedback.capacity > 0
          ? { accuracy: accuracy.samples ? accuracy.accuracy : null, samples: accuracy.samples }
          : null,
      drift: drift.enabled
        ? { enabled: true, ...pick(drift.result(), ['samples', 'scored', 'drifted']) }
        : { enabled: false, reason: drift.disabledReason ?? null },
      history: config.history ?? null,
    };
  });
  // The training plots of this version's artifact (verified with every other file at start-up).
  router.get('/artifact/:file', (ctx) => {
    const name = ctx.params.file ?? '';
    const bytes = PLOTS.includes(name) ? model.files.get(name) : undefined;
    if (!bytes) {
      throw new ProjectError('NOT_FOUND', `no plot "${name}" in this artifact`, {
        hint: `the plots are ${PLOTS.join(', ')} (GET /api/model lists those present)`,
      });
    }
    ctx.type = 'image/png';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = Buffer.from(bytes);
  });
  router.get('/samples/:file', async (ctx) => {
    const name = ctx.params.file ?? '';
    if (!SAMPLE_NAME.test(name) || !(await listSamples()).includes(name)) {
      throw new ProjectError('NOT_FOUND', `no demo image "${name}"`, { hint: 'GET /api/model lists them' });
    }
    const inArtifact = model.files.get(`samples/${name}`);
    ctx.type = CONTENT_TYPES[name.split('.').pop()!.toLowerCase()]!;
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = inArtifact ? Buffer.from(inArtifact) : await readFile(join(config.samplesDir!, name));
  });
  return router;
}
