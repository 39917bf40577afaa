"""The peer of the serving benchmark: the same model artifact served by the
stack most MLOps tutorials teach, FastAPI + TensorFlow/Keras under uvicorn.

    PEER_ARTIFACT=<artifact dir> .venv/bin/python server.py --port 8001

The Keras model is rebuilt layer by layer from the artifact's model.json
(the tfjs "layers-model" topology, Keras-JSON-like class names and configs),
and its weights are read from weights.bin in weightsManifest order (float32,
little-endian, concatenated), so both servers run the same architecture with
the same weights. Preprocessing follows preprocessing.json exactly as
model/preprocessing.ts does: decode, BT.601 luma for 1 channel (alpha
dropped), bilinear resize with half-pixel centres, (x * scale - mean) / std.

POST /predict takes multipart/form-data with a file field "image" (the same
request the Koa server gets) and answers
{"model", "version", "predictions": [{"label", "probability"}, ...top k]}.
GET /readyz answers 200 once the model is loaded.

Tutorial style on purpose: one uvicorn worker, a sync endpoint (FastAPI runs it
in its thread pool; TensorFlow releases the GIL while it computes), one model
call per request through a `tf.function` of `model(x, training=False)` (the
fastest single-request path; `model.predict` adds several ms of per-call overhead).

https://www.tensorflow.org/js/guide/save_load (model.json format)
https://fastapi.tiangolo.com/tutorial/request-files/
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from fastapi import FastAPI, File, HTTPException, UploadFile  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfjs_keras  # noqa: E402

keras = tf.keras


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
    img = Image.open(io.BytesIO(raw))
    img.load()
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


def create_app(artifact: str, name: str, version: str, top_k: int = 3) -> FastAPI:
    model, labels, spec, _ = load_model(artifact)
    # A traced graph, not eager op-by-op dispatch: the fastest single-request path Keras offers.
    infer = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, spec["height"], spec["width"], spec["channels"]], tf.float32)],
    )
    infer(np.zeros((1, spec["height"], spec["width"], spec["channels"]), dtype=np.float32))
    app = FastAPI(title="peer: FastAPI + TensorFlow/Keras")

    @app.get("/readyz")
    def readyz() -> dict:
        return {"ready": True}

    @app.post("/predict")
    def predict(image: UploadFile = File(...)) -> JSONResponse:
        try:
            x = preprocess(image.file.read(), spec)
        except Exception as e:  # a bad image is the client's fault
            raise HTTPException(status_code=400, detail=f"image cannot be decoded: {e}") from e
        probs = infer(x).numpy()[0]
        order = np.argsort(-probs, kind="stable")[:top_k]
        return JSONResponse(
            {
                "model": name,
                "version": version,
                "predictions": [{"label": labels[i], "probability": float(probs[i])} for i in order],
            }
        )

    return app


def app_from_env() -> FastAPI:
    """The app of PEER_ARTIFACT / PEER_MODEL_NAME / PEER_MODEL_VERSION: uvicorn's factory for --workers > 1."""
    return create_app(
        os.environ["PEER_ARTIFACT"],
        os.environ.get("PEER_MODEL_NAME", "model"),
        os.environ.get("PEER_MODEL_VERSION", "1"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", default=os.environ.get("PEER_ARTIFACT"))
    ap.add_argument("--name", default=os.environ.get("PEER_MODEL_NAME", "model"))
    ap.add_argument("--version", default=os.environ.get("PEER_MODEL_VERSION", "1"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if not args.artifact:
        print("usage: server.py --artifact <artifact dir> (or PEER_ARTIFACT)", file=sys.stderr)
        sys.exit(2)
    import uvicorn

    if args.workers > 1:
        # Several processes (uvicorn's supervisor forks them), each loading the model: the way the
        # tutorials scale a Python server on one machine. /readyz answers once a worker is up.
        os.environ.update(PEER_ARTIFACT=args.artifact, PEER_MODEL_NAME=args.name, PEER_MODEL_VERSION=args.version)
        print(json.dumps({"msg": "starting", "workers": args.workers}), flush=True)
        uvicorn.run(
            "server:app_from_env",
            factory=True,
            app_dir=os.path.dirname(os.path.abspath(__file__)),
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
        )
        return
    app = create_app(args.artifact, args.name, args.version)
    print(json.dumps({"msg": "ready", "url": f"http://{args.host}:{args.port}"}), flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
