/**
 * Sigstore's trusted root (Fulcio's CA, Rekor's and the CT log's keys) from
 * a file: what a process without access to Sigstore's TUF repository uses to
 * verify keyless signatures (the server's SERVING_SIGSTORE_TRUSTED_ROOT, a
 * trusted_root.json kept current by whoever runs it: `sigstore` CLIs write
 * one; docs/signing.md).
 */
import { readFile } from 'node:fs/promises';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { ProjectError } from '../../platform/errors.ts';
import { parseJsonText } from '../../platform/json-text.ts';

export async function readTrustedRoot(path: string): Promise<TrustedRoot> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ProjectError(
      'NOT_FOUND',
      `${path}: Sigstore trusted root cannot be read (${e.code ?? e.message})`,
      {
        subject: path,
        cause: e,
      },
    );
  });
  const { TrustedRoot } = await import('@sigstore/protobuf-specs');
  try {
    return TrustedRoot.fromJSON(parseJsonText(text, path));
  } catch (e) {
    if (e instanceof ProjectError) throw e;
    throw new ProjectError('INVALID', `${path}: not a Sigstore trusted root (${(e as Error).message})`, {
      subject: path,
      cause: e,
    });
  }
}
