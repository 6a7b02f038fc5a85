"""What a grade is made of while it runs: a ``TestResult`` per graded item, in a ``GradeState``."""
from dataclasses import dataclass, field

HIDDEN_ID_PREFIX = "hidden-"  # the parametrization id of a case drawn from the secret
PASSING = ("passed", "partial")


@dataclass
class TestResult:
    nodeid: str
    task: str
    max_score: float
    hidden: bool = False
    status: str = "not run"  # passed partial failed "not implemented" crashed error skipped
    #                          withheld (a self-consistency test whose gates failed)
    #                          "not graded" (another task's code is wrong: see not_graded)
    feedback: str = ""
    output: str = ""
    seconds: float = 0.0
    earned: float = 0.0      # share of max_score its quantities earned when not passed
    quantities: list = field(default_factory=list)  # [{"name", "weight", "passed"}] (quantities.py)
    # ids of the mistakes its hints named (checks.py)
    diagnoses: list = field(default_factory=list)
    deferred: float = 0.0    # instructor mode: the points of a self-consistency test, given in the
    #                          hidden row when the gates' hidden cases pass
    gate_only: bool = False  # run only as the gate of a selected test (-k): not reported
    not_graded: bool = False  # another task's code is wrong (checks.NotGradable): its points go
    #                           to the tests of its task that can be graded

    @property
    def score(self):
        return self.max_score if self.status == "passed" else self.max_score * self.earned


@dataclass
class GradeState:
    results: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # problems with the grader or the rubric itself
    hidden_errors: list = field(default_factory=list)  # the same, once hidden items have run
    worker_info: dict = field(default_factory=dict)
    import_failures: dict = field(default_factory=dict)  # module -> errors.ImportFailed
    budget_hit: bool = False  # the submission used up its time budget (Limits.budget_seconds)
    interrupted: bool = False  # Ctrl-C


def case_id(nodeid):
    return nodeid.rsplit("[", 1)[1].rstrip("]") if nodeid.endswith("]") else "its only run"


def relative_id(nodeid):
    marker = "suite/"
    return nodeid.split(marker, 1)[1] if marker in nodeid else nodeid
