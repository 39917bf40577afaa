/**
 * The state folder of one local cluster: what `up` started (pid, program,
 * address, log, probe of each component) in state.json, so that `status`
 * and `down` find exactly those processes again.
 */
import { join } from 'node:path';
import { ProjectError } from '../../platform/errors.ts';
import { readJsonFile, writeJsonAtomic } from '../../platform/fs.ts';
import type { Probe } from './probe.ts';

export const STATE_FORMAT = 'gitops-ml/cluster-state@1';

export interface ComponentState {
  name: string;
  pid: number;
  /** The program (argv[0]); `down` stops the pid only while it still runs this. */
  command: string;
  /** Where it listens, for people: "https://127.0.0.1:6443", "127.0.0.1:6379". */
  address: string;
  logFile: string;
  probe: Probe;
}

export interface ClusterState {
  format: typeof STATE_FORMAT;
  dir: string;
  startedAt: string;
  /** Admin kubeconfig of the cluster. */
  kubeconfig: string;
  /** kube-apiserver URL. */
  server: string;
  /** The Git server's URL of the served repository (http://127.0.0.1:<port>/<name>.git), and its git directory. */
  git: { url: string; gitDir: string };
  /**
   * The object store: its S3 endpoint, region, the bucket `up` created, and
   * the 0600 file with the variables a process needs to use it (credentials
   * included). Absent in the state of a cluster started before it existed.
   */
  objectStore?: { endpoint: string; region: string; bucket: string; envFile: string };
  /** Namespace of Argo CD's controllers and objects. */
  argocdNamespace: string;
  /** In start order; `down` stops them in reverse. */
  components: ComponentState[];
}

export const statePath = (dir: string): string => join(dir, 'state.json');

export async function writeState(state: ClusterState): Promise<void> {
  await writeJsonAtomic(statePath(state.dir), state);
}

/** The state in `dir`, or undefined when no cluster was started there. */
export async function readState(dir: string): Promise<ClusterState | undefined> {
  let raw: unknown;
  try {
    raw = await readJsonFile(statePath(dir));
  } catch (e) {
    if (e instanceof ProjectError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  const s = raw as Partial<ClusterState>;
  if (s?.format !== STATE_FORMAT || !Array.isArray(s.components)) {
    throw new ProjectError(
      'INVALID',
      `${statePath(dir)}: not a cluster state file (format ${STATE_FORMAT})`,
      {
        subject: statePath(dir),
        hint: 'stop what it started by hand, then delete the folder',
      },
    );
  }
  return s as ClusterState;
}
