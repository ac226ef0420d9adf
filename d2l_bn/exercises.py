"""Graded exercises with nbgrader: build the student versions, grade a folder of submissions.

    python -m d2l_bn.exercises build                 # -> exercises/release/<chapter>/<chapter>_exercises.ipynb
    python -m d2l_bn.exercises grade SUBMISSIONS     # autograde every student's notebooks, print a score table

The instructor (source) notebooks live in ``exercises/source/<chapter>/``: each exercise's answer sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, and each test cell ends with checks between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. `build` runs nbgrader's ``generate_assignment``, which
replaces every answer by ``raise NotImplementedError()`` and removes the hidden checks. `grade` takes a folder
with one sub-folder per student (the notebooks anywhere inside it, e.g. as downloaded from a learning platform),
copies them into nbgrader's layout, runs ``autograde`` (which puts the hidden checks back and runs everything)
and reads the scores from nbgrader's gradebook. The course directory (default ``exercises/``) is an ordinary
nbgrader course: its ``nbgrader_config.py`` applies, and nbgrader's own commands (formgrader, generate_feedback,
export) work there as well.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
SOURCE = EXERCISES / "source"


def chapters(source: Path = SOURCE) -> list[str]:
    """The assignments (one per chapter): folders of `source` that hold a notebook."""
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(source: Path = SOURCE) -> list[Path]:
    return sorted(nb for chapter in chapters(source) for nb in (source / chapter).glob("*.ipynb"))


def _coursedir(course_dir: Path, assignment_id: str, student_id: str = "*"):
    """nbgrader's CourseDirectory for `course_dir`, configured by exercises/nbgrader_config.py."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(EXERCISES)).load_config()
    config.CourseDirectory.root = str(course_dir.resolve())
    config.CourseDirectory.source_directory = str(SOURCE)   # absolute: the committed source, wherever we grade
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment_id, student_id
    return coursedir, config


def build(course_dir: Path = EXERCISES, only: Optional[Sequence[str]] = None) -> list[Path]:
    """Generate the student version of every chapter's exercises into <course_dir>/release/; return the notebooks.

    Also records each assignment (its test cells, hidden checks included) in <course_dir>/gradebook.db, which
    `grade` needs to put the hidden checks back.
    """
    from nbgrader.converters import GenerateAssignment

    course_dir.mkdir(parents=True, exist_ok=True)
    names = list(only) if only else chapters()
    unknown = sorted(set(names) - set(chapters()))
    if unknown:
        raise ValueError(f"no exercises for {unknown}; the chapters are {chapters()}")
    for name in names:
        coursedir, config = _coursedir(course_dir, name)
        converter = GenerateAssignment(coursedir=coursedir, config=config)
        converter.force = True
        converter.start()
    return sorted(nb for name in names for nb in (course_dir / "release" / name).glob("*.ipynb"))


@dataclass
class Score:
    """One student's result on one chapter: points per test cell (grade id -> (score, max))."""
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)
    graded: bool = True

    @property
    def score(self) -> float:
        return sum(s for s, _ in self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(m for _, m in self.cells.values())


def collect(submissions: Path, course_dir: Path = EXERCISES) -> dict[str, list[str]]:
    """Copy every student's notebooks into <course_dir>/submitted/<student>/<chapter>/; return what was found.

    `submissions` holds one folder per student (its name is the student id); a notebook is recognised by its
    file name (e.g. 04_batch_norm_theory_exercises.ipynb), wherever it sits inside the student's folder.
    """
    by_name = {nb.name: nb.parent.name for nb in source_notebooks()}
    submitted = course_dir / "submitted"
    found: dict[str, list[str]] = {}
    for student in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for notebook in sorted(student.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in notebook.parts:
                continue
            chapter = by_name.get(notebook.name)
            if chapter is None:
                print(f"skipped {notebook}: not an exercise notebook (expected one of {sorted(by_name)})")
                continue
            target = submitted / student.name / chapter / notebook.name
            if notebook.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(notebook, target)
            found.setdefault(student.name, []).append(chapter)
    if not found:
        raise ValueError(f"no exercise notebooks under {submissions}: expected one folder per student "
                         f"holding notebooks named like {sorted(by_name)[0]}")
    return found


def grade(submissions: Path, course_dir: Path = EXERCISES) -> dict[str, dict[str, Score]]:
    """Autograde every submitted notebook under `submissions`; return {student: {chapter: Score}}."""
    from sqlalchemy.exc import SAWarning

    build(course_dir)                                   # the gradebook must know the current tests
    found = collect(submissions, course_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)      # nbgrader 0.9's own use of its database session: harmless
        _autograde(found, course_dir)
        return _read_scores(found, course_dir)


def _autograde(found: dict[str, list[str]], course_dir: Path) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException

    for chapter in sorted({c for cs in found.values() for c in cs}):
        students = sorted(s for s, cs in found.items() if chapter in cs)
        print(f"grading {chapter}: {', '.join(students)}", flush=True)
        for student in students:
            coursedir, config = _coursedir(course_dir, chapter, student)
            converter = Autograde(coursedir=coursedir, config=config)
            converter.force = True
            try:
                converter.start()
            except NbGraderException as error:          # nbgrader logged the reason; the table says "error"
                print(f"  {student}: not graded ({error})")


def _read_scores(found: dict[str, list[str]], course_dir: Path) -> dict[str, dict[str, Score]]:
    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, dict[str, Score]] = {}
    coursedir, _ = _coursedir(course_dir, "*")
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        for student, chapters_found in found.items():
            for chapter in chapters_found:
                score = Score(graded=(course_dir / "autograded" / student / chapter).is_dir())
                try:
                    submission = gradebook.find_submission(chapter, student)
                except MissingEntry:
                    score.graded = False
                else:
                    for notebook in submission.notebooks:
                        for g in notebook.grades:
                            score.cells[g.name] = (g.score, g.max_score)
                scores.setdefault(student, {})[chapter] = score
    return scores


def format_table(scores: dict[str, dict[str, Score]]) -> str:
    """A score table: one row per student, one column per chapter ("-" not submitted), then the total."""
    names = sorted({c for per in scores.values() for c in per})
    width = max([len("student")] + [len(s) for s in scores])
    columns = [n.split("_")[0] for n in names]
    lines = ["  ".join([f"{'student':<{width}}"] + [f"{c:>9}" for c in columns] + [f"{'total':>11}"])]
    for student in sorted(scores):
        cells, total, top = [], 0.0, 0.0
        for name in names:
            score = scores[student].get(name)
            if score is None:
                cells.append(f"{'-':>9}")
            elif not score.graded:
                cells.append(f"{'error':>9}")
            else:
                cells.append(f"{f'{score.score:g}/{score.max_score:g}':>9}")
                total, top = total + score.score, top + score.max_score
        lines.append("  ".join([f"{student:<{width}}"] + cells + [f"{f'{total:g}/{top:g}':>11}"]))
    lines.append("")
    lines.append("failed checks:")
    for student in sorted(scores):
        failed = [f"{name.split('_')[0]}:{cell}" for name, score in sorted(scores[student].items())
                  for cell, (s, m) in score.cells.items() if s < m]
        lines.append(f"  {student}: {', '.join(failed) if failed else 'none'}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    if not SOURCE.is_dir():
        sys.exit(f"no exercises at {SOURCE}: run this from a clone of the course repository, installed with "
                 f'pip install -e ".[instructor]"')
    parser = argparse.ArgumentParser(prog="python -m d2l_bn.exercises", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="write the student versions into <course-dir>/release/")
    build_parser.add_argument("chapters", nargs="*", help=f"only these (default all: {' '.join(chapters())})")
    grade_parser = commands.add_parser("grade", help="autograde a folder of submissions and print the scores")
    grade_parser.add_argument("submissions", type=Path, help="one folder per student, holding their notebooks")
    for sub in (build_parser, grade_parser):
        sub.add_argument("--course-dir", type=Path, default=EXERCISES,
                         help="nbgrader's course directory, where release/, submitted/, autograded/ and "
                              "gradebook.db go (default: exercises/)")
    args = parser.parse_args(argv)
    logging.getLogger("traitlets").setLevel(logging.WARNING)
    if args.command == "build":
        for notebook in build(args.course_dir, args.chapters):
            print(f"student version: {notebook}")
        return 0
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    print(format_table(grade(args.submissions, args.course_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
