"""The instructor commands of ``python -m autograder``: grade, gradescope, handout, cases, audit."""
import sys
from pathlib import Path

from ..grading.assignment import AssignmentError, find
from ..grading.assignment import add_argument as add_assignment_argument
from .hidden import SECRET_ENV, SecretError, hidden_cases, read_secret


def add_hidden_arguments(parser):
    parser.add_argument("--hidden", action="store_true",
                        help="instructors: also run the hidden tests (needs the secret)")
    parser.add_argument("--secret-file", metavar="PATH",
                        help=f"file holding the hidden-test secret (default: ${SECRET_ENV})")
    parser.set_defaults(hidden_cases=hidden_cases_for)


def hidden_cases_for(args):
    """(the secret's hidden cases, None), or (None, why not) for ``--hidden``."""
    try:
        return hidden_cases(read_secret(args.secret_file), args.assignment), None
    except (SecretError, AssignmentError) as exc:
        return None, str(exc)


def add_commands(sub):
    from .case_writer import DEFAULT_SEED
    from .similarity import add_arguments as add_similarity_arguments

    grade = sub.add_parser("grade", help="(instructors) grade a whole class into grades.csv and "
                                         "per-student reports",
                           description="Grade a whole class: folders, archives or LMS exports.")
    add_grade_arguments(grade)
    grade.set_defaults(func=cmd_grade)
    gradescope = sub.add_parser("gradescope",
                                help="(instructors) build Gradescope's autograder.zip")
    add_assignment_argument(gradescope)
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"),
                            help="zip to write (default autograder.zip)")
    gradescope.add_argument("--secret-file", metavar="PATH",
                            help="put this hidden-test secret in the zip (readable by root only); "
                                 "without it Gradescope runs the public tests only")
    gradescope.add_argument("--user", default="student",
                            help="unprivileged user setup.sh creates for student code "
                                 "(default student)")
    gradescope.add_argument("--namespaces", choices=("optional", "required"), default="optional",
                            help="where the container refuses namespaces (Gradescope; Docker's "
                                 "default seccomp profile): grade with the other layers, as the "
                                 "unprivileged user (optional, the default), or give no score "
                                 "(required)")
    gradescope.add_argument("--allow-weak-sandbox", action="store_true",
                            help="grade even where student code would run as root or without the "
                                 "isolation the machine offers (otherwise such runs give no "
                                 "score and a message for the course staff)")
    gradescope.set_defaults(func=cmd_gradescope)
    handout = sub.add_parser("handout", help="(instructors) build the student handout from the "
                                             "reference")
    add_assignment_argument(handout)
    handout.add_argument("--earlier", choices=("solved", "bring-your-own"), default="solved",
                         help="what the handout's mytorch/ holds of the assignments before this "
                              "one: the reference's code (solved, the default) or their TODO "
                              "stubs, for students who bring their own (bring-your-own)")
    handout.add_argument("--out", type=Path, required=True,
                         help="folder to create: a new or empty one, or a previous build (--force)")
    handout.add_argument("--force", action="store_true",
                         help="replace a previous handout build in --out (never another folder)")
    handout.add_argument("--no-zip", action="store_true", help="skip the .zip beside it")
    handout.set_defaults(func=cmd_handout)
    cases = sub.add_parser("cases", help="(instructors) regenerate the public graded cases from "
                                         "the reference")
    add_assignment_argument(cases)
    cases.add_argument("--seed", type=int, default=DEFAULT_SEED)
    cases.add_argument("--component", action="append", metavar="NAME",
                       help="regenerate only this component's cases (repeatable); the others' "
                            "files are left as they are")
    cases.add_argument("--out", type=Path, default=None,
                       help="folder to write (default: the assignment's public_cases/)")
    cases.set_defaults(func=cmd_cases)
    similarity = sub.add_parser("similarity", help="(instructors) rank pairs of submissions by how "
                                                   "alike their code is",
                                description="Compare what students wrote in the solution "
                                            "regions: a ranked list of pairs and side-by-side "
                                            "pages, evidence for a person to review.")
    add_similarity_arguments(similarity)
    similarity.set_defaults(func=cmd_similarity)
    merge = sub.add_parser("merge", help="(instructors) combine the output folders of `grade "
                                         "--shard K/N` into one",
                           description="Combine the N shards of a class (the --out folders of "
                                       "`grade --shard K/N`) into the grades.csv, summary.txt and "
                                       "report.html one run over the whole class writes.")
    merge.add_argument("shards", nargs="+", type=Path, metavar="SHARD_OUT",
                       help="the output folder of each shard")
    merge.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="folder for the merged output: a new or empty one, or a previous merge")
    add_anonymize_argument(merge)
    merge.set_defaults(func=cmd_merge)
    audit = sub.add_parser("audit", help="(instructors) grade realistic mistakes put into the "
                                         "reference: what the suite catches, hints, and charges",
                           description="Mutate the reference's solution regions with realistic "
                                       "mistakes, grade every mutant, and report the mutation "
                                       "score, the survivors, the hints and any points charged "
                                       "outside the mutant's own task.")
    from .audit import add_arguments as add_audit_arguments
    add_audit_arguments(audit)
    audit.set_defaults(func=cmd_audit)


def add_grade_arguments(parser):
    add_assignment_argument(parser)
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a student's folder or archive (.zip .tar .tar.gz .tgz), or a folder "
                             "of them (a Canvas or Gradescope export: one entry per student)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where grades.csv, summary.txt and DIR/<student>/ go")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="students graded at once (default: the number of CPUs)")
    add_hidden_arguments(parser)
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="wall-time limit of one call into a student's code (default 10)")
    parser.add_argument("--student-timeout", type=float, default=600, metavar="SECONDS",
                        help="wall-time cap on grading one student (default 600)")
    parser.add_argument("--user", metavar="NAME",
                        help="run student code as this user (needs root; default nobody as root)")
    parser.add_argument("--allow-weak-sandbox", action="store_true",
                        help="grade even when student code would run as root or without the "
                             "isolation this machine offers (see docs/security.md)")
    parser.add_argument("--force", action="store_true",
                        help="regrade everyone, even students whose submission and grader are "
                             "unchanged since the last run")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="only run tests matching EXPR (as in pytest)")
    add_limit_arguments(parser)
    parser.add_argument("--similarity", action="store_true",
                        help="also compare the submissions' code: OUT/similarity/ (see the "
                             "similarity command)")
    parser.add_argument("--shard", metavar="K/N",
                        help="grade only shard K of N (0 to N-1; a student's shard depends on "
                             "their id alone), for `merge` to combine")
    add_anonymize_argument(parser)


def add_limit_arguments(parser):
    from ..intake.archive import ArchiveLimits
    d = ArchiveLimits()
    group = parser.add_argument_group(
        "limits on one submission", "on what is graded: .venv/, __pycache__/, .git/ and the like "
        "are skipped before anything is counted (see docs/instructors.md)")
    group.add_argument("--max-files", type=int, metavar="N",
                       help=f"files and folders graded (default {d.max_files})")
    group.add_argument("--max-total-mb", type=float, metavar="MB",
                       help=f"bytes of all graded files (default {d.max_total_bytes >> 20})")
    group.add_argument("--max-file-mb", type=float, metavar="MB",
                       help=f"bytes of one graded file (default {d.max_file_bytes >> 20})")
    group.add_argument("--max-archive-mb", type=float, metavar="MB",
                       help=f"size of an archive itself (default {d.max_archive_bytes >> 20})")
    group.add_argument("--max-listed-entries", type=int, metavar="N",
                       help="entries an archive or folder may list, skipped ones included "
                            f"(default {d.max_listed_entries})")


def add_anonymize_argument(parser):
    parser.add_argument("--anonymize", action="store_true",
                        help="also write report-anonymized.html: pseudonyms instead of names, no "
                             "links to feedback (for sharing with TAs)")


def _error(exc):
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_grade(args):
    from .batch import BatchError, run_batch
    try:
        return run_batch(args)
    except BatchError as exc:
        return _error(exc)


def cmd_gradescope(args):
    from .gradescope import GradescopeError, build_autograder_zip, describe_policy
    if args.out.is_dir():
        return _error(f"--out {args.out} is a folder; give the zip's file name "
                      f"(e.g. {args.out / 'autograder.zip'})")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)  # a new folder for the zip is fine
    except OSError as exc:
        return _error(f"cannot create the folder for --out {args.out}: {exc.strerror or exc}")
    try:
        info = build_autograder_zip(args.out, secret_file=args.secret_file, user=args.user,
                                    allow_weak_sandbox=args.allow_weak_sandbox,
                                    assignment=find(args.assignment), namespaces=args.namespaces)
    except (GradescopeError, AssignmentError) as exc:
        return _error(exc)
    print(describe_policy(args.user, args.namespaces, args.allow_weak_sandbox))
    print(f"wrote {args.out} ({info['files']} files{', with the secret' if info['secret'] else ''}"
          "); upload it as the autograder of a Gradescope programming assignment")
    return 0


def cmd_similarity(args):
    from .similarity import run
    return run(args)


def cmd_merge(args):
    from .batch import OUT_MARKER
    from .shards import MergeError, merge
    try:
        summary, record, warnings = merge(args.shards, args.out, OUT_MARKER,
                                          anonymize=args.anonymize)
    except MergeError as exc:
        return _error(exc)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary.split("\n\n", 1)[0])
    print(f"merged {len(args.shards)} shards into {args.out}: grades.csv, summary.txt, report.html"
          + (", report-anonymized.html" if args.anonymize else ""))
    return 0


def cmd_audit(args):
    from .audit import run
    return run(args)


def cmd_cases(args):
    from .case_writer import write_public_cases
    from .reference import load_reference

    try:
        assignment = find(args.assignment)
        out = args.out or assignment.cases_dir
        paths = write_public_cases(load_reference(), assignment, seed=args.seed, out_dir=out,
                                   components=args.component)
    except (AssignmentError, KeyError) as exc:
        return _error(exc)
    print(f"wrote {len(paths)} case files to {out} (seed {args.seed})")
    return 0


def cmd_handout(args):
    from .handout import HandoutError, build_handout
    try:
        out = build_handout(args.out, make_zip=not args.no_zip, force=args.force,
                            assignment=find(args.assignment), earlier=args.earlier)
    except (HandoutError, AssignmentError) as exc:
        return _error(exc)
    print(f"handout written to {out}" + ("" if args.no_zip else f" and {out.with_suffix('.zip')}"))
    return 0
