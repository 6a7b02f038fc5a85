"""The only code that runs next to student code: the worker process and the wire it speaks.

``wire.py`` is shared by both ends; ``worker.py`` is started as a script (never imported by the
trusted process). Neither imports anything from the rest of the grader.
"""
