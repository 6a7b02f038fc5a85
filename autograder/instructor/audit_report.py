"""What ``python -m autograder audit`` reports: the mutation score (leaving out the surviving
mutants known to be equivalent), a table per operator and per task, the survivors with their diffs,
and the points charged outside a mutant's own task."""
from ..grading.assignment import course

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


# Mutants that change nothing a student could be graded on: each assignment lists its own, as data,
# in ``equivalent_mutants.toml`` beside its rubric (region, operator description, a text of a line
# the mutant removes, of a line it adds, and why it is harmless). A killed mutant is never
# equivalent.
EQUIVALENT_FILE = "equivalent_mutants.toml"


def equivalent_entries(assignments=None):
    """[(region, description, removed, added, why)] of every assignment of the course."""
    entries = []
    for assignment in assignments if assignments is not None else course():
        path = assignment.root / EQUIVALENT_FILE
        if path.is_file():
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            entries += [(e["region"], e["description"], e["removed"], e["added"], e["why"])
                        for e in data.get("equivalent", [])]
    return entries


def equivalence(mutant):
    """Why ``mutant`` cannot change a grade (an ``EQUIVALENT`` entry), or None."""
    lines = mutant.diff.splitlines()[2:]
    removed = [line[1:].strip() for line in lines if line.startswith("-")]
    added = [line[1:].strip() for line in lines if line.startswith("+")]
    for region, description, old, new, reason in equivalent_entries():
        if region == mutant.region and description == mutant.description \
                and any(old in line for line in removed) and any(new in line for line in added):
            return reason
    return None




def summary(verdicts):
    """Counts over the verdicts; the score leaves out surviving mutants known to be equivalent."""
    killed = [v for v in verdicts if v.killed]
    equivalent = [v for v in verdicts if not v.killed and equivalence(v.mutant)]
    counted = len(verdicts) - len(equivalent)
    return {
        "mutants": len(verdicts), "killed": len(killed), "equivalent": len(equivalent),
        "score": len(killed) / counted if counted else 0.0,
        "hinted": sum(bool(v.hints) for v in killed),
        "charged_elsewhere": sum(bool(v.charged) for v in verdicts),
        "points_charged_elsewhere": round(sum(sum(v.charged.values()) for v in verdicts), 2),
        "not_graded_elsewhere": sum(bool(v.not_graded) for v in verdicts),
        "errors": sum(bool(v.error) for v in verdicts),
        # named mutants (the assignment's mutants.py): the hint names the expected catalogue id
        "named": sum(bool(v.mutant.expects) for v in verdicts),
        "right_hint": sum(bool(v.mutant.expects) and v.killed and v.mutant.expects in v.diagnoses
                          for v in verdicts),
        # one bug named as several mistakes in its own task (several catalogue ids)
        "multiple_charges": sum(v.killed and len(set(v.diagnoses)) > 1 for v in verdicts),
    }


def render(verdicts, show_hints=False):
    s = summary(verdicts)
    lines = [f"mutation score: {s['killed']}/{s['mutants'] - s['equivalent']} killed "
             f"({s['score']:.1%}; {s['equivalent']} surviving mutants are equivalent and not "
             f"counted); "
             f"{s['hinted']} of the killed got a hint in their own task",
             f"named mutants with the right hint (the catalogue id expected): "
             f"{s['right_hint']}/{s['named']}; named as several mistakes in their own task: "
             f"{s['multiple_charges']} mutants",
             f"charged outside their own task: {s['charged_elsewhere']} mutants, "
             f"{s['points_charged_elsewhere']:g} points; withheld elsewhere as 'not graded' "
             f"(naming the mutant's task): {s['not_graded_elsewhere']} mutants", ""]
    header = f"{'operator':<16} {'mutants':>7} {'killed':>7} {'hinted':>7} {'elsewhere':>9}"
    lines += [header, "-" * len(header)]
    for op in sorted({v.mutant.operator for v in verdicts}):
        group = [v for v in verdicts if v.mutant.operator == op]
        lines.append(f"{op:<16} {len(group):>7} {sum(v.killed for v in group):>7} "
                     f"{sum(bool(v.hints) for v in group if v.killed):>7} "
                     f"{sum(bool(v.charged) for v in group):>9}")
    lines.append("")
    header = f"{'task':<6} {'mutants':>7} {'killed':>7} {'hinted':>7}"
    lines += [header, "-" * len(header)]
    for task in sorted({v.mutant.task for v in verdicts}, key=lambda t: [int(x) for x in
                                                                        t.split(".")]):
        group = [v for v in verdicts if v.mutant.task == task]
        lines.append(f"{task:<6} {len(group):>7} {sum(v.killed for v in group):>7} "
                     f"{sum(bool(v.hints) for v in group if v.killed):>7}")
    equivalent = [v for v in verdicts if not v.killed and equivalence(v.mutant)]
    if equivalent:
        lines += ["", f"equivalent mutants ({len(equivalent)}), not counted:"]
        for v in equivalent:
            m = v.mutant
            lines.append(f"#{m.id} {m.region}:{m.line} {m.description}: {equivalence(m)}")
    survivors = [v for v in verdicts if not v.killed and not equivalence(v.mutant)]
    if survivors:
        lines += ["", f"surviving mutants ({len(survivors)}):"]
        for v in survivors:
            m = v.mutant
            lines += ["", f"#{m.id} {m.region} (task {m.task}), line {m.line}: {m.description}"
                      + (f"  [grader problem: {v.error}]" if v.error else "")]
            lines += ["    " + d for d in m.diff.splitlines()[2:]]
    charged = [v for v in verdicts if v.charged]
    if charged:
        lines += ["", "points charged outside the mutant's own task:"]
        for v in charged:
            m = v.mutant
            where = ", ".join(f"{t}: -{p:g}" for t, p in sorted(v.charged.items()))
            lines.append(f"#{m.id} {m.region} (task {m.task}) {m.description}: {where}")
    if show_hints:
        lines += ["", "killed mutants and their hints:"]
        for v in verdicts:
            if v.killed:
                m = v.mutant
                lines.append(f"#{m.id} {m.region}:{m.line} {m.description}: "
                             + (" | ".join(v.hints) if v.hints else "(no hint)")
                             + (f" [ids {', '.join(v.diagnoses) or 'none'}]" if v.diagnoses
                                or m.expects else "")
                             + (f" [expected {m.expects}]" if m.expects else ""))
    return "\n".join(lines)
