"""What every Python peer of the serving benchmark serves (server.py: FastAPI,
kserve_server.py: KServe, litserve_server.py: LitServe): the artifact's model
rebuilt in Keras, its preprocessing, and its answers, written once so that the
peers differ only in the server around them.

The Keras model is rebuilt layer by layer from the artifact's model.json (the
tfjs "layers-model" topology) with the weights of weights.bin (tfjs_keras.py),
so every server runs the same architecture with the same weights.
Preprocessing follows preprocessing.json exactly as model/preprocessing.ts
does: decode, BT.601 luma for 1 channel (alpha dropped), bilinear resize with
half-pixel centres, (x * scale - mean) / std. The model is called through a
`tf.function` of `model(x, training=False)` (the fastest path Keras offers for
small batches; `model.predict` adds several ms of per-call overhead), with a
free batch dimension so that a batching server can call it once per batch.

https://www.tensorflow.org/js/guide/save_load (model.json format)
"""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfjs_keras  # noqa: E402

keras = tf.keras


class ImageError(ValueError):
    """The request's image cannot be decoded: the client's fault (HTTP 400)."""


def load_model(artifact: str) -> tuple[keras.Model, list[str], dict, dict]:
    """The Keras model with the artifact's weights (tfjs_keras.py), its labels, preprocessing spec and training record."""
    model = tfjs_keras.load_model(artifact)
    with open(os.path.join(artifact, "labels.json")) as f:
        labels = json.load(f)
    with open(os.path.join(artifact, "preprocessing.json")) as f:
        spec = json.load(f)
    training = {}
    if os.path.exists(os.path.join(artifact, "training.json")):
        with open(os.path.join(artifact, "training.json")) as f:
            training = json.load(f)
    return model, labels, spec, training


def preprocess(raw: bytes, spec: dict) -> np.ndarray:
    """Bytes of a PNG/JPEG → [1, h, w, c] float32, as model/preprocessing.ts toModelInput."""
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception as e:
        raise ImageError(f"image cannot be decoded: {e}") from e
    channels = spec["channels"]
    if img.mode in ("L", "LA", "I;16", "I", "F"):
        gray = np.asarray(img.convert("L"), dtype=np.float32)
        arr = gray[..., None] if channels == 1 else np.repeat(gray[..., None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
        if channels == 1:
            arr = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])[..., None]
        else:
            arr = rgb
    if arr.shape[0] != spec["height"] or arr.shape[1] != spec["width"]:
        # Half-pixel centres, no antialiasing: the same as the TypeScript resize.
        arr = tf.image.resize(arr, (spec["height"], spec["width"]), method="bilinear", antialias=False).numpy()
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    arr = (arr * np.float32(spec["scale"]) - mean) / std
    return arr[None, ...].astype(np.float32)


class Classifier:
    """The artifact's model, loaded and traced once: images in, class probabilities and top-k answers out."""

    def __init__(self, artifact: str, name: str, version: str, top_k: int = 3) -> None:
        model, self.labels, self.spec, _ = load_model(artifact)
        self.name, self.version, self.top_k = name, version, top_k
        s = self.spec
        # A traced graph, not eager op-by-op dispatch; any batch size.
        self._infer = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, s["height"], s["width"], s["channels"]], tf.float32)],
        )
        self._infer(np.zeros((1, s["height"], s["width"], s["channels"]), dtype=np.float32))

    def input(self, raw: bytes) -> np.ndarray:
        """One image's bytes → its model input [1, h, w, c] (ImageError when it cannot be decoded)."""
        return preprocess(raw, self.spec)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Inputs [n, h, w, c] → class probabilities [n, classes], in labels.json order."""
        return self._infer(x).numpy()

    def predictions(self, probs: np.ndarray) -> list[dict]:
        """One image's probabilities → its top k as [{"label", "probability"}], highest first."""
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        return [{"label": self.labels[i], "probability": float(probs[i])} for i in order]

    def answer(self, probs: np.ndarray) -> dict:
        """The /predict answer of every server of the benchmark: {"model", "version", "predictions"}."""
        return {"model": self.name, "version": self.version, "predictions": self.predictions(probs)}
