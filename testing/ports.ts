/**
 * Test and benchmark helper: a free TCP port on loopback, for a process the
 * caller starts next (Prometheus, Alertmanager, MLflow, etcd, the server).
 * The one copy is tools/cluster/ports.ts (the local cluster picks its
 * components' ports with it); tests import it from here.
 */
export { freePort, freePorts } from '../tools/cluster/ports.ts';
