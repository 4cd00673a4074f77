"""Exports of the tiny corpus's models for the tests: the defaults' ranking, ``k`` items per list."""

from __future__ import annotations

from msrec import config
from trainer import artifacts, export
from trainer.scoring import Ranking


def export_tiny(model, source, base, k, gate=None, ranking=None, new_items=None, bless=None, cfg=None):
    """``export.export`` of ``model`` trained on ``source`` (ranking by ``cfg``'s or the defaults' mix)."""
    ranking = ranking or Ranking.of(source.resolve(cfg or config.Config())[0].model)
    served = artifacts.served(model, source, new_items)
    serving = config.ServingConfig(top_k=k)
    return export.export(model, ranking, serving, served, str(base), gate=gate, bless=bless)
