"""The Keras side of the CIFAR-10 benchmark (bench/training/cifar10.ts): the
recipe of training/configs/cifar10.json trained with TensorFlow/Keras on the
same machine, from the same initial weights, on the same images.

    python cifar10_peer.py --work DIR

DIR holds what the benchmark wrote: model/ (the initial model as tfjs saved it,
whitening included; bench/peer/tfjs_keras.py rebuilds it), train.tsv /
validation.tsv / test.tsv (one "<path>\\t<label index>" line per image, the
split the TypeScript side trained on) and recipe.json (epochs, batch size,
learning rate and schedule, optimizer, label smoothing, augmentation, seed,
per-weight learning-rate scales).

The JPEG files are decoded here (Pillow), scaled to [0, 1] as the TypeScript
side's preprocessing does. Training is a custom loop in one tf.function (the
param groups of the recipe: a learning-rate scale per weight, L2 weight decay
coupled into Nesterov momentum, as PyTorch's SGD, are not what Keras'
built-in SGD does), with the same per-step one-cycle schedule. After every
epoch: validation accuracy (part of the timed loop, as on the TypeScript
side) and test accuracy (not timed). Lookahead, when the recipe has it, as
training/lookahead.ts does it. Prints one JSON line per epoch, then a
summary line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peer"))
import tfjs_keras  # noqa: E402

keras = tf.keras


def read_split(path: str) -> tuple[np.ndarray, np.ndarray]:
    paths, labels = [], []
    with open(path) as f:
        for line in f:
            p, label = line.rstrip("\n").split("\t")
            paths.append(p)
            labels.append(int(label))
    x = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            x[i] = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return x, np.asarray(labels, dtype=np.int32)


def learning_rate(step: int, steps_per_epoch: int, r: dict) -> float:
    """training/schedule.ts learningRateAtStep, one-cycle."""
    oc = r["oneCycle"]
    last = max(1, r["epochs"] * steps_per_epoch - 1)
    t = min(1.0, max(0.0, step / last))
    if t <= oc["peakAt"]:
        f = 1.0 if oc["peakAt"] == 0 else oc["start"] + (1 - oc["start"]) * (t / oc["peakAt"])
    else:
        f = 1.0 if oc["peakAt"] == 1 else 1 + (oc["end"] - 1) * ((t - oc["peakAt"]) / (1 - oc["peakAt"]))
    return r["learningRate"] * f


def augment(x: np.ndarray, rng: np.random.Generator, crop: int, flip: bool, reflect: bool) -> np.ndarray:
    """training/augment.ts on a whole epoch: random flip, then a random translation of up to `crop` pixels."""
    n = len(x)
    out = x
    if flip:
        mask = rng.random(n) < 0.5
        out = np.where(mask[:, None, None, None], x[:, :, ::-1, :], x)
    if crop > 0:
        padded = np.pad(out, ((0, 0), (crop, crop), (crop, crop), (0, 0)), mode="reflect" if reflect else "constant")
        dy = rng.integers(-crop, crop + 1, n)
        dx = rng.integers(-crop, crop + 1, n)
        res = np.empty_like(out)
        h, w = out.shape[1:3]
        for sy in range(-crop, crop + 1):
            for sx in range(-crop, crop + 1):
                sel = (dy == sy) & (dx == sx)
                if sel.any():
                    res[sel] = padded[sel, crop + sy : crop + sy + h, crop + sx : crop + sx + w]
        out = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.work, "recipe.json")) as f:
        r = json.load(f)
    t0 = time.perf_counter()
    x_train, y_train = read_split(os.path.join(args.work, "train.tsv"))
    x_val, y_val = read_split(os.path.join(args.work, "validation.tsv"))
    x_test, y_test = read_split(os.path.join(args.work, "test.tsv"))
    decode_s = time.perf_counter() - t0
    k = r["classes"]
    x_train = x_train.astype(np.float32) / 255.0
    x_val = x_val.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0

    model = tfjs_keras.load_model(os.path.join(args.work, "model"))
    tvars = model.trainable_variables
    # "<layer>/<weight>", as the benchmark names them (Keras 3 paths may carry a prefix).
    def key(v) -> str:
        return "/".join((v.path if hasattr(v, "path") else v.name.split(":")[0]).split("/")[-2:])

    scales = [float(r["scales"].get(key(v), 1.0)) for v in tvars]
    missing = sorted(set(r["scales"]) - {key(v) for v in tvars})
    if missing:
        raise SystemExit(f"recipe.json scales name weights the Keras model lacks: {missing}")
    bufs = [tf.Variable(tf.zeros_like(v), trainable=False) for v in tvars]
    opt = r["optimizer"]
    mu, wd, nesterov = float(opt["momentum"]), float(opt["weightDecay"]), bool(opt["nesterov"])
    loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=float(r.get("labelSmoothing", 0.0)))

    @tf.function
    def train_step(x, y, lr):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = loss_fn(y, p)
        grads = tape.gradient(loss, tvars)
        for v, g, b, s in zip(tvars, grads, bufs, scales):
            d = g * s + wd * v if wd > 0 else g * s
            b.assign(mu * b + d)
            step = d + mu * b if nesterov else b
            v.assign_sub(lr * step)
        return loss, tf.reduce_mean(tf.cast(tf.equal(tf.argmax(p, 1), tf.argmax(y, 1)), tf.float32))

    la = r.get("lookahead")
    total_steps = r["epochs"] * math.ceil(len(x_train) / r["batchSize"])
    avg_vars = [v for v in model.variables if tf.as_dtype(v.dtype) == tf.float32]
    average: list[tf.Variable] = []

    @tf.function
    def blend(rho):
        # training/lookahead.ts: average = rho * average + (1 - rho) * weights; weights = average
        for a, v in zip(average, avg_vars):
            a.assign(rho * a + (1 - rho) * v)
            v.assign(a)

    def lookahead_after_step(step: int, epoch0: int) -> None:
        if la is None or epoch0 < la["afterEpochs"] or step % la["every"] != 0:
            return
        if not average:
            average.extend(tf.Variable(tf.convert_to_tensor(v), trainable=False) for v in avg_vars)
            return
        rho = la["decay"] ** la["every"] * min(1.0, step / total_steps) ** 3
        blend(tf.constant(rho, tf.float32))

    @tf.function
    def infer(x):
        return model(x, training=False)

    def accuracy(x, y, tta=False):
        right = 0
        for i in range(0, len(x), 1000):
            xb = tf.constant(x[i : i + 1000])
            p = infer(xb).numpy()
            if tta:
                p = 0.5 * (p + infer(tf.reverse(xb, axis=[2])).numpy())
            right += int(np.sum(np.argmax(p, 1) == y[i : i + 1000]))
        return right / len(x)

    bs = r["batchSize"]
    n = len(x_train)
    steps_per_epoch = math.ceil(n / bs)
    rng = np.random.default_rng(r["seed"])
    aug = r["augmentation"]
    eye = np.eye(k, dtype=np.float32)
    elapsed = 0.0
    cpu = 0.0
    step = 0
    for epoch in range(1, r["epochs"] + 1):
        t = time.perf_counter()
        c = time.process_time()
        xs = augment(x_train, rng, aug["crop"], aug["flip"], aug.get("padding") == "reflect") if aug["enabled"] else x_train
        order = rng.permutation(n)
        loss_sum = acc_sum = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * bs : (b + 1) * bs]
            lr = learning_rate(step, steps_per_epoch, r)
            loss, acc = train_step(tf.constant(xs[idx]), tf.constant(eye[y_train[idx]]), tf.constant(lr, tf.float32))
            loss_sum += float(loss) * len(idx)
            acc_sum += float(acc) * len(idx)
            step += 1
            lookahead_after_step(step, epoch - 1)
        if average:
            blend(tf.constant(1.0, tf.float32))
        train_s = time.perf_counter() - t
        val_acc = accuracy(x_val, y_val) if len(x_val) else float("nan")
        elapsed += time.perf_counter() - t
        cpu += time.process_time() - c
        test_acc = accuracy(x_test, y_test)
        print(
            json.dumps(
                {
                    "epoch": epoch,
                    "trainSeconds": train_s,
                    "elapsedSeconds": elapsed,
                    "cpuSeconds": cpu,
                    "loss": loss_sum / n,
                    "accuracy": acc_sum / n,
                    "valAccuracy": val_acc,
                    "testAccuracy": test_acc,
                }
            ),
            flush=True,
        )
    print(
        json.dumps(
            {
                "decodeSeconds": decode_s,
                "testAccuracyFlipTTA": accuracy(x_test, y_test, tta=True),
                "tensorflow": tf.__version__,
                "keras": keras.__version__ if hasattr(keras, "__version__") else "",
                "python": sys.version.split()[0],
                "train": int(n),
                "validation": int(len(x_val)),
                "test": int(len(x_test)),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
