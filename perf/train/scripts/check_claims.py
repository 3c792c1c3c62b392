#!/usr/bin/python3
"""check_claims.py — the scaled-down check of docs/reproduction.md claims 1 and 2 (ctest train.claims_scaled,
label slow): 4 ranks through conccl-run, MLP 784-256-256-10, 25600 training samples (200 steps of 4 x 32
per epoch), 3 epochs (600 steps), 5000 test samples, lr 0.05, seed 1; about 2 minutes on two cores.
Exit 0 when every assertion holds, 1 when one fails (each printed with the measured numbers), 2 when a
run could not be made.

Assertions, each the claim's bound plus a margin for the short run and the single seed:
  claim 1, top-k 1%: EF ends within 2.5 points of SGD (claim: 1; measured here 2.1, in the full
           1872-step run 0.6) and above no feedback.
  claim 1, random block 1/64 (lr 0.05): no feedback ends >= 3 points below SGD.
  claim 2, top-k 1%: ConEF ends within 1.5 points of EF (claim: 0.5) with int8 residual <= 27% and
           count-sketch residual (s=0.2) <= 20.5% of EF's residual bytes, as the library measures them.
Not asserted because it did not hold in the full runs: EF with random block 1/64 near SGD (claim 1).
"""
import argparse
import json
import os
import subprocess
import sys

COMMON = ["--model", "mlp", "--width", "256", "--batch", "32", "--epochs", "3", "--train-subset", "25600",
          "--test-subset", "5000", "--lr", "0.05", "--seed", "1"]
RUNS = {
    "sgd": ["--method", "sgd"],
    "none-rb64": ["--method", "none", "--codec", "randblock", "--ratio", "1/64"],
    "none-topk1": ["--method", "none", "--codec", "topk", "--ratio", "0.01"],
    "ef-topk1": ["--method", "ef", "--codec", "topk", "--ratio", "0.01"],
    "conef-int8-topk1": ["--method", "conef", "--residual", "int8", "--codec", "topk", "--ratio", "0.01"],
    "conef-cs-topk1": ["--method", "conef", "--residual", "sketch", "--sketch", "0.2", "--beta", "0.9",
                       "--codec", "topk", "--ratio", "0.01"],
}


def run(args, name):
    out = os.path.join(args.workdir, name + ".jsonl")
    if os.path.exists(out):
        os.remove(out)
    cmd = [args.run, "-n", "4", args.train] + COMMON + RUNS[name] + ["--label", name, "-J", out]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    rows = []
    if os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    if p.returncode not in (0, 1) or not rows:  # 1 = diverged, which is a measurement
        print(f"check_claims: run {name} failed (exit {p.returncode}):\n{p.stdout[-3000:]}", file=sys.stderr)
        sys.exit(2)
    last = rows[-1]
    print(f"{name:18s} test_acc {last['test_acc']:6.2f}  residual {last['residual_bytes']:8d} B"
          f"  ({100.0 * last['residual_bytes'] / last['fp32_residual_bytes']:5.1f}% of fp32)  diverged {last['diverged']}")
    return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--run", required=True, help="tools/conccl-run")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    r = {name: run(args, name) for name in RUNS}
    acc = {k: v["test_acc"] for k, v in r.items()}
    failures = []

    def check(cond, text):
        print(("ok    " if cond else "FAIL  ") + text)
        if not cond:
            failures.append(text)

    check(acc["ef-topk1"] >= acc["sgd"] - 2.5, f"claim 1: EF top-k 1% {acc['ef-topk1']:.2f} within 2.5 of SGD {acc['sgd']:.2f}")
    check(acc["ef-topk1"] > acc["none-topk1"], f"claim 1: EF top-k 1% {acc['ef-topk1']:.2f} above no feedback {acc['none-topk1']:.2f}")
    check(acc["none-rb64"] <= acc["sgd"] - 3.0,
          f"claim 1: no-feedback random block 1/64 {acc['none-rb64']:.2f} >= 3 below SGD {acc['sgd']:.2f}")
    ef_bytes = r["ef-topk1"]["residual_bytes"]
    for name, limit in (("conef-int8-topk1", 27.0), ("conef-cs-topk1", 20.5)):
        pct = 100.0 * r[name]["residual_bytes"] / ef_bytes
        check(acc[name] >= acc["ef-topk1"] - 1.5, f"claim 2: {name} {acc[name]:.2f} within 1.5 of EF {acc['ef-topk1']:.2f}")
        check(pct <= limit, f"claim 2: {name} residual {pct:.1f}% of EF's <= {limit}%")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
