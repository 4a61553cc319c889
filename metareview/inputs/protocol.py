"""Loading a review protocol (``config/reviews/<review>.yaml``).

``load_protocol`` reads the YAML (rejecting duplicate keys, anchors and aliases), validates
it against ``metareview/schemas/protocol.schema.yaml``, fills the schema's defaults and
checks what the schema cannot express. Every problem is an ``InputError`` whose ``column``
is the YAML path (``outcomes[2].measure``, list indices counted from 0) and whose ``row``
is the line in the file. ``outcome_settings`` gives one outcome's effective analysis
settings.
"""

from __future__ import annotations

import copy
import datetime as _dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from metareview.engine import measures
from metareview.errors import InputError, InputWarning, raise_collected
from metareview.inputs.conventions import apply_conventions
from metareview.inputs.tables import EXTRACTION_OPTIONAL
from metareview.text import BIDI, bidi_message, control_character, describe_character

# package data (workflow/schemas is a link to this folder, for Snakemake's conventions)
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "protocol.schema.yaml"
CONFIG_SCHEMA_PATH = SCHEMA_PATH.with_name("config.schema.yaml")

SETTINGS = ("measure", "method", "test", "level", "add", "to", "drop00", "correction")
# used when a protocol dict did not come through load_protocol
FALLBACK_SETTINGS = {
    "measure": "OR",
    "method": "REML",
    "test": "z",
    "level": 95,
    "add": None,
    "to": "only0",
    "drop00": None,
    "correction": "constant",
}

# libyaml's C loader is the same safe loader, only faster; pure Python when absent.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_YAML_DEPTH = 40
"""Deepest nesting of lists and mappings read from a protocol or config (a protocol uses
four levels); deeper YAML would exhaust Python's recursion limit while being read."""
_schema_cache: dict[Path, dict] = {}


# --------------------------------------------------------------------------- YAML reading


class _RefusedYAML(yaml.MarkedYAMLError):
    """YAML that parses but that the loader refuses (an anchor or alias)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, and YAML anchors and
    aliases (``&name`` / ``*name``): an alias bomb ("billion laughs") expands to gigabytes
    and a self-referencing alias to an endless structure, and a protocol or config needs
    neither. ``what`` names the kind of file in the message."""

    what = "protocol"
    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._refuse(f"alias *{event.anchor}", event.start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            self._refuse(f"anchor &{event.anchor}", event.start_mark)
        if self.depth >= MAX_YAML_DEPTH:  # before Python's recursion limit is reached
            raise _RefusedYAML(
                None,
                None,
                f"nested more than {MAX_YAML_DEPTH} levels deep (lists or mappings inside "
                f"each other); a {self.what} needs a few levels",
                event.start_mark,
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node, deep=False):
        """Values PyYAML reads but cannot build (a date 2025-13-45, an integer of more
        digits than Python converts) as errors at their line."""
        try:
            value = super().construct_object(node, deep=deep)
            reason = None
            if isinstance(value, int) and value.bit_length() > 63:  # 0x... has no limit
                reason = "more than 64 bits: no protocol or config value is this large"
        except (ValueError, OverflowError) as exc:
            reason = str(exc).split(";")[0]
        if reason is None:
            return value
        shown = node.value if isinstance(node, yaml.ScalarNode) else node.tag
        if isinstance(shown, str) and len(shown) > 40:
            shown = f"{shown[:20]}... ({len(shown)} characters)"
        kind = node.tag.rsplit(":", 1)[-1]
        kind = {"int": "whole number", "float": "number", "timestamp": "date"}.get(kind, kind)
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"cannot read {shown!r} as a {kind} ({reason}); put it in quotes if it is text",
            node.start_mark,
        )

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if isinstance(value, str):
            found = control_character(value)
            if found is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the text holds the control character {found}: delete it",
                    node.start_mark,
                )
        return value

    def _refuse(self, found: str, mark) -> None:
        raise _RefusedYAML(
            None,
            None,
            f"YAML aliases are not supported in a {self.what} (found the {found}; "
            "anchors &name and aliases *name repeat one part of the file in another): "
            "write the values out in full",
            mark,
        )

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = seen.get(key)
                except TypeError:
                    continue
                if earlier is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} "
                        f"(first given on line {earlier.start_mark.line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml_document(path: str | Path, what: str = "protocol") -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of a YAML file (``what``: "protocol", "config", ... for
    messages); ``InputError`` at the line for unreadable, invalid or refused YAML."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(file, None, None, "file not found") from None
    except OSError as exc:
        raise InputError(file, None, None, f"cannot read file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            file,
            line,
            None,
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}; "
            "save the file as UTF-8",
        ) from None
    try:
        loader = _UniqueKeyLoader(text)  # checks the characters first
        loader.what = what
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _RefusedYAML as exc:
        raise InputError(file, exc.problem_mark.line + 1, None, exc.problem) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if "'\\t'" in what:
            what += " (a tab: YAML indents with spaces only)"
        raise InputError(
            file, mark.line + 1 if mark else None, None, f"invalid YAML: {what}"
        ) from None
    except yaml.reader.ReaderError as exc:  # a raw control character in the text
        line = text.count("\n", 0, exc.position) + 1
        raise InputError(
            file,
            line,
            None,
            f"invalid YAML: the control character {describe_character(chr(exc.character))} "
            "is not allowed in a YAML file: delete it",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(file, None, None, f"invalid YAML: {exc}") from None
    loader.dispose()
    return _dates_to_text(data), node


def _dates_to_text(value: Any) -> Any:
    """YAML reads 2025-01-31 as a date; the protocol keeps such values as ISO text."""
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def yaml_path(path) -> str:
    """``['outcomes', 2, 'measure']`` -> ``'outcomes[2].measure'``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _node_at(root: yaml.Node | None, path, key: bool = False) -> yaml.Node | None:
    """The node at ``path`` (the deepest existing one); with ``key``, the last key's node."""
    node = root
    for i, part in enumerate(path):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if getattr(key_node, "value", None) == part:
                    if key and i == len(path) - 1:
                        return key_node
                    node = value_node
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def node_line(root: yaml.Node | None, path, key: bool = False) -> int | None:
    node = _node_at(root, path, key)
    return None if node is None else node.start_mark.line + 1


# --------------------------------------------------------------------------- schema


def _load_schema(path: Path) -> dict:
    if path not in _schema_cache:
        with open(path, encoding="utf-8") as fh:
            # our own schema file: libyaml's safe loader when present (4x faster per job)
            _schema_cache[path] = yaml.load(fh, Loader=_SafeLoader)
    return _schema_cache[path]


def _resolve(schema: dict, root: dict) -> dict:
    """Follow local ``$ref``s, keeping the referring schema's own keys (e.g. ``default``)."""
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref supported, got {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
    return schema


def fill_defaults(schema: dict, instance: Any, root: dict | None = None) -> Any:
    """Set every absent property that has a schema ``default`` (in place; also returned).

    Follows ``properties``, array ``items`` and local ``$ref``; defaults are deep-copied.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key not in instance:
                resolved = _resolve(sub, root)
                if "default" in resolved:
                    instance[key] = copy.deepcopy(resolved["default"])
            if key in instance:
                fill_defaults(sub, instance[key], root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            fill_defaults(schema["items"], item, root)
    return instance


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value)",
    "null": "null",
}


def _choice_hint(value: Any, allowed) -> str:
    if isinstance(value, str):
        for choice in allowed:
            if isinstance(choice, str) and choice.lower() == value.lower():
                return f" (did you mean {choice!r}?)"
        import difflib

        close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1, cutoff=0.7)
        if close:
            return f" (did you mean {close[0]!r}?)"
    return ""


def _convert(err, file: str, root_node, data) -> list[InputError]:
    """A jsonschema ValidationError as InputErrors with YAML path and line."""
    path = list(err.absolute_path)
    inst = err.instance
    v = err.validator
    schema = err.schema if isinstance(err.schema, dict) else {}
    desc = schema.get("description")

    def make(p, message, key=False):
        message += _context(p, data)
        return InputError(file, node_line(root_node, p, key), yaml_path(p) or None, message)

    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        return [
            make(
                path + [k],
                f"unknown key {k!r}{_choice_hint(k, allowed)}; allowed here: {', '.join(allowed)}",
                key=True,
            )
            for k in inst
            if k not in allowed
        ]
    if v == "required":
        return [
            InputError(
                file,
                node_line(root_node, path),
                yaml_path(path + [k]),
                f"missing required key {k!r}" + _context(path + [k], data),
            )
            for k in err.validator_value
            if isinstance(inst, dict) and k not in inst
        ]
    if v == "dependentRequired":
        out = []
        for k, needs in err.validator_value.items():
            for n in needs:
                if k in inst and n not in inst:
                    out.append(
                        InputError(
                            file,
                            node_line(root_node, path),
                            yaml_path(path + [n]),
                            f"{k!r} is given, so {n!r} is needed too",
                        )
                    )
        return out
    if v in ("enum", "const"):
        allowed = err.validator_value if v == "enum" else [err.validator_value]
        shown = ", ".join(str(a) for a in allowed)
        return [
            make(path, f"{inst!r} is not allowed{_choice_hint(inst, allowed)}; allowed: {shown}")
        ]
    if v == "type":
        types = (
            err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        )
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return [make(path, f"expected {want}, got {_type_name(inst)} ({inst!r})")]
    if v == "pattern":
        return [
            make(
                path, f"{inst!r} is not allowed here: {desc or 'must match ' + err.validator_value}"
            )
        ]
    if v in ("anyOf", "oneOf") and desc:
        shown = "null" if inst is None else repr(inst)
        return [make(path, f"{shown} is not allowed here: expected {desc}")]
    message = err.message
    if desc:
        message += f" ({desc})"
    return [make(path, message)]


def _context(path, data) -> str:
    """' (outcome 'sich')' for a path inside an outcome / subgroup / sensitivity entry."""
    if len(path) >= 2 and isinstance(path[1], int) and isinstance(data, dict):
        items = data.get(path[0])
        if isinstance(items, list) and path[1] < len(items) and isinstance(items[path[1]], dict):
            ident = items[path[1]].get("id")
            if isinstance(ident, str) and ident and len(path) > 2:
                word = {"outcomes": "outcome", "subgroups": "subgroup"}.get(path[0], path[0])
                return f" (in {word} {ident!r})"
    return ""


def validate_against_schema(
    data: Any, schema_path: str | Path, file: str, root_node: yaml.Node | None = None
) -> None:
    """Raise ``InputError`` (all findings, in file order) unless ``data`` fits the schema."""
    from jsonschema import Draft202012Validator

    schema = _load_schema(Path(schema_path))
    validator = Draft202012Validator(schema)
    errors: list[InputError] = []
    for err in validator.iter_errors(data):
        errors.extend(_convert(err, file, root_node, data))
    errors.sort(key=lambda e: (e.row or 0, e.column or ""))
    raise_collected(errors)


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class StudyFilter:
    """``column == value``, ``column != value``, ``column in a, b``, ``column not in a, b``."""

    column: str
    op: str
    values: tuple[str, ...]

    def matches(self, study) -> bool:
        """Whether a study (a ``tables.Study`` or a mapping of column -> value) matches."""
        wanted = {comparable(self.column, v) for v in self.values}
        hit = comparable(self.column, study.get(self.column)) in wanted
        return hit if self.op in ("==", "in") else not hit


def comparable(column: str, value: Any) -> str:
    """A ``studies.csv`` value as a filter compares it: surrounding space and case folded,
    and for the choice columns (``design``, ``rob_*``) spaces and dashes as ``_`` and
    'some concerns' as 'some', as ``tables.load_studies`` reads them ('RCT' is 'rct')."""
    from metareview.inputs.tables import norm_choice

    text = "" if value is None else str(value).strip()
    if column == "design" or column.startswith("rob_"):
        return norm_choice(text)
    return text.casefold()


_FILTER = re.compile(
    r"\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>==|!=|\bnot\s+in\b|\bin\b)\s*(?P<rest>.*?)\s*\Z"
)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_filter(text: str) -> StudyFilter:
    """Parse a sensitivity ``filter``; ``ValueError`` with a readable reason if malformed."""
    m = _FILTER.match(text)
    if not m:
        raise ValueError(
            f"cannot read filter {text!r}; write `column == value`, `column != value`, "
            "`column in a, b` or `column not in a, b`"
        )
    op = " ".join(m["op"].split())
    rest = m["rest"]
    parts = rest.split(",") if op in ("in", "not in") else [rest]
    if not rest or any(not p.strip() for p in parts):
        raise ValueError(f'filter {text!r} has no value after {op!r} (use "" for empty)')
    return StudyFilter(m["column"], op, tuple(_unquote(p) for p in parts))


# --------------------------------------------------------------------------- protocol


_protocol_cache: dict[tuple, dict] = {}


def load_protocol(path: str | Path) -> dict:
    """Read, validate and complete a protocol (see :func:`_load_protocol`).

    A job reads its protocol several times; the validated result is cached per file
    content (path, size, mtime) and each caller gets its own copy.
    """
    import copy
    import os

    try:
        st = os.stat(path)
    except OSError:
        return _load_protocol(path)  # raises InputError naming the file
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _protocol_cache:
        _protocol_cache[key] = _load_protocol(path)
    return copy.deepcopy(_protocol_cache[key])


def _load_protocol(path: str | Path) -> dict:
    """Read, validate and complete a protocol; returns the protocol as a dict.

    Defaults of the schema are filled in (``defaults``, ``role``, ``prespecified``, ...);
    ``add: null`` / ``drop00: null`` mean metafor's default and are resolved per outcome by
    ``outcome_settings``. Raises ``InputError`` naming the file, line and YAML path.
    """
    file = str(path)
    data, root = read_yaml_document(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _type_name(data)
        raise InputError(file, None, None, f"a protocol is a YAML mapping (key: value), got {got}")
    _check_finite(data, file, root)
    validate_against_schema(data, SCHEMA_PATH, file, root)

    errors: list[InputError] = []

    def err(p, message, key=False):
        errors.append(InputError(file, node_line(root, p, key), yaml_path(p), message))

    # post_hoc: true implies not pre-specified (checked before defaults are filled)
    for i, out in enumerate(data["outcomes"]):
        if out.get("post_hoc") is True:
            if out.get("prespecified") is True:
                err(
                    ["outcomes", i, "prespecified"],
                    f"outcome {out['id']!r} is both prespecified and post_hoc",
                )
            out.setdefault("prespecified", False)
        elif out.get("prespecified") is False:
            if out.get("post_hoc") is False:
                err(
                    ["outcomes", i, "post_hoc"],
                    f"outcome {out['id']!r} is neither prespecified nor post_hoc",
                )
            out.setdefault("post_hoc", True)
    apply_conventions(data)  # a named preset fills the defaults not written (before the schema's)
    fill_defaults(_load_schema(SCHEMA_PATH), data)

    stem = Path(path).stem
    if data["review_id"] != stem:
        err(
            ["review_id"],
            f"review_id {data['review_id']!r} must equal the file name {stem!r} "
            "(config/reviews/<review_id>.yaml)",
        )
    for section in ("outcomes", "subgroups", "sensitivity", "metaregression"):
        # ids name files and folders: compared ignoring case, as a case-insensitive file
        # system (macOS, Windows) compares the file names they become
        first: dict[str, int] = {}
        for i, item in enumerate(data.get(section, [])):
            key = item["id"].casefold()
            if section != "outcomes" and key == "index":
                # results/<review>/<section>/<outcome>/index.json lists the analyses
                err([section, i, "id"], "the id 'index' is reserved; choose another")
            if key in first:
                j = first[key]
                other = data[section][j]["id"]
                same = "" if other == item["id"] else f" (the same as {other!r} but for case)"
                err(
                    [section, i, "id"],
                    f"duplicate id {item['id']!r}{same} (also {section}[{j}], line "
                    f"{node_line(root, [section, j, 'id'])}); ids are compared ignoring case: "
                    "they name files",
                )
            else:
                first[key] = i

    ids = [o["id"] for o in data["outcomes"]]
    arms = data["arms"]
    if "intervention" in arms and arms.get("control") == arms["intervention"]:
        err(
            ["arms", "control"],
            f"arms.control ({arms['control']!r}) is the same arm as arms.intervention: a "
            "two-arm outcome compares two different arms of extraction.csv",
        )
    for i, out in enumerate(data["outcomes"]):
        s = _settings(data, out)
        oid = out["id"]

        def where(key, i=i, out=out):
            return ["outcomes", i, key] if key in out else ["defaults", key]

        measure = measures.get(s["measure"])
        allowed = measures.methods_accepting(s["method"])
        if not measures.accepts(s["method"], s["measure"]):
            key = "method" if "method" in out or "measure" not in out else "measure"
            err(
                where(key),
                f"outcome {oid!r}: method {s['method']} works only with measure "
                f"{', '.join(allowed)}, not {s['measure']}",
            )
        if out.get("data") == "generic" and not (measure.generic or measure.natural):
            err(
                ["outcomes", i, "data"],
                f"outcome {oid!r}: data 'generic' (an estimate with its SE or CI per study) "
                f"is for {', '.join(measures.natural_ratios())} and the generic measures, "
                f"not {s['measure']}",
            )
        elif (out.get("data") == "generic" or not measure.binary) and (
            s["method"] in measures.TABLE_METHODS
        ):
            err(
                where("method"),
                f"outcome {oid!r}: method {s['method']} pools 2x2 counts; "
                f"{'generic estimates' if out.get('data') else s['measure']} are pooled by "
                "inverse variance (FE or a random-effects method)",
            )
        if s["test"] not in measures.tests_for(s["method"]):
            err(
                where("test"),
                f"outcome {oid!r}: test {s['test']} is not available with {s['method']} "
                f"(available: {', '.join(measures.tests_for(s['method']))})",
            )
        if measure.two_arm:
            if "intervention" not in arms:
                err(
                    ["arms", "intervention"],
                    f"outcome {oid!r} (measure {s['measure']}) compares two arms: give "
                    "arms.intervention and arms.control",
                )
            if "arm" in out:
                err(
                    ["outcomes", i, "arm"],
                    f"outcome {oid!r}: 'arm' is for single-arm measures "
                    f"({', '.join(measures.codes(measures.SINGLE_ARM_BINARY))}), not "
                    f"{s['measure']}",
                )
        else:
            if "arm" not in out and "single" not in arms:
                err(
                    ["outcomes", i],
                    f"outcome {oid!r} (measure {s['measure']}) pools one arm: give the "
                    "outcome an 'arm' or the protocol an arms.single",
                )
            if s["correction"] == "treatment_arm":
                err(
                    where("correction"),
                    f"outcome {oid!r}: the treatment-arm correction needs two arms",
                )
        if (out.get("certainty") or {}).get("comparator_risk") and not measure.two_arm:
            err(
                ["outcomes", i, "certainty", "comparator_risk"],
                f"outcome {oid!r}: a comparator risk is for two-arm measures, not "
                f"{s['measure']} (a single-arm outcome has no comparator)",
            )
        if "rows_of" in out:
            ids = {o["id"]: o for o in data["outcomes"]}
            source = ids.get(out["rows_of"])
            if source is None or out["rows_of"] == oid or "rows_of" in source:
                err(
                    ["outcomes", i, "rows_of"],
                    f"outcome {oid!r}: rows_of must name another outcome of the protocol "
                    "that has rows of its own",
                )
        reported = out.get("reported") or []
        blocks = reported if isinstance(reported, list) else [reported]
        for b, rep in enumerate(blocks):
            where = ["outcomes", i, "reported"] + ([b] if isinstance(reported, list) else [])
            _check_reported(rep, measure, s["measure"], where, err)

    for section in ("subgroups", "sensitivity", "small_study", "metaregression"):
        for i, item in enumerate(data.get(section, [])):
            sel = item.get("outcomes", "all")
            if isinstance(sel, list):
                for j, oid in enumerate(sel):
                    if oid not in ids:
                        err(
                            [section, i, "outcomes", j],
                            f"unknown outcome {oid!r}{_choice_hint(oid, ids)}; the protocol's "
                            f"outcomes: {', '.join(dict.fromkeys(ids))}",
                        )
    for i, item in enumerate(data.get("sensitivity", [])):
        if "filter" in item:
            if item["kind"] != "exclude":
                err(["sensitivity", i, "filter"], "'filter' is only used with kind: exclude")
            else:
                try:
                    parse_filter(item["filter"])
                except ValueError as exc:
                    err(["sensitivity", i, "filter"], str(exc))
        if "methods" in item and item["kind"] != "methods":
            err(["sensitivity", i, "methods"], "'methods' is only used with kind: methods")
    for i, item in enumerate(data.get("metaregression", [])):
        for j, name in enumerate(item.get("factors") or []):
            if name not in item["moderators"]:
                err(
                    ["metaregression", i, "factors", j],
                    f"factor {name!r} is not one of the moderators "
                    f"({', '.join(item['moderators'])}){_choice_hint(name, item['moderators'])}",
                )
    if data.get("risk_of_bias"):
        from metareview.inputs.rob import tool_path  # only the standard library at import

        try:
            tool_path(data["risk_of_bias"]["tool"])
        except InputError as exc:
            err(["risk_of_bias", "tool"], exc.message)
    errors.sort(key=lambda e: e.row or 0)
    raise_collected(errors)
    return data


def _outcome(protocol: dict, outcome_id: str) -> dict:
    for out in protocol.get("outcomes", []):
        if out.get("id") == outcome_id:
            return out
    known = ", ".join(o.get("id", "?") for o in protocol.get("outcomes", []))
    raise KeyError(f"no outcome {outcome_id!r} in the protocol (outcomes: {known})")


def outcome_settings(protocol: dict, outcome_id: str, *, resolve: bool = True) -> dict:
    """Effective ``measure, method, test, level, add, to, drop00, correction`` of an outcome.

    The outcome's own keys override ``defaults``; with ``resolve``, ``add: null`` becomes
    metafor's default (0 for PAS and PFT, else 0.5, as ``measures.default_add``) and
    ``drop00: null`` becomes true for MH and PETO, else false. Without, they stay None:
    what an analysis under another model (``pooling.Settings.resolved``) should start
    from. ``KeyError`` for an unknown outcome id.
    """
    return _settings(protocol, _outcome(protocol, outcome_id), resolve=resolve)


def _settings(protocol: dict, out: dict, resolve: bool = True) -> dict:
    defaults = protocol.get("defaults") or {}
    s = {}
    for key in SETTINGS:
        if key in out:
            s[key] = out[key]
        else:
            s[key] = defaults.get(key, FALLBACK_SETTINGS[key])
    if out.get("data") == "generic" and measures.get(s["measure"]).natural:
        s["scale"] = "log"  # estimates with their CI: the table holds log ratios and SEs
    if not resolve:
        return s
    if s["add"] is None:
        s["add"] = measures.default_add(s["measure"])
    s["add"] = float(s["add"])
    if s["drop00"] is None:
        s["drop00"] = measures.default_drop00(s["method"])
    return s


def outcome_kind(protocol: dict, outcome_id: str) -> str:
    """What an outcome's extraction rows hold: the measure registry's ``kind`` of its
    measure, or ``generic`` (an estimate with its SE or CI per study) for ``data: generic``."""
    out = _outcome(protocol, outcome_id)
    if out.get("data") == "generic":
        return measures.GENERIC
    return measures.get(outcome_settings(protocol, outcome_id)["measure"]).kind


def outcome_measures(protocol: dict) -> dict[str, tuple[str, str]]:
    """Outcome id -> (measure, kind) for ``tables.load_extraction``."""
    return {
        o["id"]: (outcome_settings(protocol, o["id"])["measure"], outcome_kind(protocol, o["id"]))
        for o in protocol["outcomes"]
    }


def outcome_certainty(protocol: dict, outcome_id: str) -> dict:
    """The outcome's ``certainty:`` block (GRADE judgements, threshold, comparator risk);
    {} when the protocol records none."""
    return dict(_outcome(protocol, outcome_id).get("certainty") or {})


def outcome_ids(protocol: dict) -> list[str]:
    """The outcome ids in protocol order."""
    return [o["id"] for o in protocol["outcomes"]]


def outcome_arms(protocol: dict, outcome_id: str) -> tuple[str, ...]:
    """``(intervention, control)`` for a two-arm outcome, ``(arm,)`` for a single-arm one."""
    out = _outcome(protocol, outcome_id)
    arms = protocol.get("arms") or {}
    if measures.compares_arms(outcome_settings(protocol, outcome_id)["measure"]):
        return (arms["intervention"], arms["control"])
    return (out.get("arm") or arms["single"],)


def rows_outcome(protocol: dict, outcome_id: str) -> str:
    """The outcome whose extraction.csv rows ``outcome_id`` analyses (its ``rows_of``, or
    itself)."""
    return _outcome(protocol, outcome_id).get("rows_of") or outcome_id


def protocol_arms(protocol: dict) -> set[str]:
    """Every arm label the protocol uses (for ``tables.load_extraction``)."""
    arms = protocol.get("arms") or {}
    found = {arms[k] for k in ("intervention", "control", "single") if k in arms}
    found |= {o["arm"] for o in protocol["outcomes"] if "arm" in o}
    return found


def selected_outcomes(protocol: dict, selection: str | list[str]) -> list[str]:
    """Outcome ids of a subgroup/sensitivity/small_study ``outcomes`` entry ("all" or a list)."""
    return outcome_ids(protocol) if selection == "all" else list(selection)


def analysis_plan(protocol: dict, outcome_id: str) -> dict[str, list[dict]]:
    """The subgroup, sensitivity and small-study analyses the protocol plans for one outcome
    (each entry as written in the protocol, defaults filled)."""
    return {
        section: [
            item
            for item in protocol.get(section) or []
            if outcome_id in selected_outcomes(protocol, item.get("outcomes", "all"))
        ]
        for section in ("subgroups", "sensitivity", "small_study", "metaregression")
    }


def _check_finite(data: Any, file: str, root: yaml.Node | None) -> None:
    """Refuse ``.nan`` and ``.inf``: YAML reads them as numbers that every range check of
    the schema lets through (a NaN confidence level would silently give no intervals)."""
    errors: list[InputError] = []

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, [*path, k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, [*path, i])
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append(
                InputError(
                    file,
                    node_line(root, path),
                    yaml_path(path) or None,
                    f"{value!r} is not allowed: give a finite number",
                )
            )

    walk(data, [])
    raise_collected(errors)


def check_against_studies(protocol: dict, protocol_path: str | Path, studies) -> None:
    """Every ``studies.csv`` column the protocol names (subgroup ``column``, sensitivity
    ``filter`` and ``order_by``) must exist; ``InputError`` at the protocol's line and key
    otherwise.

    ``studies`` is a ``tables.StudyTable`` (its ``file`` and ``columns`` are used).
    """
    file = str(protocol_path)
    columns = list(getattr(studies, "columns", []))
    studies_file = getattr(studies, "file", None) or "studies.csv"
    wanted = []
    unmatched: list[tuple[list, str]] = []  # (path, message) of filter values no study has
    for i, item in enumerate(protocol.get("subgroups") or []):
        wanted.append((["subgroups", i, "column"], f"subgroup {item['id']!r}", item["column"]))
    for i, item in enumerate(protocol.get("sensitivity") or []):
        if item.get("filter"):
            try:
                column = parse_filter(item["filter"]).column
            except ValueError:
                continue  # reported by load_protocol
            what = f"sensitivity analysis {item['id']!r}"
            wanted.append((["sensitivity", i, "filter"], what, column))
            if column in columns:
                unmatched += _unmatched_filter_values(
                    parse_filter(item["filter"]), studies, ["sensitivity", i, "filter"], what
                )
        for j, column in enumerate(item.get("order_by") or []):
            what = f"sensitivity analysis {item['id']!r}"
            wanted.append((["sensitivity", i, "order_by", j], what, column))
    for i, item in enumerate(protocol.get("metaregression") or []):
        for j, column in enumerate(item.get("moderators") or []):
            what = f"meta-regression {item['id']!r}"
            wanted.append((["metaregression", i, "moderators", j], what, column))
    # extraction.csv's row-level columns (group, definition) are checked by the analyses
    missing = [
        (p, what, c) for p, what, c in wanted if c not in columns and c not in EXTRACTION_OPTIONAL
    ]
    if not missing and not unmatched:
        return
    try:
        root = read_yaml_document(protocol_path)[1]
    except InputError:
        root = None
    errors = [
        InputError(
            file,
            node_line(root, p),
            yaml_path(p),
            f"{what} uses column {c!r}, which {studies_file} does not have"
            f"{_choice_hint(c, columns)} (its columns: {', '.join(columns)})",
        )
        for p, what, c in missing
    ]
    errors += [
        InputError(file, node_line(root, p), yaml_path(p), f"{message} (in {studies_file})")
        for p, message in unmatched
    ]
    raise_collected(errors)


def check_moderator_cells(protocol: dict, protocol_path: str | Path, studies, extraction) -> None:
    """Every study of an outcome a meta-regression applies to has a value of each of its
    moderators (unless the entry says ``missing: omit``): ``InputError`` naming the file
    (``studies.csv``, or ``extraction.csv`` for the row-level ``group``), row and column.

    ``studies`` is a ``tables.StudyTable``, ``extraction`` a ``tables.Extraction``."""
    errors: list[InputError] = []
    studies_file = getattr(studies, "file", None) or "studies.csv"
    for item in protocol.get("metaregression") or []:
        if item.get("missing", "error") != "error":
            continue
        outcomes = set(selected_outcomes(protocol, item.get("outcomes", "all")))
        records = [r for r in extraction if r.outcome in outcomes]
        used = {r.study_id for r in records}
        what = (
            f"meta-regression {item['id']!r} (in {Path(protocol_path).name}) needs a value "
            "for every study of the outcomes it applies to; write one, or give the entry "
            "'missing: omit' to leave such studies out"
        )
        for column in item["moderators"]:
            if column in EXTRACTION_OPTIONAL:
                for r in records:
                    if not str(getattr(r, column, "") or "").strip():
                        errors.append(
                            InputError(extraction.file, r.row, column, f"empty cell: {what}")
                        )
                continue
            for study in studies:
                value = study.get(column)
                if study.study_id in used and (value is None or not str(value).strip()):
                    errors.append(
                        InputError(studies_file, study.row, column, f"empty cell: {what}")
                    )
    raise_collected(errors)


def _unmatched_filter_values(flt: StudyFilter, studies, path: list, what: str) -> list:
    """``(path, message)`` for filter values that are surely typos: a ``design`` that is
    not one of the designs, or a value no study has that is one edit away from one that
    some study has ('Eruope'). Other values no study has are allowed (a plan written
    before the data: the analysis then says no study matched); ``rob_*`` judgements are
    the risk-of-bias tool's to check."""
    from metareview.inputs.tables import DESIGNS

    if flt.column.startswith("rob_"):
        return []
    if flt.column == "design":
        choices = list(DESIGNS)
    else:
        choices = sorted({str(s.get(flt.column) or "") for s in studies} - {""})
    present = {comparable(flt.column, c) for c in choices}
    out = []
    for value in flt.values:
        if value == "" or comparable(flt.column, value) in present:
            continue
        hint = _choice_hint(value, choices)
        if flt.column == "design" or hint:
            out.append(
                (
                    path,
                    f"{what}: no study has {flt.column} {value!r}{hint} (values: "
                    + ", ".join(choices)
                    + ")",
                )
            )
    return out


def protocol_warnings(path: str | Path) -> list[InputWarning]:
    """Warnings about a (valid) protocol's text: every string holding bidirectional
    control characters (``metareview.text``), at its line and key."""
    file = str(path)
    text = Path(path).read_text(encoding="utf-8")
    if not BIDI.search(text):
        return []
    root = read_yaml_document(path)[1]
    out: list[InputWarning] = []

    def walk(node, where):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                walk(key_node, where)
                walk(value_node, [*where, key_node.value])
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, [*where, i])
        elif isinstance(node, yaml.ScalarNode):
            message = bidi_message(node.value)
            if message is not None:
                line, key = node.start_mark.line + 1, yaml_path(where) or None
                out.append(InputWarning(file, line, key, f"the text {message}"))

    walk(root, [])
    return out


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The data of a YAML file read as protocols and configs are (no duplicate keys, no
    anchors or aliases); ``InputError`` naming the file and line otherwise."""
    return read_yaml_document(path, what)[0]


def load_config(path: str | Path) -> dict:
    """Read and validate the pipeline config (``config/config.yaml``), defaults filled in."""
    file = str(path)
    data, root = read_yaml_document(path, "config")
    if not isinstance(data, dict):
        got = "an empty file" if data is None else _type_name(data)
        raise InputError(file, None, None, f"the config is a YAML mapping, got {got}")
    validate_against_schema(data, CONFIG_SCHEMA_PATH, file, root)
    errors, first = [], {}
    for i, review in enumerate(data["reviews"]):
        if review.casefold() in first:
            j = first[review.casefold()]
            errors.append(
                InputError(
                    file,
                    node_line(root, ["reviews", i]),
                    f"reviews[{i}]",
                    f"review {review!r} and reviews[{j}] {data['reviews'][j]!r} differ only "
                    "by case: they would share one folder on a case-insensitive file system",
                )
            )
        first.setdefault(review.casefold(), i)
    raise_collected(errors)
    return fill_defaults(_load_schema(CONFIG_SCHEMA_PATH), data)


def is_registered(protocol: dict) -> bool:
    """Whether the protocol records a registration (``registration.id``): only then can
    pre-specification, and deviations from it, be checked against a registered record."""
    return bool((protocol.get("registration") or {}).get("id"))


def _check_reported(rep: dict, measure, measure_id: str, where: list, err) -> None:
    """A ``reported:`` block's estimate and CI: possible values of the measure (on the
    percent scale when ``percent``), in order."""
    factor = 100.0 if rep.get("percent") else 1.0
    lb, ub, est = rep.get("ci_lb"), rep.get("ci_ub"), rep.get("estimate")
    low, high, scale = measure.reported_range
    for key in ("estimate", "ci_lb", "ci_ub"):
        value = rep.get(key)
        if value is None:
            continue
        value = value / factor
        bad = low is not None and (value <= low if measure.ratio else value < low)
        if bad or (high is not None and value > high):
            err(
                where + [key],
                f"reported {key} ({rep[key]}) is not a possible {measure_id}: {scale} "
                + (
                    "(a percentage: percent: true divides it by 100)"
                    if factor != 1.0
                    else "(give the published value itself, not its logarithm or a percentage, "
                    "or mark a percentage with percent: true)"
                ),
            )
            lb = ub = est = None  # no order check on an impossible value
    if lb is not None and ub is not None and lb > ub:
        err(where + ["ci_lb"], f"reported ci_lb ({lb}) > ci_ub ({ub})")
    elif est is not None and ((lb is not None and est < lb) or (ub is not None and est > ub)):
        err(where + ["estimate"], f"reported estimate ({est}) lies outside its CI ({lb}, {ub})")
