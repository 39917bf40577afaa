/**
 * The data flywheel (docs/data.md "The flywheel"): the next dataset from the
 * pinned one plus the labelled captured images in the object store.
 *
 *   base pointer (data/<name>.json) ── fetched, sha256 + dataset digest checked (training/data/pointer.ts)
 *   feedback/v1/...json labels      ── serving/feedback.ts records, read from the store
 *   capture/v1/images/<sha256>      ── serving/capture.ts, the labelled images' bytes
 *        │
 *        ▼  deduplicated: one image once (its sha256); an image already in the data is skipped;
 *        │  several labels for one image: the most frequent wins, a tie is skipped
 *   train/<label>/fb-<sha256>.<ext>  (test/ is never touched: evaluation stays comparable)
 *   feedback-provenance.json         (in the archive: every added image's labels, keys, versions, times)
 *        ▼
 *   s3://<bucket>/datasets/<name>/<archive sha256>.tar.gz  (content-addressed, never replaced)
 *   data/<name>.json                 (written atomically, last: a failure leaves the old pointer)
 *
 * The archive is packed as `npm run data -- pack` packs (deterministic), so
 * the same base and the same labels give the same bytes and the same key.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ProjectError, sha256, stableStringify } from '../../platform/index.ts';
import { type ObjectStore, s3Url } from '../../platform/object-store/index.ts';
import { capturedImageKey } from '../../serving/capture.ts';
import { FEEDBACK_PREFIX, feedbackModelPrefix, type LabelRecord } from '../../serving/feedback.ts';
import {
  type DataPointer,
  hasSplitFolders,
  materializeDataPointer,
  packDataArchive,
  readDataPointer,
  uploadDataArchive,
  writeDataPointer,
} from '../../training/data/index.ts';

/** The provenance manifest's name: a loose file at the top of the archive (the image-folder reader ignores it). */
export const PROVENANCE_FILE = 'feedback-provenance.json';

export interface FromFeedbackOptions {
  /** The pinned data pointer the new dataset starts from (data/<name>.json). */
  pointerPath: string;
  /** Where the new pointer is written (default: over `pointerPath`, atomically). */
  outPointerPath?: string;
  /** The new dataset's name (default: the base pointer's). */
  name?: string;
  /** The object store holding the labels and captured images, where the archive goes. */
  store: ObjectStore;
  /** Its bucket (OBJECT_STORE_BUCKET): labels, captures and datasets. */
  bucket: string;
  /** Only labels given to answers of this model (default: every model's). */
  model?: string;
  /** Only labels recorded at or after this time. */
  since?: Date;
  /** Parent of the temporary folder (default the OS temp folder). */
  workDir?: string;
  /** For a base archive at an http(s) URL. */
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

/** One label as the provenance names it. */
export interface LabelSource {
  /** The label object's key in the bucket. */
  key: string;
  label: string;
  model: string;
  /** The version that answered. */
  version: string;
  answer_id: string;
  index: number;
  predicted: string;
  answered_at: string;
  labelled_at: string;
}

/** One image the flywheel added. */
export interface AddedImage {
  sha256: string;
  label: string;
  /** Its path in the dataset (train/<label>/fb-<sha256>.<ext>). */
  path: string;
  /** Labels received per class (more than one class: a conflict the majority decided). */
  votes: Record<string, number>;
  labels: LabelSource[];
}

export interface FromFeedbackCounts {
  /** Label records in scope (model, since). */
  labels: number;
  /** Distinct images they label. */
  images: number;
  /** Images added to train/. */
  added: number;
  /** Labels beyond the first for an image (the same image labelled again). */
  duplicates: number;
  /** Images with labels of more than one class: decided by the most frequent... */
  conflictsResolved: number;
  /** ...or skipped, on a tie. */
  conflictsSkipped: number;
  /** Images the base data already holds (by sha256), skipped. */
  inBase: number;
  /** Of those, images the base holds under another class than the label says (not relabelled). */
  inBaseOtherLabel: number;
  /** Labelled images without a captured copy (not sampled, or over the size cap), skipped. */
  notCaptured: number;
  /** Captured copies that are not PNG or JPEG, skipped. */
  unsupported: number;
}

export interface FromFeedbackResult {
  /** written: a new archive and pointer; no-labels: nothing in scope; nothing-new: every labelled image skipped. */
  status: 'written' | 'no-labels' | 'nothing-new';
  base: DataPointer;
  /** The new pointer (status written). */
  pointer?: DataPointer;
  pointerPath: string;
  /** Where the labels were read: s3://<bucket>/feedback/v1/... */
  labelsFrom: string;
  counts: FromFeedbackCounts;
  /** Images added per class. */
  byLabel: Record<string, number>;
  added: AddedImage[];
  /** Whether the archive was in the store already (the same bytes: content-addressed). */
  reused?: boolean;
}

/** One round of the flywheel as the manifest records it. */
interface ProvenanceRound {
  base: Pick<DataPointer, 'name' | 'uri' | 'sha256' | 'digest'>;
  labelsFrom: string;
  since: string | null;
  counts: FromFeedbackCounts;
  added: AddedImage[];
}

interface Provenance {
  schema: 'flywheel-provenance/v1';
  rounds: ProvenanceRound[];
}

const HEX64 = /^[0-9a-f]{64}$/;

function extensionOf(bytes: Uint8Array): 'png' | 'jpg' | undefined {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpg';
  return undefined;
}

/** Read every label record under `prefix` in scope, with its key; a record that is not feedback/v1 is an error naming its key. */
async function readLabels(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  o: Pick<FromFeedbackOptions, 'model' | 'since'>,
): Promise<{ key: string; record: LabelRecord }[]> {
  const keys: string[] = [];
  for await (const obj of store.list({ bucket, key: prefix }))
    if (obj.key.endsWith('.json')) keys.push(obj.key);
  keys.sort();
  const out: { key: string; record: LabelRecord }[] = [];
  for (let i = 0; i < keys.length; i += 16) {
    const chunk = keys.slice(i, i + 16);
    const read = await Promise.all(
      chunk.map(async (key) => {
        const url = s3Url({ bucket, key });
        let record: LabelRecord;
        try {
          record = JSON.parse(
            Buffer.from(await store.getBytes({ bucket, key })).toString('utf8'),
          ) as LabelRecord;
        } catch (e) {
          if (e instanceof ProjectError) throw e;
          throw new ProjectError('INVALID', `${url}: not a JSON label record (${(e as Error).message})`, {
            subject: url,
            cause: e,
          });
        }
        if (
          record?.schema !== 'feedback/v1' ||
          typeof record.label !== 'string' ||
          typeof record.image_sha256 !== 'string' ||
          !HEX64.test(record.image_sha256) ||
          typeof record.labelled_at !== 'string'
        ) {
          throw new ProjectError(
            'INVALID',
            `${url}: not a feedback/v1 label record (schema, label, image_sha256, labelled_at)`,
            {
              subject: url,
              hint: 'only serving writes under feedback/v1/ (docs/capture.md); remove the object',
            },
          );
        }
        return { key, record };
      }),
    );
    out.push(...read);
  }
  return out.filter(
    ({ record }) =>
      (o.model === undefined || record.model === o.model) &&
      (o.since === undefined || Date.parse(record.labelled_at) >= o.since.getTime()),
  );
}

/** A label record read from the store, with its key. */
type KeyedLabel = { key: string; record: LabelRecord };

/** The new dataset from the base pointer and the labels in the store; see the module comment. */
export async function datasetFromFeedback(o: FromFeedbackOptions): Promise<FromFeedbackResult> {
  const log = o.log ?? (() => {});
  const basePath = resolve(o.pointerPath);
  const outPath = resolve(o.outPointerPath ?? o.pointerPath);
  const base = await readDataPointer(basePath);
  const name = o.name ?? base.name;
  const prefix = o.model === undefined ? FEEDBACK_PREFIX : feedbackModelPrefix(o.model);
  const labelsFrom = s3Url({ bucket: o.bucket, key: prefix });
  const counts: FromFeedbackCounts = {
    labels: 0,
    images: 0,
    added: 0,
    duplicates: 0,
    conflictsResolved: 0,
    conflictsSkipped: 0,
    inBase: 0,
    inBaseOtherLabel: 0,
    notCaptured: 0,
    unsupported: 0,
  };
  const result = (status: FromFeedbackResult['status'], extra: Partial<FromFeedbackResult> = {}) => ({
    status,
    base,
    pointerPath: outPath,
    labelsFrom,
    counts,
    byLabel: {},
    added: [],
    ...extra,
  });

  const labels = await readLabels(o.store, o.bucket, prefix, o);
  counts.labels = labels.length;
  log(
    `flywheel: ${labels.length} label(s) in ${labelsFrom}${o.since ? ` since ${o.since.toISOString()}` : ''}`,
  );
  if (labels.length === 0) return result('no-labels');

  const work = await mkdtemp(join(o.workDir ?? tmpdir(), 'flywheel-'));
  try {
    const dir = join(work, 'data');
    log(`flywheel: fetching the base data ${base.uri} (${o.pointerPath})`);
    const dataset = await materializeDataPointer(base, dir, {
      pointerPath: o.pointerPath,
      objectStore: o.store,
      // Hash every file and check the digest, decode none: packing reads the images again.
      maxPerClass: 0,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    refuseUnknownLabels(labels, dataset.labels, o);
    const inBase = new Map<string, string>();
    for (const f of Object.values(dataset.digest.files)) inBase.set(f.sha256, f.label);
    const split = await hasSplitFolders(dir);

    const byImage = groupByImage(labels);
    counts.images = byImage.size;
    counts.duplicates = labels.length - byImage.size;

    const added = await addLabelledImages(byImage, { o, dir, split, inBase, counts, log });
    counts.added = added.length;
    const byLabel: Record<string, number> = {};
    for (const a of added) byLabel[a.label] = (byLabel[a.label] ?? 0) + 1;
    if (added.length === 0) return result('nothing-new', { byLabel });

    const round: ProvenanceRound = {
      base: { name: base.name, uri: base.uri, sha256: base.sha256, digest: base.digest },
      labelsFrom,
      since: o.since?.toISOString() ?? null,
      counts,
      added: [...added].sort((a, b) => (a.path < b.path ? -1 : 1)),
    };
    const published = await publishDataset(work, dir, round, { o, name, outPath, log });
    return result('written', { ...published, byLabel, added });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A label the model cannot learn is a mistake upstream: stop, naming it (INVALID, with the first one's URL). */
function refuseUnknownLabels(labels: KeyedLabel[], classes: string[], o: FromFeedbackOptions): void {
  const unknown = labels.filter((l) => !classes.includes(l.record.label));
  if (unknown.length === 0) return;
  const first = unknown[0]!;
  const what = [...new Set(unknown.map((l) => l.record.label))].map((l) => JSON.stringify(l)).join(', ');
  throw new ProjectError(
    'INVALID',
    `${unknown.length} label(s) name a class the data of ${o.pointerPath} does not have: ${what} (first: ${s3Url({ bucket: o.bucket, key: first.key })}); its classes are ${classes.join(', ')}`,
    {
      subject: s3Url({ bucket: o.bucket, key: first.key }),
      hint:
        o.model === undefined
          ? 'pass --model to read only the labels of the model this data trains, or remove the wrong labels'
          : 'remove the wrong label objects, or add the class to the data first',
    },
  );
}

/** The labels grouped by image: the same image labelled in several answers (or sent twice) counts once. */
function groupByImage(labels: KeyedLabel[]): Map<string, KeyedLabel[]> {
  const byImage = new Map<string, KeyedLabel[]>();
  for (const l of labels) {
    const list = byImage.get(l.record.image_sha256) ?? [];
    list.push(l);
    byImage.set(l.record.image_sha256, list);
  }
  return byImage;
}

/** What adding the labelled images works on: the unpacked base data and the round's counts. */
interface AddContext {
  o: FromFeedbackOptions;
  /** The unpacked base data. */
  dir: string;
  /** Whether it has train/ and test/ folders (new images go to train/ only). */
  split: boolean;
  /** The base data's images: sha256 → class. */
  inBase: Map<string, string>;
  counts: FromFeedbackCounts;
  log: (line: string) => void;
}

/**
 * Each labelled image, in sha256 order, written into the data under the
 * label most of its labels give, unless skipped (a tie, already in the base,
 * not captured, not PNG or JPEG; each counted). Returns the images added.
 */
async function addLabelledImages(byImage: Map<string, KeyedLabel[]>, c: AddContext): Promise<AddedImage[]> {
  const added: AddedImage[] = [];
  for (const [sha, list] of [...byImage].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const votes: Record<string, number> = {};
    for (const l of list) votes[l.record.label] = (votes[l.record.label] ?? 0) + 1;
    const label = winningLabel(sha, votes, c);
    if (label === undefined) continue;
    const baseLabel = c.inBase.get(sha);
    if (baseLabel !== undefined) {
      c.counts.inBase++;
      if (baseLabel !== label) c.counts.inBaseOtherLabel++;
      continue;
    }
    const bytes = await capturedImage(c.o, sha);
    if (!bytes) {
      c.counts.notCaptured++;
      continue;
    }
    const ext = extensionOf(bytes);
    if (!ext) {
      c.counts.unsupported++;
      continue;
    }
    const path = `${c.split ? 'train/' : ''}${label}/fb-${sha}.${ext}`;
    await mkdir(join(c.dir, ...path.split('/').slice(0, -1)), { recursive: true });
    await writeFile(join(c.dir, ...path.split('/')), bytes);
    added.push({ sha256: sha, label, path, votes, labels: labelSources(list) });
  }
  return added;
}

/**
 * The label most of an image's labels give (a conflict so decided is
 * counted); undefined on a tie between the first two, counted and logged.
 */
function winningLabel(
  sha: string,
  votes: Record<string, number>,
  { counts, log }: Pick<AddContext, 'counts' | 'log'>,
): string | undefined {
  const ranked = Object.entries(votes).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (ranked.length > 1) {
    if (ranked[0]![1] === ranked[1]![1]) {
      counts.conflictsSkipped++;
      log(`flywheel: image ${sha.slice(0, 12)} skipped: a tie between labels ${JSON.stringify(votes)}`);
      return undefined;
    }
    counts.conflictsResolved++;
  }
  return ranked[0]![0];
}

/**
 * The captured copy of image `sha` from the store, undefined when none was
 * captured; DIGEST_MISMATCH when its bytes do not hash to the sha256 its key names.
 */
async function capturedImage(o: FromFeedbackOptions, sha: string): Promise<Uint8Array | undefined> {
  const ref = { bucket: o.bucket, key: capturedImageKey(sha) };
  if (!(await o.store.head(ref))) return undefined;
  const bytes = await o.store.getBytes(ref);
  if (sha256(bytes) !== sha) {
    throw new ProjectError(
      'DIGEST_MISMATCH',
      `${s3Url(ref)}: its bytes hash to ${sha256(bytes)}, not the ${sha} its key names`,
      { subject: s3Url(ref), hint: 'the captured image was changed in the store: remove it' },
    );
  }
  return bytes;
}

/** An image's labels as the provenance names them, in key order. */
function labelSources(list: KeyedLabel[]): LabelSource[] {
  return list
    .map(({ key, record: r }) => ({
      key,
      label: r.label,
      model: r.model,
      version: r.version,
      answer_id: r.answer_id,
      index: r.index,
      predicted: r.predicted,
      answered_at: r.answered_at,
      labelled_at: r.labelled_at,
    }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

/**
 * The new dataset made public: packed (with the provenance manifest, the
 * base's rounds carried forward, plus this one), uploaded under its sha256
 * unless the same bytes are there already, and its pointer written
 * atomically, last.
 */
async function publishDataset(
  work: string,
  dir: string,
  round: ProvenanceRound,
  {
    o,
    name,
    outPath,
    log,
  }: { o: FromFeedbackOptions; name: string; outPath: string; log: (line: string) => void },
): Promise<{ pointer: DataPointer; reused: boolean }> {
  // The manifest carries the base's rounds forward: the whole history of what feedback added.
  let previous: Provenance | undefined;
  try {
    previous = JSON.parse(await readFile(join(dir, PROVENANCE_FILE), 'utf8')) as Provenance;
  } catch {
    previous = undefined;
  }
  const provenance: Provenance = {
    schema: 'flywheel-provenance/v1',
    rounds: [...(previous?.schema === 'flywheel-provenance/v1' ? previous.rounds : []), round],
  };
  await rm(join(dir, PROVENANCE_FILE), { force: true });
  const archivePath = join(work, 'archive.tar.gz');
  const packed = await packDataArchive(dir, archivePath, [
    { name: PROVENANCE_FILE, data: stableStringify(provenance) },
  ]);
  const uri = s3Url({ bucket: o.bucket, key: `datasets/${name}/${packed.sha256}.tar.gz` });
  const there = await o.store.head(uri);
  if (!there) await uploadDataArchive(archivePath, uri, o.store);
  log(`flywheel: ${there ? 'archive already in the store' : 'uploaded'} ${uri}`);
  const times = round.added.flatMap((a) => a.labels.map((l) => l.labelled_at)).sort();
  const base = round.base;
  const pointer = await writeDataPointer(outPath, {
    pointerVersion: 1,
    name,
    uri,
    sha256: packed.sha256,
    digest: packed.digest,
    description: `${base.name} (${base.digest}) + ${round.added.length} labelled image(s) from ${round.labelsFrom}, labelled ${times[0]} to ${times[times.length - 1]}, in train/ only; provenance: ${PROVENANCE_FILE} in the archive (npm run data -- from-feedback)`,
  });
  return { pointer, reused: Boolean(there) };
}

/** The summary a person reads: one line of counts. */
export function summarizeFromFeedback(r: FromFeedbackResult): string {
  const c = r.counts;
  const classes = Object.entries(r.byLabel)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([l, n]) => `${l} ${n}`)
    .join(', ');
  return [
    `labels ${c.labels} for ${c.images} image(s) in ${r.labelsFrom}`,
    `added ${c.added}${classes ? ` (${classes})` : ''}`,
    `duplicates ${c.duplicates}`,
    `conflicts ${c.conflictsResolved + c.conflictsSkipped} (${c.conflictsResolved} decided by the most frequent label, ${c.conflictsSkipped} ties skipped)`,
    `skipped ${c.inBase + c.notCaptured + c.unsupported} (${c.inBase} already in the data${c.inBaseOtherLabel ? `, ${c.inBaseOtherLabel} of them under another class` : ''}, ${c.notCaptured} without a captured image, ${c.unsupported} not PNG or JPEG)`,
  ].join('; ');
}
