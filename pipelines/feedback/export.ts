/**
 * Ground-truth feedback as new training data: fetch a server's labelled
 * answers (`GET /feedback/export`, JSON Lines with the images) and write them
 * in the layout the image-folder data source reads
 * (training/data/image-folder.ts: one sub-folder per class), plus
 * `feedback.jsonl` with what the model said about each image.
 */
import { join } from 'node:path';
import { ProjectError, safeUrl, stableStringify, writeFileAtomic } from '../../platform/index.ts';
import type { ExportedFeedback } from '../../serving/feedback.ts';

export interface FeedbackExportOptions {
  /** The server's base URL, e.g. http://model-server.ml-prod:8080. */
  url: string;
  /** SERVING_FEEDBACK_EXPORT_TOKEN of that server. */
  token: string;
  /** Folder to write into (created). */
  outDir: string;
  fetch?: typeof fetch;
}

export interface FeedbackExportResult {
  images: number;
  /** label → images written. */
  byLabel: Record<string, number>;
  jsonl: string;
}

type ExportLine = ExportedFeedback;

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/;
const EXTENSION: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg' };

/** Export the labelled feedback of the server at `url` into `outDir`. */
export async function exportFeedback(o: FeedbackExportOptions): Promise<FeedbackExportResult> {
  const url = `${o.url.replace(/\/+$/, '')}/feedback/export`;
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(url, {
      headers: { authorization: `Bearer ${o.token}` },
      signal: AbortSignal.timeout(120_000),
    });
  } catch (e) {
    throw new ProjectError('UNAVAILABLE', `GET ${safeUrl(url)} failed: ${(e as Error).message}`, {
      subject: url,
      cause: e,
      hint: 'check the server URL (kubectl port-forward svc/model-server 8080 for a cluster)',
    });
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new ProjectError(
      res.status === 401 ? 'UNAUTHORIZED' : res.status === 404 ? 'NOT_FOUND' : 'UNAVAILABLE',
      `GET ${safeUrl(url)}: HTTP ${res.status} ${body.slice(0, 300)}`,
      {
        subject: url,
        hint:
          res.status === 401
            ? "set SERVING_FEEDBACK_EXPORT_TOKEN to the server's export token"
            : 'the server needs SERVING_FEEDBACK_EXPORT_TOKEN set to turn the export on',
      },
    );
  }
  const lines = (await res.text()).split('\n').filter(Boolean);
  const byLabel: Record<string, number> = {};
  const records: Omit<ExportLine, 'image_base64'>[] = [];
  for (const [n, line] of lines.entries()) {
    const f = JSON.parse(line) as ExportLine;
    // The label becomes a folder name: refuse anything that could leave outDir.
    if (!LABEL.test(f.label)) {
      throw new ProjectError(
        'INVALID',
        `export line ${n + 1}: label "${f.label}" is not a plain folder name`,
        {
          subject: 'label',
        },
      );
    }
    const ext = EXTENSION[f.content_type] ?? 'bin';
    // The answer id is the server's (base64url): unique, and safe as a file name.
    const file = join(f.label, `${f.answer_id.replace(/[^A-Za-z0-9_-]/g, '_')}-${f.index}.${ext}`);
    await writeFileAtomic(join(o.outDir, file), Buffer.from(f.image_base64, 'base64'));
    byLabel[f.label] = (byLabel[f.label] ?? 0) + 1;
    const { image_base64: _, ...rest } = f;
    records.push({ ...rest, file } as Omit<ExportLine, 'image_base64'>);
  }
  const jsonl = join(o.outDir, 'feedback.jsonl');
  await writeFileAtomic(
    jsonl,
    records.map((r) => stableStringify(r).replace(/\n\s*/g, '')).join('\n') + (records.length ? '\n' : ''),
  );
  return { images: records.length, byLabel, jsonl };
}
