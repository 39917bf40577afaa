/**
 * Rendered Kubernetes objects as the checks see them: the head every object
 * has (apiVersion, kind, metadata), checked when the YAML is parsed, and the
 * rest left `unknown` until a reader of shapes.ts checks what it reads.
 */
import type { IPod } from 'kubernetes-models/v1/Pod';
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../platform/errors.ts';
import { ajv, formatAjvErrors } from '../platform/schema.ts';

/** Kubernetes' ObjectMeta (through a model of kubernetes-models, which depends on the apimachinery package). */
type ObjectMeta = NonNullable<IPod['metadata']>;

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'annotations' | 'labels'>;
  [field: string]: unknown;
}

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
/** The head of an object, as far as the checks read it. */
const validateHead = ajv.compile({
  type: 'object',
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        annotations: stringMap,
        labels: stringMap,
      },
    },
  },
});

/** `Kind/name`, how messages name an object. */
export const objectId = (o: KubeObject): string => `${o.kind}/${o.metadata?.name ?? '?'}`;

/** The API group of an apiVersion: "" for core "v1", "apps" for "apps/v1". */
export const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';

/**
 * Parse a multi-document YAML stream (Kustomize output); `what` names the
 * source in errors. A document that is not a mapping, or whose apiVersion,
 * kind or metadata is not as Kubernetes has it, is INVALID, naming the field.
 */
export function parseObjects(text: string, what: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) {
      throw new ProjectError('INVALID', `${what}: not valid YAML (${doc.errors[0]?.message})`, {
        subject: what,
        cause: doc.errors[0],
      });
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ProjectError('INVALID', `${what}: a document is not a mapping`, { subject: what });
    }
    if (!validateHead(value)) {
      const problems = formatAjvErrors(validateHead.errors);
      throw new ProjectError('INVALID', `${what}: document ${i + 1}: ${problems.join('; ')}`, {
        subject: what,
        details: problems,
      });
    }
    const obj = value as KubeObject;
    obj.metadata ??= {};
    out.push(obj);
  }
  return out;
}
