"""``python -m autograder``: grade your mytorch (the default command), or pack it for submission.

Instructor commands (class grading, Gradescope, the handout, public cases) live in
``autograder/instructor/cli.py`` and are offered only where that package is present: a student
handout does not have it.
"""
import argparse
import importlib
import importlib.util
import sys

from .grading.assignment import AssignmentError, listing
from .grading.assignment import add_argument as add_assignment_argument
from .intake.files import write_json_atomically


def instructor_cli():
    """``autograder.instructor.cli``, or None where it is absent (a student handout). Imported by
    name: nothing of the student's grader depends on the instructor's tools."""
    if importlib.util.find_spec("autograder.instructor") is None:
        return None
    return importlib.import_module("autograder.instructor.cli")


def add_check_arguments(parser):
    add_assignment_argument(parser)
    parser.add_argument("--submission", "-s", default=".", metavar="PATH",
                        help="folder holding your mytorch/, or your handin.zip (default: the "
                             "current folder)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only run tests matching EXPR, as in pytest (e.g. -k linear, "
                             "-k task1.2)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every failure in full, with what your code printed")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the results in Gradescope's results.json format")
    parser.add_argument("--fail-under", type=float, metavar="PERCENT",
                        help="exit with status 1 when the score is below PERCENT %% of the points "
                             "graded (for scripts; -k grades fewer)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="wall-time limit of one call into your code (default 10)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="wall-time limit of all calls into your code together (default "
                             "120); the tests after it fail without running")
    parser.add_argument("--user", metavar="NAME",
                        help="run the code under test as this user (needs root; as root the "
                             "default is `nobody`, or $MYTORCH_GRADER_USER)")
    # set by `grade` and the Gradescope bundle: sandbox layers without which no student code runs
    parser.add_argument("--require-sandbox", metavar="LAYERS", default="", help=argparse.SUPPRESS)


def cmd_check(args):
    from .channel.transport import SANDBOX_FAILED, Limits
    from .grading.report import render_table, results_json
    from .grading.runner import SubmissionError, grade

    limits = Limits()
    if args.timeout is not None:
        limits.call_seconds = args.timeout
    limits.require_layers = tuple(n for n in args.require_sandbox.split(",") if n)
    if args.budget is not None:
        limits.budget_seconds = args.budget
    hidden = None
    if getattr(args, "hidden", False):  # an option only the instructor's tools add
        hidden, problem = args.hidden_cases(args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    try:
        user, user_notes = _worker_user(args)
        result = grade(args.submission, keyword=args.keyword, limits=limits, hidden_cases=hidden,
                       user=user, assignment=args.assignment)
    except (SubmissionError, AssignmentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the grader's own failure is never the student's
        return _grader_problem(exc)
    except KeyboardInterrupt:  # a partial run is no score: nothing is written
        print("interrupted", file=sys.stderr)
        return 130
    result.notes[:0] = user_notes
    for failure in dict.fromkeys(limits.sandbox_failures):
        result.errors.append(f"the sandbox failed, so this grade cannot be trusted: {failure}")
    print(render_table(result, verbose=args.verbose))
    if args.json:
        write_json_atomically(results_json(result), args.json)
    if limits.sandbox_failures:
        return SANDBOX_FAILED
    if not result.graded:
        print(f"grader problem: {result.errors[0].splitlines()[0]} (no score was given)",
              file=sys.stderr)
        return 3
    if args.fail_under is not None and \
            100 * result.score < args.fail_under * result.max_score:
        return 1
    return 0


def _grader_problem(exc):
    """Exit status 3 for an exception of the grader's own: what and where, no traceback, no score
    (nor a results.json)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    print(f"grader problem: {type(exc).__name__}: {exc}{where} (no score was given; please tell "
          "the course staff)", file=sys.stderr)
    return 3


def _worker_user(args):
    """(user or None, notes) for the worker; see autograder/channel/privilege.py."""
    from .channel.privilege import UserError, choose_user
    from .grading.runner import SubmissionError, check_submission_folder

    folder = check_submission_folder(args.submission)
    try:
        return choose_user(getattr(args, "user", None), folder)
    except UserError as exc:
        raise SubmissionError(str(exc)) from None


def cmd_submit(args):
    from .grading.runner import SubmissionError, grade
    from .submit import SubmitError, make_handin, self_check_verdict, student_files

    try:
        student_files(args.folder)
        try:
            result = grade(args.folder, assignment=args.assignment)
        except (SubmissionError, AssignmentError) as exc:
            raise SubmitError(str(exc)) from None
        except KeyboardInterrupt:
            print("interrupted: handin.zip was not written", file=sys.stderr)
            return 130
        if result.graded:
            score = {"score": result.score, "max_score": result.max_score}
            print(f"self-check: {result.score:g} / {result.max_score:g} "
                  "(run `python -m autograder` for the details)")
        else:
            score = None
            print("self-check: not graded, the grader had a problem of its own: "
                  f"{result.errors[0].splitlines()[0]}")
        refusal = self_check_verdict(result, args.out) if result.graded else None
        if refusal and not args.anyway:
            print(f"error: {refusal}", file=sys.stderr)
            return 2
        manifest = make_handin(args.folder, args.out, score)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} with {len(manifest['files'])} files; upload it as your submission")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The mytorch autograder. With no command it grades the mytorch/ in the "
                    "current folder; the options below are those of `check`.",
        epilog="python -m autograder --list-assignments prints the course's assignments; "
               "--version prints the kit's version.")
    add_check_arguments(parser)  # shown here; parsed by `check` (see main)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    check = sub.add_parser("check", help="grade a submission (the default command)",
                           description="Grade the mytorch/ in a folder.")
    add_check_arguments(check)
    check.set_defaults(func=cmd_check)
    submit = sub.add_parser("submit", help="self-check, then pack your mytorch/ into handin.zip",
                            description="Self-check, then pack mytorch/ into a zip to upload.")
    submit.add_argument("--folder", default=".", help="the handout folder (default: here)")
    submit.add_argument("--out", default="handin.zip", help="archive to write (default handin.zip)")
    add_assignment_argument(submit)
    submit.add_argument("--anyway", action="store_true",
                        help="write the archive even when the self-check could not import your "
                             "code or scored 0")
    submit.set_defaults(func=cmd_submit)
    cli = instructor_cli()
    if cli is not None:
        cli.add_hidden_arguments(check)
        cli.add_commands(sub)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        from . import __version__
        print(f"mytorch kit autograder {__version__} (Python {sys.version.split()[0]})")
        return 0
    if argv[:1] == ["--list-assignments"]:
        try:
            print(listing())
        except AssignmentError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "check")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
