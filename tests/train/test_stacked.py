"""StackedModels / fit_stacked: S copies trained side by side end exactly where the same copies
trained one by one on the same batches end, for every layer kind the experiments use."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nndl import ShapeError, ValidationError
from nndl.nn import cnn, mlp
from nndl.train import (
    Callback,
    LambdaCallback,
    NonFiniteLossError,
    StackedModels,
    copy_orders,
    fit_stacked,
    stacked_accuracy,
    stacked_losses,
    stacked_trainer,
)

SEEDS = (3, 5, 11)
N, BATCH, EPOCHS = 40, 16, 2  # 3 steps per epoch, the last one short


def _mlp(activation: str, **kw):
    def factory(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return mlp([6, 10, 8, 3], activation=activation, **kw)

    return factory


def _cnn(**kw):
    def factory(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return cnn(1, 3, 6, channels=(3, 4), **kw)

    return factory


ARCHS = {
    "sigmoid": _mlp("sigmoid"),
    "tanh": _mlp("tanh"),
    "relu": _mlp("relu"),
    "leaky_relu": _mlp("leaky_relu"),
    "elu": _mlp("elu"),
    "prelu": _mlp("prelu"),
    "maxout": _mlp("maxout"),
    "batchnorm": _mlp("relu", batchnorm=True),
    "cnn_maxpool": _cnn(pool="max"),
    "cnn_batchnorm_avgpool": _cnn(pool="avg", batchnorm=True),
}


def _data(arch: str, n: int = N):
    gen = torch.Generator().manual_seed(0)
    shape = (n, 1, 6, 6) if arch.startswith("cnn") else (n, 6)
    x = torch.randn(*shape, generator=gen)
    y = torch.randint(0, 3, (n,), generator=gen)
    return x, y


def _optimizer(name: str, params, **hp):
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    return torch.optim.Adam(params, lr=0.01, weight_decay=1e-3)


def _fit_kwargs(name: str) -> dict:
    if name == "sgd":
        return {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}
    return {"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-3}


def _train_alone(model, x, y, seed, opt_name, *, grad_clip=None, epochs=EPOCHS, shared=False):
    """The reference: one model, its own plain loop, the batches fit_stacked gives its copy."""
    opt = _optimizer(opt_name, model.parameters())
    for epoch in range(epochs):
        if shared:
            order = torch.arange(x.shape[0])
        else:
            order = copy_orders(x.shape[0], [seed], seed=0, epoch=epoch)[0]
        for start in range(0, x.shape[0], BATCH):
            idx = order[start : start + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
    return model


def _assert_same_state(alone: nn.Module, member: nn.Module, atol: float = 1e-5) -> None:
    a, b = alone.state_dict(), member.state_dict()
    assert list(a) == list(b)
    for key in a:
        torch.testing.assert_close(b[key].double(), a[key].double(), atol=atol, rtol=1e-5, msg=key)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_matches_copies_trained_one_by_one(arch, opt_name):
    factory = ARCHS[arch]
    x, y = _data(arch)
    stacked = StackedModels.from_factory(factory, SEEDS)
    history = fit_stacked(stacked, x, y, epochs=EPOCHS, batch_size=BATCH, **_fit_kwargs(opt_name))
    assert len(history) == EPOCHS and len(history[-1]["loss"]) == len(SEEDS)
    for i, seed in enumerate(SEEDS):
        alone = _train_alone(factory(seed), x, y, seed, opt_name)
        _assert_same_state(alone, stacked.member(i))


@pytest.mark.parametrize("arch", ["sigmoid", "batchnorm", "prelu", "cnn_batchnorm_avgpool"])
def test_vmap_reference_equals_grouped_path(arch):
    factory = ARCHS[arch]
    x, y = _data(arch)
    grouped = StackedModels.from_factory(factory, SEEDS)
    reference = StackedModels.from_factory(factory, SEEDS, impl="vmap")
    for net in (grouped, reference):
        fit_stacked(net, x, y, epochs=EPOCHS, batch_size=BATCH, optimizer="adam", lr=0.01)
    for (name, a), (_, b) in zip(
        grouped.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a.double(), b.double(), atol=1e-6, rtol=1e-5, msg=name)


def test_forward_shapes_shared_and_per_copy_batches():
    stacked = StackedModels.from_factory(ARCHS["tanh"], SEEDS)
    x = torch.randn(7, 6)
    out = stacked(x)
    assert out.shape == (3, 7, 3)
    per_copy = stacked(x.expand(3, 7, 6))
    torch.testing.assert_close(per_copy, out)
    for i, member in enumerate(stacked.unstack()):
        torch.testing.assert_close(member(x), out[i])
    with pytest.raises(ShapeError, match="one batch per copy"):
        stacked(torch.randn(4, 7, 6))  # 4 batches for 3 copies
    cnn_stack = StackedModels.from_factory(ARCHS["cnn_maxpool"], SEEDS)
    assert cnn_stack(torch.randn(5, 1, 6, 6)).shape == (3, 5, 3)
    assert cnn_stack(torch.randn(3, 5, 1, 6, 6)).shape == (3, 5, 3)


def test_batchnorm_keeps_per_copy_running_statistics():
    stacked = StackedModels.from_factory(ARCHS["batchnorm"], SEEDS)
    x = torch.randn(3, 9, 6)  # a different batch per copy
    stacked(x)
    members = [ARCHS["batchnorm"](s) for s in SEEDS]
    for i, member in enumerate(members):
        member(x[i])
        _assert_same_state(member, stacked.member(i), atol=1e-6)
    means = stacked.stack.bn1.running_mean
    assert not torch.allclose(means[0], means[1])


def test_shared_batches_and_full_batch_match_copies_trained_alone():
    factory = ARCHS["relu"]
    x, y = _data("relu")
    full = StackedModels.from_factory(factory, SEEDS)
    fit_stacked(
        full,
        x,
        y,
        epochs=3,
        batch_size=None,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-3,
    )
    for i, seed in enumerate(SEEDS):
        alone = factory(seed)
        opt = _optimizer("sgd", alone.parameters())
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(alone(x), y).backward()
            opt.step()
        _assert_same_state(alone, full.member(i))
    # shared shuffled batches: every copy's loss curve starts from the same batches, so copies
    # built from the same seed stay identical
    twins = StackedModels([factory(1), factory(1)])
    fit_stacked(twins, x, y, epochs=2, batch_size=BATCH, independent_batches=False)
    a, b = twins.unstack()
    _assert_same_state(a, b, atol=0.0)
    independent = StackedModels.from_factory(factory, (1, 2))
    independent.load_state_dict(
        {k: v[:1].expand_as(v).clone() for k, v in independent.state_dict().items()}
    )
    independent.seeds = (1, 2)
    fit_stacked(independent, x, y, epochs=2, batch_size=BATCH)
    a, b = independent.unstack()
    assert not torch.allclose(a.out.weight, b.out.weight)  # same start, own batch orders


def test_copy_orders_depend_only_on_the_copys_seed():
    a = copy_orders(20, [4, 9], seed=1, epoch=3)
    b = copy_orders(20, [9], seed=1, epoch=3)
    assert a.shape == (2, 20)
    assert torch.equal(a[1], b[0])
    assert torch.equal(a[0].sort().values, torch.arange(20))
    assert not torch.equal(a[0], copy_orders(20, [4], seed=1, epoch=4)[0])


def test_gradient_clipping_is_per_copy():
    factory = ARCHS["sigmoid"]
    x, y = _data("sigmoid")
    stacked = StackedModels.from_factory(factory, SEEDS)
    fit_stacked(
        stacked,
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        grad_clip=0.05,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-3,
    )
    for i, seed in enumerate(SEEDS):
        alone = _train_alone(factory(seed), x, y, seed, "sgd", grad_clip=0.05)
        _assert_same_state(alone, stacked.member(i))


def test_grad_norms_are_the_copies_gradient_norms():
    factory = ARCHS["sigmoid"]
    x, y = _data("sigmoid")
    stacked = StackedModels.from_factory(factory, SEEDS)
    with pytest.raises(ValidationError, match="call backward first"):
        stacked.grad_norms()
    F.cross_entropy(stacked(x).flatten(0, 1), y.repeat(len(SEEDS)), reduction="sum").backward()
    norms = stacked.grad_norms("*.bias")
    assert list(norms) == ["fc1.bias", "fc2.bias", "out.bias"]
    for i, seed in enumerate(SEEDS):
        alone = factory(seed)
        F.cross_entropy(alone(x), y, reduction="sum").backward()
        for name, value in norms.items():
            expected = alone.get_parameter(name).grad.norm()
            torch.testing.assert_close(value[i], expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValidationError, match="matches no parameter"):
        stacked.grad_norms("conv*")


def test_non_finite_copy_raises_or_is_frozen():
    factory = ARCHS["tanh"]
    x, y = _data("tanh")
    stacked = StackedModels.from_factory(factory, SEEDS)
    with torch.no_grad():
        stacked.stack.out.bias[1] = math.nan
    with pytest.raises(NonFiniteLossError, match=r"copies \[1\] \(seeds \[5\]\)"):
        fit_stacked(stacked, x, y, epochs=1, batch_size=BATCH)
    history = fit_stacked(
        stacked,
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        on_nonfinite="freeze",
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-3,
    )
    assert stacked.diverged.tolist() == [False, True, False]
    assert math.isnan(history[-1]["loss"][1]) and math.isfinite(history[-1]["loss"][0])
    for i in (0, 2):
        alone = _train_alone(factory(SEEDS[i]), x, y, SEEDS[i], "sgd")
        _assert_same_state(alone, stacked.member(i))


def test_accuracy_losses_metrics_and_callbacks():
    factory = ARCHS["relu"]
    x, y = _data("relu")
    stacked = StackedModels.from_factory(factory, SEEDS)
    seen = []

    class Steps(Callback):
        def on_step_end(self, trainer, loss):
            seen.append(loss)

    history = fit_stacked(
        stacked,
        x,
        y,
        epochs=2,
        batch_size=BATCH,
        callbacks=[Steps()],
        metrics={"acc": lambda m: stacked_accuracy(m, x, y)},
    )
    assert len(seen) == 6 and all(math.isfinite(v) for v in seen)
    acc = stacked_accuracy(stacked, x, y)
    assert history[-1]["acc"] == pytest.approx(acc.tolist())
    losses = stacked_losses(stacked, x, y)
    for i, member in enumerate(stacked.unstack()):
        member.eval()
        with torch.no_grad():
            logits = member(x)
        assert acc[i].item() == pytest.approx((logits.argmax(1) == y).float().mean().item())
        assert losses[i].item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    targets = torch.randn(N, 3)
    mse = stacked_losses(stacked, x, targets, loss="mse")
    torch.testing.assert_close(mse, ((stacked.eval()(x) - targets) ** 2).mean(dim=(1, 2)))


def test_resume_equals_uninterrupted(tmp_path):
    factory = ARCHS["batchnorm"]
    x, y = _data("batchnorm")
    full = StackedModels.from_factory(factory, SEEDS)
    h_full = fit_stacked(
        full,
        x,
        y,
        epochs=3,
        batch_size=BATCH,
        optimizer="adam",
        lr=0.01,
        checkpoint_dir=tmp_path / "a",
    )
    part = StackedModels.from_factory(factory, SEEDS)
    fit_stacked(
        part,
        x,
        y,
        epochs=1,
        batch_size=BATCH,
        optimizer="adam",
        lr=0.01,
        checkpoint_dir=tmp_path / "b",
    )
    again = StackedModels.from_factory(factory, SEEDS)
    h_again = fit_stacked(
        again,
        x,
        y,
        epochs=3,
        batch_size=BATCH,
        optimizer="adam",
        lr=0.01,
        checkpoint_dir=tmp_path / "b",
        resume=True,
    )
    for (name, a), (_, b) in zip(
        full.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert h_again == h_full
    trainer, _ = stacked_trainer(
        StackedModels.from_factory(factory, (1, 2)),
        x,
        y,
        epochs=3,
        batch_size=BATCH,
        checkpoint_dir=tmp_path / "b",
    )
    with pytest.raises(Exception, match="another model"):
        trainer.load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")


def test_bad_input():
    with pytest.raises(ValidationError, match="at least one module"):
        StackedModels([])
    with pytest.raises(ValidationError, match="same parameters"):
        StackedModels([mlp([4, 3, 2]), mlp([4, 5, 2])])
    with pytest.raises(ValidationError, match="one class"):
        StackedModels([mlp([4, 2]), nn.Linear(4, 2)])
    with pytest.raises(ValidationError, match="distinct"):
        StackedModels.from_factory(ARCHS["relu"], [1, 1])
    stacked = StackedModels.from_factory(ARCHS["relu"], SEEDS)
    x, y = _data("relu")
    with pytest.raises(ShapeError, match="first dimension"):
        fit_stacked(stacked, x, y[:-1], epochs=1)
    with pytest.raises(ValidationError, match="optimizer"):
        fit_stacked(stacked, x, y, epochs=1, optimizer="rmsprop")
    with pytest.raises(ValidationError, match="loss"):
        fit_stacked(stacked, x, y, epochs=1, loss="hinge")
    with pytest.raises(ValidationError, match="on_nonfinite"):
        fit_stacked(stacked, x, y, epochs=1, on_nonfinite="skip")
    with pytest.raises(ValidationError, match="grad_clip"):
        fit_stacked(stacked, x, y, epochs=1, grad_clip=0)


def test_budget_in_steps():
    factory = ARCHS["relu"]
    x, y = _data("relu")
    stacked = StackedModels.from_factory(factory, SEEDS)
    seen = []
    history = fit_stacked(
        stacked, x, y, max_steps=5, batch_size=BATCH,
        callbacks=[LambdaCallback(on_step_end=lambda t, loss: seen.append(t.step))],
    )  # fmt: skip
    assert seen == [1, 2, 3, 4, 5] and [h["epoch"] for h in history] == [1, 2]
    with pytest.raises(ValidationError, match="epochs, max_steps"):
        fit_stacked(stacked, x, y, batch_size=BATCH)
