/**
 * The `images:` of a kustomization (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/images/):
 * where the training Job's template records the trainer image that image.yml
 * built on main, by digest, and where `npm run train -- --on kubernetes` reads
 * its default image. Edited as a YAML document, so comments and order stay.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { isDigestRef, isImageRef } from '../model/pin.ts';
import { ProjectError } from '../platform/errors.ts';
import { writeFileAtomic } from '../platform/fs.ts';

/** The kustomization file of a folder. */
export const kustomizationOf = (dir: string): string => join(dir, 'kustomization.yaml');

/** Split `registry/name[:tag]@sha256:hex` into the name (with registry) and the digest. */
function splitDigestRef(ref: string): { name: string; digest: string } {
  const [withTag, digest] = ref.split('@') as [string, string];
  const name = withTag.replace(/:[^/:]+$/, '');
  return { name, digest };
}

/**
 * Point the `images:` entry named `name` of `dir`'s kustomization at `ref`
 * (`registry/image@sha256:…`): `newName` and `digest`, any `newTag` removed.
 * Resolves false when it was already so (nothing written).
 */
export async function setKustomizeImage(dir: string, name: string, ref: string): Promise<boolean> {
  if (!isImageRef(ref) || !isDigestRef(ref)) {
    throw new ProjectError(
      'USAGE',
      `${ref} is not an image reference by digest (registry/name@sha256:<hex>)`,
      {
        subject: ref,
      },
    );
  }
  const file = kustomizationOf(dir);
  const text = await readFile(file, 'utf8');
  const doc = parseDocument(text);
  const images = doc.get('images') as
    | { items?: { get(k: string): unknown; set(k: string, v: unknown): void; delete(k: string): void }[] }
    | undefined;
  const entry = images?.items?.find((i) => i.get('name') === name);
  if (!entry) {
    throw new ProjectError('NOT_FOUND', `${file} has no images entry named ${name}`, {
      subject: file,
      hint: `add "images: [{name: ${name}}]" to it`,
    });
  }
  const { name: newName, digest } = splitDigestRef(ref);
  entry.set('newName', newName);
  entry.delete('newTag');
  entry.set('digest', digest);
  const out = doc.toString({ lineWidth: 0 });
  if (out === text) return false;
  await writeFileAtomic(file, out);
  return true;
}

/** The image the `images:` entry `name` of `dir`'s kustomization sets, when it pins one by digest. */
export async function kustomizeImageOf(dir: string, name: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(kustomizationOf(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const images = (
    parseDocument(text).toJS() as { images?: { name?: string; newName?: string; digest?: string }[] }
  ).images;
  const entry = images?.find((i) => i.name === name);
  return entry?.digest ? `${entry.newName ?? name}@${entry.digest}` : undefined;
}
