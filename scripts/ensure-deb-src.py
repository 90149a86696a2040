#!/usr/bin/env python3
"""Add deb-src entries mirroring the configured `deb` suites, when none exist.

`apt-get source crun` needs a deb-src entry, which Debian's cloud and container
images usually leave out. This writes one file, /etc/apt/sources.list.d/
lxcri-deb-src.sources, that mirrors the deb822 and one-line `deb` entries already
configured, and says so. It changes nothing when a deb-src entry already exists.
"""
import glob
import os
import sys

TARGET = "/etc/apt/sources.list.d/lxcri-deb-src.sources"


def deb822_stanzas(path):
    with open(path) as f:
        text = f.read()
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields:
            yield fields


def one_line_entries(path):
    with open(path) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] in ("deb", "deb-src"):
                opts = ""
                if words[1].startswith("["):
                    end = next(i for i, w in enumerate(words) if w.endswith("]"))
                    opts, words = " ".join(words[1:end + 1]), [words[0]] + words[end + 1:]
                yield words[0], opts, words[1], words[2], words[3:]


def main():
    entries = []  # (uris, suites, components, signed_by)
    for path in glob.glob("/etc/apt/sources.list.d/*.sources"):
        for st in deb822_stanzas(path):
            if st.get("enabled", "yes").lower() == "no":
                continue
            types = st.get("types", "").split()
            if "deb-src" in types:
                return 0
            if "deb" in types:
                entries.append((st.get("uris", ""), st.get("suites", ""),
                                st.get("components", "main"), st.get("signed-by", "")))
    for path in ["/etc/apt/sources.list"] + glob.glob("/etc/apt/sources.list.d/*.list"):
        if not os.path.exists(path):
            continue
        for kind, _opts, uri, suite, comps in one_line_entries(path):
            if kind == "deb-src":
                return 0
            entries.append((uri, suite, " ".join(comps) or "main", ""))
    # Third-party repositories rarely carry sources; keep the distribution's own.
    entries = [e for e in entries if "debian" in e[0] or "ubuntu" in e[0]]
    if not entries:
        print("lxcri: no Debian/Ubuntu apt entry to mirror as deb-src; set LXCRI_CRUN_SRC "
              "to a crun source tarball or tree", file=sys.stderr)
        return 1
    with open(TARGET, "w") as f:
        for uris, suites, comps, signed in entries:
            f.write(f"Types: deb-src\nURIs: {uris}\nSuites: {suites}\nComponents: {comps}\n")
            if signed:
                f.write(f"Signed-By: {signed}\n")
            f.write("\n")
    print(f"lxcri: added deb-src entries for the configured suites in {TARGET} "
          "(needed by `apt-get source crun`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
