/**
 * A small reader and writer of POSIX ustar archives, enough for the CIFAR-10
 * archive (regular files and folders; GNU long names and pax `path` records
 * are honoured). The writer exists so tests can build archives of the same
 * format.
 *
 * @see https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06 ustar header
 */
import { ProjectError } from '../../platform/index.ts';

export interface TarEntry {
  /** POSIX path inside the archive. */
  name: string;
  /** '0' regular file, '5' folder, others as in the header. */
  type: string;
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number, what: string): number {
  const text = field(block, offset, length).trim();
  const value = text === '' ? 0 : Number.parseInt(text, 8);
  if (!Number.isFinite(value)) {
    throw new ProjectError('INVALID', `${what}: bad tar header (size "${text}")`, { subject: what });
  }
  return value;
}

function paxPath(data: Uint8Array): string | undefined {
  // Records are "<len> <key>=<value>\n".
  for (const line of decoder.decode(data).split('\n')) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Every entry of an uncompressed tar archive. `what` (the archive's path or
 * URL) is named in errors.
 */
export function readTar(archive: Uint8Array, what = 'archive'): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    const size = octal(header, 124, 12, what);
    const type = field(header, 156, 1) || '0';
    const prefix = field(header, 257, 6).startsWith('ustar') ? field(header, 345, 155) : '';
    let name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const start = offset + BLOCK;
    if (start + size > archive.length) {
      throw new ProjectError('INVALID', `${what}: truncated tar archive (entry "${name}" is cut short)`, {
        subject: what,
        hint: 'delete the download and fetch it again',
      });
    }
    const data = archive.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = field(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data) ?? longName;
      continue;
    }
    if (type === 'g') continue;
    if (longName !== undefined) {
      name = longName;
      longName = undefined;
    }
    entries.push({ name, type: type === '\0' ? '0' : type, data });
  }
  return entries;
}

function writeField(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > length) throw new ProjectError('INVALID', `tar field too long: "${value}"`);
  block.set(bytes, offset);
}

const octalField = (value: number, length: number): string =>
  `${value.toString(8).padStart(length - 1, '0')}\0`;

/** Build an uncompressed ustar archive of regular files (names up to 100 bytes). */
export function writeTar(files: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const f of files) {
    const header = new Uint8Array(BLOCK);
    writeField(header, 0, 100, f.name);
    writeField(header, 100, 8, octalField(0o644, 8));
    writeField(header, 108, 8, octalField(0, 8));
    writeField(header, 116, 8, octalField(0, 8));
    writeField(header, 124, 12, octalField(f.data.length, 12));
    writeField(header, 136, 12, octalField(0, 12));
    writeField(header, 148, 8, '        '); // checksum is computed with this field as spaces
    writeField(header, 156, 1, '0');
    writeField(header, 257, 6, 'ustar\0');
    writeField(header, 263, 2, '00');
    const sum = header.reduce((a, b) => a + b, 0);
    writeField(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header);
    const body = new Uint8Array(Math.ceil(f.data.length / BLOCK) * BLOCK);
    body.set(f.data);
    blocks.push(body);
  }
  blocks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
