#!/usr/bin/env python3
"""Gives a split's examples the texts another split of the same corpus has for them, keeping the first split's
membership: which example is in train, validation and test.

A change to how a corpus is read (e.g. text/Email.java keeping a mail's HTML alternative) changes the texts, so
`cramjet split` orders and deduplicates them differently and about 1% of the mails change sides. Comparing two
readings on the same examples, or fine-tuning from a base pretrained on the old training split without letting
it read new test mails, needs the old membership with the new texts:

  ./cramjet split --data spam-assassin --out data/spam-task          # before the change
  ./cramjet split --data spam-assassin --out data/spam-task-new      # after it
  scripts/retext-split.py data/spam-task data/spam-task-new data/spam-task-html

Examples are matched by their `source`; one the new split dropped as a duplicate keeps its old text (counted).
labels.json is copied; task.json gets a "retexted_from" entry.
"""
import json
import os
import shutil
import sys

SPLITS = ("train", "val", "test")


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(old, new, out):
    texts = {e["source"]: e["text"] for s in SPLITS for e in read(os.path.join(new, s + ".jsonl"))}
    os.makedirs(out, exist_ok=True)
    changed = kept = 0
    for s in SPLITS:
        with open(os.path.join(out, s + ".jsonl"), "w", encoding="utf-8") as f:
            for e in read(os.path.join(old, s + ".jsonl")):
                t = texts.get(e["source"])
                if t is None:
                    kept += 1
                elif t != e["text"]:
                    changed += 1
                    e["text"] = t
                f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(os.path.join(old, "task.json"), encoding="utf-8") as f:
        summary = json.load(f)
    summary["retexted_from"] = os.path.abspath(new)
    with open(os.path.join(out, "task.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    shutil.copy(os.path.join(old, "labels.json"), os.path.join(out, "labels.json"))
    print(f"{out}: {changed} texts changed, {kept} not in {new} (old text kept)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: retext-split.py OLD_SPLIT NEW_SPLIT OUT")
    main(*sys.argv[1:])
