/**
 * One training step as one TensorFlow graph call on the native backend.
 *
 * tfjs trains eagerly: a step of the demo model is some 700 TensorFlow ops,
 * each dispatched from JavaScript, and a small model is bound by that
 * dispatch (docs/native-backend.md, Speed). Keras traces its step into one
 * graph. Here the forward pass, the loss and the backward pass of a chain of
 * the layers training/models.ts builds become one frozen graph (the weights
 * are its inputs, the gradients and the new batch-norm statistics its
 * outputs), loaded as a SavedModel session (model/artifact/graph.ts), so a
 * step is one session call. Adam (training/adam.ts) updates the weights in
 * the same graph, with its flat formula; any other optimizer (SGD,
 * training/sgd.ts) applies the gradients that come out, as it does for
 * tfjs's own. The maths is tfjs's:
 * softmax cross-entropy on the head's logits (what categoricalCrossentropy on
 * its softmax computes), batch norm in training mode with tfjs-layers'
 * moving averages of the biased variance, dropout as inverted dropout with a
 * seed per step and layer (training/compiled-step.test.ts compares a step
 * with trainOnBatch's).
 *
 * Compiled: InputLayer, Conv2D and Dense (linear or relu; softmax on the
 * last layer), BatchNormalization after a convolution, ReLU, Activation
 * (linear, relu), Max/AveragePooling2D, Global{Max,Average}Pooling2D,
 * Flatten, Dropout. Anything else answers `unsupported` and the step stays
 * tfjs's trainOnBatch ({@link trainStepOf}).
 *
 * @see https://www.tensorflow.org/api_docs/cc/class/tensorflow/ops/fused-batch-norm-v3
 * @see https://www.tensorflow.org/api_docs/cc/class/tensorflow/ops/softmax-cross-entropy-with-logits
 */
import * as tf from '@tensorflow/tfjs';
import {
  type GraphAttr,
  GraphBuilder,
  type GraphNode,
  type GraphSignature,
  loadGraph,
  type NamedGraph,
  NHWC,
  paddingOf,
  pairOf,
} from '../model/artifact/graph.ts';
import { loadedNativePackage } from '../model/backend.ts';
import type { AdamGraph, FlatAdamOptimizer } from './adam.ts';
import { reseedDropout } from './models.ts';

const float = { type: 'float32' } as const;
const int32 = { type: 'int32' } as const;
/** The graph's input of the run's seed and the step, [2] int32: dropout's masks derive from it. */
const SEED = 'seed';

interface LayerLike {
  name: string;
  trainable: boolean;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  weights: { originalName: string; trainable: boolean; read(): tf.Tensor }[];
  inboundNodes: { inboundLayers: { name: string }[] }[];
  outputShape: (number | null)[] | (number | null)[][];
}

/** One weight the graph takes as input `w<i>`. */
interface WeightInput {
  key: string;
  tensor: () => tf.Tensor;
  /** The tfjs variable's name, what optimizer.applyGradients is keyed by (trainable weights only). */
  variable?: string;
  /** Set the weight to a value the step computed (its new value, or a new moving statistic). */
  write: (value: tf.Tensor) => void;
}

/** The plan of a training step: graph nodes, signature and what feeds it. */
export interface TrainGraphPlan {
  nodes: GraphNode[];
  signature: GraphSignature;
  weights: WeightInput[];
  /** Output key → variable name, for the gradients the optimizer applies (none when the update is in the graph). */
  gradients: Record<string, string>;
  /** Output key → weight input key: values written back after each step (moving statistics; the weights when the update is in the graph). */
  updates: Record<string, string>;
  /** The optimizer's update inside the graph (Adam), when it has one. */
  update?: AdamGraph;
}

type Unsupported = { unsupported: string };

/** What one layer added: its output, and how to send a gradient back through it. */
interface Traced {
  out: string;
  /** Adds the layer's gradient nodes for dy; returns dx (undefined when nothing below needs it). */
  back: (dy: string, needDx: boolean) => string | undefined;
}

class TrainGraph {
  readonly g = new GraphBuilder();
  readonly weights: WeightInput[] = [];
  readonly outputs: GraphSignature['outputs'] = {};
  readonly gradients: Record<string, string> = {};
  readonly updates: Record<string, string> = {};
  /** The trainable weights' gradient nodes, by weight input key. */
  readonly grads = new Map<string, string>();
  dropouts = 0;

  weightOf(layer: LayerLike, suffix: string): { node: string; shape: number[] } | undefined {
    const v = layer.weights.find((w) => w.originalName.split('/').pop() === suffix);
    if (!v) return undefined;
    const key = `w${this.weights.length}`;
    const shape = v.read().shape;
    const variable = v as unknown as { write(t: tf.Tensor): void };
    this.weights.push({
      key,
      tensor: () => v.read(),
      ...(v.trainable && layer.trainable ? { variable: (v.read() as tf.Variable).name } : {}),
      write: (t: tf.Tensor) => variable.write(t),
    });
    this.g.placeholder(key, 'float32', shape);
    return { node: key, shape };
  }

  /** The weights with a gradient, in the model's order. */
  trained(): WeightInput[] {
    return this.weights.filter((w) => this.grads.has(w.key));
  }

  /** Note `grad` as the gradient of the weight fed as `node`, when that weight trains. */
  gradient(node: string, grad: string): void {
    if (this.weights.find((x) => x.key === node)?.variable) this.grads.set(node, grad);
  }

  /**
   * The step's end: the optimizer's update in the graph (new weights out) when
   * it has one, else the gradients out for its applyGradients. The weights in
   * the model's order (tfjs's trainableWeights), as trainOnBatch hands them over.
   */
  finish(optimizer: tf.Optimizer | undefined): AdamGraph | undefined {
    const trained = this.trained();
    // tfjs's Optimizer answers instanceof for any optimizer (Symbol.hasInstance): ask for the method.
    const graphable = (optimizer as Partial<FlatAdamOptimizer> | undefined)?.graphUpdate;
    const update =
      graphable !== undefined
        ? (optimizer as FlatAdamOptimizer).graphUpdate(
            this.g,
            trained.map((w) => ({
              name: w.variable!,
              value: w.key,
              grad: this.grads.get(w.key)!,
              shape: w.tensor().shape,
            })),
          )
        : undefined;
    trained.forEach((w, i) => {
      if (update) {
        const key = `n_${w.key}`;
        this.outputs[key] = { node: update.weights[i]!, dtype: 'float32', shape: w.tensor().shape };
        this.updates[key] = w.key;
      } else {
        const key = `g_${w.key}`;
        this.outputs[key] = { node: this.grads.get(w.key)!, dtype: 'float32', shape: w.tensor().shape };
        this.gradients[key] = w.variable!;
      }
    });
    if (update) {
      this.outputs.adam_m = { node: update.m, dtype: 'float32', shape: [-1] };
      this.outputs.adam_v = { node: update.v, dtype: 'float32', shape: [-1] };
    }
    return update;
  }

  update(node: string, value: string): void {
    const key = `u_${node}`;
    this.outputs[key] = { node: value, dtype: 'float32', shape: [-1] };
    this.updates[key] = node;
  }

  shapeOf(x: string): string {
    return this.g.raw('shape', 'Shape', [x], { T: float, out_type: int32 });
  }

  intConst(base: string, values: number[]): string {
    return this.g.constant(base, [values.length], new Int32Array(values));
  }

  floatConst(base: string, values: number[], shape: number[] = [values.length]): string {
    return this.g.constant(base, shape, new Float32Array(values));
  }
}

const convAttrs = (cfg: Record<string, unknown>): Record<string, GraphAttr> => {
  const [sh, sw] = pairOf(cfg.strides ?? 1);
  return {
    strides: { ints: [1, sh!, sw!, 1] },
    padding: paddingOf(cfg),
    data_format: NHWC,
    dilations: { ints: [1, 1, 1, 1] },
  };
};

/** y = act(x·W + b) for a convolution or a dense layer: the shared bias, activation and gradient wiring. */
function linear(
  t: TrainGraph,
  layer: LayerLike,
  cfg: Record<string, unknown>,
  x: string,
  kind: 'conv' | 'dense',
  last: boolean,
): Traced | Unsupported {
  const activation = String(cfg.activation ?? 'linear');
  const allowed = last && kind === 'dense' ? ['linear', 'relu', 'softmax'] : ['linear', 'relu'];
  if (!allowed.includes(activation)) return { unsupported: `layer ${layer.name}: activation ${activation}` };
  if (
    kind === 'conv' &&
    (cfg.dataFormat === 'channelsFirst' || pairOf(cfg.dilationRate ?? 1).some((d) => d !== 1))
  ) {
    return { unsupported: `layer ${layer.name}: Conv2D other than NHWC, undilated` };
  }
  const kernel = t.weightOf(layer, 'kernel');
  if (!kernel) return { unsupported: `layer ${layer.name}: no kernel` };
  const bias = cfg.useBias ? t.weightOf(layer, 'bias') : undefined;
  const g = t.g;
  const y =
    kind === 'conv'
      ? g.op(`${layer.name}/conv`, 'Conv2D', [x, kernel.node], convAttrs(cfg))
      : g.op(`${layer.name}/matmul`, 'MatMul', [x, kernel.node], {
          transpose_a: { b: false },
          transpose_b: { b: false },
        });
  const z = bias ? g.op(`${layer.name}/bias`, 'BiasAdd', [y, bias.node], { data_format: NHWC }) : y;
  // softmax on the last layer is the loss's (softmax cross-entropy on these logits).
  const out = activation === 'relu' ? g.op(`${layer.name}/relu`, 'Relu', [z]) : z;
  return {
    out,
    back: (dy, needDx) => {
      const dz = activation === 'relu' ? g.op(`${layer.name}/relu_grad`, 'ReluGrad', [dy, out]) : dy;
      if (bias)
        t.gradient(bias.node, g.op(`${layer.name}/bias_grad`, 'BiasAddGrad', [dz], { data_format: NHWC }));
      if (kind === 'conv') {
        const sizes = t.intConst(`${layer.name}/kernel_shape`, kernel.shape);
        t.gradient(
          kernel.node,
          g.op(`${layer.name}/kernel_grad`, 'Conv2DBackpropFilter', [x, sizes, dz], convAttrs(cfg)),
        );
        return needDx
          ? g.op(
              `${layer.name}/input_grad`,
              'Conv2DBackpropInput',
              [t.shapeOf(x), kernel.node, dz],
              convAttrs(cfg),
            )
          : undefined;
      }
      t.gradient(
        kernel.node,
        g.op(`${layer.name}/kernel_grad`, 'MatMul', [x, dz], {
          transpose_a: { b: true },
          transpose_b: { b: false },
        }),
      );
      return needDx
        ? g.op(`${layer.name}/input_grad`, 'MatMul', [dz, kernel.node], {
            transpose_a: { b: false },
            transpose_b: { b: true },
          })
        : undefined;
    },
  };
}

function batchNorm(
  t: TrainGraph,
  layer: LayerLike,
  cfg: Record<string, unknown>,
  x: string,
  shape: (number | null)[],
): Traced | Unsupported {
  const axis = Number(Array.isArray(cfg.axis) ? cfg.axis[0] : cfg.axis);
  if (shape.length !== 4 || (axis !== -1 && axis !== 3)) {
    return { unsupported: `layer ${layer.name}: batch norm other than over the channels of an NHWC batch` };
  }
  const channels = shape[3]!;
  const g = t.g;
  const gamma = cfg.scale === false ? undefined : t.weightOf(layer, 'gamma');
  const beta = cfg.center === false ? undefined : t.weightOf(layer, 'beta');
  const mean = t.weightOf(layer, 'moving_mean');
  const variance = t.weightOf(layer, 'moving_variance');
  if (!mean || !variance) return { unsupported: `layer ${layer.name}: batch norm without moving statistics` };
  const scale = gamma?.node ?? t.floatConst(`${layer.name}/ones`, new Array(channels).fill(1));
  const offset = beta?.node ?? t.floatConst(`${layer.name}/zeros`, new Array(channels).fill(0));
  const empty = t.floatConst(`${layer.name}/empty`, [], [0]);
  const attrs: Record<string, GraphAttr> = {
    U: float,
    epsilon: { f: Number(cfg.epsilon ?? 1e-3) },
    data_format: NHWC,
    is_training: { b: true },
  };
  const bn = g.op(`${layer.name}/bn`, 'FusedBatchNormV3', [x, scale, offset, empty, empty], attrs);
  // Moving averages as tfjs-layers keeps them: v -= (v - batch) * (1 - momentum), of the biased
  // variance (the kernel's batch_variance has Bessel's correction: times (n - 1) / n).
  const n = g.op(`${layer.name}/count`, 'RealDiv', [
    g.raw(
      `${layer.name}/size`,
      'Cast',
      [g.raw(`${layer.name}/size_i`, 'Size', [x], { T: float, out_type: int32 })],
      { SrcT: int32, DstT: float },
    ),
    t.floatConst(`${layer.name}/c`, [channels], []),
  ]);
  const one = t.floatConst(`${layer.name}/one`, [1], []);
  const biased = g.op(`${layer.name}/biased`, 'Mul', [
    `${bn}:2`,
    g.op(`${layer.name}/bessel`, 'RealDiv', [g.op(`${layer.name}/n1`, 'Sub', [n, one]), n]),
  ]);
  const rate = t.floatConst(`${layer.name}/rate`, [1 - Number(cfg.momentum ?? 0.99)], []);
  const moving = (old: string, batch: string, base: string) =>
    g.op(`${layer.name}/${base}`, 'Sub', [
      old,
      g.op(`${layer.name}/${base}_step`, 'Mul', [
        g.op(`${layer.name}/${base}_diff`, 'Sub', [old, batch]),
        rate,
      ]),
    ]);
  t.update(mean.node, moving(mean.node, `${bn}:1`, 'mean'));
  t.update(variance.node, moving(variance.node, biased, 'variance'));
  return {
    out: bn,
    back: (dy, needDx) => {
      const grad = g.op(
        `${layer.name}/bn_grad`,
        'FusedBatchNormGradV3',
        [dy, x, scale, `${bn}:3`, `${bn}:4`, `${bn}:5`],
        attrs,
      );
      if (gamma) t.gradient(gamma.node, `${grad}:1`);
      if (beta) t.gradient(beta.node, `${grad}:2`);
      return needDx ? grad : undefined;
    },
  };
}

function relu(t: TrainGraph, layer: LayerLike, x: string): Traced {
  const out = t.g.op(`${layer.name}/relu`, 'Relu', [x]);
  return { out, back: (dy) => t.g.op(`${layer.name}/relu_grad`, 'ReluGrad', [dy, out]) };
}

function pool(
  t: TrainGraph,
  layer: LayerLike,
  x: string,
  op: 'MaxPool' | 'AvgPool',
  ksize: number[],
  strides: number[],
  padding: string,
  flat?: number,
): Traced {
  const g = t.g;
  const attrs = {
    ksize: { ints: ksize },
    strides: { ints: strides },
    padding: { s: padding },
    data_format: NHWC,
  };
  const pooled = g.op(`${layer.name}/pool`, op, [x], attrs);
  const out =
    flat === undefined
      ? pooled
      : g.op(`${layer.name}/flat`, 'Reshape', [pooled, t.intConst(`${layer.name}/flat_shape`, [-1, flat])], {
          Tshape: int32,
        });
  return {
    out,
    back: (dy) => {
      const d =
        flat === undefined
          ? dy
          : g.op(
              `${layer.name}/unflat`,
              'Reshape',
              [dy, t.intConst(`${layer.name}/unflat_shape`, [-1, 1, 1, flat])],
              {
                Tshape: int32,
              },
            );
      return op === 'MaxPool'
        ? g.op(`${layer.name}/pool_grad`, 'MaxPoolGrad', [x, pooled, d], attrs)
        : g.op(`${layer.name}/pool_grad`, 'AvgPoolGrad', [t.shapeOf(x), d], attrs);
    },
  };
}

function dropout(
  t: TrainGraph,
  layer: LayerLike,
  cfg: Record<string, unknown>,
  x: string,
): Traced | Unsupported {
  const rate = Number(cfg.rate ?? 0);
  if (cfg.noiseShape != null) return { unsupported: `layer ${layer.name}: dropout with a noise shape` };
  if (!(rate > 0)) return { out: x, back: (dy) => dy };
  const g = t.g;
  const layerSeed = g.raw(
    `${layer.name}/seed`,
    'Add',
    [SEED, t.intConst(`${layer.name}/k`, [0, ++t.dropouts])],
    { T: int32 },
  );
  const u = g.raw(`${layer.name}/uniform`, 'StatelessRandomUniform', [t.shapeOf(x), layerSeed], {
    dtype: float,
    T: int32,
    Tseed: int32,
  });
  const keep = g.raw(
    `${layer.name}/keep`,
    'Cast',
    [g.op(`${layer.name}/ge`, 'GreaterEqual', [u, t.floatConst(`${layer.name}/rate`, [rate], [])])],
    {
      SrcT: { type: 'bool' },
      DstT: float,
    },
  );
  const mask = g.op(`${layer.name}/mask`, 'Mul', [
    keep,
    t.floatConst(`${layer.name}/inv_keep`, [1 / (1 - rate)], []),
  ]);
  const out = g.op(`${layer.name}/drop`, 'Mul', [x, mask]);
  return { out, back: (dy) => g.op(`${layer.name}/drop_grad`, 'Mul', [dy, mask]) };
}

/** One layer's forward nodes and gradient wiring. */
function traceLayer(
  t: TrainGraph,
  layer: LayerLike,
  x: string,
  input: (number | null)[],
  last: boolean,
): Traced | Unsupported {
  const cls = layer.getClassName();
  const cfg = layer.getConfig();
  switch (cls) {
    case 'InputLayer':
      return { out: x, back: (dy) => dy };
    case 'Conv2D':
      return linear(t, layer, cfg, x, 'conv', last);
    case 'Dense':
      if (input.length !== 2)
        return { unsupported: `layer ${layer.name}: Dense on a rank-${input.length} input` };
      return linear(t, layer, cfg, x, 'dense', last);
    case 'BatchNormalization':
      return batchNorm(t, layer, cfg, x, input);
    case 'ReLU':
      if (cfg.maxValue != null || Number(cfg.negativeSlope ?? 0) !== 0 || Number(cfg.threshold ?? 0) !== 0) {
        return { unsupported: `layer ${layer.name}: ReLU with a cap, slope or threshold` };
      }
      return relu(t, layer, x);
    case 'Activation': {
      const a = String(cfg.activation ?? 'linear');
      if (a === 'linear') return { out: x, back: (dy) => dy };
      if (a === 'relu') return relu(t, layer, x);
      return { unsupported: `layer ${layer.name}: activation ${a}` };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [kh, kw] = pairOf(cfg.poolSize ?? 2);
      const [sh, sw] = pairOf(cfg.strides ?? cfg.poolSize ?? 2);
      const op = cls === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool';
      return pool(t, layer, x, op, [1, kh!, kw!, 1], [1, sh!, sw!, 1], paddingOf(cfg).s);
    }
    case 'GlobalMaxPooling2D':
    case 'GlobalAveragePooling2D': {
      const [, h, w, c] = input as number[];
      const op = cls === 'GlobalMaxPooling2D' ? 'MaxPool' : 'AvgPool';
      return pool(t, layer, x, op, [1, h!, w!, 1], [1, 1, 1, 1], 'VALID', c);
    }
    case 'Flatten': {
      const units = input.slice(1).reduce((a: number, d) => a * (d ?? 0), 1);
      const out = t.g.op(
        `${layer.name}/reshape`,
        'Reshape',
        [x, t.intConst(`${layer.name}/shape`, [-1, units])],
        {
          Tshape: int32,
        },
      );
      return {
        out,
        back: (dy) => t.g.op(`${layer.name}/unshape`, 'Reshape', [dy, t.shapeOf(x)], { Tshape: int32 }),
      };
    }
    case 'Dropout':
      return dropout(t, layer, cfg, x);
    default:
      return { unsupported: `layer ${layer.name}: ${cls} has no compiled training form here` };
  }
}

/**
 * The loss on the head's logits `x` (softmax cross-entropy against the fed
 * targets, averaged over the batch), its gradient in the logits, and the
 * batch's accuracy.
 */
function lossNodes(t: TrainGraph, x: string): { loss: string; accuracy: string; dy: string } {
  const g = t.g;
  // Softmax cross-entropy on the logits, averaged over the batch: its gradient is (softmax - y) / N.
  const xent = g.op('loss/xent', 'SoftmaxCrossEntropyWithLogits', [x, 'y']);
  const axis0 = t.intConst('loss/axis0', [0]);
  const loss = g.raw('loss', 'Mean', [xent, axis0], { T: float, Tidx: int32, keep_dims: { b: false } });
  const batch = g.raw('loss/n', 'Cast', [g.raw('loss/n_i', 'Size', [xent], { T: float, out_type: int32 })], {
    SrcT: int32,
    DstT: float,
  });
  const dy = g.op('loss/grad', 'RealDiv', [`${xent}:1`, batch]);
  const axis1 = g.constant('acc/axis1', [], new Int32Array([1]));
  const argmax = (of: string, base: string) =>
    g.raw(base, 'ArgMax', [of, axis1], { T: float, Tidx: int32, output_type: int32 });
  const hits = g.raw(
    'acc/hits',
    'Cast',
    [g.raw('acc/eq', 'Equal', [argmax(x, 'acc/pred'), argmax('y', 'acc/true')], { T: int32 })],
    {
      SrcT: { type: 'bool' },
      DstT: float,
    },
  );
  const accuracy = g.raw('accuracy', 'Mean', [hits, axis0], {
    T: float,
    Tidx: int32,
    keep_dims: { b: false },
  });
  return { loss, accuracy, dy };
}

/**
 * The training step's graph for `model`: inputs x [N,H,W,C], y [N,K] (the
 * targets, label smoothing applied), seed [2] int32 and one per weight;
 * outputs loss, accuracy, a gradient per trainable weight and the new moving
 * statistics. Or why the model has no compiled form.
 */
export function planTrainingGraph(
  model: tf.LayersModel,
  optimizer?: tf.Optimizer,
): TrainGraphPlan | Unsupported {
  const t = new TrainGraph();
  const g = t.g;
  const layers = model.layers as unknown as LayerLike[];
  const inputShape = (model.inputs[0]?.shape ?? []).map((d) => d ?? -1);
  const classes = (model.outputs[0]?.shape ?? []).at(-1) ?? -1;
  g.placeholder('x', 'float32', inputShape);
  g.placeholder('y', 'float32', [-1, classes]);
  g.placeholder(SEED, 'int32', [2]);
  const last = layers.at(-1);
  if (last?.getClassName() !== 'Dense' || last.getConfig().activation !== 'softmax') {
    return {
      unsupported: 'the last layer is not a Dense softmax (the loss is softmax cross-entropy on its logits)',
    };
  }
  const traced: Traced[] = [];
  let x = 'x';
  let shape: (number | null)[] = model.inputs[0]?.shape ?? [];
  let previous: string | undefined;
  for (const [i, layer] of layers.entries()) {
    const inbound = layer.inboundNodes.flatMap((n) => n.inboundLayers.map((l) => l.name));
    if (
      layer.getClassName() !== 'InputLayer' &&
      (inbound.length !== 1 || (previous !== undefined && inbound[0] !== previous))
    ) {
      return { unsupported: `layer ${layer.name} is not fed by the layer before it (not a chain)` };
    }
    previous = layer.name;
    const step = traceLayer(t, layer, x, shape, i === layers.length - 1);
    if ('unsupported' in step) return step;
    traced.push(step);
    x = step.out;
    shape = layer.outputShape as (number | null)[];
  }
  const head = lossNodes(t, x);
  let dy = head.dy;
  // Back through every layer; TensorFlow runs only the nodes the fetched outputs need (a frozen
  // first layer's gradients are never computed).
  for (let i = traced.length - 1; i >= 0; i--) {
    const next = traced[i]!.back(dy, i > 0);
    if (next === undefined) break;
    dy = next;
  }
  // Every weight trainOnBatch would train gets its gradient here, or the step is not the same.
  const trained = new Set(t.trained().map((w) => w.variable));
  const missing = model.trainableWeights
    .map((w) => (w.read() as tf.Variable).name)
    .filter((n) => !trained.has(n));
  if (missing.length > 0) return { unsupported: `no gradient here for ${missing.join(', ')}` };
  const update = t.finish(optimizer);
  t.outputs.loss = { node: head.loss, dtype: 'float32', shape: [] };
  t.outputs.accuracy = { node: head.accuracy, dtype: 'float32', shape: [] };
  const inputs: GraphSignature['inputs'] = {
    x: { node: 'x', dtype: 'float32', shape: inputShape },
    y: { node: 'y', dtype: 'float32', shape: [-1, classes] },
    [SEED]: { node: SEED, dtype: 'int32', shape: [2] },
  };
  for (const w of t.weights) inputs[w.key] = { node: w.key, dtype: 'float32', shape: w.tensor().shape };
  for (const [key, shape] of Object.entries(update?.inputs ?? {})) {
    inputs[key] = { node: key, dtype: 'float32', shape };
  }
  return {
    nodes: g.nodes,
    signature: { inputs, outputs: t.outputs },
    weights: t.weights,
    gradients: t.gradients,
    updates: t.updates,
    ...(update ? { update } : {}),
  };
}

/** How training steps run: one graph call, or tfjs's trainOnBatch (and why). */
export interface TrainStep {
  kind: 'graph' | 'layers';
  note?: string;
  /** A graph step: true when the optimizer's update runs in the graph too (Adam), false when it applies the gradients. */
  updateInGraph?: boolean;
  /** One optimizer step on a batch; the batch's loss and accuracy (before the step). */
  run(xs: tf.Tensor4D, ys: tf.Tensor2D, step: number): Promise<{ loss: number; accuracy: number }>;
  dispose(): void;
}

/**
 * The training step for `model` (compiled, with its optimizer): the compiled
 * graph on a native backend when the model has one (`want` "graph"), else
 * tfjs's trainOnBatch. `seed` makes dropout's masks a function of the run's
 * seed and the step.
 */
export async function trainStepOf(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  o: { seed: number; want?: 'graph' | 'layers' },
): Promise<TrainStep> {
  const layers = (note?: string): TrainStep => ({
    kind: 'layers',
    ...(note ? { note } : {}),
    run: async (xs, ys, step) => {
      reseedDropout(model, o.seed, step);
      const [loss, accuracy] = (await model.trainOnBatch(xs, ys)) as number[];
      return { loss: loss!, accuracy: accuracy! };
    },
    dispose: () => {},
  });
  if ((o.want ?? 'graph') === 'layers') return layers();
  const nativePackage = tf.getBackend() === 'tensorflow' ? loadedNativePackage() : undefined;
  if (!nativePackage) return layers(`a compiled step needs the native backend, this is ${tf.getBackend()}`);
  const plan = planTrainingGraph(model, optimizer);
  if ('unsupported' in plan) return layers(plan.unsupported);
  let graph: NamedGraph;
  try {
    graph = await loadGraph(plan.nodes, nativePackage, plan.signature);
  } catch (e) {
    return layers(`TensorFlow did not load the training graph: ${(e as Error).message.split('\n')[0]}`);
  }
  return {
    kind: 'graph',
    updateInGraph: plan.update !== undefined,
    run: async (xs, ys, step) => {
      const seed = tf.tensor1d([o.seed | 0, step | 0], 'int32');
      const own = plan.update?.feeds() ?? { feeds: {}, made: [] };
      const feeds: tf.NamedTensorMap = { x: xs, y: ys, seed, ...own.feeds };
      for (const w of plan.weights) feeds[w.key] = w.tensor();
      let out: tf.NamedTensorMap;
      try {
        out = graph.predict(feeds);
      } finally {
        tf.dispose([seed, ...own.made]);
      }
      try {
        if (plan.update) plan.update.commit(out.adam_m!, out.adam_v!);
        else {
          const grads: tf.NamedTensorMap = {};
          for (const [key, variable] of Object.entries(plan.gradients)) grads[variable] = out[key]!;
          optimizer.applyGradients(grads);
        }
        for (const [key, input] of Object.entries(plan.updates)) {
          plan.weights.find((w) => w.key === input)!.write(out[key]!);
        }
        const [loss, accuracy] = await Promise.all([out.loss!.data(), out.accuracy!.data()]);
        return { loss: loss[0]!, accuracy: accuracy[0]! };
      } finally {
        // A variable's write takes the tensor's data (tf.Variable.assign): every output can go.
        tf.dispose(Object.values(out));
      }
    },
    dispose: () => graph.dispose(),
  };
}
