/**
 * Data mirrors: where a data archive can be had when its canonical URL (the
 * `uri` of a data pointer, the official CIFAR-10 URL) cannot be reached or
 * should not be: an air-gapped runner, a laptop with a copy on disk, a
 * company mirror. The mapping is the USER's, configured outside the
 * repository, as pip's `index-url` or Go's `GOPROXY` are; the repository keeps
 * the canonical URL and the digests, and the checksum check is the same
 * whichever place served the bytes (./download.ts).
 *
 * Two places, read once per process, rules of the first tried first:
 *
 *   1. `GITOPS_ML_DATA_MIRRORS`: rules separated by whitespace or `;`, each
 *      `<match>=<target>`.
 *   2. `$XDG_CONFIG_HOME/gitops-ml/data-mirrors.json` (else
 *      `~/.config/gitops-ml/data-mirrors.json`; `GITOPS_ML_DATA_MIRRORS_FILE`
 *      names another file): `{ "mirrors": [{ "match": ..., "target": ... }] }`.
 *
 * A `match` is a URL prefix (`https://data.example.com/datasets/`,
 * `s3://datasets/`) or a content digest (`sha256:<64 hex>`, `md5:<32 hex>`:
 * the checksum the caller expects). A `target` is an http(s) URL, an
 * `s3://bucket/prefix` in the configured object store (platform/object-store),
 * or a local path (absolute, or `file://`). For a prefix rule the rest of the URL is appended to the target
 * (so a folder or a mirror URL ending in `/` mirrors a whole tree); for a
 * digest rule a target ending in `/` gets the URL's file name, any other
 * target is the file itself. Every matching rule is tried in order, then the
 * canonical URL; a place that does not have the file is skipped (and named if
 * all fail), a place that serves other bytes fails the download.
 *
 * @see https://pip.pypa.io/en/stable/topics/configuration/ the same idea for packages
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileValidator, ProjectError, userConfigPath } from '../../platform/index.ts';
import { isS3Url, parseS3Url } from '../../platform/object-store/index.ts';

/** One mirror rule. */
export interface MirrorRule {
  /** A URL prefix (http://, https:// or s3://), or `sha256:<hex>` / `md5:<hex>`. */
  match: string;
  /** An http(s) URL, an s3:// URL in the object store, or a local path (absolute or file://). */
  target: string;
  /** Free text (the file form only). */
  description?: string;
  /** Where the rule was configured, for messages. */
  from?: string;
}

/** The user's mirror configuration. */
export interface DataMirrors {
  rules: MirrorRule[];
  /** Where the rules were read from (for messages). */
  sources: string[];
}

/** One place to try for a download, in order. */
export type MirrorCandidate =
  | { kind: 'http'; url: string; rule?: MirrorRule }
  | { kind: 's3'; uri: string; rule?: MirrorRule }
  | { kind: 'file'; path: string; rule?: MirrorRule };

/** The environment variable with inline rules. */
export const MIRRORS_ENV = 'GITOPS_ML_DATA_MIRRORS';
/** The environment variable naming another rules file. */
export const MIRRORS_FILE_ENV = 'GITOPS_ML_DATA_MIRRORS_FILE';
/** Where docs/data.md explains it: named in every message about a missing archive. */
export const MIRRORS_DOC = 'docs/data.md#mirrors-and-local-copies';

const DIGEST = /^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})$/;
const HTTP = /^https?:\/\//;
/** What a rule may match on: a URL prefix the download can be asked for. */
const URL_PREFIX = /^(https?|s3):\/\//;

const validateFile = compileValidator<{ mirrors: MirrorRule[] }>({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['mirrors'],
  properties: {
    $schema: { type: 'string' },
    mirrors: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['match', 'target'],
        properties: {
          match: { type: 'string', pattern: '^((https?|s3)://.+|sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})$' },
          target: { type: 'string', pattern: '^((https?|s3)://.+|file:///.*|/.*)$' },
          description: { type: 'string' },
        },
      },
    },
  },
});

const RULE_HINT = `write rules as <URL prefix or sha256:hex>=<http(s) or s3:// URL, or absolute path> (${MIRRORS_DOC})`;

/** An s3:// match or target: a bucket and key prefix, never credentials (platform/object-store parseS3Url). */
function s3Problem(url: string): string | undefined {
  if (!isS3Url(url)) return undefined;
  try {
    parseS3Url(url, { prefix: true });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function checkRule(rule: MirrorRule): MirrorRule {
  const bad = !(URL_PREFIX.test(rule.match) || DIGEST.test(rule.match))
    ? `match "${rule.match}" is neither an http(s) or s3:// URL prefix nor sha256:<64 hex> / md5:<32 hex>`
    : !(URL_PREFIX.test(rule.target) || rule.target.startsWith('file:///') || isAbsolute(rule.target))
      ? `target "${rule.target}" is neither an http(s) or s3:// URL nor an absolute path`
      : (s3Problem(rule.match) ?? s3Problem(rule.target));
  if (bad) {
    throw new ProjectError('INVALID', `${rule.from ?? 'data mirror'}: ${bad}`, {
      subject: rule.from ?? MIRRORS_ENV,
      hint: RULE_HINT,
    });
  }
  return rule;
}

/** Parse the inline form: `<match>=<target>` rules separated by whitespace or `;`. */
export function parseMirrorRules(text: string, from = MIRRORS_ENV): MirrorRule[] {
  return text
    .split(/[\s;]+/)
    .filter((s) => s !== '')
    .map((entry) => {
      // The match never contains '=' before its end; the target may (a query string).
      const m = /^((?:https?|s3):\/\/[^=]+|sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})=(.+)$/.exec(entry);
      if (!m) {
        throw new ProjectError('INVALID', `${from}: cannot read mirror rule "${entry}"`, {
          subject: from,
          hint: RULE_HINT,
        });
      }
      return checkRule({ match: m[1] as string, target: m[2] as string, from });
    });
}

/** The default rules file: `$XDG_CONFIG_HOME/gitops-ml/data-mirrors.json`, else under ~/.config. */
export function defaultMirrorsFile(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  return env[MIRRORS_FILE_ENV] ?? userConfigPath('data-mirrors.json', env, home);
}

/**
 * Read the user's mirror configuration: the env rules, then the file's.
 * A missing file is no rules; a file that is not valid is an INVALID error
 * naming it (a typo must not silently send downloads elsewhere).
 */
export function loadDataMirrors(env: NodeJS.ProcessEnv = process.env, home = homedir()): DataMirrors {
  const rules: MirrorRule[] = [];
  const sources: string[] = [];
  const inline = env[MIRRORS_ENV];
  if (inline?.trim()) {
    rules.push(...parseMirrorRules(inline));
    sources.push(MIRRORS_ENV);
  }
  const file = defaultMirrorsFile(env, home);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || env[MIRRORS_FILE_ENV]) {
      throw new ProjectError('INVALID', `${file}: cannot read the data mirrors file (${code})`, {
        subject: file,
        hint: `fix or remove it (${MIRRORS_DOC})`,
        cause: e,
      });
    }
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ProjectError('INVALID', `${file}: not JSON (${(e as Error).message})`, {
        subject: file,
        hint: `see ${MIRRORS_DOC} for its format`,
        cause: e,
      });
    }
    for (const r of validateFile(parsed, file).mirrors) rules.push(checkRule({ ...r, from: file }));
    sources.push(file);
  }
  return { rules, sources };
}

let cached: DataMirrors | undefined;

/** The user's mirror configuration of this process ({@link loadDataMirrors}, read once). */
export function userDataMirrors(): DataMirrors {
  cached ??= loadDataMirrors();
  return cached;
}

function localPath(target: string): string {
  return target.startsWith('file://') ? fileURLToPath(target) : target;
}

/**
 * The place a rule sends `rest` (the part of the URL after the rule's prefix,
 * or the file name) to. `decoded`: `rest` as a file name (an http(s) URL's
 * path is percent-decoded; an s3:// key is taken byte for byte).
 */
function candidateFor(target: string, rest: string, decoded: string, rule: MirrorRule): MirrorCandidate {
  if (HTTP.test(target)) return { kind: 'http', url: `${target}${rest}`, rule };
  if (isS3Url(target)) return { kind: 's3', uri: `${target}${decoded}`, rule };
  const base = localPath(target);
  const path = decoded === '' ? base : join(base, ...decoded.split('/'));
  return { kind: 'file', path, rule };
}

/** The canonical place itself: over HTTP, or in the object store. */
const canonical = (url: string): MirrorCandidate =>
  isS3Url(url) ? { kind: 's3', uri: url } : { kind: 'http', url };

/**
 * Where to look for `url`, whose checksum is `checksum` (`sha256:<hex>` or
 * `md5:<hex>`, as ./download.ts takes it): every matching mirror rule in
 * order, then the URL itself.
 */
export function mirrorCandidates(
  url: string,
  checksum: string | undefined,
  mirrors: DataMirrors,
): MirrorCandidate[] {
  const out: MirrorCandidate[] = [];
  const s3 = isS3Url(url);
  const decode = (rest: string) => (s3 ? rest : decodeURIComponent(rest));
  const name = s3 ? posix.basename(parseS3Url(url).key) : decode(posix.basename(new URL(url).pathname));
  const digest = checksum?.toLowerCase();
  for (const rule of mirrors.rules) {
    if (DIGEST.test(rule.match)) {
      if (rule.match !== digest) continue;
      const whole = !rule.target.endsWith('/');
      out.push(candidateFor(rule.target, whole ? '' : encodeURIComponent(name), whole ? '' : name, rule));
    } else if (url.startsWith(rule.match)) {
      const rest = url.slice(rule.match.length);
      out.push(candidateFor(rule.target, rest, decode(rest), rule));
    }
  }
  out.push(canonical(url));
  return out;
}

/**
 * A local copy the mirrors name for `url` that exists on disk now, or the
 * first http(s) mirror; undefined when no rule matches (tests that need a
 * real archive use this to say whether it can be had: testing/services.ts).
 */
export function configuredMirror(
  url: string,
  checksum: string | undefined,
  mirrors: DataMirrors,
): string | undefined {
  for (const c of mirrorCandidates(url, checksum, mirrors)) {
    if (c.rule === undefined) continue;
    if (c.kind === 'http') return c.url;
    if (c.kind === 's3') return c.uri;
    try {
      if (statSync(c.path).isFile()) return c.path;
    } catch {
      // not there: the next rule
    }
  }
  return undefined;
}
