#!/usr/bin/env python3
"""Train the gauntlet demo MNIST CNN and export it to ONNX.

Architecture (tools/mnist_cnn_model.py):
    Conv2d(1,16,5) -> ReLU -> MaxPool2d(2) -> Conv2d(16,32,5) -> ReLU -> MaxPool2d(2)
    -> Flatten -> Linear(512,100) -> ReLU -> Linear(100,10)
Input: N x 1 x 28 x 28 float32 in [0,1] (raw pixels / 255, no normalization).
Output: N x 10 logits.

Training: torch.manual_seed(0), Adam lr 1e-3, batch 128, --epochs (default 3),
full 60k MNIST train set read directly from the gzip IDX files.

--adv-train: PGD adversarial training (Madry et al.): each batch is replaced by
PGD adversarial examples, Linf eps 0.3, --pgd-steps (default 10) steps of size
--pgd-alpha (default 0.03), uniform random start, clamped to [0,1].  eps is
linearly ramped from 0 to 0.3 over the first --eps-warmup-epochs (default 1) epoch
to help the small net start learning.  Outputs models/mnist_cnn_adv.{onnx,pt}.

Export: legacy TorchScript exporter (dynamo=False when supported), opset 13,
input 'input', output 'logits', dynamic batch axis 0.

Usage (from the repo root):
    .venv/bin/python tools/train_mnist_cnn.py [--mnist-dir DIR] [--epochs 3] [--adv-train]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn_model import MnistCnn  # noqa: E402
from mnist_io import DEFAULT_MNIST_DIR, REPO_ROOT, load_split  # noqa: E402
from onnx_export_util import export_legacy  # noqa: E402


def to_tensor(x_u8):
    return torch.from_numpy(x_u8.astype(np.float32) / 255.0).unsqueeze(1)


def pgd_attack(model, x, y, eps, alpha, steps):
    """Linf PGD with uniform random start; model must be in eval mode semantics-agnostic."""
    if eps <= 0:
        return x
    delta = torch.empty_like(x).uniform_(-eps, eps)
    x_adv = (x + delta).clamp(0, 1).detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * g.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1).detach()
    return x_adv


@torch.no_grad()
def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(x)


def robust_eval(model, x, y, eps, alpha, steps, bs=500):
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        xb, yb = x[i:i + bs], y[i:i + bs]
        xa = pgd_attack(model, xb, yb, eps, alpha, steps)
        with torch.no_grad():
            correct += (model(xa).argmax(1) == yb).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist-dir", default=DEFAULT_MNIST_DIR)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--adv-train", action="store_true")
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--pgd-steps", type=int, default=10)
    ap.add_argument("--pgd-alpha", type=float, default=0.03)
    ap.add_argument("--eps-warmup-epochs", type=float, default=1.0)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "models"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    np.random.seed(0)

    xtr_u8, ytr_np = load_split(args.mnist_dir, "train")
    xte_u8, yte_np = load_split(args.mnist_dir, "test")
    xtr, ytr = to_tensor(xtr_u8), torch.from_numpy(ytr_np)
    xte, yte = to_tensor(xte_u8), torch.from_numpy(yte_np)
    print(f"train {tuple(xtr.shape)} test {tuple(xte.shape)}", flush=True)

    model = MnistCnn()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(0)
    n = len(xtr)
    steps_per_epoch = (n + args.batch_size - 1) // args.batch_size
    warmup_steps = int(args.eps_warmup_epochs * steps_per_epoch)
    step = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        model.train()
        tot_loss, tot_correct = 0.0, 0
        for bi in range(steps_per_epoch):
            idx = perm[bi * args.batch_size:(bi + 1) * args.batch_size]
            xb, yb = xtr[idx], ytr[idx]
            if args.adv_train:
                eps = args.eps * min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else args.eps
                model.eval()
                xb = pgd_attack(model, xb, yb, eps, args.pgd_alpha, args.pgd_steps)
                model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            tot_loss += loss.item() * len(idx)
            tot_correct += (logits.argmax(1) == yb).sum().item()
            if args.adv_train and bi % 50 == 0:
                print(f"  epoch {epoch + 1} batch {bi}/{steps_per_epoch} loss {loss.item():.4f} "
                      f"({time.time() - t0:.0f}s)", flush=True)
        acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}: train loss {tot_loss / n:.4f} train acc {tot_correct / n:.4f} "
              f"test acc {acc:.4f} ({time.time() - t0:.1f}s)", flush=True)

    model.eval()
    test_acc = evaluate(model, xte, yte)
    print(f"final test accuracy: {test_acc:.4f} ({test_acc * 100:.2f}%)  train time {time.time() - t0:.1f}s")
    if args.adv_train:
        ra = robust_eval(model, xte[:1000], yte[:1000], args.eps, 0.01, 40)
        print(f"PGD-40 (alpha 0.01, eps {args.eps}) robust accuracy on first 1000 test images: {ra:.4f}")

    os.makedirs(args.out_dir, exist_ok=True)
    stem = "mnist_cnn_adv" if args.adv_train else "mnist_cnn"
    pt_path = os.path.join(args.out_dir, stem + ".pt")
    onnx_path = os.path.join(args.out_dir, stem + ".onnx")
    torch.save(model.state_dict(), pt_path)
    export_legacy(model, torch.zeros(1, 1, 28, 28), onnx_path, opset=13)

    # sanity check: onnxruntime agrees with torch
    import onnx
    import onnxruntime as ort
    onnx.checker.check_model(onnx.load(onnx_path))
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    xs = xte[:256].numpy()
    ort_out = sess.run(["logits"], {"input": xs})[0]
    with torch.no_grad():
        t_out = model(xte[:256]).numpy()
    print(f"ORT vs torch max abs diff: {np.abs(ort_out - t_out).max():.3e}")
    print(f"wrote {pt_path} and {onnx_path}")


if __name__ == "__main__":
    main()
