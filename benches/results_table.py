#!/usr/bin/env python3
"""Prints the markdown tables of benches/RESULTS.md from criterion's output.

Reads target/criterion/<group>/<backend>/<rows>/new/{benchmark,estimates}.json (written by
`cargo bench --bench engram`) and prints, per row count, each operation's median on each
backend, engram's ratio over the raw driver, and the published figures of the Python
project engram replaces (at 10,000 rows) with how many times faster engram is.

    python3 benches/results_table.py [criterion directory]   # default: target/criterion

Standard library only.
"""

import json
import sys
from pathlib import Path

# (group, label): the order of the table rows.
OPERATIONS = [
    ("insert_one", "insert one"),
    ("insert_many", "insert many (1,000 per call)"),
    ("get_by_id", "get by id"),
    ("user_thread", "user+thread (page of 50)"),
    ("tier_updated", "tier+updated (page of 100)"),
    ("metadata_selective", "metadata ~0.1% (page of 50)"),
    ("metadata_broad_page", "metadata ~10% (page of 50)"),
    ("metadata_broad_count", "metadata ~10% (count)"),
    ("metadata_needle", "metadata needle, 3 keys (page of 50)"),
    ("metadata_nothing", "metadata matching nothing (page of 50)"),
    ("related_any", "related threads any-of (page of 50)"),
    ("cluster_lookup", "cluster lookup"),
    ("policy_run", "policy run"),
]

# Published medians of the Python project at 10,000 rows, in ms: (PostgreSQL, SQLite).
PUBLISHED = {
    "user_thread": (5, 45),
    "tier_updated": (12, 200),
    "metadata_selective": (8, 150),
    "metadata_broad_page": (8, 150),
    "metadata_broad_count": (8, 150),
    "cluster_lookup": (2, 25),
}
PUBLISHED_ROWS = 10_000

BACKENDS = ["sqlite", "sqlite-raw", "postgres", "postgres-raw"]


def load(root):
    """{rows: {(group, backend): median ns}}"""
    results = {}
    for bench in root.glob("*/*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        rows = int(meta["value_str"])
        key = (meta["group_id"], meta["function_id"])
        results.setdefault(rows, {})[key] = estimates["median"]["point_estimate"]
    return results


def duration(ns):
    if ns is None:
        return "–"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def ratio(engram, raw):
    if engram is None or raw is None:
        return "–"
    return f"{engram / raw:.2f}×"


def faster(published_ms, ns):
    if ns is None:
        return "–"
    return f"{published_ms * 1_000_000 / ns:,.0f}×"


def table(rows, medians):
    lines = [
        f"#### {rows:,} rows",
        "",
        "| operation | SQLite | SQLite raw | engram/raw | PostgreSQL | PostgreSQL raw "
        "| engram/raw | published PG | published SQLite | vs published (PG / SQLite) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for group, label in OPERATIONS:
        got = {b: medians.get((group, b)) for b in BACKENDS}
        if all(v is None for v in got.values()):
            continue
        cells = [
            label,
            duration(got["sqlite"]),
            duration(got["sqlite-raw"]),
            ratio(got["sqlite"], got["sqlite-raw"]),
            duration(got["postgres"]),
            duration(got["postgres-raw"]),
            ratio(got["postgres"], got["postgres-raw"]),
        ]
        published = PUBLISHED.get(group)
        if published and rows == PUBLISHED_ROWS:
            pg, lite = published
            cells += [
                f"{pg} ms",
                f"{lite} ms",
                f"{faster(pg, got['postgres'])} / {faster(lite, got['sqlite'])}",
            ]
        else:
            cells += ["", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    many = {b: medians.get(("insert_many", b)) for b in BACKENDS}
    rates = [
        f"{b} {1_000 * 1e9 / ns:,.0f}/s" for b, ns in many.items() if ns is not None
    ]
    if rates:
        lines += ["", "insert many, memories per second: " + ", ".join(rates) + "."]
    return "\n".join(lines)


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    results = load(root)
    if not results:
        sys.exit(f"no criterion results under {root}; run `cargo bench --bench engram` first")
    print("\n\n".join(table(rows, results[rows]) for rows in sorted(results)))


if __name__ == "__main__":
    main()
