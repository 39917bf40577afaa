/**
 * Where bench/peer/setup.sh makes the Python peer's virtual environment
 * (TensorFlow/Keras on the CPU), for every benchmark that runs it:
 * `${XDG_CACHE_HOME:-~/.cache}/gitops-ml/peer-tf2.21.0`, or PEER_VENV.
 */
import { join } from 'node:path';

export const PEER_VENV =
  process.env.PEER_VENV ??
  join(
    process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'),
    'gitops-ml',
    'peer-tf2.21.0',
  );

/** The peer's Python interpreter. */
export const PEER_PYTHON = join(PEER_VENV, 'bin', 'python');
