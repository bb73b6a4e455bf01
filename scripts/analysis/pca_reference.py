#!/usr/bin/env python3
"""Reference PCA for Charter's analysis tests (analysis-spec.md §3), with numpy.

Reads a Polis export folder (participants-votes.csv, comments.csv), builds the dense
participant x statement matrix of final votes (agree +1, disagree -1, pass 0), zeroes the
moderated-out columns (rejected or meta) for every row, imputes each missing cell with its
column mean over voted cells, centers on that mean, and prints the top two right singular
vectors of the result as JSON: {"statements": [...], "center": [...], "components": [[...], [...]]}.
Statements are the comments with at least one vote, ascending by id.
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np


def main(folder: str) -> None:
    folder = Path(folder)
    with open(folder / "participants-votes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    first = header.index("n-disagree") + 1
    comment_ids = [int(c) for c in header[first:]]
    cells = {}
    for row in rows[1:]:
        if not row:
            continue
        pid = int(row[header.index("participant")])
        for k, cid in enumerate(comment_ids):
            value = row[first + k] if first + k < len(row) else ""
            if value != "":
                cells[(pid, cid)] = int(value)
    mod_out = set()
    comments = folder / "comments.csv"
    if comments.exists():
        with open(comments, newline="", encoding="utf-8") as f:
            for c in csv.DictReader(f):
                if c.get("moderated") == "-1" or c.get("is-meta") == "true":
                    mod_out.add(int(c["comment-id"]))
    participants = sorted({p for p, _ in cells})
    statements = sorted({s for _, s in cells})
    row_of = {p: i for i, p in enumerate(participants)}
    col_of = {s: j for j, s in enumerate(statements)}
    matrix = np.full((len(participants), len(statements)), np.nan)
    for (p, s), v in cells.items():
        matrix[row_of[p], col_of[s]] = v
    for s in mod_out:
        if s in col_of:
            matrix[:, col_of[s]] = 0.0
    center = np.nanmean(matrix, axis=0)
    centered = np.where(np.isnan(matrix), 0.0, matrix - center)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    json.dump(
        {"statements": statements, "center": center.tolist(), "components": vt[:2].tolist()},
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1])
