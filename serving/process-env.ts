/**
 * The process settings the runtime image gives the server (serving/Dockerfile's
 * runtime ENV), for what starts serving/main.ts as the image does without the
 * image: the benchmarks (bench/serving, bench/peer). serving/image.e2e.test.ts
 * checks that the built image sets each of them to this value.
 *
 * - MALLOC_ARENA_MAX=2: glibc's default of 8 malloc arenas per core lets the
 *   threads of TensorFlow and libvips spread the process's memory over many
 *   arenas, and RSS creeps up run after run; with 2 it levels off after the
 *   first load run (bench/serving/memory.ts).
 * - --max-semi-space-size=4 (MiB): V8's young generation, in the main thread
 *   and the inference thread. Under load the default (up to 16 MiB a
 *   semi-space) holds 50-90 MiB more RSS at the same images/s.
 */
export const SERVER_PROCESS_ENV = {
  MALLOC_ARENA_MAX: '2',
  NODE_OPTIONS: '--max-semi-space-size=4',
} as const;
