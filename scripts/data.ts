/**
 * Data pointers (docs/data.md): version a dataset in Git by a small pointer
 * file, the data itself in an archive at an HTTP(S) URL or in the object
 * store (`s3://bucket/key`).
 *
 *   npm run data -- pack <image folder> --uri <https URL of the archive> --archive <out.tar.gz>
 *                        [--name <dataset>] [--pointer data/<name>.json] [--description <text>]
 *   npm run data -- fetch <data/<name>.json> --into <folder>
 *
 * pack writes the archive and the pointer (commit it); an `s3://` --uri is
 * uploaded to the object store the environment configures (OBJECT_STORE_*,
 * AWS_*; never over an existing object), any other is yours to upload. fetch
 * downloads the archive, checks its sha256, extracts it and checks the
 * dataset digest, as training does. Exit 0, 1 failure, 2 bad usage.
 */
import { resolve } from 'node:path';
import {
  isMain,
  type ParsedCommand,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageError,
} from '../platform/cli.ts';
import { isS3Url, type ObjectStore, objectStoreFromEnv } from '../platform/object-store/index.ts';
import {
  materializeDataPointer,
  packDataPointer,
  readDataPointer,
  uploadDataArchive,
} from '../training/data/index.ts';

const USAGE = `usage: npm run data -- pack <image folder> --uri <url> --archive <out.tar.gz> [--name <dataset>]
                            [--pointer data/<name>.json] [--description <text>]
       npm run data -- fetch <data/<name>.json> --into <folder>`;

const STRING = { type: 'string' } as const;

/** What the command accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  positionals: 2,
  options: { uri: STRING, archive: STRING, name: STRING, pointer: STRING, description: STRING, into: STRING },
} as const;

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, d.print);
  if (!cli) return 0;
  // The object store the environment configures, for s3:// archives (closed when done).
  const store = objectStoreFromEnv(d.env);
  try {
    return await run(cli, d, store);
  } finally {
    store?.close();
  }
}

async function run(
  cli: ParsedCommand<typeof COMMAND.options>,
  d: ScriptDeps,
  store: ObjectStore | undefined,
): Promise<number> {
  const [command, target] = cli.positionals as [string, string];
  const v = cli.values;
  const at = (p: string) => resolve(d.cwd, p);
  if (command === 'pack') {
    if (!v.uri || !v.archive) throw usageError('pack needs --uri and --archive', USAGE);
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
  if (command === 'fetch') {
    if (!v.into) throw usageError('fetch needs --into <folder>', USAGE);
    const ds = await materializeDataPointer(await readDataPointer(at(target)), at(v.into), {
      pointerPath: target,
      ...(d.fetch ? { fetch: d.fetch } : {}),
      ...(store ? { objectStore: store } : {}),
    });
    d.print(`${v.into}: ${ds.items.length} images, ${ds.labels.length} classes, digest ${ds.digest.root}\n`);
    return 0;
  }
  throw usageError(`unknown command "${command}" (pack or fetch)`, USAGE);
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
