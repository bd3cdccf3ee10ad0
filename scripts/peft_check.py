#!/usr/bin/env python3
"""Checks Cramjet's PEFT adapters against Hugging Face transformers + peft, both ways.

  1. An adapter Cramjet trained (LoRA, prompt or prefix tuning), loaded by PEFT over the base Cramjet saved, must
     give the logits `cramjet logits` writes for the same tokens; a LoRA adapter merged by
     `cramjet merge` and loaded by plain transformers must give them too.
  2. Adapters PEFT makes (LoRA on c_attn/c_proj/c_fc with random B, prompt tuning, prefix tuning) must give in
     Cramjet the logits PEFT computes.

Needs: python3 with torch, transformers and peft (pip install torch transformers peft), and the cramjet launcher
(the repository's ./cramjet or a bundle's). The base must be a GPT-2-layout Cramjet model directory with its
tokenizer.json (a demo run's checkpoint with the run's tokenizer.json copied in, or a `cramjet merge` output).

  scripts/peft_check.py --cramjet ./cramjet --model BASE_DIR [--adapter ADAPTER_DIR ...] [--tokens 5,17,3,...]

Exits 0 when every comparison is within --atol, 1 otherwise; prints one line per comparison.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from peft import LoraConfig, PeftModel, PrefixTuningConfig, PromptTuningConfig, get_peft_model
from transformers import AutoModelForCausalLM


def cramjet_logits(cramjet, model, adapter, ids, workdir):
    """Logits [T][V] at every position of the token ids, as Cramjet computes them."""
    out = os.path.join(workdir, "logits-%d.safetensors" % len(os.listdir(workdir)))
    cmd = [cramjet, "logits", "--model", model, "--tokens", ",".join(map(str, ids)), "--out", out]
    if adapter:
        cmd += ["--adapter", adapter]
    subprocess.run(cmd, check=True)
    return load_file(out)["logits"].double()


def default_tokens(model):
    """Sixteen ids spread over the base's vocabulary."""
    with open(os.path.join(model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    return [(7919 * i + 11) % vocab for i in range(16)]


def hf_logits(model, ids):
    """Logits at the real tokens' positions (PEFT's prompt tuning returns its virtual positions first)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    return logits[-len(ids):]


def compare(name, ours, theirs, atol):
    vocab = min(ours.shape[-1], theirs.shape[-1])
    diff = (ours[:, :vocab] - theirs[:, :vocab]).abs().max().item()
    ok = diff <= atol
    print("%-58s max |Δlogit| = %.2e  %s" % (name, diff, "ok" if ok else "FAIL (atol %.0e)" % atol))
    return ok


def base_model(path):
    return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cramjet", default="./cramjet", help="the cramjet launcher")
    ap.add_argument("--model", required=True, help="the base: a Cramjet model directory with tokenizer.json")
    ap.add_argument("--adapter", action="append", default=[], help="an adapter Cramjet trained (repeatable)")
    ap.add_argument("--tokens", help="comma-separated token ids to score (default: 16 spread over the vocabulary)")
    ap.add_argument("--atol", type=float, default=2e-3)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as work:
        ids = [int(t) for t in args.tokens.split(",")] if args.tokens else default_tokens(args.model)
        ours = cramjet_logits(args.cramjet, args.model, None, ids, work)
        ok &= compare("base model: transformers vs cramjet", ours, hf_logits(base_model(args.model), ids), args.atol)

        # 1. Cramjet's adapters in PEFT (and merged, in plain transformers).
        for adapter in args.adapter:
            ours = cramjet_logits(args.cramjet, args.model, adapter, ids, work)
            peft = PeftModel.from_pretrained(base_model(args.model), adapter).eval()
            ok &= compare("cramjet adapter %s in PEFT" % os.path.basename(os.path.normpath(adapter)), ours, hf_logits(peft, ids), args.atol)
            with open(os.path.join(adapter, "adapter_config.json")) as f:
                if json.load(f)["peft_type"] == "LORA":
                    merged = os.path.join(work, "merged-%d" % len(os.listdir(work)))
                    subprocess.run([args.cramjet, "merge", "--model", args.model, "--adapter", adapter, "--out", merged], check=True)
                    ok &= compare("cramjet merge, in transformers without PEFT", ours, hf_logits(base_model(merged), ids), args.atol)

        # 2. PEFT's adapters in Cramjet.
        torch.manual_seed(0)
        made = {
            "lora": LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,
                               task_type="CAUSAL_LM"),
            "prompt": PromptTuningConfig(num_virtual_tokens=5, task_type="CAUSAL_LM"),
            "prefix": PrefixTuningConfig(num_virtual_tokens=5, task_type="CAUSAL_LM"),
        }
        for name, config in made.items():
            model = get_peft_model(base_model(args.model), config)
            with torch.no_grad():
                for pname, p in model.named_parameters():
                    if "lora_B" in pname:
                        p.normal_(0, 0.05)          # B starts at zero: make the adapter do something
            out = os.path.join(work, "peft-" + name)
            model.save_pretrained(out)
            ours = cramjet_logits(args.cramjet, args.model, out, ids, work)
            peft = PeftModel.from_pretrained(base_model(args.model), out).eval()
            ok &= compare("PEFT %s adapter in cramjet" % name, ours, hf_logits(peft, ids), args.atol)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
