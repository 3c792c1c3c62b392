#!/usr/bin/python3
"""summarize.py — a Markdown table of conccl-train runs from their JSON lines (one .jsonl per run).

Usage: summarize.py DIR_OR_FILE... [--time-to ACC_LABEL]
Columns: final test accuracy (last row), mean over the last epoch's evaluations (less noisy), best, final train loss, residual bytes per rank and as % of an
fp32 EF residual, wire MB per rank per step, training seconds, diverged. With --time-to LABEL, also the
training seconds each run needed to first reach LABEL's final accuracy ("-" if it never did).
"""
import argparse
import glob
import json
import os
import sys


def load(paths):
    runs = []
    for p in paths:
        files = sorted(glob.glob(os.path.join(p, "*.jsonl"))) if os.path.isdir(p) else [p]
        for f in files:
            with open(f, encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()]
            rows = [r for r in rows if r.get("bench") == "conccl-train"]
            if rows:
                runs.append((rows[-1].get("label") or os.path.basename(f), rows))
    return runs


def describe(r):
    m = r["method"]
    if m == "sgd":
        return "sgd (uncompressed)"
    codec = r["codec"] + (f" {r['codec_ratio']:.4g}" if r["codec"] in ("randblock", "topk") else "")
    extra = ""
    if m == "conef":
        extra = f" {r['residual']}" + (f" s={r['sketch']:g} b={r['beta']:g}" if r["residual"] == "sketch" else "")
        extra += " fp16" if r.get("residual_fp16") else ""
    if m in ("def", "saef"):
        extra = f" a={r['def_coeff']:g}" + (f" avg/{r['average_period']}" if r["average_period"] else "")
    return f"{m}{extra}, {codec}"


def first_time_at(rows, acc):
    for r in rows:
        if r["test_acc"] is not None and r["test_acc"] >= acc:
            return r["time_s"]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--time-to", default=None, help="label of the run whose final accuracy is the target")
    a = ap.parse_args()
    runs = load(a.inputs)
    if not runs:
        print("summarize.py: no conccl-train rows", file=sys.stderr)
        return 2
    target = None
    if a.time_to:
        match = [rows for label, rows in runs if label == a.time_to]
        if not match:
            print(f"summarize.py: no run labelled {a.time_to}", file=sys.stderr)
            return 2
        target = match[0][-1]["test_acc"]
    head = "| run | method, codec | lr | final acc % | last-epoch mean acc % | best acc % | final train loss | residual B/rank | % of fp32 EF | wire MB/rank/step | train s | diverged |"
    if target is not None:
        head += f" s to {target:.2f}% |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for label, rows in runs:
        last = rows[-1]
        tail = [r["test_acc"] for r in rows if r["epoch"] > last["epoch"] - 1 + 1e-9 and r["test_acc"] is not None]
        mean = sum(tail) / len(tail) if tail else float("nan")
        best = max((r["test_acc"] for r in rows if r["test_acc"] is not None), default=float("nan"))
        res = last["residual_bytes"]
        pct = 100.0 * res / last["fp32_residual_bytes"] if last["fp32_residual_bytes"] else 0.0
        wire = last["wire_bytes"] / max(1, last["step"]) / 1e6
        loss = last["train_loss"]
        cells = [label, describe(last), f"{last['lr']:g}", f"{last['test_acc']:.2f}", f"{mean:.2f}", f"{best:.2f}",
                 "nan" if loss is None else f"{loss:.4f}", str(res), f"{pct:.1f}", f"{wire:.4f}",
                 f"{last['time_s']:.1f}", "yes" if last["diverged"] else "no"]
        if target is not None:
            t = first_time_at(rows, target)
            cells.append("-" if t is None else f"{t:.1f}")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
