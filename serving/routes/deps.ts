/**
 * What the routers are built from: the served model, its configuration, and
 * the parts serving/app.ts makes once per app (metrics, readiness, batcher,
 * pixel and body budgets, drift monitor, feedback). Each router takes the few it uses.
 */
import type { Registry } from 'prom-client';
import type { InFlightBudget } from '../budget.ts';
import type { Capture } from '../capture.ts';
import type { ServingConfig } from '../config.ts';
import type { DriftMonitor } from '../drift/index.ts';
import type { AccuracyWindow, LabelLedger, RecentImages } from '../feedback.ts';
import type { FeedbackIds } from '../feedback-id.ts';
import type { ModelBatcher } from '../inference.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import type { ServingMetrics } from '../metrics.ts';
import type { ServedModel } from '../model.ts';
import type { Shadow } from '../shadow.ts';

export interface RouteDeps {
  model: ServedModel;
  config: ServingConfig;
  logger: Logger;
  registry: Registry;
  metrics: ServingMetrics;
  lifecycle: Lifecycle;
  batcher: ModelBatcher;
  budget: InFlightBudget;
  /** Bytes of request bodies being read or held, across requests. */
  bodyBudget: InFlightBudget;
  drift: DriftMonitor;
  /** Signs the feedback_id of each answer and verifies it on feedback (any replica). */
  feedbackIds: FeedbackIds;
  /** Where labels are recorded once: the object store, or this process's memory. */
  labels: LabelLedger;
  /** Images of recent answers kept in memory for the export when there is no object store. */
  images: RecentImages;
  /** Payload capture; undefined when off (no store, or sample 0). */
  capture?: Capture;
  /** A captured image (capture/v1/images/<sha256>) from the store; undefined without a store or when not captured. */
  capturedImage: (sha256: string) => Promise<{ bytes: Uint8Array; contentType: string } | undefined>;
  /** Shadow traffic: mirrors answers to the challenger; undefined when off (no SERVING_SHADOW_URL). */
  shadow?: Shadow;
  /** This replica's name (HOSTNAME). */
  pod: string;
  /** Live accuracy over the last feedback. */
  accuracy: AccuracyWindow;
  /** tfjs backend name (serving_model_info, the page). */
  backend: string;
  /** The web page's files (default serving/public). */
  publicDir: string;
}
