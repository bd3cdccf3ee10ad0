#!/usr/bin/env python3
"""Checks a BERT-shaped Cramjet encoder against Hugging Face transformers: loads MODEL_DIR (model.safetensors +
config.json in BertForMaskedLM's layout, as `cramjet train --model bert-tiny|bert-base` checkpoints and
nn.EncoderDir write it) with BertForMaskedLM, runs the ids `cramjet fill --json` used for TEXT, and compares the
logits at every mask with Cramjet's. Also checks that transformers' tokenizer, reading our tokenizer.json, encodes
TEXT to the same ids. Needs torch and transformers (not installable here: no PyPI), so it runs where they are, e.g.
the GPU machine:

    cp runs/bert/tokenizer.json runs/bert/checkpoints/step-000001000/     # cramjet fill reads it from there
    python3 scripts/compare-bert-hf.py runs/bert/checkpoints/step-000001000 "The <|mask|> sat on the mat."

Exits 1 when the largest logit difference exceeds 1e-3 of the logits' scale or the ids differ.
"""
import json
import os
import subprocess
import sys

import torch
from transformers import BertForMaskedLM, PreTrainedTokenizerFast


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    model_dir, text = sys.argv[1], sys.argv[2]
    tokenizer = os.path.join(model_dir, "tokenizer.json")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ours = json.loads(subprocess.check_output([os.path.join(root, "cramjet"), "fill", "--model", model_dir, "--text", text, "--json"]))
    ids = ours["ids"]

    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer)
    theirs_ids = tok(text, add_special_tokens=False)["input_ids"]
    same_ids = theirs_ids == ids[1:]
    print(f"tokenizer: {'same ids' if same_ids else 'DIFFERENT ids'} ({len(ids) - 1} tokens after [CLS])")

    model = BertForMaskedLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    worst = 0.0
    for m in ours["masks"]:
        mine = torch.tensor(m["logits"])
        theirs = logits[m["position"], : mine.numel()]
        rel = ((theirs - mine).abs().max() / theirs.abs().max()).item()
        worst = max(worst, rel)
        top = [tok.convert_ids_to_tokens(int(i)) for i in theirs.topk(5).indices]
        print(f"mask at {m['position']}: max |Δlogit| / max |logit| = {rel:.2e}; transformers' top 5 {top}, "
              f"Cramjet's {[p['token'] for p in m['top']]}")
    ok = same_ids and worst <= 1e-3
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
