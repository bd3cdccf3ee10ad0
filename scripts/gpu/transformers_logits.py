#!/usr/bin/env python3
# gpu-check: timeout=150
"""Ecosystem check: models Cramjet exported in the Hugging Face layouts, loaded with transformers, give Cramjet's
logits. For a GPT-2-layout and a Llama-layout model freshly initialised and exported by `cramjet logits --init`
(their weight matrices then scaled by 6, so attention is far from uniform), and the training step's final
checkpoint when that step left one, on one token sequence:
  transformers fp32 (GPT2LMHeadModel / LlamaForCausalLM.from_pretrained) vs Cramjet on the CPU (fp32): rel. error <= 1e-4
  transformers fp32 vs Cramjet on the device (bf16 weights and activations):                    rel. error <= 3e-2
where rel. error is ||a - b|| / ||b|| over all positions and the whole vocabulary. Run by scripts/gpu-check.sh
(see docs/CUDA.md for the environment it gets); exits 0 when every comparison holds, 1 when one fails, 77 when
transformers is missing (after checking the Cramjet side against a numpy re-implementation of the transformers
forward passes, so a dry run still checks the export's layout).
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


def read_safetensors(path):
    """Every F32 tensor of a safetensors file, read by the format's definition (no safetensors package), and the
    metadata."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        begin, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(e["shape"]).astype(np.float64)
    return tensors, header.get("__metadata__", {})


def sharpen(model_dir, factor=6.0):
    """Scales every weight matrix of an exported model by factor, in place: a fresh model's weights (std 0.02) give
    near-uniform attention, under which a wrong rotary or head layout would barely move the logits; these do."""
    tensors, meta = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = (t * factor if t.ndim == 2 else t).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(model_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_logits(path):
    tensors, meta = read_safetensors(path)
    return tensors["logits"].astype(np.float32), meta


def numpy_logits(model_dir, kind, tokens):
    """GPT2LMHeadModel's or LlamaForCausalLM's forward pass as transformers defines it, in float64 numpy over the
    exported file: the stand-in reference where transformers is not installed (the dry run), so the export's
    layout (Conv1D transposes, the q/k/v split, rotate-half RoPE) is checked before the GPU run."""
    w, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    T = len(tokens)
    causal = np.triu(np.full((T, T), -np.inf), 1)

    def attend(q, k, v, heads):
        hs = q.shape[1] // heads
        out = np.empty_like(q)
        for h in range(heads):
            sl = slice(h * hs, (h + 1) * hs)
            s = q[:, sl] @ k[:, sl].T / np.sqrt(hs) + causal
            p = np.exp(s - s.max(-1, keepdims=True))
            out[:, sl] = (p / p.sum(-1, keepdims=True)) @ v[:, sl]
        return out

    if kind == "gpt2":
        eps, H = cfg["layer_norm_epsilon"], cfg["n_head"]

        def ln(x, p):
            mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
            return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

        def gelu(x):
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

        x = w["wte.weight"][tokens] + w["wpe.weight"][:T]
        for l in range(cfg["n_layer"]):
            p = f"h.{l}."
            qkv = ln(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = np.split(qkv, 3, axis=-1)
            x = x + attend(q, k, v, H) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            hid = gelu(ln(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + hid @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        head = w.get("lm_head.weight", w["wte.weight"])
        return (ln(x, "ln_f") @ head.T).astype(np.float32)

    eps, H, theta = cfg["rms_norm_eps"], cfg["num_attention_heads"], cfg.get("rope_theta", 10000.0)
    hs = cfg["hidden_size"] // H

    def rms(x, p):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w[p]

    inv = 1.0 / theta ** (np.arange(0, hs, 2) / hs)
    freqs = np.outer(np.arange(T), inv)
    cos, sin = np.cos(np.concatenate([freqs, freqs], -1)), np.sin(np.concatenate([freqs, freqs], -1))

    def rope(x):
        out = np.empty_like(x)
        for h in range(H):
            sl = x[:, h * hs:(h + 1) * hs]
            rot = np.concatenate([-sl[:, hs // 2:], sl[:, :hs // 2]], -1)
            out[:, h * hs:(h + 1) * hs] = sl * cos + rot * sin
        return out

    x = w["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rms(x, p + "input_layernorm.weight")
        q, k, v = (a @ w[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        x = x + attend(rope(q), rope(k), v, H) @ w[p + "self_attn.o_proj.weight"].T
        m = rms(x, p + "post_attention_layernorm.weight")
        gate, up = m @ w[p + "mlp.gate_proj.weight"].T, m @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return (rms(x, "model.norm.weight") @ head.T).astype(np.float32)


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
        sharpen(d)
        models.append((kind + " (exported on " + DEVICE + ", weights ×6)", d, kind, cfg["vocab_size"]))
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
            e = rel(cpu, numpy_logits(d, kind, tokens))
            failed += e > CPU_BOUND
            print(f"  numpy re-implementation of the transformers forward pass vs cramjet cpu: rel. error {e:.2e} "
                  f"(bound {CPU_BOUND:.0e})  {'ok' if e <= CPU_BOUND else 'FAIL'}")
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
        if failed:
            print(f"FAIL the export disagrees with transformers' definitions (numpy stand-in): {failed} model(s)")
            return 1
        print("SKIP transformers is not installed here: the export matched a numpy re-implementation of its forward "
              "pass; the comparison with transformers itself needs the GPU machine's Python")
        return 77
    print(("FAIL " if failed else "PASS ") + f"transformers reproduces Cramjet's logits: {failed} comparison(s) outside their bounds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
