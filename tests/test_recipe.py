"""The iteration plan every backend walks (common/recipe.py), held against what the tutorials do."""

from __future__ import annotations

import dataclasses

import pytest
from recipe_expectations import FEEDS, expected_updates

from common.models import MODELS, get_model
from common.recipe import FAKE, FRESH, FROM_Z, REAL, SAME_FAKE, STATS_LAYOUT, plan, stats_row


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_plan_makes_the_tutorials_updates_in_order(name):
    assert list(plan(get_model(name).recipe).updates) == expected_updates(name)


@pytest.mark.parametrize("name,g_forwards,first", FEEDS)
def test_the_plan_feeds_d_and_g_as_the_tutorial_does(name, g_forwards, first):
    p = plan(get_model(name).recipe)
    assert p.g_forwards == g_forwards
    assert p.d_passes[0].batch == first
    assert sorted(x.batch for x in p.d_passes) == [FAKE, REAL]  # each batch once, never concatenated


def test_the_paddle_book_updates_d_on_each_batch_and_draws_fresh_noise_per_g_update():
    p = plan(get_model("paddle-dcgan28").recipe)
    assert [[x.batch for x in u.passes] for u in p.d_updates] == [[FAKE], [REAL]]
    assert [(u.source, u.fresh_index) for u in p.g_updates] == [(FRESH, 0), (FRESH, 1)]
    assert p.fresh_noise == 2 and not p.keep_fake_graph


def test_a_summed_d_step_is_one_update_over_both_passes_and_g_reuses_or_recomputes():
    same = plan(get_model("pytorch-celeba-dcgan").recipe)
    assert len(same.d_updates) == 1 and [x.batch for x in same.d_updates[0].passes] == [REAL, FAKE]
    assert [u.source for u in same.g_updates] == [SAME_FAKE] and same.keep_fake_graph
    recompute = plan(get_model("mindspore-mlp-gan").recipe)
    assert [u.source for u in recompute.g_updates] == [FROM_Z] and recompute.fresh_noise == 0


def test_labels_come_from_the_recipe_and_g_asks_for_the_real_label():
    r = dataclasses.replace(get_model("gluon-lfw-dcgan").recipe, real_label=0.9, fake_label=0.1)
    p = plan(r)
    assert {x.batch: x.label for x in p.d_passes} == {REAL: 0.9, FAKE: 0.1}
    assert [u.label for u in p.g_updates] == [0.9]


def test_an_unknown_d_update_is_an_error_naming_it():
    r = dataclasses.replace(get_model("gluon-lfw-dcgan").recipe, d_update="averaged")
    with pytest.raises(ValueError, match="averaged"):
        plan(r)


def test_the_stats_row_puts_each_value_in_its_named_place():
    row = stats_row({REAL: (1.0, 0.75), FAKE: (2.0, 0.25)}, [(3.0, 0.5), (4.0, 0.125)])
    assert row[: len(STATS_LAYOUT)] == [3.0, 4.0, 0.75, 0.25, 0.125]  # d = real + fake, g = the last G loss
    assert row[len(STATS_LAYOUT) :] == [3.0, 4.0]  # every G update's loss


def test_each_g_update_scores_the_kept_fake_or_generates_from_the_right_noise():
    def generate(z):
        return f"G({z})"

    def fresh(k):
        return f"z{k}"

    pick = {
        name: [u.fake("kept", generate, "z", fresh) for u in plan(get_model(name).recipe).g_updates]
        for name in ("pytorch-celeba-dcgan", "mindspore-mlp-gan", "paddle-dcgan28")
    }
    assert pick == {
        "pytorch-celeba-dcgan": ["kept"],
        "mindspore-mlp-gan": ["G(z)"],
        "paddle-dcgan28": ["G(z0)", "G(z1)"],
    }
