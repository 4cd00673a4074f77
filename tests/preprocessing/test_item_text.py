"""EmbedItemText: each catalog item's text, its real sentence vector, and the text encoder's vector cache."""

import dataclasses
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from msrec import config, paths
from msrec import features as F
from msrec import source_config as sources
from preprocessing import item_text, pipeline, text_encoder
from preprocessing.records import Item

ITEMS = [
    ("a", Item("a", ("Horror",), ("ghosts",), ("alien",), "Alien", "A crew meets a creature.")),
    ("b", Item("b", ("Comedy", "Romance"), (), ("amelie",), "Amélie", "")),
    ("c", Item("c", ("Drama",), (), (), "Not in the catalog", "")),
]
CATALOG = ["a", "b", "z"]  # z: interactions only, no item row
TEXTS = {"a": "Alien. Horror. ghosts. A crew meets a creature.", "b": "Amélie. Comedy, Romance"}


@pytest.fixture(scope="module")
def encoder():
    from msrec.text import SentenceEncoder

    return SentenceEncoder(None)


def _parse(serialized: bytes, dim: int) -> tuple[str, str, np.ndarray]:
    ex = tf.train.Example.FromString(serialized).features.feature
    assert len(ex[F.ITEM_TEXT_VECTOR].float_list.value) == dim
    return (
        ex[F.ITEM_ID].bytes_list.value[0].decode(),
        ex[F.ITEM_TEXT].bytes_list.value[0].decode(),
        np.array(ex[F.ITEM_TEXT_VECTOR].float_list.value, np.float32),
    )


def _embed(spec: text_encoder.TextEncoder, check=None) -> dict:
    """Runs EmbedItemText on the rows above; returns the metadata entry its counters make."""
    p = TestPipeline()
    out = {"catalog": p | "Catalog" >> beam.Create(CATALOG), "items": p | "Items" >> beam.Create(ITEMS)} | (
        item_text.EmbedItemText(spec)
    )
    if check is not None:
        assert_that(out, check)
    result = p.run()
    result.wait_until_finish()
    return item_text.report(pipeline.counters(result), spec)


def _spec(tmp_path) -> text_encoder.TextEncoder:
    return text_encoder.resolve(config.DataConfig(text_cache=str(tmp_path / "cache")))


def test_the_text_joins_title_categories_tag_names_and_description():
    assert item_text.item_fields(None) == {"title": "", "categories": [], "tags": [], "description": ""}
    fields = item_text.item_fields(ITEMS[0][1])
    assert F.item_text(fields) == TEXTS["a"]
    assert F.item_text(fields, ("description", "title")) == "A crew meets a creature.. Alien"


def test_a_record_is_written_with_its_features_in_name_order():
    serialized = item_text.example("a", "Alien", [0.5, 0.25], F.text_records(2))
    ex = tf.train.Example.FromString(serialized)
    assert _parse(serialized, 2)[:2] == ("a", "Alien")
    # The feature map in sorted order, whatever the process's string hashes: reruns compare byte for byte.
    assert serialized == ex.SerializeToString(deterministic=True)
    keys = [F.ITEM_ID, F.ITEM_TEXT, F.ITEM_TEXT_VECTOR]
    assert [serialized.index(k.encode()) for k in sorted(keys)] == sorted(
        serialized.index(k.encode()) for k in keys
    )


def test_records_hold_each_catalog_items_text_and_its_sentence_vector(tmp_path, encoder):
    spec = _spec(tmp_path)
    expected = dict(zip(TEXTS, encoder.embed(list(TEXTS.values())), strict=True))

    def check(serialized):
        rows = {item: (t, v) for item, t, v in (_parse(s, spec.dim) for s in serialized)}
        # z has no row (no text: skipped), c is no catalog item.
        assert {item: t for item, (t, _) in rows.items()} == TEXTS
        for item, (_, vector) in rows.items():
            cosine = vector @ expected[item] / np.linalg.norm(vector) / np.linalg.norm(expected[item])
            assert cosine > 0.9999, (item, cosine)

    report = _embed(spec, check)
    assert (spec.setting, spec.dim) == ("bundled", 384)
    assert {k: report[k] for k in ("encoder", "dim", "items", "embedded", "cache_hits", "without_text")} == {
        "encoder": "bundled",
        "dim": 384,
        "items": 2,
        "embedded": 2,
        "cache_hits": 0,
        "without_text": 1,
    }
    assert report["hit_rate"] == 0.0 and report["seconds"] > 0 and report["items_per_second"] > 0


def test_a_rerun_reads_every_vector_from_the_cache_and_embeds_none(tmp_path):
    spec = _spec(tmp_path)
    first, second = _embed(spec), _embed(spec)
    assert (first["embedded"], first["hit_rate"]) == (2, 0.0)
    assert (second["embedded"], second["cache_hits"], second["hit_rate"]) == (0, 2, 1.0)
    key = text_encoder.cache_key(spec.identity, TEXTS["a"])
    cached = tmp_path / "cache" / key[:2] / f"{key}.f32"
    assert cached.stat().st_size == 4 * 384
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_a_changed_text_or_another_encoder_misses_the_cache(tmp_path):
    spec = _spec(tmp_path)
    _embed(spec)
    other = dataclasses.replace(spec, identity="another checkpoint")
    assert _embed(other)["cache_hits"] == 0
    assert text_encoder.cache_key(spec.identity, "Alien") != text_encoder.cache_key(spec.identity, "Alien.")


def test_an_unknown_text_field_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"data.text_fields: unknown fields \['genre'\]"):
        item_text.EmbedItemText(_spec(tmp_path), ("title", "genre"))


def test_a_cache_file_of_the_wrong_size_is_a_miss(tmp_path):
    cache = text_encoder.VectorCache(str(tmp_path), 4)
    assert cache.get("ab12") is None
    cache.put("ab12", np.array([1, 2, 3, 4], np.float32))
    assert cache.get("ab12").tolist() == [1, 2, 3, 4]
    (tmp_path / "ab" / "ab12.f32").write_bytes(b"\0" * 12)  # cut short
    assert cache.get("ab12") is None


def test_the_encoder_identity_hashes_the_checkpoint_files(tmp_path):
    import shutil

    from msrec.text import checkpoint

    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint.locate(None), copy)
    same = text_encoder.resolve(config.DataConfig(text_encoder=str(copy)))
    assert same.identity == text_encoder.resolve(config.DataConfig()).identity and same.checkpoint == str(
        copy
    )
    with open(copy / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("\n")
    assert text_encoder.resolve(config.DataConfig(text_encoder=str(copy))).identity != same.identity


def test_the_tiny_corpus_has_text_records_and_their_metadata(tiny_data):
    meta = json.load(open(os.path.join(tiny_data, paths.METADATA)))
    entry = meta["text_embedding"]
    assert (entry["encoder"], entry["dim"], entry["items"]) == ("bundled", 384, 7)
    assert entry["cache_hits"] + entry["embedded"] == 7
    files = tf.io.gfile.glob(paths.records_glob(tiny_data, paths.ITEM_TEXT))
    rows = [_parse(r.numpy(), 384) for r in tf.data.TFRecordDataset(files, "GZIP")]
    assert {item: t for item, t, _ in rows}["i1"] == "Amber River. c1. t1, t2"
    assert len(rows) == 7


def test_text_encoder_none_writes_no_item_text_and_no_metadata_entry(tiny_raw, tmp_path):
    out = str(tmp_path / "out")
    meta = pipeline.run(
        sources.preset("synthetic"), tiny_raw, out, config.DataConfig(text_encoder="none"), shards=1
    )
    assert "text_embedding" not in meta
    assert "text_embedding" not in json.load(open(os.path.join(out, paths.METADATA)))
    assert not os.path.exists(os.path.join(out, paths.ITEM_TEXT))
