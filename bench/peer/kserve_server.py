"""The KServe peer of the serving benchmark: the same model artifact served by
KServe's Python model server, as KServe's docs write a custom model server
(a `kserve.Model` subclass whose `load` loads the model, then
`ModelServer().start([model])` with the server's own flags).

    python kserve_server.py --artifact <artifact dir> --model_name <name> \\
      --model_version <version> --http_port 8080 --grpc_port 8081 [--workers 2]

The model, its preprocessing and its answers are classifier.py's, shared with
the FastAPI and LitServe peers. Two routes take the same PNG, base64 in JSON:

- v1, `POST /v1/models/<name>:predict` with
  `{"instances": [{"image": {"b64": "<base64 PNG>"}}]}` (the TensorFlow
  Serving binary form KServe's docs use for images) answers
  `{"predictions": [[{"label", "probability"}, ...top k], ...one per instance]}`;
- Open Inference Protocol v2, `POST /v2/models/<name>/infer` with
  `{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [n], "data": ["<base64 PNG>", ...]}]}`
  answers `{"model_name", "model_version", "outputs": [{"name": "probabilities",
  "datatype": "FP32", "shape": [n, classes], "data": [...]}, {"name": "label",
  "datatype": "BYTES", "shape": [n], "data": ["<class>", ...]}]}`.

Readiness: `GET /v2/models/<name>/ready` (200 once the model is loaded).
Like the docs' examples, `predict` computes in the event loop (KServe calls
it without a thread pool), one request at a time per worker process. With
`--workers` > 1 KServe spawns the worker processes and pickles the model
into each; the Keras model does not pickle, so each worker loads its own, as
the parent did before `start`. It does so in a thread, answering "not
ready" (503) until then: KServe's supervisor pings a worker from 0.5 s after
spawning it and kills one that does not answer within 5 s, and the worker's
answering thread starts only once the model is unpickled; loading
TensorFlow and the model first took longer than that on a loaded machine,
and the workers were killed and spawned again without end. TensorFlow is
imported with the model for the same reason (a spawned worker imports this
file again before it answers).

https://kserve.github.io/website/docs/model-serving/predictive-inference/frameworks/custom-predictor
https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
import threading

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.errors import InvalidInput
from kserve.utils.utils import generate_uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _png(b64: object, where: str) -> bytes:
    """One base64 image of the request → its bytes (InvalidInput, HTTP 400, naming `where` when it is not base64)."""
    if isinstance(b64, bytes):  # the v2 binary extension hands BYTES over undecoded
        return b64
    try:
        return base64.b64decode(str(b64), validate=True)
    except binascii.Error as e:
        raise InvalidInput(f"{where}: not base64 ({e})") from e


class ImageClassifier(Model):
    """The artifact's classifier behind KServe's v1 and v2 REST routes."""

    def __init__(self, name: str, artifact: str, version: str) -> None:
        super().__init__(name)
        self.artifact, self.version = artifact, version
        self.classifier = None

    def load(self) -> bool:
        from classifier import Classifier  # TensorFlow: see the module's docstring

        self.classifier = Classifier(self.artifact, self.name, self.version)
        self.ready = True
        return self.ready

    def __getstate__(self) -> dict:
        # KServe pickles the model into each spawned worker (--workers > 1); a traced Keras model does not pickle.
        return {**self.__dict__, "classifier": None, "ready": False}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        threading.Thread(target=self.load, name="load-model", daemon=True).start()

    def _probabilities(self, pngs: list[bytes]) -> np.ndarray:
        from classifier import ImageError

        assert self.classifier is not None
        try:
            x = np.concatenate([self.classifier.input(p) for p in pngs])
        except ImageError as e:
            raise InvalidInput(str(e)) from e
        return self.classifier.probabilities(x)

    async def predict(self, payload: dict | InferRequest, headers: dict[str, str] | None = None) -> dict | InferResponse:
        if isinstance(payload, InferRequest):
            return self._predict_v2(payload)
        return self._predict_v1(payload)

    def _predict_v1(self, payload: dict) -> dict:
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list) or not instances:
            raise InvalidInput('v1 request: "instances" must be a non-empty list of {"image": {"b64": ...}}')
        pngs = []
        for i, inst in enumerate(instances):
            b64 = inst.get("image", {}).get("b64") if isinstance(inst, dict) and isinstance(inst.get("image"), dict) else None
            if b64 is None:
                raise InvalidInput(f'v1 request: instances[{i}] is not {{"image": {{"b64": "<base64 PNG>"}}}}')
            pngs.append(_png(b64, f"instances[{i}].image.b64"))
        assert self.classifier is not None
        return {"predictions": [self.classifier.predictions(p) for p in self._probabilities(pngs)]}

    def _predict_v2(self, request: InferRequest) -> InferResponse:
        image = next((i for i in request.inputs if i.name == "image"), None)
        if image is None or image.datatype != "BYTES":
            raise InvalidInput('v2 request: one input named "image", datatype BYTES, data: base64 PNGs')
        pngs = [_png(d, f"inputs.image.data[{i}]") for i, d in enumerate(image.data)]
        probs = self._probabilities(pngs)
        assert self.classifier is not None
        labels = [self.classifier.labels[int(k)] for k in np.argmax(probs, axis=1)]
        return InferResponse(
            response_id=request.id or generate_uuid(),
            model_name=self.name,
            model_version=self.version,
            infer_outputs=[
                InferOutput(name="probabilities", shape=list(probs.shape), datatype="FP32", data=probs.flatten().tolist()),
                InferOutput(name="label", shape=[len(labels)], datatype="BYTES", data=labels),
            ],
        )


def main() -> None:
    # KServe's own flags (--http_port, --grpc_port, --workers, --model_name, ...) with this server's.
    parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", required=True, help="the model artifact folder (model.json, weights.bin, ...)")
    parser.add_argument("--model_version", default="1", help="the version the v2 answers carry")
    args, _ = parser.parse_known_args()
    model = ImageClassifier(args.model_name, args.artifact, args.model_version)
    model.load()
    ModelServer().start([model])


if __name__ == "__main__":
    main()
