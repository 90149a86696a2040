"""Signal names and numbers, without the `signal` module (it imports enum: ~5 ms of a
`kill` command)."""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

LINUX_NSIG = 65  # signals 1..64 on the architectures Proxmox VE runs on (x86_64, arm64)

# Linux's signal numbers, the same on x86_64 and arm64 (the generic table); glibc keeps
# 32 and 33 for itself, so SIGRTMIN is 34.
NUMBERS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}
SIGRTMIN, SIGRTMAX = 34, 64


def number(text: str) -> "Optional[int]":
    """The signal a name ("TERM", "SIGTERM", "term"), a number or "RTMIN+N" names; None
    when it names none."""
    if text.isdigit():
        return int(text) if 0 < int(text) < LINUX_NSIG else None
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in NUMBERS:
        return NUMBERS[name]
    for base, at in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return at
        if name.startswith(base) and name[len(base):len(base) + 1] in ("+", "-"):
            try:
                num = at + int(name[len(base):])
            except ValueError:
                return None
            return num if SIGRTMIN <= num <= SIGRTMAX else None
    return None
