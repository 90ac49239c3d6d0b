"""`nacos report RUN`: a search's Pareto front as CSV, JSON and a PNG, with its hypervolume.

Only candidates with a trained accuracy and a latency measured after tuning enter the front.
Trained candidates whose latency was only predicted (one-stage) are drawn apart, hollow, and
never counted. Another run (`--compare`) is drawn with its own front, and both hypervolumes use
this run's reference point. The summary says where the budget went: candidates trained,
predicted and measured, seconds spent training and measuring, the measurement policy's choices,
and how the predictions made before measuring compare with the measurements.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..rundir import write_json
from .pareto import hypervolume, pareto_front
from .store import StudyStore


def open_study(run: Path) -> StudyStore:
    return StudyStore.of_run(Path(run))


def measured_points(store: StudyStore) -> list[dict]:
    """Every trained candidate: its measured latency (None if not measured) and its prediction."""
    rows = []
    trained, measured = store.values("accuracy", "train"), store.values("latency", "measured")
    predicted = store.values("latency", "predicted")
    for c in store.candidates():
        if c.key not in trained:
            continue
        tuning = store.tuning(c) or {}
        rows.append({"key": c.key, "generation": c.generation, "origin": c.origin, "accuracy": trained[c.key].value,
                     "latency_ms": measured[c.key].value if c.key in measured else None,
                     "predicted_ms": predicted[c.key].value if c.key in predicted else None,
                     "trials": tuning.get("trials", 0), "tasks": tuning.get("tasks"),
                     "tasks_from_store": tuning.get("tasks_from_store"), "genotype": c.genotype.to_dict()})
    return rows


def measured_front(rows: list[dict]) -> list[dict]:
    """The Pareto front of the rows (`measured_points`) whose latency was measured, fastest first."""
    measured = [r for r in rows if r["latency_ms"] is not None]
    front_idx = pareto_front([(r["accuracy"], r["latency_ms"]) for r in measured])
    return sorted((measured[i] for i in front_idx), key=lambda r: r["latency_ms"])


def summarize(store: StudyStore, reference=None) -> dict:
    config = store.setting("config", {})
    reference = tuple(reference or config.get("reference", (0.5, 20.0)))
    rows = measured_points(store)
    measured = [r for r in rows if r["latency_ms"] is not None]
    front = measured_front(rows)
    tasks = sum(r["tasks"] or 0 for r in rows)
    from_store = sum(r["tasks_from_store"] or 0 for r in rows)
    last = store.last_generation()
    actions: dict[str, int] = {}
    for d in store.decisions():
        name = f"{d['stage']}:{d['action']}"
        actions[name] = actions.get(name, 0) + 1
    return {"mode": config.get("mode"), "space": config.get("space"), "target": config.get("target"),
            "reference": list(reference),
            "hypervolume": hypervolume([(r["accuracy"], r["latency_ms"]) for r in front], reference),
            "candidates": len(store.candidates()), "trained": len(rows), "measured": len(measured),
            "predicted": len(store.values("latency", "predicted")),
            "training_seconds": store.seconds_spent("accuracy", "train"),
            "measuring_seconds": store.measuring_seconds(),
            "decisions": actions, "prediction": store.prediction_quality(),
            "trials": store.trials_spent(), "seconds": last["seconds"] if last else 0.0,
            "tasks_served_by_store": from_store / tasks if tasks else None,
            "generations": len(store.generations()), "front": front, "all": rows}


def write_report(run: Path, compare: Path | None = None) -> dict:
    store = open_study(run)
    summary = summarize(store)
    other = summarize(open_study(compare), summary["reference"]) if compare else None
    run = Path(run)
    with open(run / "pareto.csv.tmp", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "accuracy", "latency_ms", "generation", "origin", "trials"])
        for r in summary["front"]:
            writer.writerow([r["key"], f"{r['accuracy']:.4f}", f"{r['latency_ms']:.4f}", r["generation"], r["origin"],
                             r["trials"]])
    (run / "pareto.csv.tmp").replace(run / "pareto.csv")
    payload = {k: v for k, v in summary.items() if k != "all"}
    if other:
        payload["compare"] = {"run": str(compare), **{k: v for k, v in other.items() if k not in ("all", "front")},
                              "front": other["front"]}
    write_json(run / "pareto.json", payload)
    plot(run / "pareto.png", summary, other, compare)
    store.close()
    return payload


def plot(path: Path, summary: dict, other: dict | None, other_name) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for data, colour, label in ((summary, "tab:blue", summary["mode"]),
                                (other, "tab:orange", f"{other['mode']} ({other_name})" if other else None)):
        if not data:
            continue
        measured = [r for r in data["all"] if r["latency_ms"] is not None]
        ax.scatter([r["latency_ms"] for r in measured], [r["accuracy"] for r in measured], s=14, alpha=0.35,
                   color=colour)
        guessed = [r for r in data["all"] if r["latency_ms"] is None and r["predicted_ms"] is not None]
        if guessed:
            ax.scatter([r["predicted_ms"] for r in guessed], [r["accuracy"] for r in guessed], s=16,
                       facecolors="none", edgecolors=colour, alpha=0.5, linewidths=0.8,
                       label=f"{data['mode']}: {len(guessed)} predicted only (not counted)")
        front = data["front"]
        ax.step([r["latency_ms"] for r in front], [r["accuracy"] for r in front], where="post", color=colour,
                marker="o", label=f"{label}: HV {data['hypervolume']:.4f}, {data['measured']} measured")
    ax.set_xlabel(f"latency after tuning (ms) on {summary['target']}")
    ax.set_ylabel("validation accuracy (short training)")
    ax.set_title(f"{summary['space']}: reference point {summary['reference']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
