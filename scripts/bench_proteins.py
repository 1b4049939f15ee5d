"""Benchmark the protein backbone models: sampling speed, step times, training step, scaling.

    python scripts/bench_proteins.py --probe-steps 3 --repeats 2   # about 5 minutes on one thread
    python scripts/bench_proteins.py --quick                       # tiny settings, to check that it runs

Four parts, all on CPU with ``--threads`` torch threads (default 1: on a shared, loaded
machine two threads waited on each other and ran up to 8x slower):

1. **Structures per second** of the bundled model's network (``--experiment``) at chain
   lengths 64, 128 and 256 for DDPM with 1000 ancestral steps and flow matching with 100
   Euler steps. Running 1000 steps at length 256 would take long, so each sampler runs
   ``--probe-steps`` real steps of a batch of ``--batch`` chains (after one warm-up step);
   the median step time ``t_step`` is extrapolated linearly in the step count, which is
   exact up to noise because every step is one network call plus the same elementwise
   update. NeRF decoding ``t_decode`` of the batch is timed once. Then
   ``structures/s = batch / (steps * t_step + t_decode)``.
2. **One denoising step at FoldingDiff's sizes**: batch 32, eval mode, no gradients, one
   DDPM ancestral step (network + posterior update), at lengths 64 and 128, for networks
   with FoldingDiff's depth and FFN ratio and about its parameter count: "mini" (6 blocks,
   width 144, 1.84 M parameters; FoldingDiff's mini model is 1.9 M) and "full" (12 blocks,
   width 288, 14.3 M; FoldingDiff's is 14.5 M). gensci's blocks carry adaLN modulation,
   so at equal parameters they are narrower. Both in float32 and with the network under
   bfloat16 autocast (the CPU's AVX-512 BF16 units). Compared with FoldingDiff's own code
   timed on this machine in float32 (``FOLDINGDIFF_STEP_S``) and, since the machine is
   shared and its load changes, with :class:`FoldingDiffShaped` (the same architecture
   rebuilt in a few lines of torch) timed in the same run.
3. **Training step**: forward, backward and AdamW at batch 32 and length 128 (and at the
   bundled config's batch and crop), train mode.
4. **Cost against length**: the denoising step of the bundled network at batch 32 for
   lengths 32 ... 512; the exponent ``k`` of ``t ~ L^k`` between neighbouring lengths.

Every time is the median of ``--repeats`` runs after a warm-up. The machine is named
(CPU model from /proc/cpuinfo, core and thread counts); the raw numbers go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from domains.proteins.angles import defined_mask
from domains.proteins.nerf import angles_to_backbone, place_oxygen
from domains.proteins.network import AngleTransformer
from gensci.config import compose, to_plain
from gensci.core.flow import FlowMatching
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Torus
from gensci.nn.precision import with_precision
from samplers.ddpm import DDPMSampler
from samplers.ode import EulerSampler

ROOT = Path(__file__).resolve().parent.parent

#: FoldingDiff's own code (microsoft/foldingdiff, BertEncoder), one denoising step at batch 32
#: in eval mode, measured on this machine: {size: {length: seconds}}
FOLDINGDIFF_STEP_S = {"mini": {64: 0.083, 128: 0.31}, "full": {64: 0.51, 128: 1.34}}
#: AngleTransformer settings at FoldingDiff's depth, FFN ratio (2) and parameter count
SIZES = {
    "mini": dict(hidden=144, depth=6, attention_heads=12, mlp_ratio=2.0),
    "full": dict(hidden=288, depth=12, attention_heads=12, mlp_ratio=2.0),
}


class FoldingDiffShaped(nn.Module):
    """FoldingDiff's denoiser shape, rebuilt here only to time it beside gensci's at the same
    moment: ``Linear(6 -> h)`` + time features, LayerNorm, then BERT layers (post-LN,
    GELU FFN) whose attention adds HuggingFace's ``relative_key`` term
    ``q_i . e[i - j]`` (a learned embedding per clipped offset), and the head
    ``dense -> GELU -> LayerNorm -> dense(6)``. Wu et al. 2024 (arXiv 2209.15611): mini
    6 layers, h = 192, FFN 384; full 12 layers, h = 384, FFN 768; 12 heads, 128 positions."""

    def __init__(self, hidden: int, depth: int, ffn: int, heads: int = 12, max_len: int = 128):
        super().__init__()
        self.h, self.heads, self.d, self.max_len = hidden, heads, hidden // heads, max_len
        self.embed = nn.Linear(6, hidden)
        self.time = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(
            nn.ModuleDict({"qkv": nn.Linear(hidden, 3 * hidden), "out": nn.Linear(hidden, hidden),
                           "ln1": nn.LayerNorm(hidden), "up": nn.Linear(hidden, ffn), "down": nn.Linear(ffn, hidden),
                           "ln2": nn.LayerNorm(hidden), "dist": nn.Embedding(2 * max_len - 1, hidden // heads)})
            for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden), nn.Linear(hidden, 6))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = x.shape
        freqs = torch.arange(self.h // 2, dtype=x.dtype) / (self.h // 2)
        tf = t[:, None] * 1000 * torch.exp(-math.log(10000) * freqs)
        h = self.norm(self.embed(x) + self.time(torch.cat([tf.sin(), tf.cos()], -1))[:, None])
        pos = torch.arange(n)
        offset = (pos[:, None] - pos[None, :]).clamp(-self.max_len + 1, self.max_len - 1) + self.max_len - 1
        key_bias = None
        if mask is not None:
            real = mask.any(-1) if mask.ndim == 3 else mask
            key_bias = torch.zeros(b, 1, 1, n).masked_fill(~real[:, None, None, :], -1e9)
        for layer in self.layers:
            q, k, v = layer["qkv"](h).view(b, n, 3, self.heads, self.d).permute(2, 0, 3, 1, 4)
            scores = q @ k.transpose(-1, -2) + torch.einsum("bhld,lrd->bhlr", q, layer["dist"](offset))
            scores = scores / math.sqrt(self.d)
            if key_bias is not None:
                scores = scores + key_bias
            ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, self.h)
            h = layer["ln1"](h + layer["out"](ctx))
            h = layer["ln2"](h + layer["down"](torch.nn.functional.gelu(layer["up"](h))))
        return self.head(h)


#: FoldingDiff's two published sizes for :class:`FoldingDiffShaped`
FOLDINGDIFF_SIZES = {"mini": dict(hidden=192, depth=6, ffn=384), "full": dict(hidden=384, depth=12, ffn=768)}


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0]}


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def network(size: dict, heads: int = 1) -> AngleTransformer:
    torch.manual_seed(0)
    return AngleTransformer(dim=6, heads=heads, **size).eval()


def inputs(batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, length, 6, generator=g) * 2 - 1) * math.pi
    return x, defined_mask(torch.full((batch,), length), length)


def sampler_step_time(net, process, sampler_cls, batch: int, length: int, steps: int, repeats: int,
                      bf16: bool = False) -> float:
    """Median seconds per step of ``steps`` real sampler steps (one warm-up run first);
    ``bf16`` runs the network under CPU autocast to bfloat16 (the state stays float32)."""
    _, mask = inputs(batch, length)
    g = torch.Generator().manual_seed(0)
    sampler = sampler_cls(steps=steps, progress=False)
    net = with_precision(net, "bf16" if bf16 else "fp32")

    def run():
        with torch.no_grad():
            sampler.sample(net, process, (batch, length, 6), mask=mask, generator=g)

    return median_time(run, repeats) / steps


def decode_time(batch: int, length: int, repeats: int) -> float:
    x, _ = inputs(batch, length)
    residues = torch.ones(batch, length, dtype=torch.bool)

    def run():
        coords = angles_to_backbone(x.double(), residues)
        place_oxygen(coords, residues)

    return median_time(run, repeats)


def train_step_time(net, process, batch: int, length: int, repeats: int) -> float:
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x, mask = inputs(batch, length)
    g = torch.Generator().manual_seed(0)

    def run():
        c = process.corrupt(x, generator=g, mask=mask)
        loss, _ = process.loss(net(c.x_t, c.t, mask=mask), c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t = median_time(run, repeats)
    net.eval()
    return t


def bundled_network(experiment: str) -> tuple[dict, dict]:
    """The network settings and the batch / crop of an experiment preset."""
    cfg = to_plain(compose(experiment))
    model = {k: v for k, v in cfg["model"].items() if k in ("hidden", "depth", "attention_heads", "mlp_ratio",
                                                             "max_relative_distance", "time_embedding")}
    return model, {"batch_size": cfg["batch_size"], "crop_length": cfg["domain"]["crop_length"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="proteins/bundled", help="preset whose network is timed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--scaling-lengths", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--probe-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny settings to check that the script runs")
    parser.add_argument("--json", default=str(ROOT / "docs" / "bench_proteins.json"))
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.scaling_lengths, args.probe_steps, args.repeats = [32, 64], [32, 64], 2, 1
        args.json = None
    torch.set_num_threads(args.threads)
    out: dict = {"machine": machine(), "settings": {k: v for k, v in vars(args).items() if k != "json"}}
    print(json.dumps(out["machine"]), flush=True)

    size, train_shape = bundled_network(args.experiment)
    net = network(size)
    ddpm = GaussianDiffusion(Torus(), "cosine", prediction="eps", timesteps=1000)
    flow = FlowMatching(Torus())
    out["bundled"] = {"experiment": args.experiment, "network": size, "parameters": parameters(net)}

    # 1. structures per second
    rows = []
    for length in args.lengths:
        t_decode = decode_time(args.batch, length, args.repeats)
        for name, process, sampler, steps in (("DDPM", ddpm, DDPMSampler, 1000), ("flow", flow, EulerSampler, 100)):
            t_step = sampler_step_time(net, process, sampler, args.batch, length, args.probe_steps, args.repeats)
            total = steps * t_step + t_decode
            row = {"process": name, "steps": steps, "length": length, "batch": args.batch, "step_s": t_step,
                   "decode_s": t_decode, "batch_s": total, "structures_per_s": args.batch / total}
            rows.append(row)
            print(f"sampling {name:5s} {steps:4d} steps L={length:3d}: {t_step * 1e3:7.1f} ms/step, "
                  f"{args.batch / total:.4f} structures/s ({total / args.batch:.1f} s each)", flush=True)
    out["sampling"] = rows

    # 2. one denoising step at FoldingDiff's sizes
    rows = []
    for name, cfg in FOLDINGDIFF_SIZES.items():
        torch.manual_seed(0)
        ref_net = FoldingDiffShaped(**cfg).eval()
        for length in (64, 128):
            t = sampler_step_time(ref_net, ddpm, DDPMSampler, 32, length, args.probe_steps, args.repeats)
            rows.append({"size": name, "network": "FoldingDiff-shaped (BERT, relative_key)", "parameters":
                         parameters(ref_net), "length": length, "batch": 32, "precision": "fp32", "step_s": t,
                         "foldingdiff_step_s": FOLDINGDIFF_STEP_S[name][length]})
            print(f"step FoldingDiff-shaped {name} ({parameters(ref_net) / 1e6:.2f} M) fp32 L={length}: {t:.3f} s",
                  flush=True)
    same_moment = {(r["size"], r["length"]): r["step_s"] for r in rows}
    for name, cfg in SIZES.items():
        big = network(cfg)
        for length in (64, 128):
            for bf16 in (False, True):
                t = sampler_step_time(big, ddpm, DDPMSampler, 32, length, args.probe_steps, args.repeats, bf16=bf16)
                ref = FOLDINGDIFF_STEP_S[name][length]
                precision = "bf16 autocast" if bf16 else "fp32"
                shaped = same_moment[(name, length)]
                rows.append({"size": name, "network": cfg, "parameters": parameters(big), "length": length,
                             "batch": 32, "precision": precision, "step_s": t, "foldingdiff_step_s": ref,
                             "speedup": ref / t, "foldingdiff_shaped_step_s": shaped,
                             "speedup_same_moment": shaped / t})
                print(f"step {name} ({parameters(big) / 1e6:.2f} M) {precision} L={length}: {t:.3f} s "
                      f"(FoldingDiff's code {ref:.3f} s: {ref / t:.1f}x; FoldingDiff-shaped now {shaped:.3f} s: "
                      f"{shaped / t:.1f}x)", flush=True)
    out["foldingdiff_sizes"] = rows

    # 3. training step
    rows = []
    shapes = [(32, 128), (train_shape["batch_size"], train_shape["crop_length"])]
    for name, cfg in [("bundled", size)] + list(SIZES.items()):
        for batch, length in dict.fromkeys(shapes if name == "bundled" else shapes[:1]):
            for pname, process in (("DDPM", ddpm), ("flow", flow)):
                t = train_step_time(network(cfg), process, batch, length, args.repeats)
                rows.append({"network": name, "process": pname, "batch": batch, "length": length, "step_s": t})
                print(f"train step {name} {pname} batch {batch} L={length}: {t:.3f} s", flush=True)
    out["training"] = rows

    # 4. cost against length
    rows = []
    for length in args.scaling_lengths:
        t = sampler_step_time(net, flow, EulerSampler, 32, length, args.probe_steps, args.repeats)
        rows.append({"length": length, "batch": 32, "step_s": t})
    for a, b in zip(rows, rows[1:]):
        b["exponent_from_previous"] = math.log(b["step_s"] / a["step_s"]) / math.log(b["length"] / a["length"])
    for r in rows:
        k = r.get("exponent_from_previous")
        print(f"scaling L={r['length']:4d}: {r['step_s'] * 1e3:8.1f} ms/step" + (f"  (L^{k:.2f})" if k else ""), flush=True)
    out["scaling"] = rows
    out["machine"]["load_average_1min_end"] = os.getloadavg()[0]

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"raw numbers written to {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
