/**
 * A tfjs LayersModel ⇄ a folder with `model.json` + `weights.bin` (the tfjs
 * "layers-model" format, one weights shard), with plain Node file I/O so it
 * works on every backend (the pure-JS one has no `file://` handler). The one
 * reading of model.json ({@link modelWeightsOf}) serves a folder here and an
 * artifact in memory (model/artifact/read.ts).
 *
 * @see https://www.tensorflow.org/js/guide/save_load#custom_io
 * @see https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/io/types.ts ModelJSON
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  compileValidator,
  isProjectError,
  ProjectError,
  readJsonFile,
  stableStringify,
  writeFileAtomic,
} from '../platform/index.ts';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

/**
 * Save `model` as `dir/model.json` + `dir/weights.bin` (each written
 * atomically; model.json last, so a reader never sees a manifest without its
 * weights). model.json is written with sorted keys, so the same weights give
 * the same bytes.
 */
export async function saveModelToDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFileAtomic(join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeFileAtomic(join(dir, MODEL_FILE), stableStringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(0),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    }),
  );
}

/** model.json of the tfjs "layers-model" format: the topology and where each weight is. */
export interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/** Validate a parsed model.json (`what` names it in messages). */
export const validateModelJson = compileValidator<ModelJson>({
  type: 'object',
  required: ['modelTopology', 'weightsManifest'],
  properties: {
    modelTopology: { type: 'object' },
    weightsManifest: {
      type: 'array',
      items: {
        type: 'object',
        required: ['paths', 'weights'],
        properties: { paths: { type: 'array', items: { type: 'string' } }, weights: { type: 'array' } },
      },
    },
  },
});

/** What tfjs builds a LayersModel from: plain data (structured-clone safe), the weights in one buffer. */
export interface ModelWeights {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** Every weight shard, concatenated in manifest order. */
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
}

/** The weight shard files model.json names, in manifest order. */
export const shardPaths = (json: ModelJson): string[] => json.weightsManifest.flatMap((g) => g.paths);

/**
 * The one reading of a model.json (a folder's, or an artifact's in memory):
 * its topology and weight specs, with the bytes of each shard from `shard`
 * joined into one buffer in manifest order.
 */
export function modelWeightsOf(json: ModelJson, shard: (path: string) => Uint8Array): ModelWeights {
  const joined = Buffer.concat(shardPaths(json).map(shard));
  return {
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer,
    ...(json.format ? { format: json.format } : {}),
    ...(json.generatedBy ? { generatedBy: json.generatedBy } : {}),
    ...(json.convertedBy ? { convertedBy: json.convertedBy } : {}),
  };
}

/**
 * An IOHandler that reads `dir/model.json` and the weight shards it names
 * (which must be plain file names in the same folder).
 */
export function dirLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const path = join(dir, MODEL_FILE);
      let json: ModelJson;
      try {
        json = validateModelJson(await readJsonFile(path), path);
      } catch (e) {
        if (!isProjectError(e) || e.code !== 'INVALID') throw e;
        throw new ProjectError('INVALID', `${path}: not a tfjs layers-model (${e.message})`, {
          subject: path,
          hint: 'save it with saveModelToDir() or tf.LayersModel.save()',
          cause: e,
        });
      }
      const shards = new Map<string, Uint8Array>();
      for (const p of shardPaths(json)) {
        if (basename(p) !== p || p.startsWith('.')) {
          throw new ProjectError('INVALID', `${path}: weight path "${p}" is not a file in the same folder`, {
            subject: path,
          });
        }
        try {
          shards.set(p, await readFile(join(dir, p)));
        } catch (e) {
          throw new ProjectError('NOT_FOUND', `${join(dir, p)}: weights file named by ${path} is missing`, {
            subject: join(dir, p),
            cause: e,
          });
        }
      }
      return modelWeightsOf(json, (p) => shards.get(p) as Uint8Array);
    },
  };
}

/** Load a LayersModel saved by {@link saveModelToDir} (or any one-folder tfjs layers model). */
export async function loadModelFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(dirLoadHandler(dir));
}
