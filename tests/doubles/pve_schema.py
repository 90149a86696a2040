"""TEST DOUBLE support: Proxmox VE 9's parameter verification, for the fake API and fake pct.

The fakes (tests/doubles/fake_pve.py, tests/doubles/pct) must refuse what a real PVE 9
refuses, or a driver bug that PVE would answer with "400 Parameter verification failed."
passes the unit tests. This module checks one request against PVE 9's published
parameter schema, copied into tests/doubles/pve_api_schema.json (its "provenance" says
where from), the way PVE checks parameters before it runs a method:

* the path must match one of the schema's path templates, and the method must exist
  there (else PVE answers 501); path segments are percent-decoded one by one, so a
  volume id sent as `local%3Avztmpl%2Fx.tar.gz` is one parameter;
* every parameter must be a property of the method (`net0` matches `net[n]`), and every
  property that is not optional must be given; path parameters count and win over a
  body parameter of the same name, as in PVE;
* types as PVE reads form-encoded values: a boolean is exactly "0" or "1" (pct's
  command line also takes yes/no/on/off/true/false and a bare flag), an integer is
  decimal digits with an optional sign, a number also takes a fraction and an exponent;
* then pattern, maxLength/minLength, minimum/maximum (checked when the value reads as a
  number) and enum, in that order, one message per parameter;
* a property string (a "format" that lists keys: net[n], mp[n], rootfs, features, ...)
  is split at commas into key=value parts; a part without "=" is the default key's
  value (rootfs's and mp[n]'s volume); unknown and duplicate keys are refused, keys
  that are not optional must be there, and each value is checked like a parameter (a
  boolean key also takes yes/no/on/off/true/false, as PVE's parser does).

Patterns are Perl's: `(?^:...)` becomes Python's `(?:...)`, and a pattern is anchored as
PVE does it, `^PATTERN$` around the raw text. Python's `$`, like Perl's, also matches
before one final newline, so such a value passes here as it passes in PVE.

What it does not check: formats given by name (pve-node, dns-name, pve-tag-list,
pve-volume-id, ...) are PVE code the schema does not describe; the index range of
`name[n]` parameters is not in the schema either (any index is taken); permissions and
what the method itself refuses later (a missing storage, a running CT, root-only
options) are the fakes' business, not the schema's.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple
from urllib.parse import unquote

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pve_api_schema.json")

Schema = Dict[str, Any]
Errors = Dict[str, str]

# PVE's own tests of a form value (PVE::JSONSchema's is_integer / is_number).
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_TRUE = re.compile(r"^(1|on|yes|true)$", re.IGNORECASE)
_FALSE = re.compile(r"^(0|off|no|false)$", re.IGNORECASE)
_KEY_VALUE = re.compile(r"^([^=]+)=(.+)$")
_INDEXED = re.compile(r"^(.+)\[n\]$")
_PERL_GROUP = re.compile(r"\(\?\^([a-z]*):")


class Refusal:
    """What PVE answers instead of running the method: an HTTP status, the message (PVE
    puts it in the reason phrase) and, for parameter errors, parameter -> message."""

    def __init__(self, status: int, message: str, errors: Optional[Errors] = None) -> None:
        self.status = status
        self.message = message
        self.errors: Errors = dict(errors or {})

    def __str__(self) -> str:
        details = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        return f"{self.status} {self.message}" + (f" ({details})" if details else "")

    __repr__ = __str__


def perl_pattern(pattern: str) -> Pattern[str]:
    """PVE's `m/^PATTERN$/` as a Python regex: Perl's `(?^flags:` groups become `(?flags:`."""
    def group(m: re.Match[str]) -> str:
        return f"(?{m.group(1)}:" if m.group(1) else "(?:"

    return re.compile("^" + _PERL_GROUP.sub(group, pattern) + "$")


def parse_boolean(value: str) -> Optional[str]:
    """The spellings PVE's property-string and command-line parsers take, as "1"/"0"."""
    if _TRUE.match(value):
        return "1"
    if _FALSE.match(value):
        return "0"
    return None


class PveSchema:
    """The copied schema, ready to check requests: check() for an API request,
    check_params() for a method's parameters (what `pct` maps its argv onto)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.provenance: Dict[str, Any] = dict(doc.get("provenance") or {})
        self.paths: Dict[str, Dict[str, Schema]] = dict(doc["paths"])
        self._templates: List[Tuple[str, List[str]]] = [
            (t, [s for s in t.split("/") if s]) for t in self.paths]
        self._patterns: Dict[str, Pattern[str]] = {}
        for pattern in _all_patterns(self.paths):
            self._patterns[pattern] = perl_pattern(pattern)  # a bad translation fails here

    # -- routing -------------------------------------------------------------------------------

    def route(self, raw_path: str) -> Optional[Tuple[str, Dict[str, str]]]:
        """(template, path parameters) for a path below /api2/json, still percent-encoded.
        Empty segments are skipped, as PVE's router does; literal segments beat parameters."""
        segments = [unquote(s) for s in raw_path.split("/") if s]
        best: Optional[Tuple[int, str, Dict[str, str]]] = None
        for template, parts in self._templates:
            if len(parts) != len(segments):
                continue
            bound: Dict[str, str] = {}
            literal = 0
            for part, seg in zip(parts, segments):
                if part.startswith("{") and part.endswith("}"):
                    bound[part[1:-1]] = seg
                elif part == seg:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, template, bound)
        return None if best is None else (best[1], best[2])

    def check(self, method: str, raw_path: str, params: Mapping[str, str]) -> Optional[Refusal]:
        """None when PVE 9 would run the method, else what it would answer."""
        routed = self.route(raw_path)
        shown = "/".join(unquote(s) for s in raw_path.split("/"))
        if routed is None:
            return Refusal(501, f"Method '{method} {shown}' not implemented")
        template, path_params = routed
        if method not in self.paths[template]:
            return Refusal(501, f"Method '{method} {shown}' not implemented")
        errors = self.check_params(template, method, params, path_params)
        return Refusal(400, "Parameter verification failed.", errors) if errors else None

    # -- parameters ----------------------------------------------------------------------------

    def properties(self, template: str, method: str) -> Dict[str, Schema]:
        return dict((self.paths[template][method].get("properties") or {}))

    def check_params(self, template: str, method: str, params: Mapping[str, str],
                     path_params: Optional[Mapping[str, str]] = None, *,
                     cli: bool = False) -> Errors:
        """{parameter: PVE-style message} for what PVE refuses ({} when all is well).
        cli: the values came from pct's command line, whose booleans take more spellings."""
        props = self.properties(template, method)
        given = dict(params)
        given.update(path_params or {})  # the path's values win, as in PVE
        errors: Errors = {}
        for name, value in given.items():
            schema = self.lookup(props, name)
            if schema is None:
                errors[name] = ("property is not defined in schema and the schema does not "
                                "allow additional properties")
                continue
            if cli and schema.get("type") == "boolean":
                parsed = "1" if value == "" else parse_boolean(value)
                if parsed is None:
                    errors[name] = "unable to parse boolean option"
                    continue
                value = parsed
            message = self.check_value(schema, value, name)
            if message is not None:
                errors[name] = message
        for name, schema in props.items():
            if not schema.get("optional") and not _INDEXED.match(name) and name not in given:
                errors[name] = "property is missing and it is not optional"
        return errors

    @staticmethod
    def lookup(props: Mapping[str, Schema], name: str) -> Optional[Schema]:
        """The property a parameter name stands for: itself, or `net[n]` for net0, net1, ..."""
        if name in props:
            return props[name]
        for key, schema in props.items():
            m = _INDEXED.match(key)
            if m and re.fullmatch(re.escape(m.group(1)) + r"(0|[1-9][0-9]*)", name):
                return schema
        return None

    def check_value(self, schema: Schema, value: str, where: str) -> Optional[str]:
        """One value against one property, in PVE's order; the first failure's message."""
        kind = schema.get("type")
        if kind == "boolean" and value not in ("0", "1"):
            return f"type check ('boolean') failed - got '{value}'"
        if kind == "integer" and not _INTEGER.match(value):
            return f"type check ('integer') failed - got '{value}'"
        if kind == "number" and not _NUMBER.match(value):
            return f"type check ('number') failed - got '{value}'"
        keys = schema.get("format")
        if isinstance(keys, dict):
            problem = self.check_property_string(keys, value, where)
            if problem is not None:
                return f"invalid format - {problem}"
        pattern = schema.get("pattern")
        if pattern is not None and not self._pattern(pattern).match(value):
            return "value does not match the regex pattern"
        if "maxLength" in schema and len(value) > int(schema["maxLength"]):
            return f"value may only be {schema['maxLength']} characters long"
        if "minLength" in schema and len(value) < int(schema["minLength"]):
            return f"value must be at least {schema['minLength']} characters long"
        if _NUMBER.match(value):
            number = float(value)
            if "maximum" in schema and number > float(schema["maximum"]):
                return f"value must have a maximum value of {schema['maximum']}"
            if "minimum" in schema and number < float(schema["minimum"]):
                return f"value must have a minimum value of {schema['minimum']}"
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            return f"value '{value}' does not have a value in the enumeration '{', '.join(enum)}'"
        return None

    def check_property_string(self, keys: Mapping[str, Schema], text: str,
                              where: str) -> Optional[str]:
        """A `key=value,...` string against the keys its schema lists; None when accepted."""
        default_key = next((k for k, s in keys.items() if s.get("default_key")), None)
        parsed: Dict[str, str] = {}
        for part in text.split(","):
            if not part.strip():
                continue  # PVE skips empty parts ("a=1,,b=2", a trailing comma)
            m = _KEY_VALUE.match(part)
            if m:
                key, value = m.group(1), m.group(2)
                if key in parsed:
                    return f"duplicate key in comma-separated list property: {key}"
                if key not in keys:
                    return f"invalid key in comma-separated list property: {key}"
                if keys[key].get("type") == "boolean":
                    value = parse_boolean(value) or value
                parsed[key] = value
            elif "=" not in part:
                if default_key is None:
                    return "value without key, but schema does not define a default key"
                if default_key in parsed:
                    return f"duplicate key in comma-separated list property: {default_key}"
                parsed[default_key] = part
            else:
                return "missing key in comma-separated list property"  # "key=" with no value
        problems = []
        for key, schema in keys.items():
            if key not in parsed:
                if not schema.get("optional"):
                    problems.append(f"{where}.{key}: property is missing and it is not optional")
                continue
            message = self.check_value(schema, parsed[key], f"{where}.{key}")
            if message is not None:
                problems.append(f"{where}.{key}: {message}")
        return "format error: " + "; ".join(problems) if problems else None

    def _pattern(self, pattern: str) -> Pattern[str]:
        if pattern not in self._patterns:
            self._patterns[pattern] = perl_pattern(pattern)
        return self._patterns[pattern]


def _all_patterns(node: Any) -> List[str]:
    found: List[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_all_patterns(value))
    return found


_LOADED: Optional[PveSchema] = None


def load(path: str = SCHEMA_FILE) -> PveSchema:
    """The schema in tests/doubles (read once per process for the default file)."""
    global _LOADED
    if path != SCHEMA_FILE:
        with open(path, encoding="utf-8") as f:
            return PveSchema(json.load(f))
    if _LOADED is None:
        with open(path, encoding="utf-8") as f:
            _LOADED = PveSchema(json.load(f))
    return _LOADED
