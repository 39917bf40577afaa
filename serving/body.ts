/**
 * Request bodies with limits: a raw body read up to `maxBytes` (413 past it,
 * told by Content-Length before reading when it is there), and
 * multipart/form-data files through busboy.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7578 multipart/form-data
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { ProjectError } from '../lib/index.ts';

function tooLarge(maxBytes: number, what = 'request body'): ProjectError {
  return new ProjectError('TOO_LARGE', `${what} is over the limit of ${maxBytes} bytes`, {
    subject: what,
    hint: 'send a smaller image (or fewer images per request)',
    details: { maxBytes },
  });
}

/** Read the whole body, refusing more than `maxBytes`. */
export async function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The files of field `field` in a multipart/form-data body. */
export function readMultipartFiles(
  req: IncomingMessage,
  field: string,
  limits: { maxBytes: number; maxFiles: number },
): Promise<Buffer[]> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes)
    return Promise.reject(tooLarge(limits.maxBytes));
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: {
          fileSize: limits.maxBytes,
          files: limits.maxFiles,
          fields: 16,
          parts: limits.maxFiles + 16,
        },
      });
    } catch (e) {
      reject(
        new ProjectError('INVALID', `multipart/form-data body cannot be parsed: ${(e as Error).message}`),
      );
      return;
    }
    const files: Buffer[] = [];
    let failed: ProjectError | undefined;
    let total = 0;
    const fail = (e: ProjectError) => {
      failed ??= e;
    };
    bb.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => {
        total += c.length;
        if (total > limits.maxBytes) fail(tooLarge(limits.maxBytes));
        else if (name === field) chunks.push(c);
      });
      stream.on('limit', () => fail(tooLarge(limits.maxBytes, `multipart field "${name}"`)));
      stream.on('close', () => {
        if (name === field) files.push(Buffer.concat(chunks));
      });
    });
    bb.on('filesLimit', () =>
      fail(
        new ProjectError('TOO_LARGE', `multipart body has more than ${limits.maxFiles} files`, {
          hint: 'send fewer images per request',
        }),
      ),
    );
    bb.on('error', (e: Error) =>
      reject(
        failed ?? new ProjectError('INVALID', `multipart/form-data body cannot be parsed: ${e.message}`),
      ),
    );
    bb.on('close', () => {
      if (failed) reject(failed);
      else resolve(files);
    });
    req.pipe(bb);
  });
}
