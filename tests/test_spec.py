"""Spec validation: a bad field fails with the model, the field and the allowed values."""

import dataclasses
import json

import pytest

from common.models import MODELS, get_model
from common.spec import Act, BatchNorm, ConvTranspose2d, Dense, NetSpec, SpecError, spec_from_dict


def _dict(name="mindspore-mlp-gan"):
    return json.loads(json.dumps(get_model(name).to_dict()))


@pytest.mark.parametrize("name", list(MODELS))
def test_reference_specs_round_trip_through_plain_data(name):
    spec = get_model(name)
    again = spec_from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.spec_hash() == spec.spec_hash()


def test_spec_hash_changes_with_any_field():
    spec = get_model("pytorch-celeba-dcgan")
    other = dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, real_label=0.9))
    assert other.spec_hash() != spec.spec_hash()


@pytest.mark.parametrize(
    "path, value, field, allowed",
    [
        (("recipe", "loss"), "hinge", "recipe.loss", "'bce_prob'"),
        (("recipe", "d_update"), "joint", "recipe.d_update", "'summed'"),
        (("recipe", "g_input"), "new", "recipe.g_input", "'same_fake'"),
        (("recipe", "noise", "dist"), "cauchy", "recipe.noise.dist", "'normal', 'uniform'"),
        (("data", "order"), "random", "data.order", "'shuffle_each_epoch'"),
        (("data", "last_batch"), "skip", "data.last_batch", "'drop'"),
        (("data", "pixel_map"), "x/255", "data.pixel_map", "'x/127.5-1'"),
        (("data", "dataset"), "cifar10", "data.dataset", "'mnist-train'"),
        (("recipe", "opt_d", "beta1"), 1.5, "recipe.opt_d.beta1", "[0, 1)"),
        (("data", "batch_size"), 0, "data.batch_size", "> 0"),
    ],
)
def test_bad_field_names_model_field_and_allowed_values(path, value, field, allowed):
    d = _dict()
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SpecError) as e:
        spec_from_dict(d)
    msg = str(e.value)
    assert "'mindspore-mlp-gan'" in msg and repr(field) in msg and allowed in msg
    assert e.value.path == field


def test_bad_layer_fields_are_named_with_their_index():
    d = _dict()
    d["discriminator"]["layers"][2]["slope"] = 0.0  # LeakyReLU slope must be explicit and in (0, 1)
    with pytest.raises(SpecError, match=r"discriminator.layers\[2\].slope"):
        spec_from_dict(d)
    d = _dict()
    d["generator"]["layers"][0]["op"] = "dense3d"
    with pytest.raises(SpecError, match=r"generator.layers\[0\].op.*allowed: dense"):
        spec_from_dict(d)
    d = _dict()
    d["generator"]["layers"][0]["weight_init"]["kind"] = "orthogonal"
    with pytest.raises(SpecError, match=r"generator.layers\[0\].weight_init.kind"):
        spec_from_dict(d)


def test_unknown_and_missing_fields():
    d = _dict()
    d["recipe"]["gradient_penalty"] = 10
    with pytest.raises(SpecError, match="recipe.gradient_penalty.*unknown field"):
        spec_from_dict(d)
    d = _dict()
    del d["data"]["batch_size"]
    with pytest.raises(SpecError, match="data.batch_size.*missing"):
        spec_from_dict(d)


def test_shapes_must_compose():
    spec = get_model("mindspore-mlp-gan")
    # G's last Dense makes 784 values; 700 cannot be reshaped to (1, 28, 28)
    layers = list(spec.generator.layers)
    layers[-3] = Dense(700, weight_init=layers[-3].weight_init, bias_init=layers[-3].bias_init)
    with pytest.raises(SpecError, match="cannot reshape"):
        dataclasses.replace(spec, generator=NetSpec((100,), tuple(layers)))


def test_recipe_consistency_rules():
    spec = get_model("pytorch-celeba-dcgan")
    with pytest.raises(SpecError, match="recipe.g_updates"):
        dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, g_updates=2))
    with pytest.raises(SpecError, match="recipe.loss.*would apply it twice"):
        dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, loss="bce_logits"))
    gluon = get_model("gluon-lfw-dcgan")
    with pytest.raises(SpecError, match="needs D to end in a sigmoid"):
        dataclasses.replace(gluon, recipe=dataclasses.replace(gluon.recipe, loss="bce_prob"))


def test_layer_rules():
    spec = get_model("mxnet-dcgan64")
    layers = list(spec.generator.layers)
    layers[0] = ConvTranspose2d(1024, 4, stride=1, output_padding=1, bias=False)
    with pytest.raises(SpecError, match="output_padding.*below stride"):
        dataclasses.replace(spec, generator=NetSpec(spec.generator.input_shape, tuple(layers)))
    layers = list(spec.generator.layers)
    layers[1] = BatchNorm(2, momentum=1.5)
    with pytest.raises(SpecError, match=r"generator.layers\[1\].momentum"):
        dataclasses.replace(spec, generator=NetSpec(spec.generator.input_shape, tuple(layers)))
    layers = list(spec.generator.layers)
    layers[2] = Act("gelu")
    with pytest.raises(SpecError, match=r"generator.layers\[2\].fn.*'relu'"):
        dataclasses.replace(spec, generator=NetSpec(spec.generator.input_shape, tuple(layers)))


def test_get_model_names_the_known_models():
    with pytest.raises(KeyError, match="paddle-dcgan28"):
        get_model("stylegan")


def test_spec_hash_ignores_the_title_and_the_citation():
    spec = get_model("pytorch-celeba-dcgan")
    assert dataclasses.replace(spec, title="x", source="y").spec_hash() == spec.spec_hash()
    assert dataclasses.replace(spec, framework="jax").spec_hash() != spec.spec_hash()
