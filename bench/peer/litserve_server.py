"""The LitServe peer of the serving benchmark: the same model artifact served
by LitServe with its request batching on, as LitServe's docs write a server
(a `LitAPI` with `setup`, `decode_request`, `predict`, `encode_response`,
then `LitServer(api, ...).run(port=...)`).

    python litserve_server.py --artifact <artifact dir> --name <name> --version <version> --port 8000

The model, its preprocessing and its answers are classifier.py's, shared with
the FastAPI and KServe peers. Batching: `max_batch_size=32,
batch_timeout=0.005` (what issue 26.1 measured); LitAPI's default `batch`
stacks the decoded images into one array and its default `unbatch` splits the
probabilities again, so the model runs once per batch.

POST /predict takes the same request as the Koa and FastAPI servers,
multipart/form-data with a file field "image" (LitServe hands a multipart
request to `decode_request` as its form), and answers
{"model", "version", "predictions": [{"label", "probability"}, ...top k]}.
GET /health answers 200 once every inference worker has run `setup`.
One inference worker process (`workers_per_device=1`, on the CPU) and one
API server process, LitServe's defaults; its log at warning, as the FastAPI
peer's, and no client.py written (`generate_client_file=False`).

https://lightning.ai/docs/litserve/features/batching
https://lightning.ai/docs/litserve/api-reference/litapi
"""

from __future__ import annotations

import argparse
import os
import sys

import litserve as ls
import numpy as np
from fastapi import HTTPException

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classifier import Classifier, ImageError  # noqa: E402

MAX_BATCH_SIZE = 32
BATCH_TIMEOUT_S = 0.005


class ImageClassifierAPI(ls.LitAPI):
    """The artifact's classifier behind LitServe's /predict, batched."""

    def __init__(self, artifact: str, name: str, version: str) -> None:
        super().__init__(max_batch_size=MAX_BATCH_SIZE, batch_timeout=BATCH_TIMEOUT_S)
        self.artifact, self.model_name, self.model_version = artifact, name, version

    def setup(self, device: str) -> None:
        self.classifier = Classifier(self.artifact, self.model_name, self.model_version)

    def decode_request(self, request) -> np.ndarray:
        image = request.get("image") if hasattr(request, "get") else None
        if image is None or not hasattr(image, "file"):
            raise HTTPException(status_code=400, detail='multipart/form-data with a file field "image" expected')
        try:
            return self.classifier.input(image.file.read())[0]
        except ImageError as e:  # a bad image is the client's fault
            raise HTTPException(status_code=400, detail=str(e)) from e

    def predict(self, x: np.ndarray) -> np.ndarray:
        # x: the batch's images stacked by LitAPI.batch, [n, h, w, c]
        return self.classifier.probabilities(x)

    def encode_response(self, output: np.ndarray) -> dict:
        return self.classifier.answer(output)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--name", default="model")
    ap.add_argument("--version", default="1")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    server = ls.LitServer(ImageClassifierAPI(args.artifact, args.name, args.version), accelerator="cpu")
    server.run(host=args.host, port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
