"""Adam forms: the spec names each tutorial framework's form, common.adam computes its scalars, the
torch backend's optimisers compute every form, and `--adam-form` overrides it and is recorded."""

import dataclasses
import json
import math

import numpy as np
import pytest

from benchmarks.cli import build_parser
from common.adam import (
    beta_powers,
    float32_powers,
    float32_step_table,
    moment_betas,
    reference_update,
    step_scalars,
    torch_scalars,
    with_adam_form,
)
from common.models import get_model
from common.spec import ADAM_FORMS, SpecError, spec_from_dict

TUTORIAL_FORMS = {
    "paddle-dcgan28": "paddle-fluid",
    "mindspore-mlp-gan": "mindspore",
    "mxnet-dcgan64": "mxnet",
    "gluon-lfw-dcgan": "mxnet",
    "pytorch-celeba-dcgan": "torch",
}


@pytest.mark.parametrize("name", list(TUTORIAL_FORMS))  # the five tutorials; a new model brings its own form
def test_each_model_trains_with_its_tutorial_frameworks_adam(name):
    r = get_model(name).recipe
    assert r.opt_g.form == r.opt_d.form == TUTORIAL_FORMS[name]


def test_forms_are_data_with_the_source_they_were_read_from():
    assert ADAM_FORMS["torch"].eps == "sqrt_v_hat" and ADAM_FORMS["torch"].one_minus_beta == "float64"
    assert all(ADAM_FORMS[f].eps == "sqrt_v" for f in ("mxnet", "mindspore", "paddle-fluid"))
    assert ADAM_FORMS["mxnet"].beta_power == "float64" and ADAM_FORMS["mindspore"].beta_power == "float32"
    assert all(f.source for f in ADAM_FORMS.values())


@pytest.mark.parametrize("value", ["fluid", None, 3])
def test_a_bad_or_missing_form_names_model_field_and_choices(value):
    d = json.loads(json.dumps(get_model("mxnet-dcgan64").to_dict()))
    d["recipe"]["opt_d"]["form"] = value
    with pytest.raises(SpecError) as e:
        spec_from_dict(d)
    assert e.value.path == "recipe.opt_d.form" and "'mxnet-dcgan64'" in str(e.value)
    assert "'paddle-fluid'" in str(e.value)
    del d["recipe"]["opt_d"]["form"]
    with pytest.raises(SpecError, match="recipe.opt_d.form"):
        spec_from_dict(d)


def test_override_changes_the_form_and_the_hash_only_when_it_differs():
    spec = get_model("mindspore-mlp-gan")
    assert with_adam_form(spec, None) is spec and with_adam_form(spec, "mindspore") is spec
    other = with_adam_form(spec, "torch")
    assert other.recipe.opt_g.form == other.recipe.opt_d.form == "torch"
    assert other.spec_hash() != spec.spec_hash()
    assert dataclasses.replace(other.recipe, opt_g=spec.recipe.opt_g, opt_d=spec.recipe.opt_d) == spec.recipe
    with pytest.raises(SpecError, match="recipe.opt_g.form"):
        with_adam_form(spec, "adamw")


def test_scalars_of_each_form_at_the_first_update():
    o = get_model("mindspore-mlp-gan").recipe.opt_g  # lr 2e-4, β1 0.5, β2 0.999, ε 1e-8
    f32 = np.float32
    # MXNet: lr·sqrt(1-β2)/(1-β1) in doubles, ε unscaled; 1-β2 formed in float32 for the moments
    s, e = step_scalars(dataclasses.replace(o, form="mxnet"), 1)
    assert s == 2e-4 * (math.sqrt(1 - 0.999) / 0.5) and e == 1e-8
    one_minus_b2 = 1 - moment_betas(dataclasses.replace(o, form="mxnet"))[1]
    assert one_minus_b2 == float(f32(1) - f32(0.999)) == 0.0009999871253967285
    # MindSpore / fluid: float32 throughout, so 1-β2ᵗ at t = 1 is 1 - 0.999f as well
    s, e = step_scalars(o, 1)
    assert s == float(f32(f32(f32(2e-4) * np.sqrt(f32(1) - f32(0.999))) / f32(0.5))) and e == float(f32(1e-8))
    # torch: ε scaled by sqrt(1-β2ᵗ) in sqrt(v) terms
    s, e = step_scalars(dataclasses.replace(o, form="torch"), 1)
    assert e == pytest.approx(1e-8 * math.sqrt(1e-3), rel=1e-15)
    assert moment_betas(dataclasses.replace(o, form="torch")) == (0.5, 0.999)
    # float32 powers are products, not a correctly rounded power
    assert beta_powers(o, 3)[1] == float(f32(f32(f32(0.999) * f32(0.999)) * f32(0.999))) == float32_powers(0.999, 3)
    with pytest.raises(ValueError):
        beta_powers(o, 0)


@pytest.mark.parametrize("form", list(ADAM_FORMS))
def test_torch_scalars_turn_torchs_update_into_the_form(form):
    """lr' and ε' in torch's bias-corrected update give S·m/(sqrt(v)+E) exactly (real arithmetic)."""
    o = dataclasses.replace(get_model("mxnet-dcgan64").recipe.opt_g, form=form)
    b1, b2 = moment_betas(o)
    for t in (1, 2, 7, 300):
        lr, eps = torch_scalars(o, t)
        s, e = step_scalars(o, t)
        for v in (0.0, 1e-20, 1e-8, 1.0):
            torch_step = lr / (1 - b1**t) / (math.sqrt(v) / math.sqrt(1 - b2**t) + eps)
            assert torch_step == pytest.approx(s / (math.sqrt(v) + e), rel=1e-14)


@pytest.mark.parametrize("form", ["mindspore", "paddle-fluid"])
def test_the_float32_step_table_holds_every_update_until_the_scalars_stop_changing(form):
    o = with_adam_form(get_model("mindspore-mlp-gan"), form).recipe.opt_g
    table = float32_step_table(o)
    for t in (1, 2, 3, 4, 165, 1000, len(table) - 1, len(table)):
        assert tuple(table[t - 1]) == step_scalars(o, t), t
    for t in (len(table) + 1, len(table) + 5000):  # beyond the table, its last row
        assert step_scalars(o, t) == tuple(table[-1])
    with pytest.raises(ValueError, match="not float32"):
        float32_step_table(with_adam_form(get_model("mindspore-mlp-gan"), "mxnet").recipe.opt_g)


torch = pytest.importorskip("torch")
from backends.pytorch import TorchBackend, _CapturableFormAdam, _FormAdam, make_adam  # noqa: E402


@pytest.mark.parametrize("capturable", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", [f for f in ADAM_FORMS if f != "torch"])
def test_torch_optimisers_compute_each_form(form, dtype, capturable):
    """torch.optim.Adam driven by torch_scalars (eager) and the foreach update a CUDA graph captures
    (run here on CPU) against the numpy reference; gradients down to 1e-9 make ε's place matter.
    The step is reloaded mid-way (as load_state does) to check the β powers are rebuilt."""
    o = dataclasses.replace(get_model("mindspore-mlp-gan").recipe.opt_g, form=form)
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(64)
    p = torch.nn.Parameter(torch.tensor(p0, dtype=dtype))
    opt = make_adam([p], o, capturable)
    assert type(opt) is (_CapturableFormAdam if capturable else _FormAdam)
    ref, m, v = p0.astype(np.float64), np.zeros(64), np.zeros(64)
    if dtype == torch.float32:
        ref = p0.astype(np.float32).astype(np.float64)
    for t in range(1, 7):
        g = rng.standard_normal(64) * 10.0 ** rng.integers(-9, 0, 64)
        p.grad = torch.tensor(g, dtype=dtype)
        if t == 4:
            opt.load_state_dict(opt.state_dict())
        opt.step()
        ref, m, v = reference_update(o, t, ref, np.asarray(p.grad, np.float64), m, v)
    tol = dict(rtol=1e-13, atol=1e-16) if dtype == torch.float64 else dict(rtol=3e-7, atol=1e-7)
    np.testing.assert_allclose(p.detach().numpy().astype(np.float64), ref, **tol)
    assert int(opt.state[p]["step"]) == 6


def test_torch_form_is_torch_optim_adam_itself():
    opt = make_adam([torch.nn.Parameter(torch.zeros(3))], get_model("pytorch-celeba-dcgan").recipe.opt_g)
    assert type(opt) is torch.optim.Adam
    be = TorchBackend(get_model("pytorch-celeba-dcgan"))
    assert all(type(o) is torch.optim.Adam for o in be.opts.values())
    assert all(type(o) is _FormAdam for o in TorchBackend(get_model("mindspore-mlp-gan")).opts.values())


def test_adam_form_option_on_run_trace_and_reproduce(tmp_path):
    ap = build_parser()
    assert ap.parse_args(["run", "--adam-form", "torch"]).adam_form == "torch"
    assert ap.parse_args(["trace", "--adam-form", "mxnet"]).adam_form == "mxnet"
    assert ap.parse_args(["reproduce", "mindspore-mlp-gan", "--adam-form", "paddle-fluid"]).adam_form == "paddle-fluid"
    assert ap.parse_args(["run"]).adam_form is None
    with pytest.raises(SystemExit):
        ap.parse_args(["run", "--adam-form", "adamw"])


def test_results_and_traces_record_the_form(tmp_path):
    from benchmarks.runner import RunConfig, run_one
    from benchmarks.trace import run_trace

    res = run_one(
        RunConfig(
            "torch",
            "mindspore-mlp-gan",
            warmup=1,
            steps=1,
            data="synthetic",
            out=str(tmp_path),
            samples=False,
            adam_form="torch",
        ),
        progress=False,
    )
    assert res["status"] == "ok" and res["adam_form"] == "torch"
    assert res["spec_hash"] == with_adam_form(get_model("mindspore-mlp-gan"), "torch").spec_hash()
    res = run_one(
        RunConfig("torch", "mindspore-mlp-gan", warmup=1, steps=1, data="synthetic", out=str(tmp_path), samples=False),
        progress=False,
    )
    assert res["adam_form"] == "mindspore" and res["spec_hash"] == get_model("mindspore-mlp-gan").spec_hash()
    trace, _, _ = run_trace("torch", "mindspore-mlp-gan", steps=2, adam_form="mxnet")
    assert trace["adam_form"] == "mxnet"
