"""Summarise py-spy collapsed stacks (``--profile-dir`` output): the functions with the largest share of samples,
inclusive and self. ``python -m bench.flame FILE [--top N] [--match TEXT]``."""

from __future__ import annotations

import argparse
import collections
import re


def summarise(path: str, top: int = 25, match: str | None = None) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as lines:
        text = lines.read().splitlines()
    for line in text:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [re.sub(r" \((/[^)]*/)?([^/)]+)\)", r" (\2)", f) for f in stack.split(";")]
        frames = [re.sub(r":\d+\)", ")", f) for f in frames]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    out = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", own)):
        out.append(f"-- {title}")
        for frame, count in counter.most_common(top * 4):
            if match and match not in frame:
                continue
            out.append(f"{100 * count / total:5.1f}%  {frame}")
            if len(out) > 2 * top + 4:
                break
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.flame")
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match")
    args = parser.parse_args()
    print(summarise(args.path, args.top, args.match))
