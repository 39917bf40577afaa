/**
 * A tfjs LayersModel ⇄ a folder with `model.json` + `weights.bin` (the tfjs
 * "layers-model" format, one weights shard), with plain Node file I/O so it
 * works on every backend (the pure-JS one has no `file://` handler). Serving
 * loads models with the same {@link loadModelFromDir}.
 *
 * @see https://www.tensorflow.org/js/guide/save_load#custom_io
 * @see https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/io/types.ts ModelJSON
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ProjectError, readJsonFile, stableStringify, writeFileAtomic } from '../platform/index.ts';

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

function isModelJson(v: unknown): v is tf.io.ModelJSON {
  const o = v as tf.io.ModelJSON;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.modelTopology === 'object' &&
    Array.isArray(o.weightsManifest)
  );
}

/**
 * An IOHandler that reads `dir/model.json` and the weight shards it names
 * (which must be plain file names in the same folder).
 */
export function dirLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const path = join(dir, MODEL_FILE);
      const json = await readJsonFile(path);
      if (!isModelJson(json)) {
        throw new ProjectError(
          'INVALID',
          `${path}: not a tfjs layers-model (no modelTopology/weightsManifest)`,
          {
            subject: path,
            hint: 'save it with saveModelToDir() or tf.LayersModel.save()',
          },
        );
      }
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const shards: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) {
          if (basename(p) !== p || p.startsWith('.')) {
            throw new ProjectError(
              'INVALID',
              `${path}: weight path "${p}" is not a file in the same folder`,
              {
                subject: path,
              },
            );
          }
          let bytes: Buffer;
          try {
            bytes = await readFile(join(dir, p));
          } catch (e) {
            throw new ProjectError('NOT_FOUND', `${join(dir, p)}: weights file named by ${path} is missing`, {
              subject: join(dir, p),
              cause: e,
            });
          }
          shards.push(
            bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
          );
        }
      }
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: tf.io.CompositeArrayBuffer.join(shards),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
      };
    },
  };
}

/** Load a LayersModel saved by {@link saveModelToDir} (or any one-folder tfjs layers model). */
export async function loadModelFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(dirLoadHandler(dir));
}
