"""Tests of the synthetic generator: formats, integrity, determinism and the planted signal.

The signal tests read the default dataset back from its files, as a user would, and compare
each source's signal against a chance level computed on the same data.
"""

import dataclasses
import json
import os
import re

import numpy as np
import pytest

import synthetic
from synthetic import FILES, SyntheticSpec, topics
from synthetic import files as synthetic_files

TINY = SyntheticSpec(num_users=60, num_items=48, num_interactions=900, num_categories=4, num_tags=12, seed=7)


@dataclasses.dataclass
class Data:
    """The four files of a generated directory, parsed; users and items as row indices."""

    spec: SyntheticSpec
    counts: dict[str, int]
    lines: dict[str, list[str]]  # raw lines per source, header first
    user: np.ndarray  # interactions, in file order
    item: np.ndarray
    time: np.ndarray
    weight: np.ndarray
    items: list[dict]
    categories: list[set[str]]  # per item
    edges: np.ndarray  # (edges, 2) user indices


def _load(directory: str, spec: SyntheticSpec, counts: dict[str, int]) -> Data:
    lines = {}
    for source, name in FILES.items():
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            lines[source] = f.read().splitlines()
    users = [row.split(",")[0] for row in lines["users"][1:]]
    items = [json.loads(row) for row in lines["items"]]
    user_index = {u: j for j, u in enumerate(users)}
    item_index = {it["item_id"]: j for j, it in enumerate(items)}
    rows = [row.split(",") for row in lines["interactions"][1:]]
    social = [row.split(",") for row in lines["social"][1:]]
    return Data(
        spec=spec,
        counts=counts,
        lines=lines,
        user=np.array([user_index[r[0]] for r in rows]),
        item=np.array([item_index[r[1]] for r in rows]),
        time=np.array([int(r[2]) for r in rows]),
        weight=np.array([float(r[3]) for r in rows]),
        items=items,
        categories=[set(it["categories"]) for it in items],
        edges=np.array([[user_index[a], user_index[b]] for a, b in social]).reshape(-1, 2),
    )


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Data:
    directory = str(tmp_path_factory.mktemp("default"))
    return _load(directory, SyntheticSpec(), synthetic.generate(directory))


def _read_bytes(directory) -> dict[str, bytes]:
    return {name: open(os.path.join(directory, name), "rb").read() for name in FILES.values()}


def _interaction_matrix(data: Data) -> np.ndarray:
    matrix = np.zeros((data.spec.num_users, data.spec.num_items), bool)
    matrix[data.user, data.item] = True
    return matrix


def _dominant_category(data: Data, mask: np.ndarray) -> np.ndarray:
    """Per user, the category most frequent among the items of the rows in ``mask``."""
    names = sorted({c for cats in data.categories for c in cats})
    tally = np.zeros((data.spec.num_users, len(names)))
    for u, i in zip(data.user[mask], data.item[mask], strict=True):
        for c in data.categories[i]:
            tally[u, names.index(c)] += 1
    return np.array(names)[tally.argmax(axis=1)]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


# --- determinism, counts and formats -------------------------------------------------------


def test_same_seed_writes_identical_bytes(tmp_path):
    synthetic.generate(str(tmp_path / "a"), TINY)
    synthetic.generate(str(tmp_path / "b"), TINY)
    assert _read_bytes(tmp_path / "a") == _read_bytes(tmp_path / "b")


def test_another_seed_changes_every_file(tmp_path):
    synthetic.generate(str(tmp_path / "a"), TINY)
    synthetic.generate(str(tmp_path / "b"), dataclasses.replace(TINY, seed=8))
    first, second = _read_bytes(tmp_path / "a"), _read_bytes(tmp_path / "b")
    assert all(first[name] != second[name] for name in FILES.values())


def test_output_dir_is_created_and_progress_reaches_the_total(tmp_path):
    calls = []
    spec = dataclasses.replace(TINY, num_users=3000, num_items=500, num_interactions=250_000)
    synthetic.generate(str(tmp_path / "new" / "dir"), spec, progress=lambda done, total: calls.append(done))
    assert len(calls) > 1  # chunks of about 200k rows
    assert calls == sorted(calls) and calls[-1] == 250_000


def test_rows_are_fixed_width_with_ids_padded_to_the_largest_id():
    assert (
        synthetic_files._fixed_rows(2, [b"u", synthetic_files._digits(np.array([7, 42]), 3), b"\n"])
        == b"u007\nu042\n"
    )
    assert synthetic_files._ids("u", 1000)(7) == "u007"  # largest id u999
    assert synthetic_files._ids("u", 1001)(7) == "u0007"  # largest id u1000


def test_row_counts_match_the_spec_and_the_returned_counts(default):
    assert default.counts == {
        "interactions": 40000,
        "items": 600,
        "users": 1000,
        "social": len(default.lines["social"]) - 1,
    }
    assert [len(default.lines[s]) for s in ("interactions", "users")] == [40001, 1001]
    assert len(default.lines["items"]) == 600


def test_interaction_rows_have_the_documented_format(default):
    assert default.lines["interactions"][0] == "user_id,item_id,timestamp,weight"
    pattern = re.compile(r"u\d{3},i\d{3},\d{10},\d\.\d{3}")  # 1000 users, 600 items: 3 digits
    assert all(pattern.fullmatch(row) for row in default.lines["interactions"][1:])
    assert default.time.min() >= 1_735_689_600  # 2025-01-01
    assert default.time.max() < 1_735_689_600 + 366 * 86_400
    assert 0.5 <= default.weight.min() and default.weight.max() <= 5.0


def test_items_have_categories_tags_a_title_and_a_description(default):
    assert [it["item_id"] for it in default.items] == [f"i{j:03d}" for j in range(600)]
    assert all(list(it) == ["item_id", "categories", "tags", "title", "description"] for it in default.items)
    assert {len(it["categories"]) for it in default.items} == {1, 2}
    assert {len(set(it["tags"])) for it in default.items} == {2, 3, 4, 5, 6}
    assert {len(it["title"].split()) for it in default.items} == {2, 3}
    assert all(re.fullmatch(r"c\d\d", c) for it in default.items for c in it["categories"])
    assert all(re.fullmatch(r"t\d\d", t) for it in default.items for t in it["tags"])
    assert all(re.fullmatch(r"An? [^.]+ about [^.]+ who [^.]+\.", it["description"]) for it in default.items)
    assert len({it["title"] for it in default.items}) > 400  # few repeats among 600
    assert default.items[2] == {
        "item_id": "i002",
        "categories": ["c00"],
        "tags": ["t24", "t31", "t00", "t48", "t55"],
        "title": "Dark Witness",
        "description": "A hard-boiled noir about a disgraced detective who reopens a murder case nobody "
        "wants solved through the neon alleys of downtown.",
    }


def test_every_theme_has_full_pools_and_no_title_word_is_shared_between_themes():
    seen = {}
    for t, theme in enumerate(topics.THEMES):
        assert len(theme.adjectives) == topics.POOL and len(theme.niches) == topics.NICHES
        assert len(theme.tones) == len(theme.settings) == topics.PHRASES
        for niche in theme.niches:
            assert len(niche.nouns) == topics.POOL
            assert len(niche.heroes) == len(niche.plots) == topics.PHRASES
        for word in theme.adjectives + tuple(w for niche in theme.niches for w in niche.nouns):
            assert seen.setdefault(word, t) == t, word
    assert topics.topic_name(12, 5) == topics.topic_name(0, 1) == "noir / femme fatale"


def test_users_have_an_age_group_a_gender_and_a_country(default):
    header, *rows = default.lines["users"]
    assert header == "user_id,age_group,gender,country"
    fields = [row.split(",") for row in rows]
    assert [f[0] for f in fields] == [f"u{j:03d}" for j in range(1000)]
    assert {f[1] for f in fields} == set(synthetic.AGE_GROUPS)
    assert {f[2] for f in fields} == {"f", "m", "x"}
    assert {f[3] for f in fields} == {f"c{j}" for j in range(10)}


def test_social_edges_are_unique_undirected_and_some_users_are_friendless(default):
    assert default.lines["social"][0] == "user_id,friend_id"
    a, b = default.edges.T
    assert (a < b).all()  # no self edge, and each pair listed once in one direction
    assert len({(x, y) for x, y in default.edges.tolist()}) == len(default.edges)
    degree = np.bincount(default.edges.ravel(), minlength=1000)
    assert (degree == 0).sum() >= 200  # friendless_fraction = 0.2
    assert 3 < degree[degree > 0].mean() < 8


def test_interactions_refer_to_listed_users_and_items_once_per_pair(default):
    rows = [row.split(",") for row in default.lines["interactions"][1:]]
    users = {row.split(",")[0] for row in default.lines["users"][1:]}
    items = {it["item_id"] for it in default.items}
    assert {r[0] for r in rows} <= users and {r[1] for r in rows} <= items
    assert len({(r[0], r[1]) for r in rows}) == len(rows)


def test_rows_are_grouped_by_user_in_time_order(default):
    starts = np.flatnonzero(np.diff(default.user) != 0)
    assert len(starts) == 999  # each user's rows are contiguous
    same_user = np.diff(default.user) == 0
    assert (np.diff(default.time)[same_user] > 0).all()


def test_activity_is_heavy_tailed_around_the_requested_mean(default):
    per_user = np.bincount(default.user, minlength=1000)
    assert per_user.mean() == 40 and per_user.min() >= 5
    assert np.median(per_user) < 35 and per_user.max() >= 200


def test_impossible_sizes_are_rejected():
    with pytest.raises(ValueError, match="num_interactions"):
        SyntheticSpec(num_users=10, num_items=20, num_interactions=200, num_categories=2, num_tags=6)
    with pytest.raises(ValueError, match="num_items"):
        SyntheticSpec(num_items=20, num_categories=12)


# --- the planted signal --------------------------------------------------------------------


def test_popularity_is_skewed(default):
    popularity = np.sort(np.bincount(default.item, minlength=600))[::-1]
    assert popularity[:60].sum() / popularity.sum() > 0.25  # uniform: 0.10


def test_next_item_is_predictable_from_the_previous_one(default):
    # Most frequent follower of A among even users, scored on odd users' consecutive pairs;
    # chance is the same score with every odd user's history shuffled.
    pair = np.diff(default.user) == 0  # row j and j + 1 belong to one user
    even, odd = pair & (default.user[:-1] % 2 == 0), pair & (default.user[:-1] % 2 == 1)
    followers = np.zeros((600, 600))
    np.add.at(followers, (default.item[:-1][even], default.item[1:][even]), 1)
    best = followers.argmax(axis=1)

    def score(items):
        return (best[items[:-1][odd]] == items[1:][odd]).mean()

    rng = np.random.default_rng(0)
    shuffled = default.item.copy()
    for u in range(1, 1000, 2):
        rows = np.flatnonzero(default.user == u)
        shuffled[rows] = rng.permutation(shuffled[rows])
    assert score(default.item) > 0.12
    assert score(default.item) > 4 * score(shuffled)


def test_friends_share_more_items_than_random_pairs(default):
    matrix = _interaction_matrix(default)
    sets = [set(np.flatnonzero(row)) for row in matrix]
    friends = np.mean([_jaccard(sets[a], sets[b]) for a, b in default.edges])
    rng = np.random.default_rng(0)
    pairs = rng.integers(1000, size=(3000, 2))
    strangers = np.mean([_jaccard(sets[a], sets[b]) for a, b in pairs if a != b])
    assert friends > 1.7 * strangers


def test_items_categories_match_what_their_consumers_mostly_consume(default):
    # Dominant category from each user's first half of rows, checked on the second half.
    starts = np.r_[0, np.flatnonzero(np.diff(default.user)) + 1]  # rows are grouped by user
    rank = np.arange(len(default.user)) - np.repeat(starts, np.diff(np.r_[starts, len(default.user)]))
    early = rank < np.bincount(default.user)[default.user] // 2
    dominant = _dominant_category(default, early)
    late_user, late_item = default.user[~early], default.item[~early]
    hits = np.mean([dominant[u] in default.categories[i] for u, i in zip(late_user, late_item, strict=True)])
    share = {c: np.mean([c in default.categories[i] for i in default.item]) for c in set(dominant)}
    chance = np.mean([share[dominant[u]] for u in late_user])
    assert hits > 0.25 and hits > 2 * chance  # chance: about 0.13


def _content_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower())) - {"a", "an", "the", "and", "of", "about", "who"}


def test_item_content_is_coherent_within_a_category(default):
    first = np.array([it["categories"][0] for it in default.items])
    tags = [set(it["tags"]) for it in default.items]
    titles = [_content_words(it["title"]) for it in default.items]
    descriptions = [_content_words(it["description"]) for it in default.items]
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a, b in rng.integers(600, size=(4000, 2)) if a != b]
    alike = [(a, b) for a, b in pairs if first[a] == first[b]]
    unlike = [(a, b) for a, b in pairs if first[a] != first[b]]
    for sets, factor in ((tags, 3.0), (titles, 3.0), (descriptions, 3.0)):
        inside = np.mean([_jaccard(sets[a], sets[b]) for a, b in alike])
        outside = np.mean([_jaccard(sets[a], sets[b]) for a, b in unlike])
        assert inside > factor * outside


def test_text_tells_the_niche_within_a_category(default, tmp_path):
    # Items of one cluster and one niche share more title and story words than items of one cluster.
    world = synthetic.world.build_world(default.spec, synthetic._streams(default.spec)[0])
    cluster, niche = world.catalog.cluster, world.catalog.niche
    words = [_content_words(it["title"] + " " + it["description"]) for it in default.items]
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a, b in rng.integers(600, size=(20000, 2)) if a != b and cluster[a] == cluster[b]]
    same = np.mean([_jaccard(words[a], words[b]) for a, b in pairs if niche[a] == niche[b]])
    other = np.mean([_jaccard(words[a], words[b]) for a, b in pairs if niche[a] != niche[b]])
    assert same > 1.5 * other


def test_country_predicts_the_dominant_category(default):
    dominant = _dominant_category(default, np.ones(len(default.user), bool))
    country = np.array([row.split(",")[3] for row in default.lines["users"][1:]])
    by_country = sum(np.unique(dominant[country == c], return_counts=True)[1].max() for c in set(country))
    overall = np.unique(dominant, return_counts=True)[1].max()
    assert by_country > 2 * overall  # users right when guessing their country's favourite


def test_weights_are_higher_inside_the_dominant_category(default):
    dominant = _dominant_category(default, np.ones(len(default.user), bool))
    inside = np.array(
        [dominant[u] in default.categories[i] for u, i in zip(default.user, default.item, strict=True)]
    )
    assert default.weight[inside].mean() > default.weight[~inside].mean() + 0.5


def _hit_rate_at_10(scores: np.ndarray, seen: np.ndarray, held_out: np.ndarray) -> float:
    scores = np.where(seen, -np.inf, scores)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float((top == held_out[:, None]).any(axis=1).mean())


def test_content_and_sequence_baselines_beat_most_popular_on_leave_last_out(default):
    last = np.r_[np.diff(default.user) != 0, True]  # rows are grouped by user in time order
    train_user, train_item = default.user[~last], default.item[~last]
    held_out = np.zeros(1000, int)
    held_out[default.user[last]] = default.item[last]
    seen = np.zeros((1000, 600), bool)
    seen[train_user, train_item] = True
    popularity = np.bincount(train_item, minlength=600).astype(float)
    most_popular = _hit_rate_at_10(np.tile(popularity, (1000, 1)), seen, held_out)

    dominant = _dominant_category(default, ~last)
    in_dominant = np.array([[dominant[u] in cats for cats in default.categories] for u in range(1000)])
    by_category = _hit_rate_at_10(popularity + 1e6 * in_dominant, seen, held_out)

    same = np.diff(train_user) == 0
    followers = np.zeros((600, 600))
    np.add.at(followers, (train_item[:-1][same], train_item[1:][same]), 1)
    last_train_item = np.zeros(1000, int)
    last_train_item[train_user] = train_item  # the last assignment per user wins
    by_successor = _hit_rate_at_10(popularity + 1e6 * followers[last_train_item], seen, held_out)

    assert most_popular > 0.03
    assert by_category > 1.5 * most_popular
    assert by_successor > 2.5 * most_popular
