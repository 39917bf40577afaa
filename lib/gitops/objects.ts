/** The small typed view of rendered Kubernetes objects that the checks read. */
import { parseAllDocuments } from 'yaml';
import { ProjectError } from '../errors.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: the rest is checked by the schemas
  [field: string]: any;
}

/** `Kind/name`, how messages name an object. */
export const objectId = (o: KubeObject): string => `${o.kind}/${o.metadata?.name ?? '?'}`;

/** The API group of an apiVersion: "" for core "v1", "apps" for "apps/v1". */
export const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';

/** Parse a multi-document YAML stream (Kustomize output); `what` names the source in errors. */
export function parseObjects(text: string, what: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new ProjectError('INVALID', `${what}: not valid YAML (${doc.errors[0]?.message})`, {
        subject: what,
      });
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ProjectError('INVALID', `${what}: a document is not a mapping`, { subject: what });
    }
    const obj = value as KubeObject;
    obj.metadata ??= {};
    out.push(obj);
  }
  return out;
}
