"""Files replaced whole: a reader (or a kill) never sees half of one.

Every small file the toolkit writes (``config.json``, ``history.csv``, ``metrics.json``,
PNG grids and outputs) goes through :func:`replace_file`: the bytes go to a temporary file
in the same folder (``.NAME.tmp-XXXXXXXX``, a name :func:`gan_apps.runs.recover_interrupted`
recognises and removes after a kill), are flushed to disk, then renamed over ``path``.
A rename within one filesystem is atomic (POSIX ``rename(2)``), so ``path`` holds either
the old file or the new one.

Files and folders made with :mod:`tempfile` are private (mode 0600 / 0700); what this
toolkit leaves in a run folder gets the mode a plain ``open()`` or ``mkdir`` would give
under the user's umask instead (:func:`umask_mode`), as TensorFlow's and Keras's own files
(checkpoints, TensorBoard logs, CSV history, SavedModel contents) already do.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def umask_mode(folder=False):
    """The mode ``open(path, "w")`` (or ``os.mkdir`` when ``folder``) gives a new file under
    the current umask: ``0o666 & ~umask`` (``0o777 & ~umask``).

    The umask is read at every call (a program may change it between writes): from
    ``/proc/self/status`` on Linux, else by setting it and restoring it at once (which for
    an instant gives any file another thread creates the mode 0666)."""
    return (0o777 if folder else 0o666) & ~_umask()


def _umask():
    with contextlib.suppress(OSError, ValueError, IndexError):  # not Linux: ask the OS
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    umask = os.umask(0)
    os.umask(umask)
    return umask


def apply_umask(path, folder=None):
    """Give ``path`` (made by :mod:`tempfile`, private) the mode :func:`umask_mode` says;
    ``folder`` defaults to whether ``path`` is a folder. Returns ``path``."""
    if folder is None:
        folder = os.path.isdir(path)
    os.chmod(path, umask_mode(folder))
    return path


def replace_file(path, data):
    """Write ``data`` (bytes, or str written with ``\\n`` line ends) to ``path`` atomically;
    creates the folder if needed and returns ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), umask_mode())  # mkstemp's 0600 -> what open() would give
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
