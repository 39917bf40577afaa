import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ProjectError } from './errors.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

/** One shared Ajv instance: all errors, strict schemas, defaults applied. */
export const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true, useDefaults: true }));

/**
 * Render ajv errors as one line per offending field, naming the field path;
 * a key that breaks `propertyNames` is named (ajv's own summary line,
 * "property name must be valid", is left out).
 */
export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).flatMap((e) => {
    const at = e.instancePath || '/';
    if (e.keyword === 'propertyNames') return [];
    if (e.propertyName !== undefined)
      return [`${at}: key "${e.propertyName}" ${e.message ?? 'is not allowed'}`];
    if (e.keyword === 'additionalProperties') {
      return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    }
    if (e.keyword === 'required') {
      return `${at}: missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    }
    return `${at}: ${e.message ?? e.keyword}`;
  });
}

/**
 * Compile a schema once (on the first call; declare it at module load) and return a function that
 * validates, returning the typed value or throwing a ProjectError('INVALID')
 * that names every offending field of `what` (a file path or a description).
 */
export function compileValidator<T>(schema: object): (value: unknown, what: string) => T {
  // Compiled on first use: a module's validators cost a process nothing until it validates
  // (the server's start-up compiles only the schemas it checks: bench/serving/startup.ts).
  let validate: ValidateFunction | undefined;
  return (value: unknown, what: string): T => {
    validate ??= ajv.compile(schema);
    if (validate(value)) return value as T;
    const lines = formatAjvErrors(validate.errors);
    throw new ProjectError('INVALID', `${what} is invalid:\n${lines.map((l) => `  - ${l}`).join('\n')}`, {
      subject: what,
      details: validate.errors,
    });
  };
}

/**
 * The variables of `env` that `wanted` takes (a list of names, or a test of a
 * name such as a prefix), those set to a non-empty value: what an environment
 * schema validates (an empty variable counts as unset).
 */
export function setVariables(
  env: Record<string, string | undefined>,
  wanted: readonly string[] | ((name: string) => boolean),
): Record<string, string> {
  const takes = typeof wanted === 'function' ? wanted : (name: string) => wanted.includes(name);
  const picked: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (takes(k) && v !== undefined && v !== '') picked[k] = v;
  return picked;
}
