/**
 * Request bodies with limits: a raw body read up to `maxBytes` (413 past it,
 * told by Content-Length before reading when it is there),
 * multipart/form-data files through @fastify/busboy (the maintained fork of
 * busboy), a JSON body parsed, and the one
 * error for a Content-Type a route does not take.
 *
 * Every stream involved (the request, busboy, each file part) has an `error`
 * listener, and every way a body can end early (client abort, truncated form,
 * reset) settles the promise with a ProjectError: an unhandled stream error
 * would take the whole process down, and a promise that never settles would
 * hold `serving_http_requests_in_flight` up for ever.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7578 multipart/form-data
 */
import type { IncomingMessage } from 'node:http';
import { Busboy, type BusboyFileStream, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import { ProjectError, parseNamedJson } from '../platform/index.ts';

function tooLarge(maxBytes: number, what = 'request body'): ProjectError {
  return new ProjectError('TOO_LARGE', `${what} is over the limit of ${maxBytes} bytes`, {
    subject: what,
    hint: 'send a smaller image (or fewer images per request)',
    details: { maxBytes },
  });
}

/** The client went away (or the connection broke) before the whole body arrived. */
export function bodyAborted(cause?: unknown): ProjectError {
  return new ProjectError('INVALID', 'the request body ended before it was complete (connection closed)', {
    subject: 'request body',
    hint: 'send the whole body, with a Content-Length that matches it',
    ...(cause !== undefined ? { cause } : {}),
  });
}

/**
 * Where a request's body bytes are reserved from the process's budget
 * (serving/budget.ts): throws OVERLOADED when they do not fit; what it
 * reserved is given back when the request is done (routes/middleware.ts
 * `bodyBudget`).
 */
export type ReserveBytes = (bytes: number) => void;

/**
 * Read the whole body, refusing more than `maxBytes`. With `reserve`, the
 * bytes are reserved as they arrive (all of a declared Content-Length at
 * once), so stalled uploads cannot hold more memory than the budget.
 */
export async function readRawBody(
  req: IncomingMessage,
  maxBytes: number,
  reserve?: ReserveBytes,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  let reserved = 0;
  if (reserve && Number.isFinite(declared) && declared > 0) {
    reserve(declared);
    reserved = declared;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) throw tooLarge(maxBytes);
      if (reserve && total > reserved) {
        reserve(total - reserved);
        reserved = total;
      }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof ProjectError) throw e;
    throw bodyAborted(e);
  }
  // An aborted request can end the iteration without an error on some Node versions.
  if (!req.complete) throw bodyAborted();
  return Buffer.concat(chunks);
}

/** What a multipart body may hold: its file bytes in all, and how many files. */
interface MultipartLimits {
  maxBytes: number;
  maxFiles: number;
}

/** INVALID for a multipart/form-data body that busboy cannot parse, with busboy's reason. */
function unparseable(e: Error, hint?: string): ProjectError {
  return new ProjectError('INVALID', `multipart/form-data body cannot be parsed: ${e.message}`, {
    hint,
    cause: e,
  });
}

/**
 * The files of field `field` in a multipart/form-data body. One promise that
 * every way the body can end (busboy's events, each file stream, the
 * request's abort or error) settles once, through the state its listeners
 * share (`MultipartRead`).
 */
export function readMultipartFiles(
  req: IncomingMessage,
  field: string,
  limits: MultipartLimits,
  reserve?: ReserveBytes,
): Promise<Buffer[]> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes)
    return Promise.reject(tooLarge(limits.maxBytes));
  try {
    // A multipart body is reserved at its declared length, or file chunk by file chunk below.
    if (reserve && Number.isFinite(declared) && declared > 0) reserve(declared);
  } catch (e) {
    return Promise.reject(e);
  }
  const chunked = reserve && !(Number.isFinite(declared) && declared > 0) ? reserve : undefined;
  return new Promise((resolve, reject) => {
    let bb: BusboyInstance;
    try {
      bb = new Busboy({
        headers: req.headers as BusboyHeaders,
        limits: {
          fileSize: limits.maxBytes,
          files: limits.maxFiles,
          fields: 16,
          parts: limits.maxFiles + 16,
        },
      });
    } catch (e) {
      reject(unparseable(e as Error));
      return;
    }
    const read = startMultipartRead(req, bb, resolve, reject);
    listenToBusboy(read, bb, { field, limits, chunked });
    req.pipe(bb);
  });
}

/** What the listeners of one multipart read share. */
interface MultipartRead {
  /** The files of the wanted field, in the order they ended. */
  readonly files: Buffer[];
  /** The first failure noted; the read settles with it once busboy is done (or the request ends). */
  failed: ProjectError | undefined;
  /** The bytes of every file part so far, counted against `maxBytes`. */
  total: number;
  /** Note a failure (the first one counts) without settling: the rest of the body is still parsed. */
  fail(e: ProjectError): void;
  /** Settle once; on failure stop feeding busboy and throw away the rest of the body. */
  finish(error: ProjectError | undefined): void;
}

/**
 * The shared state of a multipart read, with the request's listeners on:
 * an abort, an error, or a close before the body was complete settle the
 * read (with the failure noted first, if any), and settling takes them off.
 */
function startMultipartRead(
  req: IncomingMessage,
  bb: BusboyInstance,
  resolve: (files: Buffer[]) => void,
  reject: (e: ProjectError) => void,
): MultipartRead {
  let settled = false;
  const read: MultipartRead = {
    files: [],
    failed: undefined,
    total: 0,
    fail: (e) => {
      read.failed ??= e;
    },
    finish: (error) => {
      if (settled) return;
      settled = true;
      cleanup();
      if (error) {
        req.unpipe(bb);
        bb.removeAllListeners('file');
        bb.on('error', () => undefined); // late errors from a half-parsed form are expected now
        if (!req.destroyed) req.resume();
        reject(error);
      } else {
        resolve(read.files);
      }
    },
  };
  const onAborted = () => read.finish(read.failed ?? bodyAborted());
  const onReqError = (e: Error) => read.finish(read.failed ?? bodyAborted(e));
  // 'close' before busboy finished: the connection went away mid-body.
  const onClose = () => {
    if (!req.complete) read.finish(read.failed ?? bodyAborted());
  };
  const cleanup = () => {
    req.off('aborted', onAborted);
    req.off('error', onReqError);
    req.off('close', onClose);
  };
  req.on('aborted', onAborted);
  req.on('error', onReqError);
  req.on('close', onClose);
  return read;
}

/** What busboy's listeners need to know of the read: which field, what limits, how to reserve undeclared bytes. */
interface MultipartWants {
  field: string;
  limits: MultipartLimits;
  /** Reserves file bytes as they arrive, when the body's length was not declared up front. */
  chunked: ReserveBytes | undefined;
}

/**
 * Busboy's listeners: each file part is collected (`collectFile`), too many
 * files is noted as TOO_LARGE, busboy's own error settles the read with the
 * first failure (else INVALID), and its finish settles it with the files.
 */
function listenToBusboy(read: MultipartRead, bb: BusboyInstance, wants: MultipartWants): void {
  bb.on('file', (name, stream) => collectFile(read, name, stream, wants));
  bb.on('filesLimit', () =>
    read.fail(
      new ProjectError('TOO_LARGE', `multipart body has more than ${wants.limits.maxFiles} files`, {
        hint: 'send fewer images per request',
      }),
    ),
  );
  bb.on('error', (e: Error) =>
    read.finish(
      read.failed ?? unparseable(e, 'send a complete multipart/form-data body with a file field "image"'),
    ),
  );
  bb.on('finish', () => read.finish(read.failed));
}

/**
 * One file part: its bytes count against `maxBytes` (and are reserved
 * as they arrive when the body's length was not declared), and those of
 * the wanted field are kept, as one Buffer once the part ends. Overflow
 * and stream errors are noted; a refused reservation settles the read.
 */
function collectFile(
  read: MultipartRead,
  name: string,
  stream: BusboyFileStream,
  { field, limits, chunked }: MultipartWants,
): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => {
    read.total += c.length;
    if (read.total > limits.maxBytes) return read.fail(tooLarge(limits.maxBytes));
    try {
      chunked?.(c.length);
    } catch (e) {
      return read.finish(e as ProjectError);
    }
    if (name === field) chunks.push(c);
  });
  stream.on('limit', () => read.fail(tooLarge(limits.maxBytes, `multipart field "${name}"`)));
  // A truncated form ("Unexpected end of multipart data") errors the file stream too; busboy
  // reports the same error on itself, where it settles the promise.
  stream.on('error', (e: Error) => read.fail(unparseable(e)));
  // Busboy finishes only after every file stream ended, so the last file is in.
  stream.on('end', () => {
    if (name === field) read.files.push(Buffer.concat(chunks));
  });
}

/** A JSON request body, parsed: INVALID for an empty body or one that does not parse. */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw new ProjectError('INVALID', 'request body is empty; expected a JSON object');
  return parseNamedJson(body.toString('utf8'), 'request body', {
    hint: 'send a JSON object with Content-Type: application/json',
  });
}

/** 415 for a request whose Content-Type (or its absence) the route does not take. */
export function unsupportedMedia(type: string): ProjectError {
  return new ProjectError(
    'UNSUPPORTED_MEDIA',
    type ? `Content-Type ${type} is not accepted` : 'the request has no Content-Type',
    {
      hint: 'send multipart/form-data with a file field "image", a raw image/png or image/jpeg body, or application/json {"images": ["<base64>", ...]}',
    },
  );
}

const withoutPadding = (s: string): string => {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */) end--;
  return s.slice(0, end);
};

/**
 * The bytes of a base64 image (a `data:...;base64,` prefix allowed), or
 * INVALID naming `what`: /predict's JSON images and v2's BYTES input.
 */
export function decodeBase64(s: string, what: string): Uint8Array {
  const prefixed = s.replace(/^data:[^;,]*;base64,/, '');
  // Fast path, native only (a 6 MB string in a few ms, where regular
  // expressions over it held the event loop for tens): Node skips characters
  // outside the alphabet, so a canonical re-encoding equal to the input
  // proves there were none.
  const fast = Buffer.from(prefixed, 'base64');
  if (withoutPadding(fast.toString('base64')) === withoutPadding(prefixed) && prefixed.length % 4 !== 1) {
    return new Uint8Array(fast.buffer, fast.byteOffset, fast.byteLength);
  }
  const body = prefixed.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 === 1) {
    throw new ProjectError('INVALID', `${what} is not base64`, {
      subject: what,
      hint: 'base64-encode the PNG or JPEG bytes',
    });
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}
