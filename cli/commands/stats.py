"""got stats: how big the repository is, logically and on disk."""

from __future__ import annotations

import argparse

from gotfs.repo import maintenance

from cli.context import open_repo
from cli.output import emit_json, human_size, out


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("stats", help="sizes, blob count and dedup ratio",
                       description="Logical size of HEAD and of all history, stored size, blob count "
                                   "and the dedup ratio (history bytes / stored bytes).")
    p.add_argument("--json", action="store_true", help="machine-readable output (sizes in bytes)")
    return p


def run(args) -> int:
    with open_repo() as repo:
        s = maintenance.stats(repo)
    if args.json:
        emit_json(s)
        return 0
    out(f"HEAD:          {s['head_files']} files, {human_size(s['head_bytes'])}")
    out(f"history:       {human_size(s['history_bytes'])} (logical, every commit)")
    out(f"stored:        {human_size(s['stored_bytes'])} in {s['blobs']} blobs")
    out(f"pack files:    {human_size(s['pack_bytes'])}")
    out(f"dedup ratio:   {s['dedup_ratio']:.2f}x")
    return 0
