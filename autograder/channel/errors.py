"""What can go wrong in a call into the submission, as the graded tests see it.

``StudentError`` (and ``NotImplementedYet``): the student's code raised or exited while serving a
request; ``WorkerCrashed``: the worker died, hung or broke the protocol. Each carries the feedback
the student reads.
"""


class StudentError(Exception):
    """The submission's code raised (or exited) while serving a request."""

    def __init__(self, info, action):
        self.kind = info.get("kind", "exception")
        self.type = info.get("type", "Exception")
        self.message = info.get("message", "")
        self.frames = info.get("frames", [])
        self.action = action
        super().__init__(f"{self.type}: {self.message}")

    def __reduce__(self):  # copy.copy/pickle: rebuild from what __init__ takes, not from args
        info = {"kind": self.kind, "type": self.type, "message": self.message,
                "frames": self.frames}
        return type(self), (info, self.action)

    def feedback(self):
        if self.kind == "not_implemented":
            head = f"not implemented yet ({self.action} raised NotImplementedError"
            return head + (f": {self.message})" if self.message else ")")
        if self.kind == "exit":
            head = f"{self.action} called sys.exit({self.message})"
        else:
            head = f"{self.action} raised {self.type}: {self.message}"
        lines = [head]
        if self.frames:
            lines.append("Traceback (your code, most recent call last):")
            for path, line, func, text in self.frames:
                lines.append(f'  File "{path}", line {line}, in {func}')
                if text:
                    lines.append(f"    {text}")
        return "\n".join(lines)


class NotImplementedYet(StudentError):
    pass


class WorkerCrashed(Exception):
    """The worker died, hung, or sent something that is not a valid reply."""

    def __init__(self, reason, action, timed_out=False):
        self.reason, self.action, self.timed_out = reason, action, timed_out
        super().__init__(f"{action}: {reason}")

    def __reduce__(self):  # copy.copy/pickle: rebuild from what __init__ takes, not from args
        return type(self), (self.reason, self.action, self.timed_out)

    def feedback(self):
        return f"{self.action} {self.reason}; the grader restarted your code for the next test"


class ImportFailed(Exception):
    """Importing a module of the submission failed (an exception, an exit, a crash or a hang).

    Found once and charged to every test that needs the module: the first test sees it arrive,
    later ones get it at once, without asking the worker. The report shows ``details()`` once at
    the top; each failing test says ``feedback()``, one line pointing there.
    """

    def __init__(self, module, cause, via=None, at_top=True):
        self.module, self.cause, self.via = module, cause, via  # via: the module that failed
        # False for a failure found while hidden cases ran: it may quote them (the student's
        # message, frame names), so it is told in the failing hidden rows only, never at the top
        self.at_top = at_top
        super().__init__(self.summary())

    def __reduce__(self):
        return type(self), (self.module, self.cause, self.via, self.at_top)

    @property
    def crashed(self):
        return isinstance(self.cause, WorkerCrashed)

    def summary(self):
        """One line: what happened when the module was imported."""
        if isinstance(self.cause, WorkerCrashed):
            what = f"{self.cause.action} {self.cause.reason}"
        else:
            what = self.cause.feedback().splitlines()[0]
        if self.via:
            return f"importing {self.module} needs {self.via}, and {what}"
        return what

    def feedback(self):
        if not self.at_top:
            return "importing your code failed:\n" + self.details()
        return f"see the import error at the top: {self.summary()}"

    def details(self):
        """The full story, with the student's traceback: shown once, at the top of the report."""
        if isinstance(self.cause, WorkerCrashed):
            text = f"{self.cause.action} {self.cause.reason}"
            if self.cause.timed_out:
                text += ("\n  (code at the top level of a module runs when the module is imported:"
                         " a loop or a long computation there stops every test that needs it)")
            return text
        return self.cause.feedback()


class BudgetExhausted(Exception):
    """The submission's code has used up its time budget: later tests fail without running."""

    def __init__(self, seconds, action=None):
        self.seconds, self.action = seconds, action  # action: the request the budget stopped
        super().__init__(self.feedback())

    def __reduce__(self):
        return type(self), (self.seconds, self.action)

    def feedback(self):
        if self.action:
            return (f"{self.action} was stopped: your code used up its time budget of "
                    f"{self.seconds:g} s (see the note at the top)")
        return (f"not run: your code used up its time budget of {self.seconds:g} s in earlier "
                "tests (see the note at the top)")
