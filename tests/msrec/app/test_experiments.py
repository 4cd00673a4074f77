import json

from msrec import config
from msrec.app import experiments


def test_ablation_adds_the_shipped_sources_only_when_no_variant_has_them():
    every = config.override(config.Config(), ["model.sources=" + ",".join(config.SOURCES)])
    default = experiments.ablation_variants(every)  # a timed dataset with every source
    assert [name for name, _ in default] == [name for name, _ in experiments.ABLATION]

    lastfm = config.override(config.Config(), ["model.sources=id,content,profile,social,item_graph"])
    variants = experiments.ablation_variants(lastfm)
    assert variants[:-1] == list(experiments.ABLATION)
    assert variants[-1] == ("shipped", ("id", "content", "profile", "social", "item_graph"))

    # The same set in another order is the "all" variant, not a new one.
    shuffled = config.override(config.Config(), ["model.sources=" + ",".join(reversed(config.SOURCES))])
    assert len(experiments.ablation_variants(shuffled)) == len(experiments.ABLATION)


def test_the_refit_stops_where_the_validation_run_kept_its_weights(tiny_source, tmp_path):
    from msrec import paths

    base = config.override(config.Config(), ["train.epochs=3", "train.early_stopping_patience=1"])
    chosen, table = experiments.choose_mix(base, tiny_source, str(tmp_path / "validation"))
    run = json.load(open(paths.model_run(str(tmp_path / "validation"))))
    assert len(run["val_NDCG@10"]) >= 2 and table
    kept, curve = run["best_epoch"], run["val_NDCG@10"]
    overfit = kept < 3 and curve[-1] < 0.95 * curve[kept - 1]  # fell more than 5 % after the kept epoch
    assert chosen.train.stop_after == (kept if overfit else 0)
    assert chosen.train.epochs == 3 and chosen.train.refit  # the refit's schedule still spans 3 epochs
