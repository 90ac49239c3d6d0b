"""The study store: one SQLite file per search run, the single place a search's results live.

Optuna's split: a study (the run's settings) holds candidates (trials: one genotype each), and
every estimate made of a candidate is a row naming the estimator that made it and what it cost
(accuracy from short training or a proxy or the surrogate; latency predicted by the cost model,
measured after tuning, or untuned), plus the trials and records the tuning used. Generations are
closed with their Pareto front and hypervolume, and every choice of the measurement policy
(measure now, defer, skip, with its reason) is a `decision` row: where the budget went.

Every write is one transaction (WAL journal, synchronous=FULL): a run killed at any instant,
kill -9 included, leaves every finished write in the file and nothing half-written, and a
resumed run asks the store what is already done instead of doing it again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import NacosError
from ..spaces.base import Genotype

STUDY_FILE = "study.db"  # in a search run folder
SCHEMA_VERSION = 2
UPGRADABLE = (1,)  # older schemas this one only adds tables to
SCHEMA = """
CREATE TABLE IF NOT EXISTS study (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidate (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,            -- Genotype.key()
    genotype TEXT NOT NULL,              -- Genotype JSON
    generation INTEGER NOT NULL,
    origin TEXT NOT NULL,                -- sample | mutation | crossover | seed
    parents TEXT NOT NULL DEFAULT '[]',  -- keys of the parents
    selected INTEGER NOT NULL DEFAULT 0, -- chosen for full evaluation (tuning, training)
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS estimate (
    candidate INTEGER NOT NULL REFERENCES candidate(id),
    objective TEXT NOT NULL,             -- accuracy | latency
    estimator TEXT NOT NULL,             -- e.g. train, naswot, surrogate, or measured, predicted, untuned
    value REAL NOT NULL,
    uncertainty REAL,                    -- e.g. the cost model's spread, when it gives one
    seconds REAL NOT NULL,               -- what the estimate cost
    details TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    PRIMARY KEY (candidate, objective, estimator)
);
CREATE TABLE IF NOT EXISTS tuning (
    candidate INTEGER PRIMARY KEY REFERENCES candidate(id),
    tasks INTEGER NOT NULL,
    tasks_from_store INTEGER NOT NULL,   -- tasks the record store already knew
    trials INTEGER NOT NULL,             -- trials spent on this candidate's new tasks
    seconds REAL NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS generation (
    number INTEGER PRIMARY KEY,
    front TEXT NOT NULL,                 -- candidate keys of the Pareto front after this generation
    hypervolume REAL NOT NULL,
    reference TEXT NOT NULL,             -- [accuracy, latency_ms] reference point
    population TEXT NOT NULL,            -- keys kept for the next generation
    seconds REAL NOT NULL,               -- wall time of the run so far
    trials INTEGER NOT NULL,             -- trials spent so far
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS decision (
    candidate INTEGER NOT NULL REFERENCES candidate(id),
    stage TEXT NOT NULL,                 -- train | measure | final
    action TEXT NOT NULL,                -- e.g. train, measure, defer, skip
    reason TEXT NOT NULL,                -- a sentence a user can read
    details TEXT NOT NULL DEFAULT '{}',  -- the numbers behind it
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Candidate:
    id: int
    key: str
    genotype: Genotype
    generation: int
    origin: str
    parents: tuple[str, ...]
    selected: bool = False


@dataclass(frozen=True)
class Estimate:
    objective: str
    estimator: str
    value: float
    uncertainty: float | None
    seconds: float
    details: dict


class StudyStore:
    """A search run's SQLite file; open it again to resume."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)  # transactions are explicit
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            with self.transaction():  # executescript would commit on its own
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
        except sqlite3.DatabaseError as exc:
            raise NacosError(f"'{self.path}' is not a NACOS study store ({exc}); give a new --out folder") from None
        version = self.setting("schema_version")
        if version is None or version in UPGRADABLE:
            self.set_settings({"schema_version": SCHEMA_VERSION})
        elif version != SCHEMA_VERSION:
            raise NacosError(f"'{self.path}' has study schema {version}; this NACOS reads {SCHEMA_VERSION}")

    @classmethod
    def of_run(cls, run: Path, create: bool = False, resume: bool = False) -> StudyStore:
        """The study of a run folder: a new one (`create`), one to continue (`resume`) or to read."""
        path = Path(run) / STUDY_FILE
        if create and path.exists() and not resume:
            raise NacosError(f"'{run}' already holds a search; add --resume to continue it or give a new --out")
        if not path.exists() and (resume or not create):
            what = "nothing to resume" if resume else "holds no search"
            raise NacosError(f"'{run}' {what} (no {STUDY_FILE}); run `nacos search ... --out {run}` first")
        if not create and path.stat().st_size == 0:
            raise NacosError(f"'{path}' is empty: not a NACOS study store")
        return cls(path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside commit together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ settings

    def set_settings(self, settings: dict) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO study VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in settings.items()])

    def setting(self, name: str, default=None):
        row = self.db.execute("SELECT value FROM study WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    def settings(self) -> dict:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT name, value FROM study")}

    # ------------------------------------------------------------------ candidates

    def add_candidate(self, genotype: Genotype, generation: int, origin: str,
                      parents: tuple[str, ...] = ()) -> Candidate:
        """Record a candidate once; adding it again returns the first record unchanged."""
        existing = self.candidate(genotype.key())
        if existing is not None:
            return existing
        with self.transaction():
            self.db.execute("INSERT INTO candidate (key, genotype, generation, origin, parents, created) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (genotype.key(), genotype.to_json(), generation, origin, json.dumps(list(parents)),
                             time.time()))
        return self.candidate(genotype.key())

    def select(self, candidate: Candidate) -> Candidate:
        """Mark a candidate for full evaluation, before it starts: a resumed run finishes it."""
        with self.transaction():
            self.db.execute("UPDATE candidate SET selected = 1 WHERE id = ?", (candidate.id,))
        return self.candidate(candidate.key)

    def candidate(self, key: str) -> Candidate | None:
        row = self.db.execute("SELECT id, key, genotype, generation, origin, parents, selected FROM candidate WHERE key = ?",
                              (key,)).fetchone()
        return None if row is None else _candidate(row)

    def candidates(self) -> list[Candidate]:
        rows = self.db.execute("SELECT id, key, genotype, generation, origin, parents, selected FROM candidate ORDER BY id")
        return [_candidate(r) for r in rows]

    # ------------------------------------------------------------------ estimates and tuning

    def add_estimate(self, candidate: Candidate, objective: str, estimator: str, value: float, seconds: float,
                     uncertainty: float | None = None, details: dict | None = None) -> None:
        if objective not in ("accuracy", "latency"):
            raise ValueError(f"objective {objective}")
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO estimate VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (candidate.id, objective, estimator, float(value), uncertainty, float(seconds),
                             json.dumps(details or {}), time.time()))

    def estimates(self, candidate: Candidate, objective: str | None = None) -> dict[str, Estimate]:
        """The candidate's estimates by estimator (of one objective, or all as 'objective/estimator')."""
        rows = self.db.execute("SELECT objective, estimator, value, uncertainty, seconds, details FROM estimate "
                               "WHERE candidate = ? ORDER BY created", (candidate.id,))
        found = {}
        for obj, est, value, unc, sec, details in rows:
            if objective is None or obj == objective:
                name = est if objective else f"{obj}/{est}"
                found[name] = Estimate(obj, est, value, unc, sec, json.loads(details))
        return found

    def estimate(self, candidate: Candidate, objective: str, estimator: str) -> Estimate | None:
        return self.estimates(candidate, objective).get(estimator)

    def values(self, objective: str, estimator: str) -> dict[str, Estimate]:
        """Candidate key -> its estimate by one estimator, for every candidate that has one."""
        rows = self.db.execute("SELECT c.key, e.objective, e.estimator, e.value, e.uncertainty, e.seconds, e.details "
                               "FROM estimate e JOIN candidate c ON c.id = e.candidate "
                               "WHERE e.objective = ? AND e.estimator = ? ORDER BY c.id", (objective, estimator))
        return {key: Estimate(obj, est, value, unc, sec, json.loads(details))
                for key, obj, est, value, unc, sec, details in rows}

    def seconds_spent(self, objective: str, estimator: str) -> float:
        """What the estimates of one estimator cost in all."""
        return float(self.db.execute("SELECT COALESCE(SUM(seconds), 0) FROM estimate WHERE objective = ? AND "
                                     "estimator = ?", (objective, estimator)).fetchone()[0])

    def add_tuning(self, candidate: Candidate, tasks: int, tasks_from_store: int, trials: int,
                   seconds: float) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO tuning VALUES (?, ?, ?, ?, ?, ?)",
                            (candidate.id, tasks, tasks_from_store, trials, seconds, time.time()))

    def tuning(self, candidate: Candidate) -> dict | None:
        row = self.db.execute("SELECT tasks, tasks_from_store, trials, seconds FROM tuning WHERE candidate = ?",
                              (candidate.id,)).fetchone()
        return None if row is None else dict(zip(("tasks", "tasks_from_store", "trials", "seconds"), row))

    def trials_spent(self) -> int:
        return int(self.db.execute("SELECT COALESCE(SUM(trials), 0) FROM tuning").fetchone()[0])

    def measuring_seconds(self) -> float:
        """What tuning and measuring the candidates cost in all."""
        return float(self.db.execute("SELECT COALESCE(SUM(seconds), 0) FROM tuning").fetchone()[0])

    def tunings(self) -> list[dict]:
        rows = self.db.execute("SELECT tasks, tasks_from_store, trials, seconds FROM tuning ORDER BY created")
        return [dict(zip(("tasks", "tasks_from_store", "trials", "seconds"), r)) for r in rows]

    def prediction_quality(self) -> dict | None:
        """How the latency predicted before measuring compares with the measurement (within
        ±10 %, MAPE, Spearman, Kendall), over the candidates that have both; None without any."""
        from ..costmodel.latency_model import score

        predicted, measured = self.values("latency", "predicted"), self.values("latency", "measured")
        keys = [k for k in measured if k in predicted]
        return score([predicted[k].value for k in keys], [measured[k].value for k in keys]) if keys else None

    # ------------------------------------------------------------------ the measurement policy's choices

    def add_decision(self, candidate: Candidate, stage: str, action: str, reason: str,
                     details: dict | None = None) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO decision VALUES (?, ?, ?, ?, ?, ?)",
                            (candidate.id, stage, action, reason, json.dumps(details or {}), time.time()))

    def decisions(self, candidate: Candidate | None = None) -> list[dict]:
        """The policy's choices in the order they were made (of one candidate, or all)."""
        query = ("SELECT c.key, d.stage, d.action, d.reason, d.details FROM decision d "
                 "JOIN candidate c ON c.id = d.candidate")
        rows = self.db.execute(query + (" WHERE d.candidate = ?" if candidate else "") + " ORDER BY d.rowid",
                               (candidate.id,) if candidate else ())
        return [{"key": k, "stage": st, "action": a, "reason": r, "details": json.loads(d)}
                for k, st, a, r, d in rows]

    # ------------------------------------------------------------------ generations

    def close_generation(self, number: int, front: list[str], hypervolume: float, reference: tuple[float, float],
                         population: list[str], seconds: float, trials: int) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO generation VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (number, json.dumps(front), hypervolume, json.dumps(list(reference)),
                             json.dumps(population), seconds, trials, time.time()))

    def generations(self) -> list[dict]:
        rows = self.db.execute("SELECT number, front, hypervolume, reference, population, seconds, trials "
                               "FROM generation ORDER BY number")
        return [{"number": n, "front": json.loads(f), "hypervolume": hv, "reference": json.loads(r),
                 "population": json.loads(p), "seconds": s, "trials": t} for n, f, hv, r, p, s, t in rows]

    def last_generation(self) -> dict | None:
        generations = self.generations()
        return generations[-1] if generations else None


def _candidate(row) -> Candidate:
    id_, key, genotype, generation, origin, parents, selected = row
    return Candidate(id_, key, Genotype.from_json(genotype), generation, origin, tuple(json.loads(parents)),
                     bool(selected))
