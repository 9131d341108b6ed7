"""Named fault points: a test hook that interrupts or kills the process at a chosen instruction.

The code that writes a run folder calls :func:`point` at the moments where a fault would hurt
most (between the two renames of an export swap, between the history row and the checkpoint of
an epoch, ...). Normally nothing happens. With the environment variable ``GAN_APPS_FAULT`` set
to ``NAME=ACTION`` or ``NAME@K=ACTION`` (several separated by commas), the K-th time (default
the first) the process reaches the point ``NAME`` it does ``ACTION``:

- ``interrupt``: raise KeyboardInterrupt (what Ctrl-C does in Python code);
- ``sigint`` / ``sigterm``: send that signal to the thread that reaches the point (a real
  signal: code that holds signals off must defer it). Sent to the thread, not the process:
  a process-directed signal that the main thread blocks goes to whichever other thread the
  kernel picks (one of TensorFlow's), and on a busy core that thread may run its handler only
  after the held-off block has ended, so the test would see the interrupt late or not at all;
- ``sigkill``: send SIGKILL (no clean-up of any kind; run the command in a subprocess);
- ``oserror``: raise OSError(ENOSPC), a full disk.

``tests/test_faults.py`` uses it; docs/reliability.md lists the points. Imports nothing heavy.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

ENV = "GAN_APPS_FAULT"
ACTIONS = ("interrupt", "sigint", "sigterm", "sigkill", "oserror")

# How many times each point has been reached in this process under the current ENV value
# (counted only while ENV is set; a new value starts the counts again).
_reached = {}
_counted_for = [None]


def reset():
    """Forget how often each point was reached (tests that reuse a process call it)."""
    _reached.clear()
    _counted_for[0] = None


def parse(text):
    """``"a@2=sigkill,b=interrupt"`` -> {"a": (2, "sigkill"), "b": (1, "interrupt")}."""
    faults = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        where, _, action = item.partition("=")
        name, _, count = where.partition("@")
        if action not in ACTIONS or not name or (count and not count.isdigit()):
            raise ValueError(f"{ENV}: cannot read {item!r}; write NAME[@K]=ACTION with ACTION in "
                             f"{', '.join(ACTIONS)}")
        faults[name] = (int(count or 1), action)
    return faults


def point(name):
    """Fault point ``name``: does nothing unless ``GAN_APPS_FAULT`` names it (see module doc)."""
    text = os.environ.get(ENV)
    if not text:
        return
    fault = parse(text).get(name)
    if fault is None:
        return
    if _counted_for[0] != text:
        reset()
        _counted_for[0] = text
    _reached[name] = _reached.get(name, 0) + 1
    at, action = fault
    if _reached[name] != at:
        return
    if action == "interrupt":
        raise KeyboardInterrupt(f"fault injected at {name}")
    if action == "oserror":
        raise OSError(errno.ENOSPC, f"No space left on device (fault injected at {name})")
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        signum = signal.SIGINT if action == "sigint" else signal.SIGTERM
        signal.pthread_kill(threading.get_ident(), signum)
