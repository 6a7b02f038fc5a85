"""Assignments as data: each folder of ``autograder/assignments/`` is one homework of the course.

An assignment folder holds
``rubric.toml``      its title, description and tasks (points, tests, solution regions),
``suite/``           its graded pytest modules (and their ``grader.ini``),
``public_cases/``    the reference's outputs on the public inputs (``python -m autograder cases``),
``generators.py``    how its cases are drawn (instructor-only: not shipped in a handout),
``mistakes.py``      its catalogue of named mistakes (the hints), used by its suite,
``writeup.md``       the students' writeup (and ``figures/``).
``assignments/course.toml`` lists the assignments in teaching order and names the default one. The
grader knows no assignment by name: everything it needs comes from here.
"""
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent / "assignments"
COURSE_FILE = "course.toml"


class AssignmentError(ValueError):
    """No such assignment, or an assignment folder that is not complete."""


@dataclass(frozen=True)
class Assignment:
    name: str
    root: Path

    @property
    def rubric_path(self):
        return self.root / "rubric.toml"

    @property
    def suite_dir(self):
        return self.root / "suite"

    @property
    def cases_dir(self):
        return self.root / "public_cases"

    @property
    def writeup(self):
        return self.root / "writeup.md"

    @property
    def package(self):
        """The import name of the folder (``autograder.assignments.<name>``)."""
        return f"{ASSIGNMENTS_DIR.parent.name}.{ASSIGNMENTS_DIR.name}.{self.name}"

    def generators(self):
        """The module drawing this assignment's cases (instructor-only: absent from a handout)."""
        try:
            return importlib.import_module(f"{self.package}.generators")
        except ModuleNotFoundError as exc:
            if exc.name == f"{self.package}.generators":
                raise AssignmentError(f"assignment {self.name} has no case generators here "
                                      "(a handout ships without them)") from None
            raise

    @functools.cached_property
    def header(self):
        try:
            data = tomllib.loads(self.rubric_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AssignmentError(f"{self.rubric_path}: {exc}") from None
        return {"title": str(data.get("title", self.name)),
                "description": str(data.get("description", ""))}

    @property
    def title(self):
        return self.header["title"]

    @property
    def description(self):
        return self.header["description"]


def _course(folder=ASSIGNMENTS_DIR):
    path = Path(folder) / COURSE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        data = {}
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{path}: {exc}") from None
    order = data.get("assignments")
    found = sorted(p.name for p in Path(folder).iterdir()
                   if (p / "rubric.toml").is_file()) if Path(folder).is_dir() else []
    if order is None:
        order = found
    unknown = [name for name in order if name not in found]
    if unknown:
        raise AssignmentError(f"{path}: lists {', '.join(unknown)}, which has no folder with a "
                              f"rubric.toml beside it")
    default = data.get("default", order[0] if order else None)
    if default is not None and default not in order:
        raise AssignmentError(f"{path}: default {default!r} is not one of {order}")
    return list(order), default


def course(folder=ASSIGNMENTS_DIR):
    """Every assignment, in teaching order."""
    return [Assignment(name, Path(folder) / name) for name in _course(folder)[0]]


def add_argument(parser):
    """``--assignment NAME`` on a command that works on one assignment."""
    parser.add_argument("--assignment", "-a", metavar="NAME", default=None,
                        help="the assignment (default: the course's default, or a handout's own; "
                             "--list-assignments lists them)")


def listing(folder=ASSIGNMENTS_DIR):
    """``--list-assignments``: one line each, the name first, then its title and description."""
    lines = []
    for assignment in course(folder):
        about = " - ".join(x for x in (assignment.title, assignment.description) if x)
        lines.append(f"{assignment.name} {about}".rstrip())
    return "\n".join(lines)


def find(name=None, folder=ASSIGNMENTS_DIR):
    """The assignment called ``name``; None: the course's default (a handout's only one)."""
    order, default = _course(folder)
    if not order:
        raise AssignmentError(f"no assignment in {folder} (a folder with a rubric.toml)")
    name = default if name is None else name
    if name not in order:
        raise AssignmentError(f"no assignment {name!r}; this course has: {', '.join(order)} "
                              "(python -m autograder --list-assignments)")
    return Assignment(name, Path(folder) / name)
