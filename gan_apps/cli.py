"""``gan-apps``: the command-line entry point, one subcommand per job.

User errors print one line on stderr and exit with code 2; a loss that turns NaN exits
with code 1; Ctrl-C or SIGTERM exits with 130 or 143 keeping the last checkpoint; none of
them prints a traceback or touches the last good checkpoint or export.

The parsers are built by a loop over :data:`gan_apps.commands.COMMANDS` (every flag is
declared there once) and each action runs through one dispatch. TensorFlow is imported
only after the flags parse, with its start-up logging silenced unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import tempfile
import threading
import warnings

from gan_apps import commands, registry

EXIT_USER_ERROR = 2
# Storage faults a user fixes (free space, a writable folder, permissions): one line, exit 2.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (the default prints usage too)."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def add_option(parser, option):
    """Add one :class:`gan_apps.commands.Option` to an argparse parser."""
    if option.positional:
        parser.add_argument(option.dest, nargs=None if option.required else "?", help=option.help)
        return
    names = (*option.aliases, option.flag)
    if option.action in ("store_true", "store_false"):
        parser.add_argument(*names, dest=option.dest, action=option.action, help=option.help)
        return
    if option.action == "optional_bool":
        parser.add_argument(*names, dest=option.dest, action=argparse.BooleanOptionalAction,
                            default=None, help=option.help)
        return
    parser.add_argument(*names, dest=option.dest, action=option.action, type=option.type,
                        default=option.default, choices=option.choices, metavar=option.metavar,
                        required=option.required, help=option.help)


def _add_action(sub, command, action):
    parser = sub.add_parser(action.name, help=action.help, epilog=action.epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    for option in action.options:
        add_option(parser, option)
    # Also after the subcommand (where users type it); SUPPRESS keeps the top-level value.
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show TensorFlow's start-up and runtime logging")
    parser.set_defaults(command_name=command.name, action_name=action.name)


def build_parser():
    epilog = (f"models (train --model): {', '.join(registry.model_names())}\n"
              f"data sources (--data): {', '.join(s.form for s in registry.DATA_SOURCES)}")
    parser = _Parser(prog="gan-apps", description=__doc__.splitlines()[0], epilog=epilog,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and runtime logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in commands.COMMANDS:
        if command.top_level:
            for action in command.actions:
                _add_action(sub, command, action)
            continue
        group = sub.add_parser(command.name, help=command.help)
        actions = group.add_subparsers(dest="action", required=True, parser_class=_Parser)
        for action in command.actions:
            _add_action(actions, command, action)
    return parser


def load_function(path):
    """``"package.module:function"`` -> the function (importing its module)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def evaluate_run(run_dir, *, metrics=None, samples=None, extractor=None, inception_weights=None,
                 use_best=False, seed=0):
    """``gan-apps evaluate``: one command for every kind of run folder; each pipeline
    measures its own runs (translation and super-resolution take no sample count)."""
    from gan_apps import runs

    kind = runs.read_config(run_dir).get("kind")
    if kind == "translation":
        from gan_apps.pipelines import translation

        return translation.evaluate(run_dir, extractor=extractor,
                                    inception_weights=inception_weights)
    if kind == "super_resolution":
        from gan_apps.pipelines import super_resolution

        return super_resolution.evaluate(run_dir)
    from gan_apps.pipelines import generation

    return generation.evaluate(run_dir, metrics=metrics, samples=samples,
                               extractor=extractor or "digits",
                               inception_weights=inception_weights, seed=seed, use_best=use_best)


def quiet_tensorflow(verbose=False):
    """Import TensorFlow with its start-up lines silenced (unless ``verbose``).

    ``TF_CPP_MIN_LOG_LEVEL=3`` hides the native runtime's later INFO/WARNING/ERROR lines
    (such as the cuInit error on a machine without a GPU), but the lines written before
    absl::InitializeLog (oneDNN, cudart, CPU features) ignore it, so file descriptor 2 is
    parked in a temporary file during the import and replayed only if the import fails.
    """
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules or verbose:
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:  # the parked lines may explain a failed import
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def run(args):
    """Call the chosen action's function with every declared option, then print its result."""
    action = commands.get_action(args.command_name, args.action_name)
    values = {option.dest: getattr(args, option.dest) for option in action.options}
    result = load_function(action.function)(**values)
    action.report(result, values)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the program is, as Ctrl-C raises KeyboardInterrupt."""


def _terminate(signum, frame):
    raise Terminated()


def storage_error(err):
    """One line for a disk-full, read-only or permission error (an OSError, or TensorFlow's
    own file-system errors, which carry the C library's message); None for other errors."""
    code = getattr(err, "errno", None)
    if code not in STORAGE_ERRNOS:
        text = str(err)
        code = next((c for c in STORAGE_ERRNOS if os.strerror(c) in text), None)
        if code is None or not type(err).__module__.startswith("tensorflow"):
            return None
    where = f"{err.filename}: " if getattr(err, "filename", None) else ""
    hint = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space (disk quota)",
            errno.EROFS: "use a writable location"}.get(code, "check the permissions")
    return f"{where}{os.strerror(code)}; {hint} and rerun"


def one_line_warning(message, category, filename, lineno, line=None):
    """How the CLI shows a warning: one line, without the source file, line number and
    source line Python adds (``warnings.formatwarning``'s signature)."""
    return f"gan-apps: warning: {message}\n"


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad flag (2): return the code in-process
        return exit_.code
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    previous_format, warnings.formatwarning = warnings.formatwarning, one_line_warning
    try:
        quiet_tensorflow(getattr(args, "verbose", False))
        from gan_apps.callbacks import NonFiniteLossError
        from gan_apps.errors import UserInputError

        try:
            run(args)
        except UserInputError as err:
            print(f"gan-apps: error: {err}", file=sys.stderr)
            return EXIT_USER_ERROR
        except NonFiniteLossError as err:
            print(f"gan-apps: training stopped: {err}", file=sys.stderr)
            return 1
    except KeyboardInterrupt as err:
        name, code = ("terminated", 143) if isinstance(err, Terminated) else ("interrupted", 130)
        print(f"gan-apps: {name}; the last checkpoint is kept", file=sys.stderr)
        return code
    except Exception as err:
        message = storage_error(err)
        if message is None:
            raise
        print(f"gan-apps: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        warnings.formatwarning = previous_format
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
