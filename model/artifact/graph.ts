/**
 * Run a LayersModel as one TensorFlow graph on the native backend: the
 * model's layers become a frozen GraphDef (weights as constants, batch norm
 * folded into a scale and an offset, dropout gone), written as a SavedModel
 * and loaded with tfjs-node's `node.loadSavedModel`, so one prediction is one
 * TensorFlow session call (Grappler's fused kernels included) instead of one
 * eager op at a time from JavaScript. The messages are tfjs-node's own
 * compiled TensorFlow protos (its dist/proto/api_pb.js, google-protobuf).
 *
 * Only a chain of the stock layers that training/models.ts builds is
 * compiled (InputLayer, Conv2D, Dense, BatchNormalization, MaxPooling2D,
 * AveragePooling2D, Global{Max,Average}Pooling2D, Flatten, Dropout, ReLU,
 * Activation with relu/softmax/sigmoid/tanh/elu/linear); anything else
 * answers `unsupported` with the reason, and the caller keeps the layers
 * model. Loaded by the inference worker with Node's type stripping: erasable
 * syntax only, imports tfjs and types.
 *
 * @see https://www.tensorflow.org/guide/saved_model
 * @see https://github.com/tensorflow/tensorflow/blob/master/tensorflow/core/protobuf/saved_model.proto
 * @see https://github.com/tensorflow/tfjs/blob/master/tfjs-node/src/saved_model.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

// biome-ignore lint/suspicious/noExplicitAny: google-protobuf's generated classes are untyped JavaScript
type Proto = any;

/** The compiled graph's signature: input `x` [N, H, W, C] float32, output `probabilities`. */
export const GRAPH_SIGNATURE = { key: 'serving_default', input: 'x', output: 'probabilities' } as const;

export type GraphPlan = { ok: true; nodes: GraphNode[] } | { ok: false; unsupported: string };

/** One node of the frozen graph, before it becomes a NodeDef. */
export interface GraphNode {
  name: string;
  op: string;
  inputs: string[];
  attrs: Record<string, GraphAttr>;
}

export type GraphAttr =
  | { type: 'float32' | 'int32' | 'bool' }
  | { ints: number[] }
  | { s: string }
  | { b: boolean }
  | { f: number }
  | { i: number }
  | { shape: number[] }
  | { tensor: { dtype: 'float32' | 'int32'; shape: number[]; values: Float32Array | Int32Array } };

interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  weights: { originalName: string; read(): tf.Tensor }[];
  inboundNodes: { inboundLayers: { name: string }[] }[];
}

const ACTIVATION_OPS: Record<string, string | null> = {
  linear: null,
  relu: 'Relu',
  softmax: 'Softmax',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
};

const float = { type: 'float32' } as const;

type Step = string | { unsupported: string };

/** Appends nodes with unique names (also training/compiled-step.ts's). */
export class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  #count = 0;

  name(base: string): string {
    return `${base.replace(/[^A-Za-z0-9_./-]/g, '_')}_${this.#count++}`;
  }

  constant(base: string, shape: number[], values: Float32Array | Int32Array): string {
    const name = this.name(base);
    const dtype = values instanceof Int32Array ? 'int32' : 'float32';
    this.nodes.push({
      name,
      op: 'Const',
      inputs: [],
      attrs: { dtype: { type: dtype }, value: { tensor: { dtype, shape, values } } },
    });
    return name;
  }

  /** A float32 op (its `T`), named after `base`. */
  op(base: string, op: string, inputs: string[], attrs: Record<string, GraphAttr> = {}): string {
    return this.raw(base, op, inputs, { T: float, ...attrs });
  }

  /** An op with exactly the attributes given (no `T`). */
  raw(base: string, op: string, inputs: string[], attrs: Record<string, GraphAttr>): string {
    const name = this.name(base);
    this.nodes.push({ name, op, inputs, attrs });
    return name;
  }

  /** A placeholder named exactly `name` (a signature input). */
  placeholder(name: string, dtype: 'float32' | 'int32', shape: number[]): string {
    this.nodes.push({
      name,
      op: 'Placeholder',
      inputs: [],
      attrs: { dtype: { type: dtype }, shape: { shape } },
    });
    return name;
  }
}

const weightOf = (layer: LayerLike, suffix: string) => {
  const w = layer.weights.find((v) => v.originalName.split('/').pop() === suffix);
  return w ? { shape: w.read().shape, values: w.read().dataSync() as Float32Array } : undefined;
};
export const pairOf = (v: unknown): number[] => (Array.isArray(v) ? (v as number[]) : [Number(v), Number(v)]);
export const paddingOf = (cfg: Record<string, unknown>) => ({
  s: String(cfg.padding ?? 'valid').toUpperCase(),
});
export const NHWC = { s: 'NHWC' } as const;

function activate(g: GraphBuilder, layer: LayerLike, x: string, activation: unknown): Step {
  const a = String(activation ?? 'linear');
  if (!(a in ACTIVATION_OPS)) return { unsupported: `layer ${layer.name}: activation ${a}` };
  const op = ACTIVATION_OPS[a];
  return op ? g.op(`${layer.name}/${a}`, op, [x]) : x;
}

/** `y` plus the layer's bias (when it uses one), then its activation. */
function biasThenActivate(g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, y: string): Step {
  const bias = cfg.useBias ? weightOf(layer, 'bias') : undefined;
  const z = bias
    ? g.op(`${layer.name}/bias`, 'BiasAdd', [y, g.constant(`${layer.name}/b`, bias.shape, bias.values)], {
        data_format: NHWC,
      })
    : y;
  return activate(g, layer, z, cfg.activation);
}

function conv2d(g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string): Step {
  const kernel = weightOf(layer, 'kernel');
  const [sh, sw] = pairOf(cfg.strides ?? 1);
  if (!kernel || cfg.dataFormat === 'channelsFirst' || pairOf(cfg.dilationRate ?? 1).some((d) => d !== 1)) {
    return { unsupported: `layer ${layer.name}: Conv2D other than NHWC, undilated` };
  }
  const w = g.constant(`${layer.name}/kernel`, kernel.shape, kernel.values);
  const y = g.op(`${layer.name}/conv`, 'Conv2D', [x, w], {
    strides: { ints: [1, sh!, sw!, 1] },
    padding: paddingOf(cfg),
    data_format: NHWC,
    dilations: { ints: [1, 1, 1, 1] },
  });
  return biasThenActivate(g, layer, cfg, y);
}

function dense(g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string): Step {
  const kernel = weightOf(layer, 'kernel');
  if (!kernel) return { unsupported: `layer ${layer.name}: Dense without a kernel` };
  const w = g.constant(`${layer.name}/kernel`, kernel.shape, kernel.values);
  const y = g.op(`${layer.name}/matmul`, 'MatMul', [x, w], {
    transpose_a: { b: false },
    transpose_b: { b: false },
  });
  return biasThenActivate(g, layer, cfg, y);
}

/** Inference batch norm folded into x * scale + offset, per channel (the last axis). */
function batchNorm(g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string): Step {
  const axis = Number(Array.isArray(cfg.axis) ? cfg.axis[0] : cfg.axis);
  const mean = weightOf(layer, 'moving_mean');
  const variance = weightOf(layer, 'moving_variance');
  const shape =
    (layer as unknown as { inputSpec?: unknown; outputShape?: (number | null)[] }).outputShape ?? [];
  if (axis !== -1 && axis !== shape.length - 1) {
    return { unsupported: `layer ${layer.name}: batch norm over axis ${axis}, not the last` };
  }
  if (!mean || !variance) return { unsupported: `layer ${layer.name}: batch norm without statistics` };
  const gamma = weightOf(layer, 'gamma')?.values;
  const beta = weightOf(layer, 'beta')?.values;
  const eps = Number(cfg.epsilon ?? 1e-3);
  const c = mean.values.length;
  const scale = new Float32Array(c);
  const offset = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = (gamma?.[i] ?? 1) / Math.sqrt(variance.values[i]! + eps);
    offset[i] = (beta?.[i] ?? 0) - mean.values[i]! * scale[i]!;
  }
  const y = g.op(`${layer.name}/scale`, 'Mul', [x, g.constant(`${layer.name}/s`, [c], scale)]);
  return g.op(`${layer.name}/offset`, 'Add', [y, g.constant(`${layer.name}/o`, [c], offset)]);
}

const pool =
  (op: 'MaxPool' | 'AvgPool') =>
  (g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string): Step => {
    const [kh, kw] = pairOf(cfg.poolSize ?? 2);
    const [sh, sw] = pairOf(cfg.strides ?? cfg.poolSize ?? 2);
    return g.op(`${layer.name}/pool`, op, [x], {
      ksize: { ints: [1, kh!, kw!, 1] },
      strides: { ints: [1, sh!, sw!, 1] },
      padding: paddingOf(cfg),
      data_format: NHWC,
    });
  };

const globalPool =
  (op: 'Max' | 'Mean') =>
  (g: GraphBuilder, layer: LayerLike, _cfg: Record<string, unknown>, x: string): Step => {
    const axes = g.constant(`${layer.name}/axes`, [2], new Int32Array([1, 2]));
    return g.op(`${layer.name}/reduce`, op, [x, axes], { keep_dims: { b: false }, Tidx: { type: 'int32' } });
  };

function flatten(g: GraphBuilder, layer: LayerLike, _cfg: Record<string, unknown>, x: string): Step {
  const shape = (layer as unknown as { outputShape: (number | null)[] }).outputShape;
  const units = shape.slice(1).reduce((a: number, d) => a * (d ?? 0), 1);
  const target = g.constant(`${layer.name}/shape`, [2], new Int32Array([-1, units]));
  return g.op(`${layer.name}/reshape`, 'Reshape', [x, target], { Tshape: { type: 'int32' } });
}

function relu(g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string): Step {
  if (cfg.maxValue != null || Number(cfg.negativeSlope ?? 0) !== 0 || Number(cfg.threshold ?? 0) !== 0) {
    return { unsupported: `layer ${layer.name}: ReLU with a cap, slope or threshold` };
  }
  return g.op(`${layer.name}/relu`, 'Relu', [x]);
}

/** Each layer class with a graph form: what it adds to the graph after `x`. */
const STEPS: Record<
  string,
  (g: GraphBuilder, layer: LayerLike, cfg: Record<string, unknown>, x: string) => Step
> = {
  InputLayer: (_g, _l, _c, x) => x,
  Dropout: (_g, _l, _c, x) => x,
  Conv2D: conv2d,
  Dense: dense,
  BatchNormalization: batchNorm,
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AvgPool'),
  GlobalMaxPooling2D: globalPool('Max'),
  GlobalAveragePooling2D: globalPool('Mean'),
  Flatten: flatten,
  ReLU: relu,
  Activation: (g, layer, cfg, x) => activate(g, layer, x, cfg.activation),
};

/** The plan of the model's graph: its nodes in order, or why it cannot be compiled. */
export function planGraph(model: tf.LayersModel): GraphPlan {
  const g = new GraphBuilder();
  const inputShape = model.inputs[0]?.shape ?? [];
  g.nodes.push({
    name: GRAPH_SIGNATURE.input,
    op: 'Placeholder',
    inputs: [],
    attrs: { dtype: float, shape: { shape: inputShape.map((d) => d ?? -1) } },
  });
  let x: string = GRAPH_SIGNATURE.input;
  let previous: string | undefined;
  for (const layer of model.layers as unknown as LayerLike[]) {
    const cls = layer.getClassName();
    const inbound = layer.inboundNodes.flatMap((n) => n.inboundLayers.map((l) => l.name));
    if (
      cls !== 'InputLayer' &&
      (inbound.length !== 1 || (previous !== undefined && inbound[0] !== previous))
    ) {
      return {
        ok: false,
        unsupported: `layer ${layer.name} is not fed by the layer before it (not a chain)`,
      };
    }
    previous = layer.name;
    const step = STEPS[cls];
    if (!step) return { ok: false, unsupported: `layer ${layer.name}: ${cls} has no graph form here` };
    const next = step(g, layer, layer.getConfig(), x);
    if (typeof next !== 'string') return { ok: false, unsupported: next.unsupported };
    x = next;
  }
  g.nodes.push({ name: GRAPH_SIGNATURE.output, op: 'Identity', inputs: [x], attrs: { T: float } });
  return { ok: true, nodes: g.nodes };
}

/** tfjs-node's compiled TensorFlow protos (google-protobuf), from the native package that is loaded. */
function protosOf(nativePackage: string): Proto {
  const require = createRequire(import.meta.url);
  const main = require.resolve(nativePackage);
  // google-protobuf's generated module exports the tensorflow.* messages themselves.
  return require(join(main, '..', 'proto', 'api_pb.js'));
}

function attrValue(p: Proto, a: GraphAttr): Proto {
  const v = new p.AttrValue();
  const dtype = (t: 'float32' | 'int32' | 'bool') =>
    t === 'float32' ? p.DataType.DT_FLOAT : t === 'int32' ? p.DataType.DT_INT32 : p.DataType.DT_BOOL;
  const shapeOf = (dims: number[]) => {
    const s = new p.TensorShape();
    s.setDimList(
      dims.map((d) => {
        const dim = new p.TensorShape.Dim();
        dim.setSize(d);
        return dim;
      }),
    );
    return s;
  };
  if ('type' in a) v.setType(dtype(a.type));
  else if ('ints' in a) {
    const l = new p.AttrValue.ListValue();
    l.setIList(a.ints);
    v.setList(l);
  } else if ('s' in a) v.setS(new TextEncoder().encode(a.s));
  else if ('b' in a) v.setB(a.b);
  else if ('f' in a) v.setF(a.f);
  else if ('i' in a) v.setI(a.i);
  else if ('shape' in a) v.setShape(shapeOf(a.shape));
  else {
    const t = new p.Tensor();
    t.setDtype(dtype(a.tensor.dtype));
    t.setTensorShape(shapeOf(a.tensor.shape));
    const { values } = a.tensor;
    // tensor_content: the values' bytes, little-endian (as every platform tfjs-node runs on).
    t.setTensorContent(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    v.setTensor(t);
  }
  return v;
}

/** A signature's tensors by key: the node that is fed or fetched, its dtype and shape (-1: any). */
export interface GraphSignature {
  inputs: Record<string, { node: string; dtype: 'float32' | 'int32'; shape: number[] }>;
  outputs: Record<string, { node: string; dtype: 'float32' | 'int32'; shape: number[] }>;
}

/** The serving signature of a plan: `x` in, `probabilities` out. */
function servingSignature(plan: GraphNode[]): GraphSignature {
  const input = plan.find((n) => n.name === GRAPH_SIGNATURE.input)!;
  return {
    inputs: {
      [GRAPH_SIGNATURE.input]: {
        node: GRAPH_SIGNATURE.input,
        dtype: 'float32',
        shape: (input.attrs.shape as { shape: number[] }).shape,
      },
    },
    outputs: {
      [GRAPH_SIGNATURE.output]: { node: GRAPH_SIGNATURE.output, dtype: 'float32', shape: [-1, -1] },
    },
  };
}

/** The SavedModel (saved_model.pb) bytes of a plan: one MetaGraph tagged "serve", signature serving_default. */
export function savedModelBytes(
  plan: GraphNode[],
  nativePackage: string,
  sig: GraphSignature = servingSignature(plan),
): Uint8Array {
  const p = protosOf(nativePackage);
  const graph = new p.GraphDef();
  graph.setNodeList(
    plan.map((n) => {
      const node = new p.NodeDef();
      node.setName(n.name);
      node.setOp(n.op);
      node.setInputList(n.inputs);
      const attrs = node.getAttrMap();
      for (const [k, a] of Object.entries(n.attrs)) attrs.set(k, attrValue(p, a));
      return node;
    }),
  );
  const versions = new p.VersionDef();
  versions.setProducer(1882);
  graph.setVersions(versions);
  const info = (tensor: GraphSignature['inputs'][string]) => {
    const t = new p.TensorInfo();
    t.setName(tensor.node.includes(':') ? tensor.node : `${tensor.node}:0`);
    t.setDtype(tensor.dtype === 'float32' ? p.DataType.DT_FLOAT : p.DataType.DT_INT32);
    t.setTensorShape(attrValue(p, { shape: tensor.shape }).getShape());
    return t;
  };
  const signature = new p.SignatureDef();
  for (const [key, t] of Object.entries(sig.inputs)) signature.getInputsMap().set(key, info(t));
  for (const [key, t] of Object.entries(sig.outputs)) signature.getOutputsMap().set(key, info(t));
  signature.setMethodName('tensorflow/serving/predict');
  const meta = new p.MetaGraphDef();
  const metaInfo = new p.MetaGraphDef.MetaInfoDef();
  metaInfo.setTagsList(['serve']);
  meta.setMetaInfoDef(metaInfo);
  meta.setGraphDef(graph);
  meta.getSignatureDefMap().set(GRAPH_SIGNATURE.key, signature);
  const saved = new p.SavedModel();
  saved.setSavedModelSchemaVersion(1);
  saved.setMetaGraphsList([meta]);
  return saved.serializeBinary();
}

/** A compiled model: `predict` runs one session call; `dispose` frees the session. */
export interface GraphModel {
  predict(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

/** A loaded graph with named inputs and outputs (tfjs-node's TFSavedModel). */
export interface NamedGraph {
  predict(inputs: tf.NamedTensorMap): tf.NamedTensorMap;
  dispose(): void;
}

/**
 * Load `nodes` as a SavedModel session of the loaded native package: written
 * to a temporary folder, loaded, and the folder removed (the session holds
 * the graph).
 */
export async function loadGraph<T = NamedGraph>(
  nodes: GraphNode[],
  nativePackage: string,
  sig?: GraphSignature,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'gitops-ml-graph-'));
  try {
    writeFileSync(join(dir, 'saved_model.pb'), savedModelBytes(nodes, nativePackage, sig));
    const native = (await import(nativePackage)) as {
      node: { loadSavedModel(path: string, tags: string[], signature: string): Promise<T> };
    };
    return await native.node.loadSavedModel(dir, ['serve'], GRAPH_SIGNATURE.key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Compile `model` for the loaded native package (tfjs-node or -gpu): write
 * the SavedModel to a temporary folder, load it, and remove the folder (the
 * session holds the graph). Returns why not when the model has a layer
 * without a graph form.
 */
export async function compileGraph(
  model: tf.LayersModel,
  nativePackage: string,
): Promise<{ ok: true; graph: GraphModel } | { ok: false; unsupported: string }> {
  const plan = planGraph(model);
  if (!plan.ok) return plan;
  return { ok: true, graph: await loadGraph<GraphModel>(plan.nodes, nativePackage) };
}

/** How a served model runs: one graph call per batch, or the layers op by op (and why). */
export interface ModelExecution {
  kind: 'graph' | 'layers';
  /** Why layers, when graph was asked for; or the agreement found when graph. */
  note?: string;
}

/** Largest difference of a probability between the graph and the layers it came from that counts as the same model. */
export const GRAPH_TOLERANCE = 1e-4;

/** A fixed input for the agreement check: values in [-2, 2), the same every time. */
function probeInput(n: number, input: [number, number, number]): Float32Array {
  const out = new Float32Array(n * input[0] * input[1] * input[2]);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

/** Probabilities of `n` flat images through the compiled graph; disposes what it makes. */
async function predictGraph(
  graph: GraphModel,
  input: [number, number, number],
  flat: Float32Array,
  n: number,
): Promise<Float32Array> {
  const x = tf.tensor4d(flat, [n, ...input], 'float32');
  let out: tf.Tensor;
  try {
    out = graph.predict(x);
  } finally {
    x.dispose();
  }
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}

/**
 * The predict function a server uses for `model`: with `want` "graph" on a
 * native backend, the compiled graph once it agrees with the layers on a
 * fixed batch (within GRAPH_TOLERANCE); else the layers (`layersPredict`),
 * saying why.
 */
export async function chooseExecution(
  model: tf.LayersModel,
  input: [number, number, number],
  want: 'graph' | 'layers',
  nativePackage: string | undefined,
  layersPredict: (flat: Float32Array, n: number) => Promise<Float32Array>,
): Promise<{
  execution: ModelExecution;
  predict: (flat: Float32Array, n: number) => Promise<Float32Array>;
  dispose: () => void;
}> {
  const layers = (note?: string) => ({
    execution: { kind: 'layers' as const, ...(note ? { note } : {}) },
    predict: layersPredict,
    dispose: () => {},
  });
  if (want === 'layers') return layers();
  if (!nativePackage)
    return layers(`the ${tf.getBackend()} backend runs layers only (graph needs the native backend)`);
  let compiled: Awaited<ReturnType<typeof compileGraph>>;
  try {
    compiled = await compileGraph(model, nativePackage);
  } catch (e) {
    return layers(`TensorFlow did not load the graph: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!compiled.ok) return layers(compiled.unsupported);
  const { graph } = compiled;
  const probe = probeInput(2, input);
  const a = await layersPredict(probe.slice(), 2);
  const b = await predictGraph(graph, input, probe, 2);
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - (b[i] ?? Number.NaN));
    if (!(d <= diff)) diff = d; // NaN sticks, and fails the check below
  }
  if (a.length !== b.length || !(diff <= GRAPH_TOLERANCE)) {
    graph.dispose();
    return layers(
      `the graph's probabilities differ from the layers' by ${diff.toExponential(2)} (over ${GRAPH_TOLERANCE})`,
    );
  }
  return {
    execution: { kind: 'graph', note: `agrees with the layers within ${diff.toExponential(1)}` },
    predict: (flat, n) => predictGraph(graph, input, flat, n),
    dispose: () => graph.dispose(),
  };
}
