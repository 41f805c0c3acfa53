"""LinearClassifier against scikit-learn: cross-validated accuracy and fit time, in one run.

Part 1 (accuracy): stratified 5-fold accuracy on standardised iris, wine, breast_cancer and
digits, for every loss × strategy that has a scikit-learn counterpart with the same loss and
penalty. The penalties are matched through :math:`\\alpha`: scikit-learn's
``C·Σ loss + ½‖w‖²`` is ours ``mean loss + (α/2)‖w‖²`` with ``α = 1/(C·N)``; ``RidgeClassifier``'s
``Σ (y − f)² + a‖w‖²`` is ours with ``α = 2a/N``; ``Perceptron`` has no penalty (``α = 0``).
One-vs-one sub-problems only see two classes' samples (``N_k`` of them), which scikit-learn
penalises per pair; ours uses one ``α`` for all pairs, set from the mean ``N_k = 2N/C``.
``LinearSVC`` (liblinear) also penalises the intercept, as a feature of value
``intercept_scaling``; we set that to 10, making the intercept's penalty 100× weaker, closer to
ours (none). The perceptron runs with our default mini-batch SGD (batch 32; scikit-learn's is
online, batch 1: per-sample steps are slow in PyTorch) and scikit-learn's ``tol`` and
``max_iter``; its scores depend on the shuffling, so both sides are averaged over five seeds
(``--quick``: one) and the spread over seeds is printed. Criterion: within 1 percentage point
of the counterpart.

Part 2 (speed): fit time (CPU seconds, one thread on both sides) of the multinomial logistic
regression (``loss="logistic", strategy="argmax"``, float64 and float32) against scikit-learn's
``LogisticRegression`` (L-BFGS, C = 1) on ``make_classification`` with 100 features and 10
classes, N up to 100 000, with held-out accuracy to show the fits are equally good; the time
ratio and each side's growth exponent (slope of log time against log N).

Run: ``python benchmarks/linear.py`` (``--quick`` for N ≤ 30 000 and one Perceptron seed).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from nndl.data import TABULAR_DATASETS, load_tabular
from nndl.linear import LinearClassifier

#: ANCHORS.md, "Linear classifiers" (scikit-learn 1.9, measured on this kind of machine).
ANCHORS = {
    "LogisticRegression": (0.960, 0.983, 0.979, 0.969),
    "OneVsRest(LogisticRegression)": (0.933, 0.983, 0.979, 0.964),
    "OneVsOne(LogisticRegression)": (0.953, 0.989, 0.979, 0.980),
    "LinearSVC": (0.933, 0.983, 0.968, 0.956),
    "Perceptron": (0.860, 0.983, 0.967, 0.939),
}

# alpha from (N training samples, C classes)
AlphaRule = Callable[[int, int], float]
C_EQ_1: AlphaRule = lambda n, c: 1.0 / n  # noqa: E731
C_EQ_1_PAIRS: AlphaRule = lambda n, c: c / (2.0 * n)  # noqa: E731 - 1 / mean pair size
RIDGE_1: AlphaRule = lambda n, c: 2.0 / n  # noqa: E731
RIDGE_1_PAIRS: AlphaRule = lambda n, c: 2.0 * c / (2.0 * n)  # noqa: E731
NO_PENALTY: AlphaRule = lambda n, c: 0.0  # noqa: E731


def counterparts(seed: int) -> list[tuple[str, str, AlphaRule, str, ClassifierMixin]]:
    """(loss, strategy, alpha rule, scikit-learn name, scikit-learn estimator)."""
    lr = LogisticRegression(C=1.0, max_iter=1000)
    # liblinear penalises the intercept as a feature of value intercept_scaling; 10 makes that
    # penalty 100× weaker, close to ours (none)
    svc_hinge = LinearSVC(loss="hinge", C=1.0, intercept_scaling=10, max_iter=20000)
    svc = LinearSVC(C=1.0, intercept_scaling=10, max_iter=20000)
    perceptron = Perceptron(random_state=seed)
    ridge = RidgeClassifier(alpha=1.0)
    return [
        ("logistic", "argmax", C_EQ_1, "LogisticRegression", lr),
        ("logistic", "ovr", C_EQ_1, "OneVsRest(LogisticRegression)", OneVsRestClassifier(lr)),
        ("logistic", "ovo", C_EQ_1_PAIRS, "OneVsOne(LogisticRegression)", OneVsOneClassifier(lr)),
        ("hinge", "ovr", C_EQ_1, "LinearSVC(loss='hinge')", svc_hinge),
        (
            "hinge",
            "ovo",
            C_EQ_1_PAIRS,
            "OneVsOne(LinearSVC(loss='hinge'))",
            OneVsOneClassifier(svc_hinge),
        ),
        (
            "hinge",
            "argmax",
            C_EQ_1,
            "LinearSVC(multi_class='crammer_singer')",
            LinearSVC(multi_class="crammer_singer", C=1.0, max_iter=20000),
        ),
        ("squared_hinge", "ovr", C_EQ_1, "LinearSVC", svc),
        ("squared_hinge", "ovo", C_EQ_1_PAIRS, "OneVsOne(LinearSVC)", OneVsOneClassifier(svc)),
        ("perceptron", "ovr", NO_PENALTY, "Perceptron", perceptron),
        ("perceptron", "ovo", NO_PENALTY, "OneVsOne(Perceptron)", OneVsOneClassifier(perceptron)),
        ("squared", "ovr", RIDGE_1, "RidgeClassifier", ridge),
        ("squared", "argmax", RIDGE_1, "RidgeClassifier (same objective)", ridge),
        ("squared", "ovo", RIDGE_1_PAIRS, "OneVsOne(RidgeClassifier)", OneVsOneClassifier(ridge)),
    ]


def cv_accuracy(make: Callable[[int], ClassifierMixin], X: np.ndarray, y: np.ndarray) -> float:
    """Mean stratified 5-fold accuracy; ``make(n_train)`` builds a fresh estimator per fold."""
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = []
    for train, test in folds.split(X, y):
        scaler = StandardScaler().fit(X[train])
        model = make(len(train)).fit(scaler.transform(X[train]), y[train])
        scores.append(model.score(scaler.transform(X[test]), y[test]))
    return float(np.mean(scores))


def accuracy_part(seeds: tuple[int, ...]) -> int:
    print("\n## Accuracy: stratified 5-fold, standardised features (within 1 pp?)\n")
    print("| data set | loss | strategy | counterpart | nndl | scikit-learn | Δ pp | ok |")
    print("|---|---|---|---|---|---|---|---|")
    failures = 0
    for ds in TABULAR_DATASETS:
        data = load_tabular(ds)
        n_classes = len(np.unique(data.y))
        for i, (loss, strategy, rule, name, _) in enumerate(counterparts(0)):
            runs = seeds if loss == "perceptron" else seeds[:1]
            ours, theirs = [], []
            for seed in runs:
                proto = counterparts(seed)[i][4]

                def make_ours(
                    n: int, loss=loss, strategy=strategy, rule=rule, seed=seed, c=n_classes
                ) -> LinearClassifier:
                    sgd = {"max_iter": 1000, "tol": 1e-3} if loss == "perceptron" else {}
                    return LinearClassifier(
                        loss,
                        strategy,
                        alpha=rule(n, c),
                        max_iter=2000,
                        random_state=seed,
                    ).set_params(**sgd)

                ours.append(cv_accuracy(make_ours, data.X, data.y))
                theirs.append(cv_accuracy(lambda n, p=proto: clone(p), data.X, data.y))
            a, b = float(np.mean(ours)), float(np.mean(theirs))
            ok = abs(a - b) <= 0.01 + 1e-12
            failures += not ok
            spread = (
                f" (± {np.std(ours):.3f} / ± {np.std(theirs):.3f} over {len(runs)} seeds)"
                if len(runs) > 1
                else ""
            )
            print(
                f"| {ds} | {loss} | {strategy} | {name} | {a:.4f} | {b:.4f} | "
                f"{100 * (a - b):+.2f}{spread} | {'yes' if ok else 'NO'} |",
                flush=True,
            )
    print(f"\nAnchors (ANCHORS.md, scikit-learn 1.9): {ANCHORS}")
    return failures


def timed_fit(
    model: ClassifierMixin, X: np.ndarray, y: np.ndarray, repeats: int
) -> tuple[float, ClassifierMixin]:
    """Best CPU time over ``repeats`` fits of a fresh clone, and the last fitted model."""
    best, fitted = float("inf"), model
    for _ in range(repeats):
        fitted = clone(model)
        t0 = time.process_time()
        fitted.fit(X, y)
        best = min(best, time.process_time() - t0)
    return best, fitted


def speed_part(sizes: tuple[int, ...]) -> bool:
    print("\n## Fit time: multinomial logistic regression, 100 features, 10 classes, 1 thread\n")
    print(
        "| N (train) | sklearn s | sklearn acc | nndl f64 s | acc | ratio | nndl f32 s | acc | "
        "ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    times: dict[str, list[float]] = {"sklearn": [], "float64": [], "float32": []}
    last: dict[str, float] = {}
    for n in sizes:
        X, y = make_classification(
            n_samples=int(n / 0.8),
            n_features=100,
            n_informative=20,
            n_redundant=10,
            n_classes=10,
            n_clusters_per_class=1,
            random_state=0,
        )
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
        repeats = 3 if n <= 10_000 else 1
        models = {
            "sklearn": LogisticRegression(C=1.0),
            "float64": LinearClassifier(alpha=1.0 / len(X_tr), dtype="float64"),
            "float32": LinearClassifier(alpha=1.0 / len(X_tr), dtype="float32"),
        }
        row = {}
        for key, model in models.items():
            t, fitted = timed_fit(model, X_tr, y_tr, repeats)
            row[key] = (t, fitted.score(X_te, y_te))
        for key, (t, _) in row.items():
            times[key].append(t)
        s = row["sklearn"][0]
        print(
            f"| {len(X_tr)} | {s:.3f} | {row['sklearn'][1]:.4f} | {row['float64'][0]:.3f} | "
            f"{row['float64'][1]:.4f} | {row['float64'][0] / s:.2f} | {row['float32'][0]:.3f} | "
            f"{row['float32'][1]:.4f} | {row['float32'][0] / s:.2f} |",
            flush=True,
        )
        last = {k: v[0] for k, v in row.items()} | {f"acc_{k}": v[1] for k, v in row.items()}
    if len(sizes) > 1:
        logn = np.log([int(n / 0.8) * 0.8 for n in sizes])
        slopes = {k: float(np.polyfit(logn, np.log(v), 1)[0]) for k, v in times.items()}
        print(
            "\nGrowth exponent (time ∝ N^k): "
            + ", ".join(f"{k} k = {v:.2f}" for k, v in slopes.items())
        )
    target = {}
    for dtype in ("float64", "float32"):
        equal = abs(last[f"acc_{dtype}"] - last["acc_sklearn"]) <= 0.005
        target[dtype] = equal and last[dtype] <= last["sklearn"]
        print(
            f"At N = {sizes[-1]}: nndl {dtype} / sklearn time = "
            f"{last[dtype] / last['sklearn']:.2f}, held-out accuracy "
            f"{last[f'acc_{dtype}']:.4f} vs {last['acc_sklearn']:.4f} → target (no slower at "
            f"equal accuracy, |Δacc| ≤ 0.5 pp) {'met' if target[dtype] else 'NOT met'}"
        )
    return any(target.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N ≤ 30 000, one perceptron seed")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with threadpool_limits(limits=1):
        if not args.skip_accuracy:
            failures = accuracy_part((0,) if args.quick else (0, 1, 2, 3, 4))
            print(f"\nAccuracy: {failures} combination(s) outside 1 pp.")
        if not args.skip_speed:
            sizes = (
                (1_000, 3_000, 10_000, 30_000)
                if args.quick
                else (1_000, 3_000, 10_000, 30_000, 100_000)
            )
            speed_part(sizes)


if __name__ == "__main__":
    main()
