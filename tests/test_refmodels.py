"""The reference classifiers of tests/refmodels: counts, files, calibration, RepVGG re-parameterisation, noise.

Facts checked against: the parameter counts stated in issue 9 (keras.applications' published counts
and seed 004's RepVGG-A0), batch statistics computed here independently of the calibration code, and
the float64 training-form RepVGG for its deploy form.
"""
import numpy as np
import pytest

from refmodels import REFERENCES, REPVGG_A0_DEPLOY_PARAMS, build, in_dtype, repvgg
from refmodels.models import CLASSIFIERS
from refmodels.precision import input_cases, logits, noise, normalised_diff, planted

SIZE = 96   # every test input size; the counts do not depend on it


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_repvgg_a0_plan_follows_the_seed():
    blocks = repvgg.plan()
    assert [b.prefix for b in blocks][:4] == ["stage0", "stage1_0", "stage1_1", "stage2_0"]
    assert len(blocks) == 1 + 2 + 4 + 14 + 1
    widths = sorted({b.filters for b in blocks})
    assert widths == [48, 96, 192, 1280]   # min(64, 48), 64*.75, 128*.75, 256*.75, 512*2.5
    assert [b.stride for b in blocks if b.stride == 2] == [2] * 5


@pytest.mark.parametrize("size,stride,before", [(224, 2, 0), (112, 2, 0), (7, 2, 1), (25, 2, 1), (14, 1, 1)])
def test_tf_same_padding_before(size, stride, before):
    # TF SAME: total = (ceil(n/s) - 1) * s + k - n, the smaller half first
    assert repvgg._same_pad_before(size, 3, stride) == before


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_parameter_counts_exact(name):
    ref = REFERENCES[name]
    model = ref.construct(224)
    assert model.count_params() == ref.params
    assert _trainable(model) == ref.trainable
    assert tuple(model.outputs[0].shape) == (None, 1000)


@pytest.mark.slow
def test_repvgg_a0_deploy_count_exact():
    assert repvgg.repvgg((224, 224, 3), deploy=True).count_params() == REPVGG_A0_DEPLOY_PARAMS == 8_309_384


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)   # the zoo's references: test_zoo, at its sizes
def test_saved_files_reload_exactly(name, refmodel_store):
    from refmodels import artifacts
    entry = refmodel_store.get(name)
    x = input_cases(SIZE)[2][1].astype(np.float32)
    want = np.asarray(entry.model(x, training=False))
    from_keras = artifacts.load_keras(entry.files.keras)
    from_h5 = artifacts.load_weights_h5(entry.files.weights_h5, REFERENCES[name].construct(SIZE))
    for loaded in (from_keras, from_h5):
        # the same variables in the same order (their paths carry Keras's per-process name counters, so a model
        # built again in this process is named `normalization_3` where the saved one was `normalization_2`)
        assert [w.shape for w in loaded.weights] == [w.shape for w in entry.model.weights]
        assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), entry.model.get_weights()))
        assert np.array_equal(np.asarray(loaded(x, training=False)), want)


@pytest.mark.slow
def test_savedmodel_matches_the_graph_run_exactly(refmodel_store):
    import tensorflow as tf
    from refmodels import artifacts
    from refmodels.store import SAVEDMODEL_FOR
    entry = refmodel_store.get(SAVEDMODEL_FOR)
    x = input_cases(SIZE)[2][1].astype(np.float32)
    got = artifacts.savedmodel_runner(entry.files.savedmodel)(x)
    graph = np.asarray(tf.function(lambda v: entry.model(v, training=False))(tf.constant(x)))
    assert np.array_equal(got, graph)   # same TF graph optimiser: bit-exact
    eager = np.asarray(entry.model(x, training=False))
    assert normalised_diff(got, eager) < 1e-5   # fused graph kernels vs eager ops: float32 rounding only


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)   # the zoo's references: test_zoo, at its sizes
def test_calibrated_outputs_are_of_order_one_and_depend_on_the_input(name, refmodel_store):
    model = refmodel_store.get(name).model
    rng = np.random.default_rng(5)
    a, b = (rng.uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32) for _ in range(2))
    la, lb = logits(model, a), logits(model, b)
    assert np.isfinite(la).all()
    assert 0.3 < np.max(np.abs(la)) < 100, np.max(np.abs(la))
    assert np.std(la) > 0.1
    assert normalised_diff(lb, la) > 0.02
    assert normalised_diff(np.asarray(model(b, training=False)), np.asarray(model(a, training=False))) > 0.02


@pytest.mark.slow
def test_calibration_sets_each_bn_to_its_input_batch_statistics():
    import keras
    from refmodels.weights import calibration_batch
    model = build("repvgg_a0", seed=3, size=64)
    x = calibration_batch(model, 3)
    for name in ("stage0_dense_bn", "stage3_5_identity_bn", "stage4_0_1x1_bn"):
        layer = model.get_layer(name)
        seen = np.asarray(keras.Model(model.inputs[0], layer.input)(x), np.float64)
        np.testing.assert_allclose(layer.moving_mean.numpy(), seen.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), seen.var(axis=(0, 1, 2)), rtol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("size", [96, 100])   # 100: stride 2 meets odd sizes (25, 13, 7), padded (1, 1)
def test_repvgg_deploy_equals_training_in_float64(size):
    train = in_dtype(build("repvgg_a0", seed=1, size=size), "repvgg_a0", "float64")
    deploy = repvgg.to_deploy(train)
    assert deploy.count_params() == REPVGG_A0_DEPLOY_PARAMS
    for case, x in input_cases(size, seed=1):
        err = normalised_diff(np.asarray(deploy(x, training=False)), np.asarray(train(x, training=False)))
        assert err < 1e-12, (case, err)


@pytest.mark.slow
def test_repvgg_fusion_at_the_centre_would_be_wrong_for_tf_same(monkeypatch):
    # the 1x1 branch at stride 2 on even sizes samples the window's top-left pixel, not its centre
    train = in_dtype(build("repvgg_a0", seed=1, size=64), "repvgg_a0", "float64")
    x = input_cases(64, seed=1)[2][1]
    monkeypatch.setattr(repvgg, "_same_pad_before", lambda *a: 1)
    wrong = repvgg.to_deploy(train)
    assert normalised_diff(np.asarray(wrong(x, training=False)), np.asarray(train(x, training=False))) > 1e-3


@pytest.mark.slow
def test_noise_is_far_below_what_planted_mistakes_cost(refmodel_store):
    model = refmodel_store.get("mobilenet_v3_large").model   # build("mobilenet_v3_large", seed=0, size=SIZE)
    model64 = in_dtype(model, "mobilenet_v3_large", "float64")
    assert model64.weights[0].dtype == "float64"
    n = noise(model, model64, SIZE)
    assert 0 < max(n.values()) < 1e-4, n
    for mistake, by_case in planted(model64, "mobilenet_v3_large", SIZE).items():
        assert by_case["uniform 0-255"] > 1000 * n["uniform 0-255"], (mistake, by_case, n)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_large", "resnet50"])
def test_weights_h5_groups_are_class_and_position(name, refmodel_store):
    # docs/reference-models.md: .weights.h5 names layers by snake_case class and per-class position
    from refmodels import facts
    entry = refmodel_store.get(name)
    groups = facts.h5_groups(entry.files.weights_h5)
    keys = facts.h5_keys(entry.model)
    want = {keys[layer.name]: [tuple(w.shape) for w in layer.weights] for layer in entry.model.layers if layer.weights}
    assert groups == want
    assert "layers/conv2d_17" in groups and "layers/batch_normalization_3" in groups
