/**
 * Schemas of custom resources that no kubernetes-models package covers,
 * taken from the CustomResourceDefinitions their project ships: Argo
 * Rollouts' Rollout and AnalysisTemplate (manifests/crds/ of
 * github.com/argoproj/argo-rollouts at the version scripts/setup.d/64-argo-rollouts.sh
 * builds). The `openAPIV3Schema` of each served version is kept, as the CRD
 * has it, in crd-schemas/<file>.json, so rendering needs neither the Go
 * build nor a network; `npm run crd-schemas` regenerates the file from the
 * set-up step's copy of the CRDs, and crd-schemas.test.ts checks that the
 * two agree.
 *
 * Validation follows the API server's strict field validation (what
 * `kubectl apply` asks for since Kubernetes 1.27): a field the schema does
 * not declare is an error, except under `x-kubernetes-preserve-unknown-fields`.
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../platform/errors.ts';
import { stableStringify } from '../platform/json.ts';
import { formatAjvErrors } from '../platform/schema.ts';

/** The version of Argo Rollouts whose CRDs the schemas are (64-argo-rollouts.sh's default). */
export const ARGO_ROLLOUTS_SCHEMA_VERSION = 'v1.8.5';
/** The CRD files (manifests/crds/) whose kinds render may produce. */
export const ARGO_ROLLOUTS_SCHEMA_CRDS = ['rollout-crd.yaml', 'analysis-template-crd.yaml'];
/** Where the schemas are kept, relative to this folder. */
export const CRD_SCHEMA_FILE = `crd-schemas/argo-rollouts-${ARGO_ROLLOUTS_SCHEMA_VERSION}.json`;

/** What the file holds: `<group>/<version>/<Kind>` → the CRD's openAPIV3Schema. */
export interface CrdSchemaFile {
  source: string;
  schemas: Record<string, object>;
}

interface Crd {
  kind?: string;
  spec?: {
    group?: string;
    names?: { kind?: string };
    versions?: { name?: string; served?: boolean; schema?: { openAPIV3Schema?: object } }[];
  };
}

/** The schemas of every served version of the CRDs in `texts` (YAML), keyed `<group>/<version>/<Kind>`. */
export function extractCrdSchemas(texts: { text: string; where: string }[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const { text, where } of texts) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0)
        throw new ProjectError('INVALID', `${where}: not valid YAML: ${doc.errors[0]?.message}`, {
          subject: where,
        });
      const crd = doc.toJS() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const { group, names, versions } = crd.spec ?? {};
      for (const v of versions ?? []) {
        const schema = v.schema?.openAPIV3Schema;
        if (!v.served || !schema) continue;
        out[`${group}/${v.name}/${names?.kind}`] = schema;
      }
    }
  }
  return out;
}

/** The file's bytes for `schemas`: deterministic (keys sorted), trailing newline. */
export function renderCrdSchemaFile(schemas: Record<string, object>): string {
  const file: CrdSchemaFile = {
    source: `github.com/argoproj/argo-rollouts@${ARGO_ROLLOUTS_SCHEMA_VERSION} manifests/crds/{${ARGO_ROLLOUTS_SCHEMA_CRDS.join(',')}}`,
    schemas,
  };
  return stableStringify(file);
}

/** The schema file's bytes from the CRD files in `crdsDir`; a missing file names the set-up step. */
export async function generateCrdSchemaFile(crdsDir: string): Promise<string> {
  const texts = await Promise.all(
    ARGO_ROLLOUTS_SCHEMA_CRDS.map(async (f) => {
      const where = join(crdsDir, f);
      const text = await readFile(where, 'utf8').catch((e: unknown) => {
        throw new ProjectError('NOT_FOUND', `${where}: cannot read Argo Rollouts' CRD`, {
          subject: where,
          hint: 'run `bash scripts/setup.d/64-argo-rollouts.sh`, or pass --crds <its manifests/crds>',
          cause: e,
        });
      });
      return { text, where };
    }),
  );
  return renderCrdSchemaFile(extractCrdSchemas(texts));
}

/** The path of the kept schema file. */
export function crdSchemaFilePath(): string {
  return fileURLToPath(new URL(`./${CRD_SCHEMA_FILE}`, import.meta.url));
}

/**
 * A copy of `schema` in which every object that lists its properties refuses
 * others (strict field validation), unless it preserves unknown fields.
 */
export function strictSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const s: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    s[k] =
      k === 'properties' && v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, strictSchema(ps)]))
        : k === 'enum' || k === 'required'
          ? v
          : strictSchema(v);
  }
  if (s.properties && s.additionalProperties === undefined && !s['x-kubernetes-preserve-unknown-fields'])
    s.additionalProperties = false;
  return s;
}

// CRD schemas are OpenAPI v3 (draft-04-like, with Kubernetes' x- keywords and
// formats such as int32 that JSON Schema does not define): not strict mode,
// formats not checked (the API server checks few of them either).
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
let compiled: Promise<Map<string, ValidateFunction>> | undefined;

async function validators(): Promise<Map<string, ValidateFunction>> {
  compiled ??= (async () => {
    const file = JSON.parse(await readFile(crdSchemaFilePath(), 'utf8')) as CrdSchemaFile;
    const m = new Map<string, ValidateFunction>();
    for (const [key, schema] of Object.entries(file.schemas))
      m.set(key, ajv.compile(strictSchema(schema) as object));
    return m;
  })();
  return compiled;
}

/**
 * Problems of `obj` against its CRD schema (one line per field), or
 * undefined when no kept CRD schema is for its apiVersion and kind.
 */
export async function crdSchemaProblems(obj: {
  apiVersion: string;
  kind: string;
}): Promise<string[] | undefined> {
  const validate = (await validators()).get(`${obj.apiVersion}/${obj.kind}`);
  if (!validate) return undefined;
  // metadata is the API server's to check (ObjectMeta), as the CRD says (type: object).
  return validate(obj) ? [] : formatAjvErrors(validate.errors);
}
