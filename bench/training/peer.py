"""The Python peer of the training benchmark (bench/training/main.ts): the
same architecture, the same initial weights, the same data in the same order,
trained with TensorFlow/Keras on the CPU the way its guides do
(model.compile + model.fit), evaluated on the validation split every epoch.

    python peer.py --model-dir DIR --data DIR --epochs E --batch-size B --lr LR

--model-dir holds model.json + weights.bin as tfjs saved them (tfjs_keras.py
rebuilds the model); --data holds what the benchmark wrote: train_x.f32,
train_y.i32, val_x.f32, val_y.i32 (little-endian), order.i32 (epochs x n
train indices: the batch order of every epoch) and meta.json.
Prints one JSON line per epoch, then a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peer"))
import tfjs_keras  # noqa: E402

keras = tf.keras


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--target", type=float, default=2.0, help="stop once validation accuracy reaches this")
    ap.add_argument("--min-epochs", type=int, default=1, help="but not before this many epochs")
    args = ap.parse_args()

    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    h, w, c = meta["shape"]
    k = meta["classes"]
    n, nv = meta["train"], meta["validation"]
    x = np.fromfile(os.path.join(args.data, "train_x.f32"), dtype="<f4").reshape(n, h, w, c)
    y = np.eye(k, dtype=np.float32)[np.fromfile(os.path.join(args.data, "train_y.i32"), dtype="<i4")]
    vx = np.fromfile(os.path.join(args.data, "val_x.f32"), dtype="<f4").reshape(nv, h, w, c)
    vy = np.fromfile(os.path.join(args.data, "val_y.i32"), dtype="<i4")
    order = np.fromfile(os.path.join(args.data, "order.i32"), dtype="<i4").reshape(-1, n)

    model = tfjs_keras.load_model(args.model_dir)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr), loss="categorical_crossentropy")
    elapsed = 0.0
    for epoch in range(args.epochs):
        perm = order[epoch % len(order)]
        t0 = time.perf_counter()
        hist = model.fit(x[perm], y[perm], batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        train_s = time.perf_counter() - t0
        probs = model.predict(vx, batch_size=256, verbose=0)
        acc = float(np.mean(np.argmax(probs, axis=1) == vy))
        elapsed += time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "epoch": epoch + 1,
                    "trainSeconds": train_s,
                    "elapsedSeconds": elapsed,
                    "loss": float(hist.history["loss"][-1]),
                    "valAccuracy": acc,
                }
            ),
            flush=True,
        )
        if acc >= args.target and epoch + 1 >= args.min_epochs:
            break
    print(
        json.dumps(
            {
                "tensorflow": tf.__version__,
                "keras": keras.__version__ if hasattr(keras, "__version__") else "",
                "python": sys.version.split()[0],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
