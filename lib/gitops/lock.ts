/**
 * The part of models.lock.json that rendering needs (docs/contracts.md, "models.lock.json"):
 * each model's pins and, per version, the artifact URI and digests a pin must
 * carry. lib/lock owns the full schema; this reads only what it checks.
 */
import { readJsonFile } from '../fs.ts';
import { compileValidator } from '../schema.ts';

/** One model version as the pin needs it (the lock entry's other fields are ignored). */
export interface LockVersionEntry {
  artifactUri: string;
  digests: Record<string, string>;
  rootDigest: string;
}

export interface LockModel {
  pins?: Record<string, string>;
  versions: Record<string, LockVersionEntry>;
}

export interface PinsLock {
  lockfileVersion: 1;
  models: Record<string, LockModel>;
}

const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' };

const validateLock = compileValidator<PinsLock>({
  type: 'object',
  required: ['lockfileVersion', 'models'],
  properties: {
    lockfileVersion: { const: 1 },
    models: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['versions'],
        properties: {
          pins: { type: 'object', additionalProperties: { type: 'string' } },
          versions: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['artifactUri', 'digests', 'rootDigest'],
              properties: {
                artifactUri: { type: 'string', minLength: 1 },
                digests: { type: 'object', minProperties: 1, additionalProperties: hex64 },
                rootDigest: hex64,
              },
            },
          },
        },
      },
    },
  },
});

/** Read and check models.lock.json; errors name the file and every offending field. */
export async function readPinsLock(lockPath: string): Promise<PinsLock> {
  return validateLock(await readJsonFile(lockPath), lockPath);
}
