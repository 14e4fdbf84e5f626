"""The learned AML scorer: LightGBM over per-actor-day graph features (``features.py``).

A binary model says whether an actor-day is laundering (the minority class of the published figures);
each hit then gets a typology — the most specific pattern the rule-based miner placed the actor in that
day, else the guess of a small multi-class model trained on the labelled positives — so each scored
alert carries a typology and ``harbour evaluate`` scores it like any detector's alerts. Trained on
generated labels with a split BY TIME (earlier days train, later days test). Each alert names the
features that drove it (LightGBM's ``pred_contrib`` SHAP values).

Deterministic: fixed seed, ``num_threads=2``, ``deterministic=True``, row-wise histograms. The model is a
LightGBM text file plus a JSON sidecar (classes, features, threshold); nothing is downloaded.

Example::

    result = train(transfers, accounts, labels, test_days=1)
    result.model.save(Path("var/aml_scorer.txt"))
    alerts = score(Scorer.load(Path("var/aml_scorer.txt")), transfers, accounts)
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.core.errors import Invalid
from harbour.data.schemas import ALERTS
from harbour.detect.aml.base import EPOCH, account_id, fmt_usd
from harbour.detect.aml.features import DAY_US, NodeDays, node_day_features
from harbour.detect.aml.graph import TransferGraph, build_graph
from harbour.detect.aml.miner import GRAPH_TYPOLOGIES, mine
from harbour.detect.framework import alert_id

CLASSES = ("none", *GRAPH_TYPOLOGIES, "sanctions_exposure")
DETECTOR = "aml_scorer"
VERSION = "1.0"
PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 5,
    "feature_fraction": 0.9, "bagging_fraction": 1.0, "lambda_l2": 1.0,
    "seed": 7, "num_threads": 2, "deterministic": True, "force_row_wise": True, "verbosity": -1,
}
TYPOLOGY_PARAMS: dict[str, Any] = PARAMS | {"objective": "multiclass", "num_class": len(CLASSES)}


@dataclass
class Scorer:
    booster: lgb.Booster  # laundering or not
    features: list[str]
    threshold: float = 0.5
    typology_booster: lgb.Booster | None = None  # which typology, for hits the miner cannot name

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path))
        if self.typology_booster is not None:
            self.typology_booster.save_model(str(path.with_suffix(".typology.txt")))
        path.with_suffix(".json").write_text(json.dumps(
            {"classes": list(CLASSES), "features": self.features, "threshold": self.threshold,
             "detector": DETECTOR, "version": VERSION}, indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> Scorer:
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise Invalid(f"no scorer model at {path} (and {meta_path}); train one with `harbour aml train`",
                          field="model")
        meta = json.loads(meta_path.read_text())
        if tuple(meta["classes"]) != CLASSES:
            raise Invalid(f"model {path} was trained for classes {meta['classes']}, this version scores "
                          f"{list(CLASSES)}; retrain it", field="model")
        typ = path.with_suffix(".typology.txt")
        typology_booster = lgb.Booster(model_file=str(typ)) if typ.is_file() else None
        return cls(lgb.Booster(model_file=str(path)), meta["features"], float(meta["threshold"]), typology_booster)


@dataclass
class TrainResult:
    model: Scorer
    metrics: dict[str, Any] = field(default_factory=dict)


def label_samples(g: TransferGraph, nd: NodeDays, labels: pa.Table) -> np.ndarray:
    """Class index per sample: the typology of an incident whose accounts include the actor on that day."""
    y = np.zeros(nd.node.size, np.int64)
    if labels.num_rows == 0:
        return y
    sample_of = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(nd.node, nd.day, strict=True))}
    index = {name: i for i, name in enumerate(CLASSES)}
    parties = g.parties.arr
    for row in labels.to_pylist():
        cls = index.get(row["typology"])
        if cls is None:
            continue
        names = pa.array([f"{row['venue']}:{a}" if ":" not in a else a for a in row["accounts"]], pa.string())
        pos = pc.index_in(names, value_set=parties).drop_null().to_pylist()
        d0 = int((row["start"] - EPOCH).total_seconds() * 1e6) // DAY_US
        d1 = int((row["end"] - EPOCH).total_seconds() * 1e6) // DAY_US
        for p in pos:
            for d in range(d0, d1 + 1):
                k = sample_of.get((int(g.party_node[p]), d))
                if k is not None and y[k] == 0:
                    y[k] = cls
    return y


def _features(transfers: pa.Table, accounts: pa.Table | None) -> tuple[TransferGraph, NodeDays]:
    g = build_graph(transfers, accounts)
    return g, node_day_features(g, mine(g))


def minority_metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Precision, recall and F1 of "any laundering typology" (class != none), the minority class."""
    t, p = truth > 0, pred > 0
    tp = int((t & p).sum())
    precision = tp / int(p.sum()) if p.any() else 0.0
    recall = tp / int(t.sum()) if t.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "positives": int(t.sum()),
            "predicted": int(p.sum()), "samples": int(t.size)}


def train(transfers: pa.Table, accounts: pa.Table | None, labels: pa.Table, *, test_days: int = 1,
          rounds: int = 150) -> TrainResult:
    """Fit on every day but the last ``test_days``, report minority-class metrics on those later days."""
    g, nd = _features(transfers, accounts)
    y = label_samples(g, nd, labels)
    days = np.unique(nd.day)
    if days.size <= test_days:
        raise Invalid(f"the transfers cover {days.size} day(s); a split by time needs more than test_days="
                      f"{test_days} (generate more days)", field="test_days")
    cutoff = days[-test_days]
    tr, te = nd.day < cutoff, nd.day >= cutoff
    if not (y[tr] > 0).any():
        raise Invalid("no labelled laundering in the training days; generate incidents (harbour generate "
                      "--incidents ...) before training", field="labels")
    # the minority class is rare: weight it up so the trees see it (capped, to keep precision)
    pos_weight = min(50.0, max(1.0, float((y[tr] == 0).sum()) / max(1, int((y[tr] > 0).sum()))))
    weight = np.where(y[tr] > 0, pos_weight, 1.0)
    data = lgb.Dataset(nd.X[tr], label=(y[tr] > 0).astype(int), weight=weight, feature_name=nd.names)
    booster = lgb.train(PARAMS, data, num_boost_round=rounds)
    pos = tr & (y > 0)
    typology_booster = None
    if np.unique(y[pos]).size >= 2:
        typ_data = lgb.Dataset(nd.X[pos], label=y[pos], feature_name=nd.names)
        typology_booster = lgb.train(TYPOLOGY_PARAMS, typ_data, num_boost_round=max(10, rounds // 3))
    model = Scorer(booster, nd.names, typology_booster=typology_booster)
    pred = _predict_classes(model, nd.X[te], nd.names)
    metrics = {"test_from_day": str(dt.date(1970, 1, 1) + dt.timedelta(days=int(cutoff))),
               "train_samples": int(tr.sum()), "test_samples": int(te.sum()),
               "minority": minority_metrics(y[te], pred),
               "typology_accuracy_on_hits": float((pred[(y[te] > 0) & (pred > 0)] ==
                                                   y[te][(y[te] > 0) & (pred > 0)]).mean())
               if ((y[te] > 0) & (pred > 0)).any() else None}
    return TrainResult(model, metrics)


def _predict_classes(model: Scorer, X: np.ndarray, names: list[str]) -> np.ndarray:
    """Class index per sample: 0 below the threshold, else the typology (see the module docstring)."""
    hit = np.asarray(model.booster.predict(X)) >= model.threshold
    cls = np.zeros(X.shape[0], np.int64)
    if not hit.any():
        return cls
    guess = np.full(int(hit.sum()), CLASSES.index("rapid_movement"))
    if model.typology_booster is not None:
        proba = np.asarray(model.typology_booster.predict(X[hit]))
        proba[:, 0] = 0.0
        guess = np.argmax(proba, axis=1)
    named = np.zeros(int(hit.sum()), np.int64)
    for c in range(len(CLASSES) - 1, 0, -1):  # the miner's priority order: earlier typologies win
        flag = X[hit][:, names.index(f"in_{CLASSES[c]}")] > 0
        named[flag] = c
    cls[hit] = np.where(named > 0, named, guess)
    return cls


def score(model: Scorer, transfers: pa.Table, accounts: pa.Table | None, *, top: int = 3) -> pa.Table:
    """Alerts (ALERTS schema) for every actor-day the model calls laundering, with the top features."""
    g, nd = _features(transfers, accounts)
    if nd.names != model.features:
        raise Invalid("the model was trained on other features; retrain it with this version", field="model")
    proba = np.asarray(model.booster.predict(nd.X))
    cls = _predict_classes(model, nd.X, nd.names)
    hit = np.flatnonzero(cls > 0)
    contrib = np.asarray(model.booster.predict(nd.X[hit], pred_contrib=True)) if hit.size else np.empty((0, 0))
    rows = []
    for j, k in enumerate(hit.tolist()):
        shap = contrib[j, :-1]
        order = np.argsort(-shap)[:top]
        drivers = ", ".join(f"{nd.names[f]}={nd.X[k, f]:.4g} ({shap[f]:+.2f})" for f in order)
        rows.append(_alert_row(g, int(nd.node[k]), int(nd.day[k]), CLASSES[int(cls[k])], float(proba[k]), drivers))
    return pa.Table.from_pylist(rows, schema=ALERTS)


def _alert_row(g: TransferGraph, node: int, day: int, typology: str, p: float, drivers: str) -> dict[str, Any]:
    lo, hi = day * DAY_US, (day + 1) * DAY_US
    e = np.concatenate((g.out_edges(node), g.in_edges(node)))
    e = np.sort(e[(g.ts[e] >= lo) & (g.ts[e] < hi) & (g.src[e] != g.dst[e])])
    own = np.concatenate((g.src_party[e][g.src[e] == node], g.dst_party[e][g.dst[e] == node]))
    venues = Counter(v for v in g.party_venue[own].tolist() if v)
    venue = venues.most_common(1)[0][0] if venues else str(g.row_venue[int(e[0])])
    accounts = sorted({account_id(g, int(x)) for x in np.unique(own).tolist()})
    start = EPOCH + dt.timedelta(microseconds=int(g.ts[e].min()))
    end = EPOCH + dt.timedelta(microseconds=int(g.ts[e].max()))
    evidence = sorted(str(x) for x in g.transfer_ids[e[:100]])
    text = (f"learned scorer: {', '.join(accounts[:3])} on {start:%Y-%m-%d} looks like {typology} "
            f"(probability {p:.2f}) over {e.size} transfers moving {fmt_usd(float(g.usd[e].sum()))}; "
            f"driven by {drivers}")
    return {"alert_id": alert_id(DETECTOR, venue, None, accounts, start, end, evidence), "detector": DETECTOR,
            "detector_version": VERSION, "typology": typology, "venue": venue, "symbol": None,
            "accounts": accounts, "start": start, "end": end, "score": min(1.0, max(0.0, p)),
            "evidence_ids": evidence, "explanation": text}


def read_lake(lake: Path) -> tuple[pa.Table, pa.Table | None, pa.Table]:
    """Transfers (time-ordered), accounts and AML labels of a lake written by ingest or ``harbour generate``."""
    import pyarrow.dataset as ds

    from harbour.data.schemas import ACCOUNTS, AML_TYPOLOGIES, LABELS, TRANSFERS

    def table(name: str, schema: pa.Schema) -> pa.Table | None:
        folder = Path(lake) / name
        if not folder.is_dir():
            return None
        data = ds.dataset(folder, format="parquet").to_table()
        return data.select(schema.names).cast(schema)

    transfers = table("transfers", TRANSFERS)
    if transfers is None or transfers.num_rows == 0:
        raise Invalid(f"lake {lake} has no transfers/ folder with rows; ingest transfers or run harbour generate",
                      field="lake")
    labels = table("labels", LABELS) or LABELS.empty_table()
    labels = labels.filter(pc.is_in(labels["typology"], pa.array(AML_TYPOLOGIES)))
    return transfers.sort_by([("ts", "ascending"), ("transfer_id", "ascending")]), table("accounts", ACCOUNTS), labels


def train_from_lake(lake: Path, model_path: Path, *, test_days: int = 1, rounds: int = 150) -> TrainResult:
    transfers, accounts, labels = read_lake(lake)
    result = train(transfers, accounts, labels, test_days=test_days, rounds=rounds)
    result.model.save(model_path)
    return result


def score_lake(lake: Path, model_path: Path, out: Path) -> pa.Table:
    import pyarrow.parquet as pq

    transfers, accounts, _ = read_lake(lake)
    alerts = score(Scorer.load(model_path), transfers, accounts)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(alerts, out)
    return alerts
