/**
 * Data pointers (docs/data.md): version a dataset in Git by a small pointer
 * file, the data itself in an archive at an HTTP(S) URL or in the object
 * store (`s3://bucket/key`).
 *
 *   npm run data -- pack <image folder> --uri <https URL of the archive> --archive <out.tar.gz>
 *                        [--name <dataset>] [--pointer data/<name>.json] [--description <text>]
 *   npm run data -- fetch <data/<name>.json> --into <folder>
 *   npm run data -- from-feedback <data/<name>.json> [--out-pointer data/<new>.json] [--name <dataset>]
 *                        [--model <name>] [--since <date>]
 *
 * pack writes the archive and the pointer (commit it); an `s3://` --uri is
 * uploaded to the object store the environment configures (OBJECT_STORE_*,
 * AWS_*; never over an existing object), any other is yours to upload. fetch
 * downloads the archive, checks its sha256, extracts it and checks the
 * dataset digest, as training does. from-feedback builds the next dataset
 * from the pointer's data plus the labelled captured images in the object
 * store (pipelines/flywheel), uploads its archive and writes the new pointer
 * (over the old one unless --out-pointer). Exit 0, 1 failure, 2 bad usage.
 */
import { resolve } from 'node:path';
import { datasetFromFeedback, summarizeFromFeedback } from '../pipelines/flywheel/index.ts';
import {
  didYouMean,
  isMain,
  type ParsedCommand,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageError,
  usageOf,
} from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import {
  createObjectStore,
  isS3Url,
  OBJECT_STORE_ENV,
  type ObjectStore,
  objectStoreConfigFromEnv,
} from '../platform/object-store/index.ts';
import {
  materializeDataPointer,
  packDataPointer,
  readDataPointer,
  uploadDataArchive,
} from '../training/data/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run data --',
  summary: `Data pointers (docs/data.md): version a dataset in Git by a small pointer file,
the data itself in an archive at an HTTP(S) URL or in the object store
(s3://bucket/key).`,
  args: '<command> <target>',
  commands: {
    'pack <image folder>': `with --uri and --archive: write the archive and the pointer (commit
it); an s3:// --uri is uploaded to the object store (never over an
existing object), any other is yours to upload`,
    'fetch <pointer>': `with --into: download the archive, check its sha256, extract it and
check the dataset digest, as training does`,
    'from-feedback <pointer>': `the pointer's data + the labelled captured images in the object
store -> a new archive in s3://<bucket>/datasets/<name>/ and the
new pointer (default: over the old one)`,
  },
  positionals: 2,
  options: {
    uri: {
      type: 'string',
      value: '<url>',
      help: 'pack: where the archive is served from: its https URL, or s3://bucket/key',
    },
    archive: { type: 'string', value: '<out.tar.gz>', help: 'pack: the archive to write' },
    name: {
      type: 'string',
      value: '<dataset>',
      help: "pack, from-feedback: the dataset's name (default: the folder's name; for\nfrom-feedback: the old pointer's)",
    },
    pointer: {
      type: 'string',
      value: '<file>',
      help: 'pack: the pointer to write (default: data/<--name>.json; without --name,\ndata/dataset.json)',
    },
    description: { type: 'string', value: '<text>', help: "pack: the dataset's description in the pointer" },
    into: { type: 'string', value: '<folder>', help: 'fetch: the folder to extract the data into' },
    'out-pointer': {
      type: 'string',
      value: '<file>',
      help: 'from-feedback: where to write the new pointer, e.g. data/<new>.json (default:\nover the old one)',
    },
    model: {
      type: 'string',
      value: '<name>',
      help: "from-feedback: only the labels given to this model's answers (default: every\nmodel's)",
    },
    since: {
      type: 'string',
      value: '<date>',
      help: 'from-feedback: only the labels recorded since this date (e.g. 2026-03-01 or\n2026-03-01T12:00:00Z)',
    },
  },
  notes: `<pointer> is a pointer file, data/<name>.json. The object store, for an s3://
archive and from-feedback, is the one the environment configures: OBJECT_STORE_*
and AWS_* (docs/object-store.md).`,
} as const;

/** Its usage, ending a usage error. */
const usage = () => usageOf(COMMAND);

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, d.print);
  if (!cli) return 0;
  // The object store the environment configures, for s3:// archives and the flywheel (closed when done).
  const storeConfig = objectStoreConfigFromEnv(d.env);
  const store = storeConfig ? createObjectStore(storeConfig) : undefined;
  try {
    return await run(cli, d, store, storeConfig?.bucket);
  } finally {
    store?.close();
  }
}

/** What each subcommand gets: the target, the flags, the script's deps and the object store. */
interface Sub {
  target: string;
  v: ParsedCommand<typeof COMMAND.options>['values'];
  d: ScriptDeps;
  at: (p: string) => string;
  store: ObjectStore | undefined;
  bucket: string | undefined;
}

async function run(
  cli: ParsedCommand<typeof COMMAND.options>,
  d: ScriptDeps,
  store: ObjectStore | undefined,
  bucket: string | undefined,
): Promise<number> {
  const [command, target] = cli.positionals as [string, string];
  const sub: Sub = { target, v: cli.values, d, at: (p) => resolve(d.cwd, p), store, bucket };
  if (command === 'pack') return pack(sub);
  if (command === 'fetch') return fetchData(sub);
  if (command === 'from-feedback') return fromFeedback(sub);
  const commands = ['pack', 'fetch', 'from-feedback'];
  throw usageError(
    `unknown command "${command}" (pack, fetch or from-feedback)${didYouMean(command, commands)}`,
    usage(),
  );
}

/** `pack <folder>`: the archive and its pointer; uploaded when the URI is s3:// and a store is configured. */
async function pack({ target, v, d, at, store }: Sub): Promise<number> {
  if (!v.uri || !v.archive) throw usageError('pack needs --uri and --archive', usage());
  const pointerPath = at(v.pointer ?? `data/${v.name ?? 'dataset'}.json`);
  const p = await packDataPointer(at(target), {
    uri: v.uri,
    archivePath: at(v.archive),
    pointerPath,
    ...(v.name ? { name: v.name } : {}),
    ...(v.description ? { description: v.description } : {}),
  });
  d.print(
    `wrote ${v.archive} (sha256 ${p.sha256}) and ${pointerPath}\ndataset ${p.name}: digest ${p.digest}\n`,
  );
  if (isS3Url(p.uri) && store) {
    await uploadDataArchive(at(v.archive), p.uri, store);
    d.print(`uploaded ${v.archive} to ${p.uri}\nnext: commit the pointer\n`);
  } else {
    d.print(
      `next: upload ${v.archive} to ${p.uri}${isS3Url(p.uri) ? ' (or set OBJECT_STORE_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and pack uploads it)' : ''}, then commit the pointer\n`,
    );
  }
  return 0;
}

/** `fetch <pointer> --into <folder>`: the data the pointer names, digest-checked. */
async function fetchData({ target, v, d, at, store }: Sub): Promise<number> {
  if (!v.into) throw usageError('fetch needs --into <folder>', usage());
  const ds = await materializeDataPointer(await readDataPointer(at(target)), at(v.into), {
    pointerPath: target,
    ...(d.fetch ? { fetch: d.fetch } : {}),
    ...(store ? { objectStore: store } : {}),
  });
  d.print(`${v.into}: ${ds.items.length} images, ${ds.labels.length} classes, digest ${ds.digest.root}\n`);
  return 0;
}

/** --since as a date, or USAGE. */
function sinceOf(v: Sub['v']): Date | undefined {
  if (v.since === undefined) return undefined;
  const since = new Date(v.since);
  if (Number.isNaN(since.getTime()))
    throw usageError(`--since "${v.since}" is not a date (e.g. 2026-03-01 or 2026-03-01T12:00:00Z)`, usage());
  return since;
}

/** `from-feedback <pointer>`: the next dataset from the labelled captures in the store. */
async function fromFeedback({ target, v, d, at, store, bucket }: Sub): Promise<number> {
  if (!store || !bucket) {
    throw new ProjectError(
      'USAGE',
      `from-feedback reads labels and captured images from the object store, and ${store ? 'OBJECT_STORE_BUCKET is not set' : 'none is configured'}`,
      {
        subject: 'OBJECT_STORE_BUCKET',
        hint: `set ${OBJECT_STORE_ENV.slice(0, 5).join(', ')} as the serving Deployment has them (docs/object-store.md)`,
      },
    );
  }
  const since = sinceOf(v);
  const r = await datasetFromFeedback({
    pointerPath: at(target),
    ...(v['out-pointer'] ? { outPointerPath: at(v['out-pointer']) } : {}),
    ...(v.name ? { name: v.name } : {}),
    ...(v.model ? { model: v.model } : {}),
    ...(since ? { since } : {}),
    store,
    bucket,
    ...(d.fetch ? { fetch: d.fetch } : {}),
    log: (line) => d.print(`${line}\n`),
  });
  if (r.status === 'no-labels') {
    throw new ProjectError(
      'NOT_FOUND',
      `no labels in ${r.labelsFrom}${v.model ? ` for model ${v.model}` : ''}${since ? ` recorded since ${since.toISOString()}` : ''}: no new dataset`,
      {
        subject: r.labelsFrom,
        hint: 'labels come from POST /feedback of a server with the object store configured (docs/capture.md); check --since, --model and OBJECT_STORE_BUCKET',
      },
    );
  }
  d.print(`${summarizeFromFeedback(r)}\n`);
  if (r.status === 'nothing-new') {
    d.print(`nothing new to add: ${target} unchanged\n`);
    return 0;
  }
  const p = r.pointer!;
  d.print(
    `wrote ${r.pointerPath}: dataset ${p.name}, ${p.uri} (sha256 ${p.sha256}), digest ${p.digest} (was ${r.base.digest})\nnext: commit the pointer\n`,
  );
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
