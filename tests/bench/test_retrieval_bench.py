"""bench/retrieval.py on a tiny catalogue: every partition probed is brute force, int8 is measured."""

from bench import retrieval


def test_every_partition_probed_recalls_everything_and_int8_sits_beside_float32(tmp_path):
    docs = tmp_path / "benchmarks.md"
    small = ["--catalogs", "400", "--topics", "8", "--niches", "2", "--graph-items", "50", "--neighbors", "5"]
    timing = ["--queries", "6", "--seconds", "0.1", "--rounds", "1", "--workdir", str(tmp_path)]
    retrieval.main([*small, *timing, "--partitions", "5", "--probes", "5", "--docs", str(docs)])
    text = docs.read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 400 |")]
    by_name = {cells[1].strip(): [c.strip() for c in cells] for cells in rows}
    assert set(by_name) == {
        f"{mode}, {kind}" for mode in ("brute force", "partitioned") for kind in ("float32", "int8")
    } | {"brute force, float32, with graph", "partitioned, float32, with graph"}
    for name, cells in by_name.items():
        assert cells[6] == "1.000", name  # recall@100 against brute force of the same storage
        if name.startswith("partitioned"):
            assert cells[2].startswith("5 / 5 (100.0%)")
    # int8 ranks nearly as float32 does, in a smaller export.
    assert 0.9 <= float(by_name["brute force, int8"][7]) < 1.0
    assert float(by_name["brute force, int8"][3]) < float(by_name["brute force, float32"][3])
    assert "## Retrieval" in text and "python bench/retrieval.py --catalogs 400" in text
