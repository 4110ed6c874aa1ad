"""The fraud check's one-to-many search over a league's templates, against the plain
numpy formulation of the same search measured in the same run (and faiss's flat index,
when it is installed), and the formulation this service used before.

    python -m bench.one_to_many [--templates 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench.harness import load_average
from pension_cert.face_index import RegionIndex


def median_ms(search: Callable[[], object], repeat: int = 7) -> float:
    search()  # warm caches
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        search()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def numpy_baseline(matrix: np.ndarray, norms: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Precomputed norms, one matrix-vector product, argpartition for the two nearest."""
    squared = norms - 2.0 * (matrix @ query) + float(query @ query)
    return np.argpartition(squared, 2)[:2]


def old_formulation(matrix: np.ndarray, ids: list[str], query: np.ndarray) -> object:
    """Before: the distance vector twice, a full sort, and ids found with list.index."""
    own = np.linalg.norm(matrix - query, axis=1)[ids.index(ids[-1])]
    distances = np.linalg.norm(matrix - query, axis=1)
    return own, np.argsort(distances)[:2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--templates", type=int, default=1_000_000)
    size = parser.parse_args().templates
    rng = np.random.default_rng(12333)
    matrix = rng.standard_normal((size, 128), dtype=np.float32) * 0.1
    ids = [f"P{i:019d}" for i in range(size)]
    query = rng.standard_normal(128, dtype=np.float32) * 0.1
    index = RegionIndex(ids, matrix)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    ours = median_ms(lambda: index.search(ids[size // 2], query))
    base = median_ms(lambda: numpy_baseline(matrix, norms, query))
    old = median_ms(lambda: old_formulation(matrix, ids, query), repeat=3)
    print(f"{size:,} templates ({matrix.nbytes / 2**20:.0f} MiB float32); {load_average()}")
    print(f"service search (own + nearest other) {ours:7.1f} ms")
    print(f"numpy formulation (baseline)         {base:7.1f} ms   ratio {ours / base:5.2f}x")
    print(f"the previous formulation             {old:7.1f} ms   ({old / ours:5.1f}x slower)")
    try:
        import faiss  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print("faiss not installed: pip install faiss-cpu to compare its flat index")
        return
    flat = faiss.IndexFlatL2(128)
    flat.add(matrix)
    fast = median_ms(lambda: flat.search(query.reshape(1, -1), 2))
    print(f"faiss IndexFlatL2                    {fast:7.1f} ms   ratio {ours / fast:5.2f}x")


if __name__ == "__main__":
    main()
