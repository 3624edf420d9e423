"""Mutation testing of the pure core with cosmic-ray, in a scratch copy of the repository.

cosmic-ray rewrites the module under test on disk for every mutant, so this never runs
it in a work tree: it copies the repository (without .git, .venv and caches) into a
scratch directory, runs each module's session there and prints the score per module.
Surviving mutants listed in mutation/equivalent.toml (same module, operator and source
line), and those inside a postponed annotation (never evaluated), count as equivalent:
they cannot change behaviour (docs/mutation-testing.md says why).

    python -m mutation.run [--quick] [--workdir DIR] [--resume] [--min-score 95] [MODULE ...]

``--resume`` (with the same ``--workdir``) keeps a module's session while its source is
unchanged and runs again only its survivors and unfinished mutants: after adding tests,
that re-checks the survivors in minutes instead of re-running every mutant.

The interpreter running this must have the dev extras (cosmic-ray) installed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "mutation"
# Module name -> its cosmic-ray config (mutation/NAME.toml), in the order a full run takes.
MODULES = ("outcomes", "statuses", "merge", "scrub", "rollup_deltas", "coerce", "timeline")
# The quick tier: the two smallest sessions (167 mutants, about a minute).
QUICK = ("statuses", "merge")
MARKER = ".installstats-mutation-copy"
_IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.sqlite"
)


@dataclass(frozen=True, slots=True)
class Equivalent:
    module: str
    operator: str
    code: str  # the mutated source line, stripped: a line that moves still matches


@dataclass(frozen=True, slots=True)
class Score:
    module: str
    mutants: int
    killed: int
    survived: int
    equivalent: int
    seconds: float
    survivors: tuple[str, ...]

    @property
    def percent(self) -> float:
        return (
            100.0 if self.mutants == 0 else 100.0 * (self.killed + self.equivalent) / self.mutants
        )


def load_equivalents(path: Path = HERE / "equivalent.toml") -> list[Equivalent]:
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    return [Equivalent(e["module"], e["operator"], e["code"].strip()) for e in entries]


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every annotation in a module that postpones them
    (``from __future__ import annotations``): a mutant inside one is never evaluated."""
    tree = ast.parse(source)
    postponed = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not postponed:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotation = node.returns
        elif isinstance(node, (ast.arg, ast.AnnAssign)):
            annotation = node.annotation
        else:
            continue
        if annotation is not None:
            found.append(annotation)
    return [
        ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in found
    ]


def make_copy(workdir: Path, resume: bool = False) -> None:
    """A fresh copy of the repository at ``workdir`` (only a copy this script made is
    ever removed, and never the repository itself). ``resume`` keeps its sessions."""
    if workdir.resolve() == REPO or REPO in workdir.resolve().parents:
        raise SystemExit(f"refusing to mutate inside the repository: {workdir}")
    sessions: dict[str, bytes] = {}
    if workdir.exists():
        if not (workdir / MARKER).exists():
            raise SystemExit(f"{workdir} exists and is not a copy made by mutation.run")
        if resume:
            for kept in (workdir / "mutation").glob("*.sqlite"):
                sessions[kept.name] = kept.read_bytes()
            for kept in (workdir / "mutation").glob("*.sha256"):
                sessions[kept.name] = kept.read_bytes()
        shutil.rmtree(workdir)
    shutil.copytree(REPO, workdir, ignore=_IGNORED)
    (workdir / MARKER).write_text("made by python -m mutation.run\n")
    for name, content in sessions.items():
        (workdir / "mutation" / name).write_bytes(content)


def _prepare_session(
    config: str,
    session: Path,
    module_path: str,
    workdir: Path,
    env: dict[str, str],
    equivalents: list[Equivalent],
) -> str:
    """Resume a session of the same module source (its survivors that are not known
    equivalents run again against the current tests, its pending mutants run); anything
    else starts a new one."""
    digest = hashlib.sha256((workdir / module_path).read_bytes()).hexdigest()
    stamp = session.with_suffix(".sha256")
    if session.exists() and stamp.exists() and stamp.read_text() == digest:
        source = (workdir / module_path).read_text()
        with sqlite3.connect(session) as db:
            survivors = db.execute(
                "SELECT r.job_id, m.operator_name, m.start_pos_row, m.start_pos_col"
                " FROM work_results r JOIN mutation_specs m USING (job_id)"
                " WHERE r.test_outcome = 'SURVIVED'"
            ).fetchall()
            for job_id, operator, row, col in survivors:
                if not _is_equivalent(source, module_path, operator, (row, col), equivalents):
                    db.execute("DELETE FROM work_results WHERE job_id = ?", (job_id,))
        return "resumed"
    _cosmic_ray("init", "--force", config, str(session), workdir=workdir, env=env)
    stamp.write_text(digest)
    return "new"


def _is_equivalent(
    source: str,
    module_path: str,
    operator: str,
    start: tuple[int, int],
    equivalents: list[Equivalent],
) -> bool:
    """Inside a postponed annotation, or listed in mutation/equivalent.toml."""
    if any(low <= start < high for low, high in annotation_spans(source)):
        return True
    code = source.splitlines()[start[0] - 1].strip()
    return Equivalent(module_path, operator, code) in equivalents


def _environment(workdir: Path) -> dict[str, str]:
    """The copy first on the import path (an editable install points at the original),
    and this interpreter's bin first, so that the configs' ``python`` is this one."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(workdir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["INSTALLSTATS_TEST_STORES"] = "sqlite"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # mutant runs use no plugin: start faster
    return env


def _check_imports_copy(workdir: Path, env: dict[str, str]) -> None:
    probe = "import ingest.merge, storage.analytics.timeline as t; print(t.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=workdir, env=env, capture_output=True, text=True
    )
    if found.returncode != 0 or not found.stdout.strip().startswith(str(workdir)):
        raise SystemExit(f"the copy is not what Python imports: {found.stdout}{found.stderr}")


def _cosmic_ray(*args: str, workdir: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "cosmic_ray.cli", *args]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{done.stdout}\n{done.stderr}")


def run_module(
    name: str, workdir: Path, env: dict[str, str], equivalents: list[Equivalent]
) -> Score:
    from cosmic_ray.work_db import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        WorkDB,
        use_db,
    )

    config = f"mutation/{name}.toml"
    session = workdir / f"mutation/{name}.sqlite"
    started = time.monotonic()
    _cosmic_ray("baseline", config, workdir=workdir, env=env)
    module_path = tomllib.loads((workdir / config).read_text())["cosmic-ray"]["module-path"]
    how = _prepare_session(config, session, module_path, workdir, env, equivalents)
    print(f"{name}: {how} session", flush=True)
    _cosmic_ray("exec", config, str(session), workdir=workdir, env=env)
    seconds = time.monotonic() - started
    source = (workdir / module_path).read_text()
    lines = source.splitlines()
    annotations = annotation_spans(source)
    mutants = killed = equivalent = 0
    survivors: list[str] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            mutants += 1
            if result.is_killed:
                killed += 1
                continue
            mutation = item.mutations[0]
            line = mutation.start_pos[0]
            code = lines[line - 1].strip()
            start = tuple(mutation.start_pos)
            in_annotation = any(low <= start < high for low, high in annotations)
            if (
                in_annotation
                or Equivalent(module_path, mutation.operator_name, code) in equivalents
            ):
                equivalent += 1
                kind = "annotation" if in_annotation else "listed"
                print(f"  equivalent ({kind}): {module_path}:{line} {mutation.operator_name}")
            else:
                survivors.append(f"{module_path}:{line} {mutation.operator_name}  {code}")
        pending = sum(1 for _ in db.pending_work_items)
    if pending:
        raise SystemExit(f"{name}: {pending} mutants were not run")
    return Score(name, mutants, killed, len(survivors), equivalent, seconds, tuple(survivors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.run", description=__doc__)
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--workdir", type=Path, help="scratch copy (default: a new temp dir)")
    parser.add_argument("--min-score", type=float, default=95.0)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the sessions in --workdir: rerun only survivors and pending mutants of "
        "modules whose source is unchanged (tests were added since)",
    )
    args = parser.parse_args(argv)
    names = list(args.modules or (QUICK if args.quick else MODULES))
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if args.workdir is None:
        scratch = Path(tempfile.mkdtemp(prefix="installstats-mutation-"))
        try:
            return _run(names, scratch / "repo", args.min_score, resume=False)
        finally:
            shutil.rmtree(scratch)
    return _run(names, args.workdir, args.min_score, resume=args.resume)


def _run(names: list[str], workdir: Path, min_score: float, resume: bool) -> int:
    make_copy(workdir, resume=resume)
    env = _environment(workdir)
    _check_imports_copy(workdir, env)
    equivalents = load_equivalents()
    print(f"mutating a copy at {workdir}", flush=True)
    header = f"{'module':<14}{'mutants':>8}{'killed':>8}{'survived':>9}{'equiv':>7}{'score':>8}"
    scores = []
    for name in names:
        score = run_module(name, workdir, env, equivalents)
        scores.append(score)
        for survivor in score.survivors:
            print(f"  survived: {survivor}", flush=True)
        print(f"{name}: {score.percent:.1f} % in {score.seconds:.0f} s", flush=True)
    print(header)
    for s in scores:
        print(
            f"{s.module:<14}{s.mutants:>8}{s.killed:>8}{s.survived:>9}{s.equivalent:>7}"
            f"{s.percent:>7.1f}%"
        )
    failing = [s.module for s in scores if s.percent < min_score]
    if failing:
        print(f"below {min_score} %: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
