#!/usr/bin/env python3
# gpu-check: timeout=150
"""Ecosystem check: models Cramjet exported in the Hugging Face layouts, loaded with transformers, give Cramjet's
logits. For a GPT-2-layout and a Llama-layout model freshly initialised and exported by `cramjet logits --init`
(and the bf16 training run's final checkpoint, when that step left one), on one token sequence:
  transformers fp32 (GPT2LMHeadModel / LlamaForCausalLM.from_pretrained) vs Cramjet on the CPU (fp32): rel. error <= 1e-4
  transformers fp32 vs Cramjet on the device (bf16 weights and activations):                    rel. error <= 3e-2
where rel. error is ||a - b|| / ||b|| over all positions and the whole vocabulary. Run by scripts/gpu-check.sh
(see docs/CUDA.md for the environment it gets); exits 0 when every comparison holds, 1 when one fails, 77 when
transformers is missing (after checking the Cramjet side, so a dry run still exercises it).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

CRAMJET = os.environ.get("CRAMJET", "cramjet")
DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
WORK = os.environ.get("GPU_CHECK_WORK", "/tmp/transformers-logits")
TRAINED = os.environ.get("GPU_CHECK_TRAINED_MODEL", "")
TOKENS = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 0, 1, 50, 199, 4095, 999]
CPU_BOUND, DEVICE_BOUND = 1e-4, 3e-2

CONFIGS = {
    "gpt2": {"n_layer": 2, "n_head": 4, "n_embd": 128, "vocab_size": 5000, "block_size": 64},
    "llama": {"n_layer": 2, "n_head": 4, "n_embd": 128, "vocab_size": 5000, "block_size": 64, "positions": "rope",
              "norm": "rmsnorm", "mlp": "swiglu", "bias": False, "tied_embeddings": False},
}


def read_logits(path):
    """The F32 tensor 'logits' of a safetensors file, read by the format's definition (no safetensors package)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    e = header["logits"]
    assert e["dtype"] == "F32", e
    begin, end = e["data_offsets"]
    return np.frombuffer(data[begin:end], dtype="<f4").reshape(e["shape"]), header.get("__metadata__", {})


def cramjet(*args):
    r = subprocess.run([CRAMJET, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cramjet " + " ".join(args) + " failed:\n" + r.stdout + r.stderr)
    return r.stdout.strip()


def rel(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64)))


def transformers_logits(model_dir, kind, tokens):
    import torch
    from transformers import GPT2LMHeadModel, LlamaForCausalLM
    cls = GPT2LMHeadModel if kind == "gpt2" else LlamaForCausalLM
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = cls.from_pretrained(model_dir, attn_implementation="eager").float().to(dev).eval()
    with torch.no_grad():
        out = model(torch.tensor([tokens], device=dev)).logits[0]
    return out.float().cpu().numpy(), cls.__name__, dev


def main():
    os.makedirs(WORK, exist_ok=True)
    models = []
    for kind, cfg in CONFIGS.items():
        cfg_file = os.path.join(WORK, kind + ".json")
        with open(cfg_file, "w") as f:
            json.dump(cfg, f)
        d = os.path.join(WORK, kind)
        cramjet("logits", "--init", cfg_file, "--save", d, "--seed", "3", "--tokens", "0", "--out",
                os.path.join(WORK, kind + "-init.safetensors"), "--device", DEVICE)
        models.append((kind + " (fresh, exported on " + DEVICE + ")", d, kind, cfg["vocab_size"]))
    if TRAINED and os.path.isfile(os.path.join(TRAINED, "config.json")):
        with open(os.path.join(TRAINED, "config.json")) as f:
            c = json.load(f)
        models.append(("gpt2 (trained on " + DEVICE + ")", TRAINED, c.get("model_type", "gpt2"), c["vocab_size"]))

    try:
        import transformers  # noqa: F401
        have_transformers = True
    except ImportError:
        have_transformers = False

    failed = 0
    for name, d, kind, vocab in models:
        tokens = [t % vocab for t in TOKENS]
        ids = ",".join(map(str, tokens))
        cpu_file, dev_file = os.path.join(WORK, "cpu.safetensors"), os.path.join(WORK, "dev.safetensors")
        cramjet("logits", "--model", d, "--tokens", ids, "--out", cpu_file, "--device", "cpu")
        cramjet("logits", "--model", d, "--tokens", ids, "--out", dev_file, "--device", DEVICE)
        cpu, _ = read_logits(cpu_file)
        dev, meta = read_logits(dev_file)
        assert cpu.shape == (len(tokens), vocab) and dev.shape == cpu.shape, (cpu.shape, dev.shape)
        print(f"{name}: cramjet {DEVICE} vs cramjet cpu: rel. error {rel(dev, cpu):.2e} ({meta.get('device', '?')})")
        if not have_transformers:
            continue
        ref, cls, where = transformers_logits(d, kind, tokens)
        for label, mine, bound in (("cpu fp32", cpu, CPU_BOUND), (DEVICE, dev, DEVICE_BOUND)):
            e = rel(mine, ref)
            ok = e <= bound and np.isfinite(mine).all()
            failed += not ok
            same = float((mine.argmax(-1) == ref.argmax(-1)).mean())
            print(f"  {cls} ({where}, fp32) vs cramjet {label}: rel. error {e:.2e} (bound {bound:.0e}), "
                  f"argmax agrees at {same:.0%} of positions  {'ok' if ok else 'FAIL'}")
    if not have_transformers:
        print("SKIP transformers is not installed here: the Cramjet side (export, logits on cpu and "
              + DEVICE + ") ran; the comparison needs the GPU machine's Python")
        return 77
    print(("FAIL " if failed else "PASS ") + f"transformers reproduces Cramjet's logits: {failed} comparison(s) outside their bounds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
