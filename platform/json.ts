import { ProjectError } from './errors.ts';

/**
 * Deterministic JSON: object keys sorted at every depth, two-space indent,
 * trailing newline. Used for every file a human diffs (lock file, reports,
 * artifact metadata) so that the same content always gives the same bytes.
 */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeysDeep(v);
    }
    return out;
  }
  return value;
}

export function stableStringify(value: unknown): string {
  return `${JSON.stringify(sortKeysDeep(value), null, 2)}\n`;
}

/**
 * `JSON.parse` of text that `what` names: INVALID `<what> is not valid JSON: <why>`
 * otherwise, with `subject` (default `what`) and `hint`. For strict parsing of a
 * file a human edits (file:line:column, repeated keys refused) see ./json-text.ts.
 */
export function parseNamedJson(
  text: string,
  what: string,
  o: { subject?: string; hint?: string } = {},
): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ProjectError('INVALID', `${what} is not valid JSON: ${(e as Error).message}`, {
      subject: o.subject ?? what,
      hint: o.hint,
      cause: e,
    });
  }
}
