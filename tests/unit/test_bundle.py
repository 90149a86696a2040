"""Unit tests of lxcri.bundle: container id rules, bundle loading, schema explanations."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lxcri import bundle as bundle_mod
from lxcri import bundle_full
from lxcri.bundle import MAX_ID_BYTES, Bundle, explain_libcrun_rejection, explain_schema, load_bundle, validate_id
from lxcri.errors import InvalidArgument, InvalidBundle

REPO = Path(__file__).resolve().parents[2]
SCHEMA_CANDIDATES = [
    REPO / "lxcri" / "_schema",
    REPO / "build" / "crun" / "src" / "libocispec" / "runtime-spec" / "schema",
]


def minimal_config() -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["/bin/true"], "env": ["PATH=/bin"]},
    }


def make_bundle(tmp_path: Path, config: Any = None, rootfs: bool = True) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    text = json.dumps(minimal_config() if config is None else config)
    (bundle / "config.json").write_text(text)
    if rootfs:
        (bundle / "rootfs").mkdir()
    return bundle


@pytest.fixture
def schema_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point LXCRI_SCHEMA_DIR at the OCI schema: the installed copy, else the crun tree."""
    for candidate in SCHEMA_CANDIDATES:
        if (candidate / "config-schema.json").is_file():
            monkeypatch.setenv("LXCRI_SCHEMA_DIR", str(candidate))
            return candidate
    pytest.skip("no OCI schema: neither lxcri/_schema nor build/crun's runtime-spec/schema "
                "exists (build crun first)")


@pytest.fixture
def no_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LXCRI_SCHEMA_DIR", str(tmp_path / "no-such-schema-dir"))


# --- container ids -----------------------------------------------------------

@pytest.mark.parametrize("good", ["a", "web-1", "x.y_z", "a.b.c", "ÿ-é", "x" * MAX_ID_BYTES])
def test_valid_ids_are_returned_unchanged(good: str) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize("bad, reason", [
    ("", "must not be empty"),
    ("a/b", "must not contain '/'"),
    ("/", "must not contain '/'"),
    (".", "must not start with '.'"),
    (".lxcri", "must not start with '.'"),
    (".hidden", "must not start with '.'"),
    ("..", "must not start with '.'"),
    ("a..b", "must not contain '..'"),
    ("ab c", "whitespace or control"),
    ("a\tb", "whitespace or control"),
    ("a\nb", "whitespace or control"),
    ("a\x00b", "whitespace or control"),
    ("a\x7fb", "whitespace or control"),
    ("a\u00a0b", "whitespace or control"),
])
def test_invalid_ids_are_rejected_with_the_reason(bad: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_id(bad)
    message = str(info.value)
    assert message.startswith(f"invalid container id {bad!r}: ")
    assert reason in message
    assert "use letters, digits" in message
    assert "\n" not in message


def test_id_one_byte_too_long_is_rejected_and_truncated_in_the_message() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_id("x" * (MAX_ID_BYTES + 1))
    message = str(info.value)
    assert f"longer than {MAX_ID_BYTES} bytes" in message
    assert len(message) < 200


def test_id_length_counts_utf8_bytes_not_characters() -> None:
    too_long = "é" * (MAX_ID_BYTES // 2 + 1)  # 513 characters, 1026 bytes
    assert len(too_long) < MAX_ID_BYTES
    with pytest.raises(InvalidArgument, match="bytes in UTF-8"):
        validate_id(too_long)
    assert validate_id("é" * (MAX_ID_BYTES // 2)) == "é" * (MAX_ID_BYTES // 2)


def test_id_that_is_not_a_string_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="must be a str"):
        validate_id(b"abc")  # type: ignore[arg-type]


# --- loading a bundle -----------------------------------------------------------

def test_valid_bundle_gives_absolute_paths(tmp_path: Path, no_schema: None) -> None:
    bundle_dir = make_bundle(tmp_path)
    loaded = load_bundle(str(bundle_dir))
    assert isinstance(loaded, Bundle)
    assert loaded.path == os.path.realpath(bundle_dir)
    assert loaded.config_path == os.path.join(loaded.path, "config.json")
    assert loaded.rootfs == os.path.join(loaded.path, "rootfs")
    assert all(os.path.isabs(p) for p in (loaded.path, loaded.config_path, loaded.rootfs))
    assert loaded.config == minimal_config()


def test_bundle_none_means_the_current_directory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bundle_dir = make_bundle(tmp_path)
    monkeypatch.chdir(bundle_dir)
    assert load_bundle(None).path == os.path.realpath(bundle_dir)


def test_relative_bundle_is_made_absolute(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bundle_dir = make_bundle(tmp_path)
    monkeypatch.chdir(tmp_path)
    loaded = load_bundle("bundle")
    assert loaded.path == os.path.realpath(bundle_dir)
    assert os.path.isabs(loaded.rootfs)


def test_bundle_path_is_realpathed(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(bundle_dir)
    assert load_bundle(str(link)).path == os.path.realpath(bundle_dir)


def test_relative_config_is_resolved_against_the_bundle(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "other.json").write_text(json.dumps(minimal_config()))
    loaded = load_bundle(str(bundle_dir), config="other.json")
    assert loaded.config_path == os.path.join(os.path.realpath(bundle_dir), "other.json")


def test_absolute_config_is_used_as_is(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    elsewhere = tmp_path / "elsewhere.json"
    config = minimal_config()
    config["hostname"] = "from-elsewhere"
    elsewhere.write_text(json.dumps(config))
    loaded = load_bundle(str(bundle_dir), config=str(elsewhere))
    assert loaded.config_path == str(elsewhere)
    assert loaded.config["hostname"] == "from-elsewhere"
    # root.path stays relative to the bundle, not to the config file.
    assert loaded.rootfs == os.path.join(os.path.realpath(bundle_dir), "rootfs")


def test_absolute_root_path_is_kept(tmp_path: Path) -> None:
    rootfs = tmp_path / "somewhere" / "root"
    rootfs.mkdir(parents=True)
    config = minimal_config()
    config["root"]["path"] = str(rootfs)
    loaded = load_bundle(str(make_bundle(tmp_path, config, rootfs=False)))
    assert loaded.rootfs == os.path.realpath(rootfs)


def test_missing_bundle_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(missing))
    assert str(info.value) == (f"bundle {missing} does not exist: pass --bundle DIR, "
                               "a directory holding config.json and the rootfs")


def test_bundle_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(InvalidBundle, match=f"bundle {a_file} is not a directory: pass --bundle"):
        load_bundle(str(a_file))


def test_missing_config(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "config.json").unlink()
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    assert f"{os.path.realpath(bundle_dir)}/config.json not found" in str(info.value)


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "cfgdir").mkdir()
    with pytest.raises(InvalidBundle, match="cfgdir is a directory"):
        load_bundle(str(bundle_dir), config="cfgdir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "config.json").chmod(0)
    with pytest.raises(InvalidBundle, match="config.json cannot be read: Permission denied"):
        load_bundle(str(bundle_dir))


def test_unreadable_config_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same as above, by injecting EACCES so that it also runs as root."""
    bundle_dir = make_bundle(tmp_path)
    real_open = open

    def deny(path: Any, *args: Any, **kw: Any) -> Any:
        if str(path).endswith("config.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    assert "config.json cannot be read: Permission denied" in str(info.value)
    assert info.value.errno == 13


def test_config_not_json_names_line_and_column(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "config.json").write_text('{\n  "ociVersion": "1.0.2",\n  "root": }\n')
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    config_path = os.path.join(os.path.realpath(bundle_dir), "config.json")
    assert str(info.value) == (f"{config_path} is not valid JSON: Expecting value "
                               "at line 3 column 11")


def test_config_not_utf8(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    (bundle_dir / "config.json").write_bytes(b'{"ociVersion": "\xff"}')
    with pytest.raises(InvalidBundle, match="config.json is not valid JSON: not UTF-8"):
        load_bundle(str(bundle_dir))


def test_config_top_level_not_an_object(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path, config=["not", "an", "object"])
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    assert "config.json: $: the top level must be a JSON object, not an array" in str(info.value)


def edit(change: str) -> dict[str, Any]:
    """minimal_config() with one change applied, written as `path=json` or `path=DELETE`."""
    config = minimal_config()
    path, _, value = change.partition("=")
    *parents, last = path.split(".")
    target = config
    for key in parents:
        target = target[key]
    if value == "DELETE":
        del target[last]
    else:
        target[last] = json.loads(value)
    return config


# Each case breaks one cheap check: the message must name the JSON path either
# way, whether it comes from the cheap check or from the full schema.
STRUCTURE_CASES = [
    ("ociVersion=DELETE", "ociVersion"),
    ("ociVersion=102", "ociVersion"),
    ("root=DELETE", "root"),
    ("root=\"rootfs\"", "root"),
    ("root.path=DELETE", "root.path"),
    ("root.path=7", "root.path"),
    ("root.path=\"\"", "root.path"),
    ("process=[]", "process"),
    ("process.args=DELETE", "process.args"),
    ("process.args=\"echo hi\"", "process.args"),
    ("process.args=[]", "process.args"),
    ("process.args=[1]", "process.args[0]"),
    ("process.args=[\"sh\", null]", "process.args[1]"),
    ("process.cwd=5", "process.cwd"),
    ("process.env=\"PATH=/bin\"", "process.env"),
    ("process.env=[\"A=1\", 2]", "process.env[1]"),
]


@pytest.mark.parametrize("change, field", STRUCTURE_CASES)
def test_structure_errors_without_schema(tmp_path: Path, no_schema: None,
                                         change: str, field: str) -> None:
    bundle_dir = make_bundle(tmp_path, edit(change))
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    message = str(info.value)
    config_path = os.path.join(os.path.realpath(bundle_dir), "config.json")
    assert message.startswith(f"{config_path}: {field}: ")
    assert "\n" not in message


# The schema reports a missing property at its parent, naming the property.
SCHEMA_FIELD = {
    "ociVersion=DELETE": "$: 'ociVersion' is a required property",
    "root.path=DELETE": "root: 'path' is a required property",
}


@pytest.mark.parametrize("change, field", STRUCTURE_CASES)
def test_structure_errors_with_schema(tmp_path: Path, schema_dir: Path,
                                      change: str, field: str) -> None:
    bundle_dir = make_bundle(tmp_path, edit(change))
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    config_path = os.path.join(os.path.realpath(bundle_dir), "config.json")
    assert str(info.value).startswith(f"{config_path}: {SCHEMA_FIELD.get(change, field)}")


def test_schema_message_wins_over_the_cheap_one(tmp_path: Path, schema_dir: Path) -> None:
    bundle_dir = make_bundle(tmp_path, edit("process.args=[1]"))
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    assert str(info.value).endswith("process.args[0]: 1 is not of type 'string'")


def test_missing_rootfs(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path, rootfs=False)
    real = os.path.realpath(bundle_dir)
    with pytest.raises(InvalidBundle) as info:
        load_bundle(str(bundle_dir))
    assert str(info.value) == (f"rootfs {real}/rootfs (root.path in {real}/config.json) "
                               "does not exist: create it or fix root.path")


def test_rootfs_that_is_a_file(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path, rootfs=False)
    (bundle_dir / "rootfs").write_text("")
    with pytest.raises(InvalidBundle, match=r"rootfs .*/rootfs \(root.path in .*config.json\) "
                                            "is not a directory"):
        load_bundle(str(bundle_dir))


# --- the full schema ----------------------------------------------------------

def test_valid_config_passes_the_schema(schema_dir: Path) -> None:
    assert explain_schema(minimal_config()) is None


def test_schema_names_process_args(schema_dir: Path) -> None:
    config = edit("process.args=\"echo hi\"")
    message = explain_schema(config, "/b/config.json")
    assert message == "/b/config.json: process.args: 'echo hi' is not of type 'array'"


def test_schema_names_the_mount_without_destination(schema_dir: Path) -> None:
    config = minimal_config()
    config["mounts"] = [{"source": "/src", "type": "bind"}]
    message = explain_schema(config)
    assert message == "config.json: mounts[0]: 'destination' is a required property"


def test_schema_follows_refs_into_the_linux_files(schema_dir: Path) -> None:
    config = minimal_config()
    config["linux"] = {"namespaces": [{"type": "pid"}, {"type": "bogus"}]}
    message = explain_schema(config)
    assert message is not None
    assert message.startswith("config.json: linux.namespaces[1].type: 'bogus' is not one of")


def test_schema_quotes_keys_that_are_not_identifiers(schema_dir: Path) -> None:
    config = minimal_config()
    config["annotations"] = {"io.example/key": 1}
    assert explain_schema(config) == (
        'config.json: annotations["io.example/key"]: 1 is not of type \'string\'')


def test_schema_error_at_the_top_level_is_named_dollar(schema_dir: Path) -> None:
    message = explain_schema({"root": {"path": "rootfs"}})
    assert message == "config.json: $: 'ociVersion' is a required property"


def test_schema_message_is_one_short_line(schema_dir: Path) -> None:
    config = minimal_config()
    config["process"]["args"] = {"k%d" % i: "v\n" * 50 for i in range(50)}
    message = explain_schema(config)
    assert message is not None and message.startswith("config.json: process.args: ")
    assert "\n" not in message and len(message) < 300


def test_old_refresolver_path_gives_the_same_answer(schema_dir: Path) -> None:
    """jsonschema < 4.18 has no `referencing`: the RefResolver fallback must resolve refs too."""
    from jsonschema.exceptions import best_match

    schemas = bundle_full._load_schemas(str(schema_dir))
    new = bundle_full._build_validator(schemas, str(schema_dir), use_referencing=True)
    with pytest.warns(DeprecationWarning):
        old = bundle_full._build_validator(schemas, str(schema_dir), use_referencing=False)
    for broken in ({"mounts": [{"source": "/src"}]},
                   {"linux": {"namespaces": [{"type": "bogus"}]}}):
        config = {**minimal_config(), **broken}
        answers = {bundle_full._render_path(best_match(v.iter_errors(config)).absolute_path)
                   for v in (new, old)}
        assert answers in ({"mounts[0]"}, {"linux.namespaces[0].type"})


def test_missing_schema_dir_gives_none(no_schema: None) -> None:
    assert explain_schema(edit("process.args=\"echo hi\"")) is None


def test_explain_libcrun_rejection_prefers_the_schema(tmp_path: Path, schema_dir: Path) -> None:
    loaded = load_bundle(str(make_bundle(tmp_path)))
    object.__setattr__(loaded, "config", {**loaded.config, "mounts": [{}]})
    assert explain_libcrun_rejection(loaded, "mount: invalid") == (
        f"{loaded.config_path}: mounts[0]: 'destination' is a required property")


def test_explain_libcrun_rejection_falls_back_to_libcrun(tmp_path: Path, schema_dir: Path) -> None:
    loaded = load_bundle(str(make_bundle(tmp_path)))
    assert explain_libcrun_rejection(loaded, "unknown cgroup controller") == (
        f"{loaded.config_path}: unknown cgroup controller")


def test_explain_libcrun_rejection_without_schema(tmp_path: Path, no_schema: None) -> None:
    loaded = load_bundle(str(make_bundle(tmp_path)))
    object.__setattr__(loaded, "config", {**loaded.config, "mounts": [{}]})
    assert explain_libcrun_rejection(loaded, "mount: invalid") == (
        f"{loaded.config_path}: mount: invalid")


# --- import cost ----------------------------------------------------------------

def test_importing_bundle_and_loading_a_valid_bundle_skip_jsonschema(tmp_path: Path) -> None:
    bundle_dir = make_bundle(tmp_path)
    code = ("import sys, lxcri.bundle as b; "
            "before = 'jsonschema' in sys.modules; "
            f"b.load_bundle({str(bundle_dir)!r}); "
            "print(before, 'jsonschema' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_the_nofile_check_refuses_a_config_nested_too_deep_to_read(tmp_path: Path) -> None:
    """A config.json nested deeper than Python parses hides its rlimits from the check,
    and libcrun would still read it (a fuzzed case set RLIMIT_NOFILE 0 so): refused."""
    doc = {"ociVersion": "1.0.2", "process": {"args": ["true"], "rlimits": [
        {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 0}]}, "linux": {"x": "@deep@"}}
    path = tmp_path / "config.json"
    # The fuzzed case: 1100 levels, past Python 3.11's limit; 3.12+ parse it and find the
    # rlimit. Refused either way.
    path.write_text(json.dumps(doc).replace('"@deep@"', "[" * 1100 + "]" * 1100))
    with pytest.raises(bundle_mod.InvalidBundle,
                       match="nests arrays or objects deeper|RLIMIT_NOFILE 0 is too low"):
        bundle_mod.check_config_limits(str(path))
    path.write_text(json.dumps(doc).replace('"@deep@"', "[" * 100000 + "]" * 100000))
    with pytest.raises(bundle_mod.TooDeep, match="nests arrays or objects deeper"):
        bundle_mod.check_config_limits(str(path))
    path.write_text(json.dumps(doc).replace('"@deep@"', "[" * 10 + "]" * 10))
    with pytest.raises(bundle_mod.InvalidBundle, match="RLIMIT_NOFILE 0 is too low"):
        bundle_mod.check_config_limits(str(path))
    path.write_text(json.dumps(doc).replace('"@deep@"', "["))   # not JSON: left to libcrun
    bundle_mod.check_config_limits(str(path))


def _nofile_doc(entry: object, **extra: object) -> dict[str, Any]:
    return {"ociVersion": "1.0.2", "process": {"args": ["true"], "rlimits": [entry]}, **extra}


PLAIN_NOFILE = {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}


@pytest.mark.parametrize("data, plain", [
    (json.dumps(_nofile_doc(PLAIN_NOFILE)), True),
    (json.dumps(_nofile_doc(PLAIN_NOFILE), indent=2), True),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 64, "soft": 64})), True),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 63})), False),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 0, "soft": 1024})), False),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 1024})), False),  # soft 0
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": "1024"})), False),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": -1})), False),
    (json.dumps(_nofile_doc({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1e9})), False),
    (json.dumps(_nofile_doc({**PLAIN_NOFILE, "x": 1})), False),
    (json.dumps(_nofile_doc(PLAIN_NOFILE)).replace('"soft": 1024', '"soft": 1024, "soft": 0'),
     False),
    # another mention anywhere, an escape that could spell one, a name inside a string
    (json.dumps(_nofile_doc(PLAIN_NOFILE, annotations={"a": "RLIMIT_NOFILE"})), False),
    (json.dumps(_nofile_doc(PLAIN_NOFILE, annotations={"a": "\u00e9"})), False),
    (json.dumps(_nofile_doc({"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                            annotations={"a": json.dumps(PLAIN_NOFILE)})), False),
    # nested enough that only the parse can tell
    (json.dumps(_nofile_doc(PLAIN_NOFILE)).replace('["true"]', "[" * 401 + "]" * 401), False),
])
def test_a_plain_nofile_entry_is_read_without_json(data: str, plain: bool) -> None:
    """What lets a create skip the json import (bundle._nofile_plainly_enough) answers
    True only where the full parse finds no RLIMIT_NOFILE below MIN_NOFILE."""
    raw = data.encode()
    assert bundle_mod._nofile_plainly_enough(raw) is plain
    if plain:
        nofile = bundle_mod._rlimit_in(json.loads(raw), "RLIMIT_NOFILE")
        assert nofile is None or nofile >= bundle_mod.MIN_NOFILE


def test_the_nofile_check_of_a_default_bundle_imports_no_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_nofile_doc(PLAIN_NOFILE), indent=2))
    code = ("import sys; from lxcri import bundle; bundle.check_config_limits(sys.argv[1]); "
            "print('lxcri.jsonlite' in sys.modules, '_json' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True,
                          text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr


@pytest.mark.parametrize("name", ["RLIMIT_NOFIL\\u0045", "\\u0052LIMIT_NOFILE",
                                  "RLIMIT\\u005fNOFILE"])
def test_the_nofile_check_reads_a_name_spelled_with_escapes(tmp_path: Path, name: str) -> None:
    """libcrun's parser decodes `\\u` escapes in strings, so a type spelled with them is
    RLIMIT_NOFILE to libcrun: the check parses such a file, and refuses a low limit."""
    path = tmp_path / "config.json"
    doc = json.dumps(_nofile_doc({"type": "@name@", "hard": 1024, "soft": 0}))
    path.write_text(doc.replace("@name@", name))
    assert json.loads(path.read_text())["process"]["rlimits"][0]["type"] == "RLIMIT_NOFILE"
    with pytest.raises(bundle_mod.InvalidBundle, match="RLIMIT_NOFILE 0 is too low"):
        bundle_mod.check_config_limits(str(path))
    path.write_text(doc.replace("@name@", name).replace('"soft": 0', '"soft": 1024'))
    bundle_mod.check_config_limits(str(path))  # enough: accepted
