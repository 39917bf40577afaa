/**
 * The Open Inference Protocol v2 routes (KServe's REST protocol): server and
 * model metadata, liveness and readiness, and `infer` on FP32 tensors of
 * preprocessed images or on a BYTES input of encoded images (the request
 * format: serving/v2.ts).
 *
 * @see https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 */
import Router from '@koa/router';
import type Koa from 'koa';
import { ProjectError } from '../../platform/index.ts';
import { decodeBase64, parseJson, readRawBody, unsupportedMedia } from '../body.ts';
import { classifyImages, recordPrediction } from '../inference.ts';
import type { ServedModel } from '../model.ts';
import {
  IMAGE_INPUT_NAME,
  INPUT_NAME,
  imageInputs,
  inferOutputs,
  LABEL_OUTPUT_NAME,
  OUTPUT_NAME,
  sendsImages,
  tensorInputs,
  validateInferRequest,
} from '../v2.ts';
import type { RouteDeps } from './deps.ts';
import { reserveBody } from './middleware.ts';

/** NOT_FOUND unless `name` (and `version`, when given) is the model served here. */
function checkModel(model: ServedModel, name: string | undefined, version?: string): void {
  if (name !== model.name) {
    throw new ProjectError(
      'NOT_FOUND',
      `model "${name ?? ''}" is not served here; this server serves "${model.name}"`,
    );
  }
  if (version !== undefined && version !== model.version) {
    throw new ProjectError(
      'NOT_FOUND',
      `model "${name}" version "${version}" is not served here; this server serves version "${model.version}"`,
    );
  }
}

/** The model metadata answer: one FP32 input of the preprocessed images, one of the probabilities. */
function modelMetadata(model: ServedModel) {
  return {
    name: model.name,
    versions: [model.version],
    platform: 'tensorflowjs_layers',
    inputs: [
      {
        name: INPUT_NAME,
        datatype: 'FP32',
        shape: [-1, model.spec.height, model.spec.width, model.spec.channels],
      },
    ],
    outputs: [
      { name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, model.labels.length] },
      { name: LABEL_OUTPUT_NAME, datatype: 'BYTES', shape: [-1] },
    ],
    // The other form of input: encoded images, decoded and preprocessed by the server.
    parameters: {
      labels: model.labels,
      sha256: model.sha256,
      image_input: { name: IMAGE_INPUT_NAME, datatype: 'BYTES', shape: [-1], content: 'base64 PNG or JPEG' },
    },
  };
}

export function v2Router(
  deps: Pick<RouteDeps, 'model' | 'config' | 'lifecycle' | 'batcher' | 'metrics' | 'drift' | 'budget'>,
): Router {
  const { model, config, lifecycle, batcher, metrics, drift, budget } = deps;
  const metadata = modelMetadata(model);
  const router = new Router();
  router.get('/v2', (ctx) => {
    ctx.body = { name: 'gitops-ml-serving', version: '1', extensions: [] };
  });
  router.get('/v2/health/live', (ctx) => {
    ctx.body = { live: true };
  });
  // The protocol answers "false" with a 4xx status.
  const readyBody = (ctx: Koa.Context) => {
    ctx.status = lifecycle.ready ? 200 : 400;
    ctx.body = { ready: lifecycle.ready };
  };
  router.get('/v2/health/ready', readyBody);
  router.get('/v2/models/:name', (ctx) => {
    checkModel(model, ctx.params.name);
    ctx.body = metadata;
  });
  router.get('/v2/models/:name/versions/:version', (ctx) => {
    checkModel(model, ctx.params.name, ctx.params.version);
    ctx.body = metadata;
  });
  router.get('/v2/models/:name/ready', (ctx) => {
    checkModel(model, ctx.params.name);
    readyBody(ctx);
  });
  router.get('/v2/models/:name/versions/:version/ready', (ctx) => {
    checkModel(model, ctx.params.name, ctx.params.version);
    readyBody(ctx);
  });
  const infer = async (ctx: Koa.Context, name: string | undefined, version?: string) => {
    checkModel(model, name, version);
    const type = ctx.request.type;
    if (type !== 'application/json' && type !== '') throw unsupportedMedia(type);
    const req = validateInferRequest(
      parseJson(await readRawBody(ctx.req, config.limits.maxBodyBytes, reserveBody(ctx))),
      'inference request',
    );
    const max = config.limits.maxImagesPerRequest;
    let outputs: Float32Array[];
    if (sendsImages(req)) {
      // Encoded images: the same checks, pixel budget, decoding and drift features as /predict.
      const { images, sources } = imageInputs(req, max, decodeBase64);
      outputs = await classifyImages(images, sources, {
        model,
        batcher,
        metrics,
        limits: config.limits,
        budget,
        drift,
      });
    } else {
      const inputs = tensorInputs(req, model.spec, max);
      outputs = await batcher.submit(inputs);
      for (const p of outputs) recordPrediction(metrics, model, p);
      drift.observeInputs(inputs, outputs);
    }
    ctx.body = {
      model_name: model.name,
      model_version: model.version,
      id: req.id ?? ctx.state.requestId,
      outputs: inferOutputs(req, outputs, model.labels),
    };
  };
  router.post('/v2/models/:name/infer', (ctx) => infer(ctx, ctx.params.name));
  router.post('/v2/models/:name/versions/:version/infer', (ctx) =>
    infer(ctx, ctx.params.name, ctx.params.version),
  );
  return router;
}
