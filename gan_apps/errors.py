"""Errors a user can cause; the CLI turns them into exit code 2 with one line."""


class UserInputError(ValueError):
    """Bad input from the user (path, flag, data, run folder); the message names the fix."""
