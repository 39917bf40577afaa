"""A tfjs layers model (model.json + weights.bin) rebuilt in Keras, layer by
layer, with the same weights: what the Python peers of the benchmarks run, so
that both sides compute the same architecture from the same numbers.

model.json holds the tfjs "layers-model" topology (Keras-JSON-like class
names and snake_case configs) and a weightsManifest; weights.bin is the
concatenation of every weight, float32 little-endian, in manifest order.
https://www.tensorflow.org/js/guide/save_load

Supported layers: the ones training/models.ts builds (small-cnn, deep-cnn,
airbench): Conv2D, MaxPooling2D, Flatten, Dense, Dropout, BatchNormalization,
ReLU, Activation, GlobalAveragePooling2D, GlobalMaxPooling2D. A layer saved
with `trainable: false` (airbench's whitening) stays frozen.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

keras = tf.keras

# Keras' order of each layer's weights (get_weights / set_weights).
WEIGHT_ORDER = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]


def _layer(class_name: str, cfg: dict) -> keras.layers.Layer:
    name = cfg["name"]
    if class_name == "Conv2D":
        return keras.layers.Conv2D(
            filters=cfg["filters"],
            kernel_size=tuple(cfg["kernel_size"]),
            strides=tuple(cfg.get("strides", [1, 1])),
            padding=cfg.get("padding", "valid"),
            activation=cfg.get("activation"),
            use_bias=cfg.get("use_bias", True),
            dilation_rate=tuple(cfg.get("dilation_rate", [1, 1])),
            trainable=cfg.get("trainable", True),
            name=name,
        )
    if class_name == "MaxPooling2D":
        return keras.layers.MaxPooling2D(
            pool_size=tuple(cfg["pool_size"]),
            strides=tuple(cfg["strides"]) if cfg.get("strides") else None,
            padding=cfg.get("padding", "valid"),
            name=name,
        )
    if class_name == "Flatten":
        return keras.layers.Flatten(name=name)
    if class_name == "Dense":
        return keras.layers.Dense(
            units=cfg["units"],
            activation=cfg.get("activation"),
            use_bias=cfg.get("use_bias", True),
            name=name,
        )
    if class_name == "Dropout":
        return keras.layers.Dropout(rate=cfg["rate"], name=name)
    if class_name == "BatchNormalization":
        return keras.layers.BatchNormalization(
            axis=cfg.get("axis", -1),
            momentum=cfg.get("momentum", 0.99),
            epsilon=cfg.get("epsilon", 1e-3),
            center=cfg.get("center", True),
            scale=cfg.get("scale", True),
            name=name,
        )
    if class_name == "ReLU":
        return keras.layers.ReLU(max_value=cfg.get("max_value"), name=name)
    if class_name == "Activation":
        return keras.layers.Activation(cfg["activation"], name=name)
    if class_name == "GlobalAveragePooling2D":
        return keras.layers.GlobalAveragePooling2D(name=name)
    if class_name == "GlobalMaxPooling2D":
        return keras.layers.GlobalMaxPooling2D(name=name)
    raise ValueError(f"model.json: layer class {class_name} ({name}) is not supported by bench/peer/tfjs_keras.py")


def load_model(model_dir: str) -> keras.Model:
    """The Keras model of model_dir/model.json, with the weights of its weightsManifest."""
    with open(os.path.join(model_dir, "model.json")) as f:
        model_json = json.load(f)
    topology = model_json["modelTopology"]
    config = topology["config"]
    layers_cfg = config["layers"] if isinstance(config, dict) else config
    first_cfg = layers_cfg[0]["config"]
    input_shape = first_cfg.get("batch_input_shape") or first_cfg.get("batch_shape")
    inputs = keras.Input(shape=tuple(input_shape[1:]), dtype="float32")
    x = inputs
    layers: dict[str, keras.layers.Layer] = {}
    for entry in layers_cfg:
        if entry["class_name"] == "InputLayer":
            continue
        layer = _layer(entry["class_name"], entry["config"])
        x = layer(x)
        layers[entry["config"]["name"]] = layer
    model = keras.Model(inputs, x, name=(config.get("name") if isinstance(config, dict) else None) or "model")

    specs, blobs = [], []
    for group in model_json["weightsManifest"]:
        specs.extend(group["weights"])
        for p in group["paths"]:
            with open(os.path.join(model_dir, p), "rb") as f:
                blobs.append(f.read())
    data = b"".join(blobs)
    offset = 0
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for spec in specs:
        if spec.get("dtype", "float32") != "float32":
            raise ValueError(f"weights: {spec['name']} is {spec['dtype']}, only float32 is supported")
        n = int(np.prod(spec["shape"])) if spec["shape"] else 1
        arr = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(spec["shape"])
        offset += n * 4
        layer_name, _, weight_name = spec["name"].rpartition("/")
        by_layer.setdefault(layer_name, {})[weight_name] = arr
    if offset != len(data):
        raise ValueError(f"weights.bin has {len(data)} bytes, the manifest describes {offset}")
    for layer_name, weights in by_layer.items():
        unknown = set(weights) - set(WEIGHT_ORDER)
        if unknown:
            raise ValueError(f"weights of {layer_name}: unknown {sorted(unknown)}")
        layers[layer_name].set_weights([weights[k] for k in WEIGHT_ORDER if k in weights])
    return model
