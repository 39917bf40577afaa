/**
 * The model version an environment is pinned to, read from models.lock.json
 * (`models.<name>.pins.<env>`, docs/contracts.md). Only the part of the lock
 * this needs is checked here; lib/lock owns the full schema.
 */
import { ProjectError } from '../errors.ts';
import { readJsonFile } from '../fs.ts';
import { compileValidator } from '../schema.ts';

interface LockPins {
  models: Record<string, { pins?: Record<string, string>; versions?: Record<string, unknown> }>;
}

const validatePins = compileValidator<LockPins>({
  type: 'object',
  required: ['models'],
  properties: {
    models: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          pins: { type: 'object', additionalProperties: { type: 'string' } },
          versions: { type: 'object' },
        },
      },
    },
  },
});

/** The pinned model of an environment. */
export interface PinnedModel {
  model: string;
  version: string;
}

/**
 * Read `models.<model>.pins.<env>` from a lock file. With no `model`, the lock
 * must hold exactly one model. Errors name the file, the model and the env.
 */
export async function readPinnedVersion(lockPath: string, env: string, model?: string): Promise<PinnedModel> {
  const lock = validatePins(await readJsonFile(lockPath), lockPath);
  const names = Object.keys(lock.models).sort();
  const name = model ?? (names.length === 1 ? names[0] : undefined);
  if (!name) {
    throw new ProjectError(
      'USAGE',
      `${lockPath} holds ${names.length} models (${names.join(', ') || 'none'}): say which with --model`,
      {
        subject: lockPath,
      },
    );
  }
  const entry = lock.models[name];
  if (!entry) {
    throw new ProjectError(
      'NOT_FOUND',
      `${lockPath}: no model "${name}" (models: ${names.join(', ') || 'none'})`,
      {
        subject: lockPath,
      },
    );
  }
  const version = entry.pins?.[env];
  if (!version) {
    throw new ProjectError('NOT_FOUND', `${lockPath}: model ${name} has no pin for environment "${env}"`, {
      subject: lockPath,
      hint: `promote a version to ${env} first (npm run promote -- --env ${env}), or pass --version`,
    });
  }
  return { model: name, version };
}
