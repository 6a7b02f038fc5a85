"""Instructor mode: hidden cases drawn from a secret and evaluated by the reference, in memory.

The secret comes from ``--secret-file PATH`` or the environment variable ``MYTORCH_GRADER_SECRET``;
it is hashed into a seed and never leaves the trusted process (the worker only ever receives the
inputs of a case, as arguments of the calls it serves). Not shipped in the handout.
"""
import hashlib
import os
from pathlib import Path

SECRET_ENV = "MYTORCH_GRADER_SECRET"
HIDDEN_CASES_PER_COMPONENT = 3


class SecretError(ValueError):
    pass


def read_secret(secret_file=None):
    if secret_file is not None:
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"cannot read the secret file {secret_file}: "
                              f"{exc.strerror}") from None
        where = f"secret file {secret_file}"
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
        where = f"environment variable {SECRET_ENV}"
        if not secret:
            raise SecretError("--hidden needs a secret: "
                              f"pass --secret-file PATH or set {SECRET_ENV}")
    if len(secret) < 8:
        raise SecretError(f"the {where} holds a secret shorter than 8 characters")
    return secret


def secret_seed(secret):
    return int.from_bytes(hashlib.sha256(secret.encode()).digest()[:8], "little")


def hidden_cases(secret, assignment=None, count=HIDDEN_CASES_PER_COMPONENT):
    """{component: [case, ...]} for every component of ``assignment`` (an ``Assignment``, a name,
    or None: the default), from the secret and the reference."""
    from ..grading.assignment import Assignment, find
    from .reference import load_reference

    if not isinstance(assignment, Assignment):
        assignment = find(assignment)
    cases = assignment.generators()

    ref, seed = load_reference(), secret_seed(secret)
    return {name: cases.generate(name, seed, ref, count) for name in cases.GENERATORS}
