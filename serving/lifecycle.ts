/**
 * Readiness of the serving process: false until the model is warm, false
 * while the inference worker restarts, and false again from SIGTERM on.
 * Mirrored in `serving_model_ready`.
 */
import type { ServingMetrics } from './metrics.ts';

/** Readiness of the process: false until warm, and false again from SIGTERM on. */
export class Lifecycle {
  #ready = false;
  #shuttingDown = false;
  #inferenceAvailable = true;
  #metrics?: ServingMetrics;
  constructor(ready = false) {
    this.#ready = ready;
  }
  /** Mirror readiness in serving_model_ready. */
  bindMetrics(metrics: ServingMetrics): void {
    this.#metrics = metrics;
    metrics.modelReady.set(this.ready ? 1 : 0);
  }
  get ready(): boolean {
    return this.#ready && !this.#shuttingDown && this.#inferenceAvailable;
  }
  /** False while the inference worker restarts after a crash (serving/worker). */
  setInferenceAvailable(available: boolean): void {
    this.#inferenceAvailable = available;
    this.#metrics?.modelReady.set(this.ready ? 1 : 0);
  }
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }
  setReady(ready: boolean): void {
    this.#ready = ready;
    this.#metrics?.modelReady.set(this.ready ? 1 : 0);
  }
  /** Readiness goes false first, before the server stops accepting. */
  beginShutdown(): void {
    this.#shuttingDown = true;
    this.#metrics?.modelReady.set(0);
  }
}
