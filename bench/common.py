"""Helpers shared by the benchmark scripts: the machine, measured subprocesses, docs/benchmarks.md.

A benchmark runs the thing it measures in a child process so that its wall time and peak memory are its
own. Peak memory is taken two ways: ``/usr/bin/time -v``'s "Maximum resident set size" (the largest
single process: the kernel keeps the maximum over a process and the children it waited for, it does not
add them up) and a sampler that sums the resident set of the whole process tree every
``SAMPLE_SECONDS`` (this is what counts for multi-process runs; it can miss a spike shorter than the
interval, and it counts shared library pages once per process, so it overstates a little).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SAMPLE_SECONDS = 0.5
TIME = "/usr/bin/time"
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def machine(extra: str = "") -> str:
    """Markdown lines naming the CPU, ``nproc``, memory and Python (plus ``extra``)."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(), re.M)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or os.cpu_count()
    versions = f"Python {platform.python_version()}" + (f", {extra}" if extra else "")
    return (
        f"- CPU: {cpu[1] if cpu else platform.processor()}, `nproc` = {nproc}\n"
        f"- memory: {memory_total_mb() / 1024:.1f} GiB\n"
        f"- {versions}\n"
        f"- date: {datetime.date.today()}"
    )


def memory_total_mb() -> float:
    found = re.search(r"^MemTotal:\s*(\d+) kB", pathlib.Path("/proc/meminfo").read_text(), re.M)
    return int(found[1]) / 1024


def command_line(script: str, argv: list[str]) -> str:
    return f"python bench/{script} {shlex.join(argv)}".strip()


@dataclasses.dataclass
class Measured:
    """One child run. ``stopped`` is None when it exited by itself, else why it was killed."""

    seconds: float
    returncode: int
    tree_peak_mb: float  # sampled sum over the process tree
    process_peak_mb: float  # the largest single process (``time -v`` or getrusage)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.returncode == 0

    @property
    def peak_mb(self) -> float:
        return max(self.tree_peak_mb, self.process_peak_mb)


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, found by scanning /proc (no psutil here)."""
    children, pages = {}, {}
    for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            pages[pid] = int(pathlib.Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += pages.get(pid, 0)
        todo += children.get(pid, [])
    return total * _PAGE_KB / 1024


def run_measured(
    command: list[str],
    log_path: str,
    timeout_s: float,
    memory_limit_mb: float,
    cwd: str = str(REPO),
    sample: Callable[[int], tuple[float, float]] | None = None,
) -> Measured:
    """Runs ``command`` with its output in ``log_path``; kills its whole process group on a limit.

    ``sample(pid)`` gives ``(MB resident now, largest process's MB)`` of what is measured beside
    the command's process ``pid``; by default its process tree's resident memory alone.
    """
    sample = sample or (lambda pid: (tree_rss_mb(pid), 0.0))
    time_file = log_path + ".time"
    wrapped = [TIME, "-v", "-o", time_file, *command] if shutil.which(TIME) else command
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started, peak, largest, stopped = time.perf_counter(), 0.0, 0.0, None
    with open(log_path, "w") as log:
        child = subprocess.Popen(
            wrapped, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        while child.poll() is None:
            total, biggest = sample(child.pid)
            peak, largest = max(peak, total), max(largest, biggest)
            elapsed = time.perf_counter() - started
            if elapsed > timeout_s:
                stopped = f"did not finish within {timeout_s / 60:g} min"
            elif peak > memory_limit_mb:
                stopped = (
                    f"stopped at the {memory_limit_mb / 1024:.1f} GiB memory limit after {elapsed:.0f} s"
                )
            if stopped:
                os.killpg(child.pid, signal.SIGKILL)  # our own child's group, made by start_new_session
                child.wait()
                break
            time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - started
    process_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if process_mb * 1024 <= before:
        process_mb = 0.0  # getrusage keeps the maximum over all earlier children: not this one's
    if os.path.exists(time_file):
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", pathlib.Path(time_file).read_text())
        process_mb = int(found[1]) / 1024 if found else process_mb
    return Measured(seconds, child.returncode, peak, max(process_mb, largest), stopped)


def log_tail(path: str, lines: int = 15) -> str:
    return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])


def write_section(path: str, heading: str, body: str) -> None:
    """Replaces the ``## heading`` section of ``path`` (up to the next ``## ``), keeping everything else."""
    section = f"## {heading}\n\n{body.strip()}\n"
    file = pathlib.Path(path)
    old = file.read_text() if file.exists() else "# Benchmarks\n"
    match = re.search(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", old, re.M | re.S)
    if match:
        new = old[: match.start()] + section + ("\n" if old[match.end() :] else "") + old[match.end() :]
    else:
        new = old.rstrip() + "\n\n" + section
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(new)


def publish(docs: str, heading: str, intro: str, script: str, argv: list[str], rows: list[str]) -> None:
    """Writes and prints a section: ``intro``, the command line, the machine, then the table ``rows``."""
    body = f"{intro}\n\n```\n{command_line(script, argv)}\n```\n\n{machine()}\n\n" + "\n".join(rows) + "\n"
    write_section(docs, heading, body)
    print(body)


def relative_link(target: str, docs: str) -> str:
    """``target`` as a markdown link path relative to the directory of ``docs``."""
    return os.path.relpath(os.path.abspath(target), os.path.dirname(os.path.abspath(docs)))


# The pandas reference of bench/preprocess.py: PROTOCOL.md's split and the pipeline's features, computed in
# one process with pandas and numpy, every example written to parquet. It runs as its own child process
# (`python bench/preprocess.py --reference RAW OUT`) and imports neither Beam nor TensorFlow.


def _ranges(starts, lengths):
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    lengths = np.asarray(lengths, np.int64)
    shift = np.repeat(np.asarray(starts, np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum())) + shift


def _timelines(raw_dir: str):
    """Interactions sorted by (user, timestamp, sha1 tie-break), duplicates merged, and the social edges."""
    import pandas as pd

    df = pd.read_csv(os.path.join(raw_dir, "interactions.csv"), dtype=str, keep_default_na=False)
    social = pd.read_csv(os.path.join(raw_dir, "social.csv"), dtype=str, keep_default_na=False)
    codes, users = pd.factorize(pd.concat([df.user_id, social.user_id, social.friend_id]), sort=True)
    i, items = pd.factorize(df.item_id, sort=True)
    u, users, items = codes[: len(df)], np.asarray(users, object), np.asarray(items, object)
    raw = df.timestamp.array  # Arrow-backed strings; Python objects only for the rows that need them
    ts = df.timestamp.astype("float64").to_numpy().astype(np.int64)
    keep = np.ones(len(df), bool)
    pair = pd.Series(u.astype(np.int64) * len(items) + i)
    if (dup := pair.duplicated(keep=False).to_numpy()).any():  # keep the earliest (timestamp, raw) row
        rows = pd.DataFrame({"k": pair[dup], "t": ts[dup], "r": np.asarray(raw[dup], object)})
        rows = rows.sort_values(["k", "t", "r"])
        keep[rows.index[rows.k.duplicated()]] = False
    tie = np.zeros(len(df), np.int64)
    tied = pd.DataFrame({"u": u, "t": ts}).duplicated(keep=False).to_numpy() & keep
    if tied.any():  # only rows that share their user's timestamp need the SHA-1
        pairs = zip(users[u[tied]], items[i[tied]], strict=True)
        sha = [hashlib.sha1(f"{a}\t{b}".encode()).hexdigest() for a, b in pairs]
        tie[tied] = pd.factorize(pd.Series(sha), sort=True)[0]
    order = np.flatnonzero(keep)[np.lexsort((tie[keep], ts[keep], u[keep]))]
    t = {"u": u[order], "i": i[order], "ts": ts[order], "raw": raw[order], "users": users, "items": items}
    t["w"] = df.weight.astype("float64").to_numpy()[order]
    count = np.bincount(t["u"], minlength=len(users))
    t["start"], t["count"] = np.cumsum(count) - count, count
    pos, size = np.arange(len(order)) - t["start"][t["u"]], count[t["u"]]
    t["part"] = np.where(size >= 3, np.clip(pos - (size - 3), 0, 2), 0)  # 0 TRAIN, 1 VALIDATION, 2 TEST
    t["n_train"] = np.where(count >= 3, count - 2, count)
    edges = codes[len(df) :].reshape(2, -1)
    return t, edges


def _scoring_graph(t, data, out_dir: str) -> float:
    """The item scoring graphs, by the pipeline's own regression (a numpy/LAPACK function) over the same
    covered items (the most frequent items within the memory budget, ties by id): over TRAIN
    (``scoring_graph.jsonl``), then over TRAIN + VALIDATION (``scoring_graph_refit.jsonl``); their seconds."""
    from msrec import paths
    from preprocessing import scoring_graph

    started = time.perf_counter()
    limit = scoring_graph.budget_items(data.regression_memory_gib, data.regression_max_items)
    by_name = np.argsort(t["items"])
    for last_part, name in ((0, paths.SCORING_GRAPH), (1, paths.SCORING_GRAPH_REFIT)):
        used = t["part"] <= last_part
        popularity = np.bincount(t["i"][used], minlength=len(t["items"]))
        covered = by_name[np.argsort(-popularity[by_name], kind="stable")][:limit]
        covered = covered[popularity[covered] > 0]
        position = np.full(len(t["items"]), -1, np.int64)
        position[covered] = np.arange(len(covered))
        users, at = t["u"][used], position[t["i"][used]]
        users, at = users[at >= 0], at[at >= 0]
        sets = np.split(at, np.flatnonzero(np.diff(users)) + 1) if len(at) else []
        edges = scoring_graph.regression(
            (np.unique(s) for s in sets),
            list(t["items"][covered]),
            data.regression_l2,
            data.regression_neighbors,
        )
        with open(os.path.join(out_dir, f"{name}.jsonl"), "w") as f:
            for edge in edges:
                f.write(json.dumps(edge) + "\n")
    return round(time.perf_counter() - started, 1)


def _top_k(a, b, weight, k: int, groups: int):
    """Per group ``a``, its ``k`` heaviest ``b`` (ties by id) as ragged ``(starts, lengths, b, weight)``."""
    order = np.lexsort((b, -weight, a))
    a, b, weight = a[order], b[order], weight[order]
    keep = np.arange(len(a)) - np.searchsorted(a, a) < k
    lengths = np.bincount(a[keep], minlength=groups)
    return np.cumsum(lengths) - lengths, lengths, b[keep], weight[keep]


def _item_graph(t, popularity, window: int, k: int):
    train = t["part"] == 0
    tu, ti, n = t["u"][train], t["i"][train].astype(np.int64), len(t["items"])
    keys = []
    for d in range(1, window + 1):
        near = (tu[:-d] == tu[d:]) & (ti[:-d] != ti[d:])
        a, b = ti[:-d][near], ti[d:][near]
        keys += [a * n + b, b * n + a]
    pairs, counts = np.unique(np.concatenate(keys), return_counts=True)
    a, b = pairs // n, pairs % n
    return _top_k(a, b, counts / np.sqrt(popularity[a] * popularity[b]), k, n)


def _social_graph(t, edges, k: int):
    n, n_items = len(t["users"]), len(t["items"])
    a, b = np.concatenate([edges[0], edges[1]]), np.concatenate([edges[1], edges[0]])
    pairs = np.unique(a[a != b].astype(np.int64) * n + b[a != b])
    a, b = pairs // n, pairs % n
    a, b = a[a < b], b[a < b]  # the tie strength is symmetric: count shared TRAIN items once per edge
    rows, pair = _ranges(t["start"][a], t["n_train"][a]), np.repeat(np.arange(len(a)), t["n_train"][a])
    train = t["part"] == 0
    known = np.sort(t["u"][train].astype(np.int64) * n_items + t["i"][train])
    probe = b[pair] * n_items + t["i"][rows]
    hit = known[np.minimum(np.searchsorted(known, probe), len(known) - 1)] == probe
    strength = 1.0 + np.bincount(pair[hit], minlength=len(a))
    return _top_k(np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([strength, strength]), k, n)


def _ragged(lengths, values):
    import pyarrow as pa

    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32()), values)


def _ids(codes, dictionary):
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)


def _neighbours(graphs: dict, graph: str, keys, names: str):
    """The ragged ids and weights of ``keys``' neighbours in ``graphs[graph]``."""
    import pyarrow as pa

    starts, counts, values, strengths = graphs[graph]
    pick = _ranges(starts[keys], counts[keys])
    ids = _ragged(counts[keys], _ids(values[pick], graphs[names]))
    return ids, _ragged(counts[keys], pa.array(strengths[pick], pa.float32()))


def _examples(t, ends, uc, length: int, graphs: dict, targets=None, seen=False):
    """One parquet-ready table: histories of the ``length`` rows before ``ends``, friends, neighbours."""
    import pyarrow as pa

    from msrec import features as F

    dictionary, ragged = _ids, _ragged
    idx = ends[:, None] - 1 - np.arange(length)
    valid = idx >= t["start"][uc][:, None]
    flat, lengths = idx[valid], valid.sum(axis=1)
    gaps = np.maximum(np.repeat(t["ts"][np.maximum(ends - 1, 0)], lengths) - t["ts"][flat], 0) / 3600.0
    columns = {
        F.USER_ID: dictionary(uc, graphs["user_ids"]),
        F.HISTORY_ITEM_IDS: ragged(lengths, dictionary(t["i"][flat], graphs["item_ids"])),
        F.HISTORY_WEIGHTS: ragged(lengths, pa.array(t["w"][flat], pa.float32())),
        F.HISTORY_TIME_GAPS: ragged(lengths, pa.array(np.log1p(gaps), pa.float32())),
    }
    sides = [(F.FRIEND_IDS, F.FRIEND_WEIGHTS, "social", uc, "user_ids")]
    if targets is not None:
        columns[F.ITEM_ID] = dictionary(t["i"][targets], graphs["item_ids"])
        columns[F.EVENT_WEIGHT] = pa.array(t["w"][targets], pa.float32())
        sides.append((F.ITEM_NEIGHBOR_IDS, F.ITEM_NEIGHBOR_WEIGHTS, "items", t["i"][targets], "item_ids"))
    for ids, weights, graph, keys, names in sides:
        columns[ids], columns[weights] = _neighbours(graphs, graph, keys, names)
    if seen:  # VALIDATION sees TRAIN, TEST sees TRAIN + VALIDATION: every row before the target
        before = ends - t["start"][uc]
        columns[F.SEEN_ITEM_IDS] = ragged(
            before, dictionary(t["i"][_ranges(t["start"][uc], before)], graphs["item_ids"])
        )
    return pa.table(columns)


def _write(path: str, tables) -> None:
    """Appends ``tables`` (a generator: one chunk in memory at a time) to one parquet file."""
    import pyarrow.parquet as pq

    writer = None
    for table in tables:
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer:
        writer.close()


def _write_vocab(out_dir: str, name: str, ids, counts, with_counts: bool = False) -> None:
    order = np.lexsort((np.arange(len(ids)), -counts))  # ids are sorted: code order is id order
    order = order[counts[order] >= 1]
    pathlib.Path(out_dir, "vocab", f"{name}.txt").write_text("".join(f"{ids[j]}\n" for j in order))
    if with_counts:
        pathlib.Path(out_dir, "item_counts.txt").write_text("".join(f"{counts[j]}\n" for j in order))


def reference(raw_dir: str, out_dir: str, chunk: int = 100_000) -> None:
    import pyarrow as pa

    from msrec import auto
    from msrec import features as F
    from msrec.config import DataConfig

    # The synthetic interactions are timed: the window the pipeline resolves for them.
    data, started = auto.resolve_data(DataConfig(), timed=True)[0], time.perf_counter()
    os.makedirs(os.path.join(out_dir, "vocab"), exist_ok=True)
    t, edges = _timelines(raw_dir)
    u, part = t["u"], t["part"]
    popularity = np.bincount(t["i"][part == 0], minlength=len(t["items"]))
    _write_vocab(out_dir, "item_id", t["items"], popularity, with_counts=True)
    _write_vocab(out_dir, "user_id", t["users"], t["n_train"])
    test = np.flatnonzero(part == 2)
    fields = (t["users"][u[test]], t["items"][t["i"][test]], np.asarray(t["raw"][test], object))
    lines = (f"{a}\t{b}\t{c}\n" for a, b, c in zip(*fields, strict=True))
    pathlib.Path(out_dir, "test_lines.txt").write_text("".join(lines))
    graphs = {
        "items": _item_graph(t, popularity, data.cooccurrence_window, data.lengths.neighbors),
        "social": _social_graph(t, edges, data.lengths.friends),
        "user_ids": pa.array(t["users"]),
        "item_ids": pa.array(t["items"]),
    }
    counts = {}
    for code, name in enumerate(("train", "validation", "test")):
        rows = np.flatnonzero(part == code)
        counts[f"{name}_examples"] = len(rows)
        chunks = (rows[lo : lo + chunk] for lo in range(0, len(rows), chunk))
        tables = (_examples(t, r, u[r], data.lengths.history, graphs, r, code > 0) for r in chunks)
        _write(os.path.join(out_dir, f"{name}.parquet"), tables)
    active = np.flatnonzero(t["count"] > 0)
    ends = t["start"][active] + np.where(t["count"] >= 3, t["count"] - 1, t["count"])[active]
    tables = (
        _examples(t, ends[lo : lo + chunk], active[lo : lo + chunk], data.lengths.history, graphs)
        for lo in range(0, len(active), chunk)
    )
    _write(os.path.join(out_dir, "users.parquet"), tables)
    catalog = np.unique(t["i"])  # every item of TRAIN, VALIDATION or TEST
    ids, weights = _neighbours(graphs, "items", catalog, "item_ids")
    candidates = {F.ITEM_ID: _ids(catalog, graphs["item_ids"]), F.ITEM_NEIGHBOR_IDS: ids}
    _write(
        os.path.join(out_dir, "candidates.parquet"),
        [pa.table({**candidates, F.ITEM_NEIGHBOR_WEIGHTS: weights})],
    )
    summary = {"users": len(active), "catalog_items": len(catalog), **counts}
    summary["scoring_graph_seconds"] = _scoring_graph(t, data, out_dir)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    pathlib.Path(out_dir, "reference.json").write_text(json.dumps(summary, indent=2))
