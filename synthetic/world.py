"""The synthetic dataset's hidden world: tastes, content, profiles, friends and sequences.

``synthetic.generate`` writes the four raw files a user would bring
(``interactions.csv``, ``items.jsonl``, ``users.csv``, ``social.csv``), which the Beam
preprocessing then reads like any other input. Output is byte-identical for a given spec.

The hidden process plants a learnable signal in every source:

* Tastes. There are ``num_categories`` taste clusters, each split into ``num_niches`` niches.
  A user mixes a primary cluster, a secondary one and a random remainder, and prefers one
  niche in each of the first two. A draw picks a cluster, then (with ``p_niche``) the
  preferred niche, then an item in proportion to its popularity. That is a softmax over
  ``user . item + log popularity`` with one-hot item vectors over (cluster, niche) groups,
  factorised so that a draw costs O(log items) instead of O(items).
* Popularity is Zipf-like: the r-th item of every group has weight ``r ** -zipf_exponent``,
  so each taste has its own head and the catalogue as a whole is heavy-tailed.
* Content. An item's first category is its cluster (``content_noise`` of them are random),
  its tags come mostly from its cluster's tag pool, and its title and one-sentence description
  speak its cluster's theme and mostly its niche's sub-theme (``synthetic/topics.py``: "The
  Crooked Alibi", "A hard-boiled noir about a rookie cop who ..."), so content predicts who
  likes an item.
* Profiles. Country, age group and gender shift the logits of the primary and secondary
  cluster, so attributes predict tastes.
* Social. ``friendless_fraction`` of users (at least one) have no friends; the others
  befriend users of the same primary cluster with probability ``homophily``. Each user has a
  few favourite items and, with probability ``p_friend``, copies a random friend's favourite.
* Sequences. Every item has ``successors_per_item`` successors, mostly in its own cluster;
  after consuming A a user picks one of A's successors with probability ``p_successor``
  (the first successor twice as likely as the second, and so on).
* Weights rise with the user's affinity to the item's cluster and niche, plus noise.

Activity per user is lognormal (heavy-tailed, at least 5 interactions when the mean allows),
a user never repeats an item, and each user's timestamps increase over ~1 year from
2025-01-01. Users are simulated in chunks, all users of a chunk stepping in lockstep with
numpy, and rows are formatted as fixed-width bytes, so memory stays bounded by the chunk.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

FILES = {
    "interactions": "interactions.csv",
    "items": "items.jsonl",
    "users": "users.csv",
    "social": "social.csv",
}

START_TIME = 1_735_689_600  # 2025-01-01T00:00:00Z
YEAR_SECONDS = 365 * 86_400
AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS = ("f", "m", "x")
_GENDER_P = (0.48, 0.48, 0.04)
_FAVOURITES = 4  # favourite items per user: what friends copy
SEEN_BUFFER = 1 << 25  # booleans in a chunk's (user, item) "already consumed" matrix
CHUNK_ROWS = 200_000  # about this many interactions per chunk (and per progress call)


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Sizes, seed and the knobs of the hidden process (see the module docstring).

    Attributes:
      num_interactions: rows of ``interactions.csv`` (exactly); their mean per user is
        ``num_interactions / num_users``, and no user exceeds ``max_per_user``.
      num_categories: taste clusters; category ``c03`` is cluster 3.
      num_niches: sub-tastes per cluster, carried by the title and description words.
      p_successor: chance that the next item is a successor of the previous one.
      p_friend: chance that it is a random friend's favourite (users with friends only).
      p_favourite: chance that it is one of the user's own favourites; otherwise, and when
        an item repeats, it is drawn from the user's tastes.
      p_niche: chance that a draw inside a liked cluster stays in the preferred niche.
      homophily: chance that a new friend shares the user's primary cluster.
      content_noise: share of random first categories and of off-cluster tags.
    """

    num_users: int = 1000
    num_items: int = 600
    num_interactions: int = 40000
    num_categories: int = 12
    num_tags: int = 60
    seed: int = 0
    num_niches: int = 4
    num_countries: int = 10
    successors_per_item: int = 3
    p_successor: float = 0.4
    p_friend: float = 0.15
    p_favourite: float = 0.1
    p_niche: float = 0.7
    homophily: float = 0.8
    friendless_fraction: float = 0.2
    mean_friends: float = 6.0
    zipf_exponent: float = 1.2
    content_noise: float = 0.15

    def __post_init__(self) -> None:
        if self.num_categories < 2 or self.num_items < 2 * self.num_categories:
            raise ValueError("need num_categories >= 2 and num_items >= 2 * num_categories")
        if self.num_tags < max(6, self.num_categories):
            raise ValueError("need num_tags >= max(6, num_categories): items carry up to 6 tags")
        if not self.num_users <= self.num_interactions <= self.num_users * self.max_per_user:
            raise ValueError(
                f"num_interactions must lie in [num_users, num_users * {self.max_per_user}] "
                "(a user consumes at most half of the items)"
            )
        if self.p_successor + self.p_friend + self.p_favourite > 1:
            raise ValueError("p_successor + p_friend + p_favourite must not exceed 1")

    @property
    def max_per_user(self) -> int:
        # Half the catalogue at most, so redrawing an already consumed item ends quickly.
        return min(self.num_items // 2, max(300, 10 * self.num_interactions // self.num_users))


@dataclasses.dataclass(frozen=True)
class _Catalog:
    """Items sorted by (cluster, niche), so a taste group is a slice drawn from by popularity.

    Group ``g`` of a draw is ``cluster * num_niches + niche`` for a niche, ``G + cluster`` for a
    whole cluster (``G`` = clusters * niches) and ``G + clusters`` for the whole catalogue.
    """

    cluster: np.ndarray  # item -> cluster
    niche: np.ndarray  # item -> niche
    order: np.ndarray  # items sorted by (cluster, niche)
    cumulative: np.ndarray  # cumulative popularity along ``order``
    lo: np.ndarray  # group -> slice of ``order``; an empty niche uses its cluster's slice
    hi: np.ndarray

    def draw(self, groups: np.ndarray, rng: np.random.Generator, uniform: bool = False) -> np.ndarray:
        """One item per entry of ``groups``, by popularity within the group (or uniformly)."""
        lo, hi, r = self.lo[groups], self.hi[groups], rng.random(len(groups))
        if uniform:
            return self.order[lo + (r * (hi - lo)).astype(np.int64)]
        base = np.where(lo > 0, self.cumulative[lo - 1], 0.0)
        target = base + r * (self.cumulative[hi - 1] - base)
        return self.order[np.clip(np.searchsorted(self.cumulative, target, "right"), lo, hi - 1)]


@dataclasses.dataclass(frozen=True)
class _Tastes:
    """Per user: a primary and a secondary cluster, their weights and a preferred niche in each.

    The remaining weight ``1 - w_primary - w_secondary`` goes to a uniformly random cluster.
    """

    primary: np.ndarray
    secondary: np.ndarray
    w_primary: np.ndarray
    w_secondary: np.ndarray
    niche_primary: np.ndarray
    niche_secondary: np.ndarray


@dataclasses.dataclass(frozen=True)
class World:
    """The hidden state behind all four files."""

    catalog: _Catalog
    tastes: _Tastes
    profiles: np.ndarray  # (users, 3): age group, gender, country
    successors: np.ndarray  # (items, successors_per_item)
    favourites: np.ndarray  # (users, _FAVOURITES): what friends copy
    edges: np.ndarray  # (edges, 2), u < v, sorted
    indptr: np.ndarray  # CSR adjacency of ``edges``
    neighbours: np.ndarray


def _catalog(spec: SyntheticSpec, rng: np.random.Generator) -> _Catalog:
    """Balanced clusters (none empty), random niches, Zipf popularity within each group."""
    i, k, s = spec.num_items, spec.num_categories, spec.num_niches
    cluster = rng.permutation(np.arange(i) % k)
    niche = rng.integers(s, size=i)
    order = np.lexsort((rng.random(i), niche, cluster))  # random order, hence ranks, within groups
    niches = np.searchsorted((cluster * s + niche)[order], np.arange(k * s + 1))
    rank = np.arange(i) - np.repeat(niches[:-1], np.diff(niches))
    clusters = np.searchsorted(cluster[order], np.arange(k + 1))
    lo = np.concatenate([niches[:-1], clusters[:-1], [0]])
    hi = np.concatenate([niches[1:], clusters[1:], [i]])
    empty = np.flatnonzero(lo == hi)
    lo[empty], hi[empty] = clusters[empty // s], clusters[empty // s + 1]
    return _Catalog(cluster, niche, order, np.cumsum((rank + 1.0) ** -spec.zipf_exponent), lo, hi)


def _tastes(spec: SyntheticSpec, catalog: _Catalog, profiles: np.ndarray, rng) -> _Tastes:
    """Clusters from additive profile logits; a preferred niche as likely as its popularity."""
    u, k = spec.num_users, spec.num_categories
    # Every attribute value shifts the cluster logits: country most, gender least.
    logits = rng.normal(0, 1.0, (len(AGE_GROUPS), k))[profiles[:, 0]]
    logits += rng.normal(0, 0.5, (len(GENDERS), k))[profiles[:, 1]]
    logits += rng.normal(0, 2.0, (spec.num_countries, k))[profiles[:, 2]]
    primary = np.argmax(logits + rng.gumbel(size=(u, k)), axis=1)  # Gumbel-max: a softmax draw
    logits[np.arange(u), primary] = -np.inf
    secondary = np.argmax(logits + rng.gumbel(size=(u, k)), axis=1)
    w_primary = rng.uniform(0.6, 0.9, u)
    groups = k * spec.num_niches
    return _Tastes(
        primary=primary,
        secondary=secondary,
        w_primary=w_primary,
        w_secondary=(1 - w_primary) * 0.7,  # the last 30% of the weight goes to a random cluster
        niche_primary=catalog.niche[catalog.draw(groups + primary, rng)],
        niche_secondary=catalog.niche[catalog.draw(groups + secondary, rng)],
    )


def _draw_taste(catalog: _Catalog, t: _Tastes, spec: SyntheticSpec, users, rng, uniform=False):
    """One item per user from the taste mixture: cluster, then (preferred) niche, then item."""
    n, groups = len(users), spec.num_categories * spec.num_niches
    r, w1 = rng.random(n), t.w_primary[users]
    in_first = r < w1
    in_second = ~in_first & (r < w1 + t.w_secondary[users])
    cluster = np.where(in_first, t.primary[users], t.secondary[users])
    niche = np.where(in_first, t.niche_primary[users], t.niche_secondary[users])
    group = np.where(rng.random(n) < spec.p_niche, cluster * spec.num_niches + niche, groups + cluster)
    group = np.where(in_first | in_second, group, groups + rng.integers(spec.num_categories, size=n))
    return catalog.draw(group, rng, uniform)


def _successors(spec: SyntheticSpec, catalog: _Catalog, rng) -> np.ndarray:
    """Popularity-weighted successors: 90% in the item's own cluster, never the item itself."""
    items = np.repeat(np.arange(spec.num_items), spec.successors_per_item)
    groups = spec.num_categories * spec.num_niches + catalog.cluster[items]
    groups = np.where(rng.random(len(items)) < 0.9, groups, len(catalog.lo) - 1)  # or anywhere
    picks = catalog.draw(groups, rng)
    for _ in range(5):  # the top item of a small cluster often draws itself
        clash = np.flatnonzero(picks == items)
        picks[clash] = catalog.draw(groups[clash], rng)
    picks = np.where(picks == items, (items + 1) % spec.num_items, picks)
    return picks.reshape(spec.num_items, spec.successors_per_item)


def _friendships(spec: SyntheticSpec, primary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Undirected edges (u < v, sorted, unique); homophily picks partners of the same primary."""
    u = spec.num_users
    social = np.ones(u, bool)
    social[rng.permutation(u)[: max(1, round(spec.friendless_fraction * u))]] = False
    members = np.flatnonzero(social)
    if len(members) < 2:
        return np.zeros((0, 2), np.int64)
    source = np.repeat(members, rng.exponential(spec.mean_friends / 2, len(members)).astype(np.int64))
    by_taste = members[np.argsort(primary[members], kind="stable")]
    size = np.bincount(primary[members], minlength=spec.num_categories)
    k = primary[source]
    alike = by_taste[np.cumsum(size)[k] - size[k] + (rng.random(len(source)) * size[k]).astype(np.int64)]
    anyone = members[rng.integers(len(members), size=len(source))]
    friend = np.where(rng.random(len(source)) < spec.homophily, alike, anyone)
    a, b = np.minimum(source, friend), np.maximum(source, friend)
    keys = np.unique(a[a != b] * u + b[a != b])
    return np.stack([keys // u, keys % u], axis=1)


def build_world(spec: SyntheticSpec, rng: np.random.Generator) -> World:
    """Draws the whole hidden state: profiles, catalogue, tastes, successors, favourites, friends."""
    u = spec.num_users
    ages = rng.integers(len(AGE_GROUPS), size=u)
    genders = rng.choice(len(GENDERS), size=u, p=_GENDER_P)
    profiles = np.stack([ages, genders, rng.integers(spec.num_countries, size=u)], axis=1)
    catalog = _catalog(spec, rng)
    tastes = _tastes(spec, catalog, profiles, rng)
    successors = _successors(spec, catalog, rng)
    favourites = _draw_taste(catalog, tastes, spec, np.repeat(np.arange(u), _FAVOURITES), rng)
    favourites = favourites.reshape(u, _FAVOURITES)
    edges = _friendships(spec, tastes.primary, rng)
    ends, others = edges.T.ravel(), edges[:, ::-1].T.ravel()  # both directions
    indptr = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=u))])
    neighbours = others[np.argsort(ends, kind="stable")]
    return World(catalog, tastes, profiles, successors, favourites, edges, indptr, neighbours)


def _random_friend(world: World, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly chosen friend per user, or -1 for the friendless."""
    if world.neighbours.size == 0:
        return np.full(len(users), -1)
    start, degree = world.indptr[users], world.indptr[users + 1] - world.indptr[users]
    slot = np.minimum(start + (rng.random(len(users)) * degree).astype(np.int64), world.neighbours.size - 1)
    return np.where(degree > 0, world.neighbours[slot], -1)


def _next_items(world: World, spec: SyntheticSpec, users, last, rng) -> np.ndarray:
    """One step for every active user: successor, friend's favourite, own favourite or taste."""
    n = len(users)
    items = _draw_taste(world.catalog, world.tastes, spec, users, rng)
    r = rng.random(n)
    cut = np.cumsum([spec.p_successor, spec.p_friend, spec.p_favourite])
    halving = 0.5 ** np.arange(spec.successors_per_item)  # the first successor is the likeliest
    which = rng.choice(spec.successors_per_item, size=n, p=halving / halving.sum())
    items = np.where((r < cut[0]) & (last >= 0), world.successors[np.maximum(last, 0), which], items)
    slot, friend = rng.integers(_FAVOURITES, size=n), _random_friend(world, users, rng)
    from_friend = (r >= cut[0]) & (r < cut[1]) & (friend >= 0)
    items = np.where(from_friend, world.favourites[np.maximum(friend, 0), slot], items)
    return np.where((r >= cut[1]) & (r < cut[2]), world.favourites[users, slot], items)


def _avoid_repeats(world, spec, users, items, seen, rng) -> np.ndarray:
    """Redraws items a user already consumed until none is left.

    First from the user's tastes, then from the tail of those tastes (uniform within the
    group, once the popular items are used up), then from anything: a user has at most half
    of the catalogue, so the last stage ends quickly.
    """
    rows = np.arange(len(users))
    for attempt in itertools.count():
        clash = np.flatnonzero(seen[rows, items])
        if clash.size == 0:
            return items
        if attempt < 8:
            tail = attempt >= 3
            items[clash] = _draw_taste(world.catalog, world.tastes, spec, users[clash], rng, tail)
        else:
            items[clash] = rng.integers(spec.num_items, size=clash.size)


def simulate(world, spec, users, counts, seen, rng) -> np.ndarray:
    """Plays users forward in lockstep; returns their items, user-major in time order.

    ``users`` are sorted by ``counts``, descending, so the users still active at step t are a
    prefix. ``seen`` is an all-False (users x items) buffer and is left all-False again.
    """
    steps = np.zeros((len(users), counts[0]), np.int64)
    last = np.full(len(users), -1)
    for t in range(counts[0]):
        a = np.searchsorted(-counts, -t, "left")
        items = _next_items(world, spec, users[:a], last[:a], rng)
        items = _avoid_repeats(world, spec, users[:a], items, seen, rng)
        seen[np.arange(a), items] = True
        steps[:a, t] = last[:a] = items
    taken = np.arange(counts[0]) < counts[:, None]
    seen[np.nonzero(taken)[0], steps[taken]] = False
    return steps[taken]


def draw_activity(spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Lognormal interactions per user in [low, max_per_user], summing exactly to the spec."""
    u, total, cap = spec.num_users, spec.num_interactions, spec.max_per_user
    low = min(5, total // u)
    excess, raw = total - u * low, rng.lognormal(0.0, 1.0, u)
    scale = excess / raw.sum()
    for _ in range(30):  # the cap clips mass away: rescale until the sum settles
        counts = np.clip(low + np.floor(raw * scale), low, cap).astype(np.int64)
        if counts.sum() - u * low in (0, excess):
            break
        scale *= excess / (counts.sum() - u * low)
    while (gap := total - counts.sum()) != 0:  # rounding leftovers, one interaction per user
        room = np.flatnonzero(counts < cap) if gap > 0 else np.flatnonzero(counts > low)
        pick = rng.choice(room, size=min(abs(gap), len(room)), replace=False)
        counts[pick] += np.sign(gap)
    return counts


def draw_timestamps(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strictly increasing times per user: a random start, then exponential gaps within the year."""
    owner = np.repeat(np.arange(len(counts)), counts)
    start = rng.random(len(counts)) * 0.5 * YEAR_SECONDS
    gaps = rng.exponential(1.0, owner.size)
    total = np.bincount(owner, weights=gaps, minlength=len(counts)) + rng.exponential(1.0, len(counts))
    steps = 1 + np.floor(gaps * ((YEAR_SECONDS - start) / total)[owner]).astype(np.int64)
    clock = np.cumsum(steps)
    first = np.cumsum(counts) - counts
    return START_TIME + start.astype(np.int64)[owner] + clock - (clock[first] - steps[first])[owner]


def draw_weights(world: World, spec: SyntheticSpec, users, items, rng) -> np.ndarray:
    """Event strength in thousandths, in [0.5, 5.0]: higher for the user's clusters and niches."""
    t, k, s = world.tastes, world.catalog.cluster[items], world.catalog.niche[items]
    first, second = k == t.primary[users], k == t.secondary[users]
    affinity = t.w_primary[users] * first + t.w_secondary[users] * second
    niche = (first & (s == t.niche_primary[users])) | (second & (s == t.niche_secondary[users]))
    strength = 1.0 + 3.0 * affinity + 0.5 * niche + rng.normal(0, 0.4, len(items))
    return np.round(np.clip(strength, 0.5, 5.0) * 1000).astype(np.int64)
