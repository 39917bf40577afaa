/**
 * The Python virtual environments of the peers, in one place: for every
 * benchmark that runs them, and for bench/peer/setup.sh, which makes them and
 * learns their folders from this file (`node bench/peer/venv.ts` prints
 * `<name>\t<folder>` a line).
 *
 * - keras: FastAPI + uvicorn + TensorFlow/Keras (bench/peer/server.py, and
 *   the Keras side of bench:training and bench:cifar10):
 *   `${XDG_CACHE_HOME:-~/.cache}/gitops-ml/peer-tf2.21.0`, or $PEER_VENV.
 * - servers: KServe and LitServe with the same TensorFlow
 *   (bench/peer/kserve_server.py, litserve_server.py): the keras folder with
 *   `-kserve-litserve` appended. A venv of its own because both depend on
 *   `uvicorn[standard]`, whose uvloop and httptools uvicorn takes by itself
 *   when they are installed: in the keras venv they would change the FastAPI
 *   peer (measured on asyncio and h11, as its tutorials install it) and the
 *   Python of the training benchmarks.
 */
import { join } from 'node:path';
import { isMain } from '../../platform/cli.ts';

const KERAS_VENV =
  process.env.PEER_VENV ??
  join(
    process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'),
    'gitops-ml',
    'peer-tf2.21.0',
  );

/** Each venv setup.sh makes, by the name setup.sh takes as an argument. */
export const PEER_VENVS = {
  keras: KERAS_VENV,
  servers: `${KERAS_VENV}-kserve-litserve`,
} as const;

/** The FastAPI + Keras venv (the one every benchmark had before KServe and LitServe). */
export const PEER_VENV = PEER_VENVS.keras;

/** The Python interpreter of a venv. */
export const pythonOf = (venv: string): string => join(venv, 'bin', 'python');

/** The FastAPI + Keras peer's Python (bench:training and bench:cifar10 run Keras with it too). */
export const PEER_PYTHON = pythonOf(PEER_VENVS.keras);

/** The Python of the KServe and LitServe peers. */
export const SERVERS_PYTHON = pythonOf(PEER_VENVS.servers);

if (isMain(import.meta.url)) {
  for (const [name, dir] of Object.entries(PEER_VENVS)) process.stdout.write(`${name}\t${dir}\n`);
}
