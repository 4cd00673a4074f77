"""Defaults that read the data: auto settings resolve from what the data is, explicit ones never change."""

from msrec import auto, config
from msrec import features as F

FULL_SIZES = {v: 5 for v in F.VOCABULARIES}


def test_untimed_data_gets_the_untimed_choices():
    data, reasons = auto.resolve_data(config.DataConfig(), timed=False)
    assert data.history_mode == "others"
    assert data.cooccurrence_window == 50  # the whole stored history of 50
    assert set(reasons) == {"data.history_mode", "data.cooccurrence_window"}


def test_timed_data_gets_prefixes_and_a_short_window():
    data, _ = auto.resolve_data(config.DataConfig(), timed=True)
    assert (data.history_mode, data.cooccurrence_window) == ("prefix", 5)


def test_explicit_data_settings_are_kept_with_no_reason_given():
    explicit = config.override(config.Config(), ["data.history_mode=prefix", "data.cooccurrence_window=9"])
    data, reasons = auto.resolve_data(explicit.data, timed=False)
    assert (data.history_mode, data.cooccurrence_window, reasons) == ("prefix", 9, {})


def test_model_parts_whose_source_is_absent_are_off():
    metadata = {
        "vocabulary_sizes": {**FULL_SIZES, F.ATTRIBUTE_VOCAB: 0, F.TAG_VOCAB: 0},
        "data_profile": {"timed": False, "social": False},
    }
    model, reasons = auto.resolve_model(config.ModelConfig(), metadata)
    assert model.sources == ("id", "content", "item_graph")  # no time, profiles, social or tags needed
    assert "sequence" in reasons["model.sources"] and "social" in reasons["model.sources"]


def test_a_timed_dataset_with_every_source_gets_every_part():
    metadata = {
        "vocabulary_sizes": FULL_SIZES,
        "data_profile": {"timed": True, "social": True},
        "text_embedding": {"items": 12, "dim": 384},
    }
    model, _ = auto.resolve_model(config.ModelConfig(), metadata)
    assert model.sources == config.SOURCES
    without_text, reasons = auto.resolve_model(config.ModelConfig(), {**metadata, "text_embedding": {}})
    assert "text" not in without_text.sources and "text" in reasons["model.sources"]


def test_explicit_sources_are_kept():
    chosen = config.override(config.Config(), ["model.sources=id,sequence"]).model
    model, reasons = auto.resolve_model(chosen, {"data_profile": {"timed": False}})
    assert (model.sources, reasons) == (("id", "sequence"), {})


def test_the_resolved_config_takes_the_data_section_the_data_was_written_with():
    written = config.to_dict(config.DataConfig(history_mode="others", cooccurrence_window=50))
    metadata = {"vocabulary_sizes": FULL_SIZES, "data_config": written, "data_profile": {"timed": False}}
    resolved, reasons = auto.resolve(config.Config(), metadata)
    assert resolved.data.history_mode == "others" and "sequence" not in resolved.model.sources
    assert "model.sources" in reasons
