/**
 * Schema validation of rendered objects with the OpenAPI/CRD schemas shipped
 * by kubernetes-models (Kubernetes core), @kubernetes-models/argo-cd
 * (Application, ApplicationSet, AppProject) and
 * @kubernetes-models/prometheus-operator (ServiceMonitor, PrometheusRule),
 * then the CRD schemas kept in crd-schemas/ (Argo Rollouts' Rollout and
 * AnalysisTemplate, taken from its own CRDs: crd-schemas.ts).
 * https://github.com/tommy351/kubernetes-models-ts
 *
 * Each kind's model is imported on first use, one file per kind (importing a
 * whole API group takes seconds), so importing platform/index.ts stays cheap.
 */
import { crdSchemaProblems } from './crd-schemas.ts';

/** A model class: `new Model(data).validate()` throws when `data` breaks its schema. */
interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

/** Packages with models, in the order they are tried; each has `<package>/<group>/<version>/<Kind>`. */
const MODEL_PACKAGES = [
  'kubernetes-models',
  '@kubernetes-models/argo-cd',
  '@kubernetes-models/prometheus-operator',
];

const cache = new Map<string, Promise<ModelClass | undefined>>();

function isModelClass(value: unknown): value is ModelClass {
  if (typeof value !== 'function') return false;
  const v = value as unknown as Partial<ModelClass> & { prototype?: { validate?: unknown } };
  return typeof v.apiVersion === 'string' && typeof v.kind === 'string' && !!v.prototype?.validate;
}

/** The model of `apiVersion` + `kind`, or undefined when no package has one. */
export function loadModel(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const key = `${apiVersion}/${kind}`;
  let found = cache.get(key);
  if (!found) {
    found = (async () => {
      // Only names that can be module paths: no "..", no odd characters.
      if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
        return undefined;
      for (const pkg of MODEL_PACKAGES) {
        try {
          const mod = (await import(`${pkg}/${apiVersion}/${kind}`)) as Record<string, unknown>;
          const model = mod[kind];
          if (isModelClass(model) && model.apiVersion === apiVersion && model.kind === kind) return model;
        } catch {
          // not in this package
        }
      }
      return undefined;
    })();
    cache.set(key, found);
  }
  return found;
}

interface SchemaError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Validate one Kubernetes object against its schema. Returns one line per
 * problem (empty when valid): the field path and what is wrong. A kind with
 * no known schema is a problem too, so nothing slips through unchecked.
 */
export async function schemaProblems(obj: unknown): Promise<string[]> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return ['not a mapping'];
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['missing apiVersion or kind'];
  const Model = await loadModel(apiVersion, kind);
  if (!Model) {
    const fromCrd = await crdSchemaProblems({ ...obj, apiVersion, kind });
    if (fromCrd) return fromCrd;
    return [
      `no schema for ${apiVersion} ${kind}: add a kubernetes-models package for it to gitops/schemas.ts`,
    ];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: SchemaError[] }).errors;
    if (!Array.isArray(errors) || errors.length === 0) return [(e as Error).message];
    return errors.map((err) => {
      const at = err.instancePath || '/';
      const extra =
        err.params && 'allowedValues' in err.params ? ` (${JSON.stringify(err.params.allowedValues)})` : '';
      return `${at}: ${err.message ?? 'invalid'}${extra}`;
    });
  }
}
