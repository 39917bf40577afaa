/**
 * Tar archives, streamed with tar-stream (one entry in memory at a time, names
 * of any length through pax headers): reading a .tar or .tar.gz file entry by
 * entry, and writing a deterministic .tar.gz (the same files give the same
 * bytes: fixed mode, owner and time). The safety rules (which names may be
 * extracted where) stay with the callers: ./pointer.ts, ./cifar10.ts.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { ProjectError } from '../../platform/index.ts';

/** One file to archive: its POSIX path inside the archive and its bytes. */
export interface TarFile {
  name: string;
  data: Uint8Array;
}

/** An entry as read: its path, its type as tar-stream names it ('file', 'directory', 'symlink', ...) and size. */
export interface TarEntryHeader {
  name: string;
  type: string;
  size: number;
}

/** True when the file starts with gzip's magic bytes. */
export async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** INVALID for a damaged archive, naming `what` and what was wrong; a ProjectError (the caller's) passes. */
function damaged(e: unknown, what: string, gzip: boolean): ProjectError {
  if (e instanceof ProjectError) return e;
  const message = (e as Error).message ?? String(e);
  const truncated = /unexpected end/i.test(message);
  return new ProjectError(
    'INVALID',
    truncated
      ? `${what}: truncated ${gzip ? 'gzip' : 'tar'} archive (${message})`
      : `${what}: not a readable ${gzip ? 'tar.gz' : 'tar'} archive (${message})`,
    { subject: what, hint: 'delete the download and fetch it again', cause: e },
  );
}

/**
 * Read the tar (or gzip-compressed tar) file at `path` entry by entry:
 * `onEntry` gets each entry's header and its body, a stream it may read (what
 * it leaves is skipped). INVALID naming `what` (the archive's URL or path)
 * for a truncated or damaged archive.
 */
export async function readTarFile(
  path: string,
  what: string,
  onEntry: (header: TarEntryHeader, body: Readable) => Promise<void>,
): Promise<void> {
  const gzip = await isGzip(path);
  const entries = extract();
  const feeding = pipeline(createReadStream(path), ...(gzip ? [createGunzip()] : []), entries);
  // The loop below reports the error; this keeps a failed feed from being unhandled meanwhile.
  feeding.catch(() => undefined);
  try {
    for await (const entry of entries) {
      const h = entry.header;
      await onEntry(
        { name: h.name, type: h.type ?? 'file', size: h.size ?? 0 },
        entry as unknown as Readable,
      );
      entry.resume();
    }
    await feeding;
  } catch (e) {
    entries.destroy();
    throw damaged(e, what, gzip);
  }
}

/** The whole body of an entry (for the small files that are read whole). */
export async function readBody(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Feed `files` into a tar-stream pack, one at a time, with fixed header fields. */
async function packFiles(packer: ReturnType<typeof pack>, files: Iterable<TarFile> | AsyncIterable<TarFile>) {
  try {
    for await (const f of files) {
      await new Promise<void>((resolve, reject) => {
        packer.entry(
          {
            name: f.name,
            size: f.data.length,
            mode: 0o644,
            mtime: new Date(0),
            uid: 0,
            gid: 0,
            type: 'file',
          },
          Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength),
          (err) => (err ? reject(err) : resolve()),
        );
      });
    }
    packer.finalize();
  } catch (e) {
    packer.destroy(e as Error);
  }
}

/**
 * Write `files`, in the order given, as a gzip-compressed tar to `path`,
 * streaming (one file in memory at a time). Deterministic: mode 0644, owner
 * 0, time 0, so the same files give the same bytes.
 */
export async function writeTarGz(
  path: string,
  files: Iterable<TarFile> | AsyncIterable<TarFile>,
  options: { level?: number } = {},
): Promise<void> {
  const packer = pack();
  await Promise.all([
    packFiles(packer, files),
    pipeline(packer, createGzip({ level: options.level ?? 9 }), createWriteStream(path)),
  ]);
}

/** An uncompressed tar of `files`, in memory: for tests and small archives. */
export async function tarBytes(files: readonly TarFile[]): Promise<Uint8Array> {
  const packer = pack();
  const [, out] = await Promise.all([packFiles(packer, files), readBody(packer as unknown as Readable)]);
  return new Uint8Array(out);
}
