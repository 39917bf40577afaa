"""The FastAPI peer of the serving benchmark: the same model artifact served by
the stack most MLOps tutorials teach, FastAPI + TensorFlow/Keras under uvicorn.

    python server.py --artifact <artifact dir> --port 8001 [--workers 2]

The model, its preprocessing and its answers are classifier.py's, shared with
the KServe and LitServe peers.

POST /predict takes multipart/form-data with a file field "image" (the same
request the Koa server gets) and answers
{"model", "version", "predictions": [{"label", "probability"}, ...top k]}.
GET /readyz answers 200 once the model is loaded.

Tutorial style on purpose: one uvicorn worker, a sync endpoint (FastAPI runs it
in its thread pool; TensorFlow releases the GIL while it computes), one model
call per request.

https://fastapi.tiangolo.com/tutorial/request-files/
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import JSONResponse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def create_app(artifact: str, name: str, version: str) -> FastAPI:
    # TensorFlow is imported here, not at the top: with --workers > 1 uvicorn spawns each worker, which
    # imports this file again before it can answer the supervisor's 5 s health check; importing TensorFlow
    # then took longer than that on a loaded machine, and the workers were killed and spawned again.
    from classifier import Classifier, ImageError

    model = Classifier(artifact, name, version)
    app = FastAPI(title="peer: FastAPI + TensorFlow/Keras")

    @app.get("/readyz")
    def readyz() -> dict:
        return {"ready": True}

    @app.post("/predict")
    def predict(image: UploadFile = File(...)) -> JSONResponse:
        try:
            x = model.input(image.file.read())
        except ImageError as e:  # a bad image is the client's fault
            raise HTTPException(status_code=400, detail=str(e)) from e
        return JSONResponse(model.answer(model.probabilities(x)[0]))

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
