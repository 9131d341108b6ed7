"""The one grammar of ``--data``: a source string parsed once into a :class:`Source`.

Forms: ``digits``, ``photos``, ``photos:tone`` (the embedded unpaired pair), a mixture
name (``ring8``, ``grid25``), ``tfds:NAME[/CONFIG]`` and ``folder:PATH`` (two folders for
translation: ``folder:DIR_A,DIR_B``). Parsing only reads the text; what a pipeline accepts
(:func:`gan_apps.data.image_source`, :func:`gan_apps.data.unpaired.check_source`,
:func:`gan_apps.data.hr_images.check_source`) is checked on the parsed fields, so no
pipeline compares raw strings and every bad string is one UserInputError.
"""

from __future__ import annotations

import dataclasses

from gan_apps.data.mixtures import MIXTURES
from gan_apps.errors import UserInputError

KINDS = ("digits", "photos", "tone", "points", "tfds", "folder")
SOURCE_FORMS = "digits, photos, photos:tone, ring8, grid25, tfds:NAME[/CONFIG], folder:PATH"
ARGUMENT_FORMS = {"tfds": "tfds:NAME[/CONFIG]", "folder": "folder:PATH"}


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed ``--data`` value.

    Attributes:
        kind: one of :data:`KINDS` (``points`` for the 2-D mixtures, ``tone`` for
            ``photos:tone``).
        name: the mixture name or the TFDS dataset name (``mnist``, ``div2k``,
            ``cycle_gan``); None for the other kinds.
        config: the TFDS config after ``/`` (may be empty), else None.
        paths: the folders of ``folder:`` (split at commas), else ().
        text: the string as given, what ``config.json`` records.
    """

    kind: str
    name: str | None = None
    config: str | None = None
    paths: tuple[str, ...] = ()
    text: str = ""

    @property
    def tfds_name(self):
        """``NAME[/CONFIG]`` as TFDS takes it."""
        return self.name if self.config is None else f"{self.name}/{self.config}"

    @property
    def folder(self):
        """The one folder of ``folder:PATH`` (a path may hold commas)."""
        return ",".join(self.paths)

    def __str__(self):
        return self.text


def parse_source(text, *, what="data source", forms=SOURCE_FORMS):
    """Parse a ``--data`` string; ``what`` and ``forms`` word the error for unknown text."""
    if not isinstance(text, str):
        raise UserInputError(f"a {what} is a string ({forms}), got {text!r}")
    if text in ("digits", "photos"):
        return Source(text, text=text)
    if text == "photos:tone":
        return Source("tone", text=text)
    if text in MIXTURES:
        return Source("points", name=text, text=text)
    for prefix in ("tfds", "folder"):
        if text.startswith(prefix + ":"):
            argument = text[len(prefix) + 1:]
            if not argument:
                raise UserInputError(f"{text!r} lacks its argument; pass {ARGUMENT_FORMS[prefix]}")
            if prefix == "folder":
                return Source("folder", paths=tuple(argument.split(",")), text=text)
            name, slash, config = argument.partition("/")
            return Source("tfds", name=name, config=config if slash else None, text=text)
    raise UserInputError(f"unknown {what} {text!r}; pass one of: {forms}")


def as_source(value, **wording):
    """``value`` if it is already a :class:`Source`, else :func:`parse_source` of it."""
    return value if isinstance(value, Source) else parse_source(value, **wording)


def safe_name(source):
    """The source as a file-name fragment (``tfds:mnist/3.0`` -> ``tfds_mnist_3.0``)."""
    text = str(source)
    return text.replace(":", "_").replace("/", "_").replace(",", "_")
