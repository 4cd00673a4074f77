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
