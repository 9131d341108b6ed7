"""Files replaced whole: a reader (or a kill) never sees half of one.

Every small file the toolkit writes (``config.json``, ``history.csv``, ``metrics.json``,
PNG grids and outputs) goes through :func:`replace_file`: the bytes go to a temporary file
in the same folder (``.NAME.tmp-XXXXXXXX``, a name :func:`gan_apps.runs.recover_interrupted`
recognises and removes after a kill), are flushed to disk, then renamed over ``path``.
A rename within one filesystem is atomic (POSIX ``rename(2)``), so ``path`` holds either
the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile


def replace_file(path, data):
    """Write ``data`` (bytes, or str written with ``\\n`` line ends) to ``path`` atomically;
    creates the folder if needed and returns ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
