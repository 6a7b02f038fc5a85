"""What can go wrong in a call into the submission, as the graded tests see it.

``StudentError`` (and ``NotImplementedYet``): the student's code raised or exited while serving a
request; ``WorkerCrashed``: the worker died, hung or broke the protocol. Each carries the feedback the
student reads.
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
        info = {"kind": self.kind, "type": self.type, "message": self.message, "frames": self.frames}
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
