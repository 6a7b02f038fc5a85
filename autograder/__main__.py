"""``python -m autograder``: grade your mytorch, build fixtures, and (instructors) more.

Run ``python -m autograder --help`` for the commands.
"""
import argparse
import sys
from pathlib import Path

COMMANDS = {
    "check": "grade a submission (the default): python -m autograder [check] [--submission PATH]",
    "submit": "self-check, then pack your mytorch/ into handin.zip to upload",
    "handout": "build the student handout from the reference (instructors)",
    "fixtures": "regenerate the public fixtures from the reference solution (instructors)",
    "grade": "grade a whole class: folders/archives/exports -> grades.csv and reports (instructors)",
    "gradescope": "build Gradescope's autograder.zip (instructors)",
}


def _instructor_only(command):
    """What a student's copy of the grader (a handout, without instructor modules) answers."""
    print(f"error: `{command}` is for instructors; this copy of the grader (a student handout) "
          "does not include it", file=sys.stderr)
    return 2


def add_check_arguments(parser):
    parser.add_argument("--submission", "-s", default=".", metavar="PATH",
                        help="folder holding your mytorch/ (default: the current folder)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only run tests matching EXPR, as in pytest (e.g. -k linear)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every failure in full, with what your code printed")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the results in Gradescope's results.json format")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit with status 1 when the score is below SCORE (for scripts)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="wall-time limit of one call into your code (default 10)")
    parser.add_argument("--hidden", action="store_true",
                        help="instructors: also run the hidden tests (needs the secret)")
    parser.add_argument("--secret-file", metavar="PATH",
                        help="file holding the hidden-test secret (default: $MYTORCH_GRADER_SECRET)")
    parser.add_argument("--user", metavar="NAME",
                        help="run the student's code as this user (needs root; as root the "
                             "default is `nobody`, or $MYTORCH_GRADER_USER)")


def cmd_check(args):
    from .grading import SubmissionError, grade
    from .report import render_table, results_json, write_json_atomically
    from .session import Limits

    limits = Limits()
    if args.timeout is not None:
        limits.call_seconds = args.timeout
    hidden = None
    if args.hidden:
        try:
            from .hidden import SecretError, hidden_cases, read_secret
        except ImportError:
            return _instructor_only("--hidden")
        try:
            hidden = hidden_cases(read_secret(args.secret_file))
        except SecretError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        user, user_notes = _worker_user(args)
        result = grade(args.submission, keyword=args.keyword, limits=limits, hidden_cases=hidden,
                       user=user)
    except SubmissionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the grader's own failure is never the student's
        return _grader_problem(exc)
    result.notes[:0] = user_notes
    print(render_table(result, verbose=args.verbose))
    if args.json:
        write_json_atomically(results_json(result), args.json)
    if not result.graded:
        print(f"grader problem: {result.errors[0].splitlines()[0]} (no score was given)",
              file=sys.stderr)
        return 3
    if args.fail_under is not None and result.score < args.fail_under:
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
    """(user or None, notes) for the worker; see autograder/privilege.py."""
    from .grading import SubmissionError, check_submission_folder
    from .privilege import UserError, choose_user

    folder = check_submission_folder(args.submission)
    try:
        return choose_user(getattr(args, "user", None), folder)
    except UserError as exc:
        raise SubmissionError(str(exc)) from None


def cmd_grade(args):
    try:
        from .batch import BatchError, run_batch
    except ImportError:
        return _instructor_only("grade")
    try:
        return run_batch(args)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_gradescope(args):
    try:
        from .gradescope import GradescopeError, build_autograder_zip
    except ImportError:
        return _instructor_only("gradescope")
    try:
        info = build_autograder_zip(args.out, secret_file=args.secret_file, user=args.user)
    except GradescopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({info['files']} files{', with the secret' if info['secret'] else ''}"
          "); upload it as the autograder of a Gradescope programming assignment")
    return 0


def cmd_fixtures(args):
    from .fixture_store import write_fixtures
    try:
        from .reference import load_reference
    except ImportError:
        return _instructor_only("fixtures")

    paths = write_fixtures(load_reference(), seed=args.seed, out_dir=args.out)
    print(f"wrote {len(paths)} fixture files to {args.out} (seed {args.seed})")
    return 0


def cmd_submit(args):
    from .grading import SubmissionError, grade
    from .submit import SubmitError, make_handin, student_files

    try:
        student_files(args.folder)
        try:
            result = grade(args.folder)
            score = {"score": result.score, "max_score": result.max_score} if result.graded \
                else None
            print(f"self-check: {result.score:g} / {result.max_score:g} "
                  "(run `python -m autograder` for the details)" if result.graded else
                  f"self-check: not graded, the grader had a problem of its own: "
                  f"{result.errors[0].splitlines()[0]}")
        except SubmissionError as exc:
            raise SubmitError(str(exc)) from None
        manifest = make_handin(args.folder, args.out, score)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} with {len(manifest['files'])} files; upload it as your submission")
    return 0


def cmd_handout(args):
    try:
        from .handout import HandoutError, build_handout
    except ImportError:
        return _instructor_only("handout")
    try:
        out = build_handout(args.out, make_zip=not args.no_zip)
    except HandoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"handout written to {out}" + ("" if args.no_zip else f" and {out.with_suffix('.zip')}"))
    return 0


def build_parser():
    from .fixture_store import DEFAULT_SEED, FIXTURE_DIR

    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The mytorch autograder. With no command it grades the mytorch/ in the "
                    "current folder.",
        epilog="commands:\n" + "\n".join(f"  {k:<10} {v}" for k, v in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help=COMMANDS["check"])
    add_check_arguments(check)
    check.set_defaults(func=cmd_check)
    submit = sub.add_parser("submit", help=COMMANDS["submit"])
    submit.add_argument("--folder", default=".", help="the handout folder (default: here)")
    submit.add_argument("--out", default="handin.zip", help="archive to write (default handin.zip)")
    submit.set_defaults(func=cmd_submit)
    handout = sub.add_parser("handout", help=COMMANDS["handout"])
    handout.add_argument("--out", type=Path, required=True, help="folder to create (replaced)")
    handout.add_argument("--no-zip", action="store_true", help="skip the .zip beside it")
    handout.set_defaults(func=cmd_handout)
    fixtures = sub.add_parser("fixtures", help=COMMANDS["fixtures"])
    fixtures.add_argument("--seed", type=int, default=DEFAULT_SEED)
    fixtures.add_argument("--out", type=Path, default=FIXTURE_DIR)
    fixtures.set_defaults(func=cmd_fixtures)
    grade_cmd = sub.add_parser("grade", help=COMMANDS["grade"])
    add_grade_arguments(grade_cmd)
    grade_cmd.set_defaults(func=cmd_grade)
    gradescope = sub.add_parser("gradescope", help=COMMANDS["gradescope"])
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"),
                            help="zip to write (default autograder.zip)")
    gradescope.add_argument("--secret-file", metavar="PATH",
                            help="put this hidden-test secret in the zip (readable by root only); "
                                 "without it Gradescope runs the public tests only")
    gradescope.add_argument("--user", default="student",
                            help="unprivileged user setup.sh creates for student code "
                                 "(default student)")
    gradescope.set_defaults(func=cmd_gradescope)
    return parser


def add_grade_arguments(parser):
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a student's folder or archive (.zip .tar .tar.gz .tgz), or a folder "
                             "of them (a Canvas or Gradescope export: one entry per student)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where grades.csv, summary.txt and DIR/<student>/ go")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="students graded at once (default: the number of CPUs)")
    parser.add_argument("--hidden", action="store_true", help="also run the hidden tests")
    parser.add_argument("--secret-file", metavar="PATH",
                        help="file holding the hidden-test secret (default: $MYTORCH_GRADER_SECRET)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="wall-time limit of one call into a student's code (default 10)")
    parser.add_argument("--student-timeout", type=float, default=600, metavar="SECONDS",
                        help="wall-time cap on grading one student (default 600)")
    parser.add_argument("--user", metavar="NAME",
                        help="run student code as this user (needs root; default nobody as root)")
    parser.add_argument("--force", action="store_true",
                        help="regrade everyone, even students whose submission and grader are "
                             "unchanged since the last run")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only run tests matching EXPR (as in pytest)")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "check")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
