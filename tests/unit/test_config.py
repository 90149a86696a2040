"""lxcri.toml: parsing, validation messages (file:line and key), rule matching."""
from __future__ import annotations

from pathlib import Path

import pytest

from lxcri import config
from lxcri.config import Rule
from lxcri.errors import ConfigFileError

EXAMPLE = b"""\
default_runtime = "crun"
[[routing]]
pattern = "db-*"        # glob; a pattern starting with ^ or ending with $ is a regex
runtime = "lxc"
[[routing]]
pattern = "^ci-[0-9]+$"
runtime = "runc"
[[routing]]
annotation = "tier"
pattern = "batch"
runtime = "runc"
[runtimes.runc]
path = "/usr/sbin/runc"
[runtimes.lxc]
driver = "auto"
[runtimes.lxc.proxmox]
endpoint = "https://pve.example:8006"
token_secret = "hunter2"
verify_ssl = false
rootfs_size = 4
"""


def test_the_issue_example_loads() -> None:
    cfg = config.parse(EXAMPLE, "/etc/lxcri/lxcri.toml")
    assert cfg.default_runtime == "crun"
    assert [(r.pattern, r.runtime, r.annotation, r.line) for r in cfg.rules] == [
        ("db-*", "lxc", None, 3), ("^ci-[0-9]+$", "runc", None, 6), ("batch", "runc", "tier", 10)]
    assert cfg.options("runc") == {"path": "/usr/sbin/runc"}
    assert cfg.options("lxc")["proxmox"]["rootfs_size"] == 4
    assert cfg.options("vm") == {}
    shown = cfg.to_dict()
    assert shown["runtimes"]["lxc"]["proxmox"]["token_secret"] == "<redacted>"
    assert "hunter2" not in repr(shown)
    assert [r.runtime for r in cfg.all_rules()][-1] == "lxc"  # the built-in lxc-* rule comes last


@pytest.mark.parametrize("text,message", [
    (b'bogus = 1\n', "f.toml:1: unknown key 'bogus'; known keys: default_runtime, [[routing]], "
                     "[runtimes.NAME]"),
    (b'[runtimes.runc]\npath = "/x"\nflags = []\n', "f.toml:3: unknown key 'flags' in "
                                                   "[runtimes.runc]; known keys: path"),
    (b'[runtimes.lxc.proxmox]\nnode = "a"\nsecret = "x"\n', "f.toml:3: unknown key 'secret' in "
                                                           "[runtimes.lxc.proxmox]"),
    (b'[runtimes.docker]\n', "f.toml:1: unknown runtime [runtimes.docker]; known: crun, runc, lxc, vm"),
    (b'default_runtime = "kvm"\n', "f.toml:1: unknown runtime 'kvm' for 'default_runtime'"),
    (b'[[routing]]\npattern = "a"\nruntime = "podman"\n', "f.toml:3: unknown runtime 'podman'"),
    (b'[[routing]]\npattern = "a"\n\n[[routing]]\npattern = "^(b$"\nruntime = "runc"\n',
     "f.toml:1: [[routing]] entry 1 has no 'runtime'"),
    (b'[[routing]]\npattern = "a*"\nruntime = "runc"\n[[routing]]\npattern = "^(b$"\n'
     b'runtime = "runc"\n', "f.toml:5: bad pattern '^(b$': missing ), unterminated subpattern"),
    (b'[[routing]]\npattern = 7\nruntime = "runc"\n', "f.toml:2: 'pattern' must be a string, not 7"),
    (b'[runtimes.lxc.proxmox]\nverify_ssl = "no"\n', "f.toml:2: 'verify_ssl' must be a boolean"),
    (b'[runtimes.lxc.proxmox]\nrootfs_size = true\n', "f.toml:2: 'rootfs_size' must be a whole"),
    (b'[runtimes.lxc]\ndriver = "pve"\n', "f.toml:2: unknown value 'pve' for 'driver'; use one "
                                          "of: auto, liblxc, proxmox"),
    (b'a = 1\nb = = 2\n', "f.toml:2: TOML syntax error: Invalid value"),
    (b'routing = "x"\n', "f.toml:1: routing must be a list of [[routing]] tables"),
    (b'runtimes = 3\n', "f.toml:1: runtimes must be a table"),
    (b'[runtimes]\nrunc = 1\n', "f.toml:2: runtimes.runc must be a table"),
    (b'\xff\xfe', "f.toml: not UTF-8 text"),
])
def test_every_problem_is_one_line_naming_file_line_and_key(text: bytes, message: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        config.parse(text, "f.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_file_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXCRI_CONFIG", raising=False)
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "absent.toml"))
    assert config.load().path is None  # no default file: defaults, no error
    given = tmp_path / "given.toml"
    given.write_text('default_runtime = "runc"\n')
    monkeypatch.setenv("LXCRI_CONFIG", str(given))
    assert config.load().default_runtime == "runc"
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('default_runtime = "lxc"\n')
    assert config.load(str(explicit)).default_runtime == "lxc"  # an explicit path beats the env
    with pytest.raises(ConfigFileError, match="from the path given"):
        config.load(str(tmp_path / "x.toml"))
    monkeypatch.setenv("LXCRI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigFileError, match=r"missing.toml \(from \$LXCRI_CONFIG\) does not exist"):
        config.load()


@pytest.mark.parametrize("pattern,id,matches", [
    ("db-*", "db-1", True), ("db-*", "xdb-1", False), ("db-?", "db-12", False),
    ("db-[0-9]", "db-7", True), ("^db-", "db-anything", True), ("^db-", "adb-", False),
    ("-prod$", "web-prod", True), ("-prod$", "web-prod-2", False), ("lxc-*", "lxc-x", True),
    ("lxc-*", "lxcx", False), ("*", "", True),
])
def test_patterns_glob_or_regex(pattern: str, id: str, matches: bool) -> None:
    assert Rule(pattern, "runc").matches(id, {}) is matches


def test_rules_match_names_or_a_chosen_annotation() -> None:
    by_name = Rule("web-*", "runc")
    assert by_name.matches("8f18c0ffee", {"lxcri.name": "web-1"})
    assert by_name.matches("8f18c0ffee", {"io.kubernetes.cri.container-name": "web-2"})
    assert by_name.matches("8f18c0ffee", {"io.kubernetes.container.name": "web-3"})
    assert not by_name.matches("8f18c0ffee", {"other": "web-4"})
    by_annotation = Rule("batch*", "runc", annotation="tier")
    assert by_annotation.matches("x", {"tier": "batch-1"})
    assert not by_annotation.matches("batch-id", {})  # only the annotation counts
    assert by_annotation.describe() == "annotation tier matches glob 'batch*' -> runc"
    assert Rule("^a$", "lxc").describe() == "id or name matches regex '^a$' -> lxc"
