"""Reference table of the exit codes the installer scripts report.

The table gives every known code one category (the same classification the
current client uses for ``error_category``, so server-side grouping agrees
with it) and one or more human-readable descriptions written for this project.
A few codes mean different things in different tool families (the scripts'
own codes overlap with the Python, PostgreSQL, MySQL/MariaDB, Node.js, npm and
MongoDB ranges), so descriptions are a tuple, each qualified by its family.

The previous client sends no exit code at all, only its own explanation text;
``infer_exit_code_from_text`` maps exactly those texts back to a code so old
reports can be counted in the same histograms.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "ABORT_EXIT_CODES",
    "CATEGORIES",
    "ExitCode",
    "all_exit_codes",
    "category_for",
    "infer_exit_code_from_text",
    "lookup_exit_code",
]


@dataclass(frozen=True, slots=True)
class ExitCode:
    """One exit code, its category and its (family-qualified) meanings."""

    code: int
    category: str
    descriptions: tuple[str, ...]


CATEGORIES: Final[tuple[str, ...]] = (
    # Categories the installer client itself assigns.
    "network",
    "config",
    "timeout",
    "storage",
    "dependency",
    "permission",
    "proxmox",
    "service",
    "database",
    "runtime",
    "user_aborted",
    "resource",
    "signal",
    "shell",
    "unknown",
    # Categories only server-side peers assign; accepted so their data fits.
    "apt",
    "command_not_found",
    "build",
    "preflight",
)

ABORT_EXIT_CODES: Final[frozenset[int]] = frozenset({129, 130, 143})
"""Codes that mean the user (or their session) stopped the run, not a failure."""

_UNKNOWN_DESCRIPTION: Final = "Unknown exit code"
_SUCCESS_DESCRIPTION: Final = "Success"

# code -> (category, descriptions). Categories: docs/semantics.md, "Exit codes"; codes that
# only the previous client's text table knows (232-234, 241, 242, 244,
# 251-254) are database codes there, so they are filed under "database".
_TABLE: Final[dict[int, tuple[str, tuple[str, ...]]]] = {
    # Shell and generic process status.
    1: ("shell", ("Shell: generic failure (catch-all non-zero status)",)),
    2: ("shell", ("Shell: builtin used wrongly or script syntax error",)),
    10: ("config", ("Config: needs a privileged container or Docker-capable host",)),
    124: ("timeout", ("Timeout: command exceeded the limit set by timeout(1)",)),
    126: ("permission", ("Shell: command exists but cannot be executed (permissions or format)",)),
    127: ("dependency", ("Shell: command not found (missing package or PATH)",)),
    128: ("config", ("Shell: exit called with an out-of-range status",)),
    129: ("user_aborted", ("Signal: hang-up (SIGHUP), e.g. the terminal or SSH session closed",)),
    130: ("user_aborted", ("Signal: interrupted from the keyboard (SIGINT, Ctrl+C)",)),
    134: (
        "resource",
        ("Signal: process aborted itself (SIGABRT), often after running out of heap",),
    ),
    137: ("resource", ("Signal: killed outright (SIGKILL), usually by the out-of-memory killer",)),
    139: ("signal", ("Signal: invalid memory access (SIGSEGV, segmentation fault)",)),
    141: ("signal", ("Signal: wrote to a pipe nobody reads any more (SIGPIPE)",)),
    143: ("user_aborted", ("Signal: asked to terminate (SIGTERM)",)),
    # curl.
    6: ("network", ("curl: host name could not be resolved (DNS)",)),
    7: ("network", ("curl: no connection to the server (host down or unreachable)",)),
    22: ("network", ("curl: server answered with an HTTP error status (4xx/5xx)",)),
    28: ("timeout", ("curl: transfer timed out",)),
    35: ("network", ("curl: TLS handshake failed (certificate or protocol problem)",)),
    # APT / dpkg.
    100: ("dependency", ("APT: package operation failed (broken or conflicting packages)",)),
    101: ("dependency", ("APT: unusable configuration (sources list or apt settings)",)),
    102: ("dependency", ("APT: package database locked by another apt/dpkg process",)),
    255: ("dependency", ("dpkg: unrecoverable internal error",)),
    # Systemd services and builds.
    150: ("service", ("Service: systemd unit failed to start",)),
    151: ("service", ("Service: systemd unit does not exist",)),
    152: ("permission", ("Service: access denied (EACCES)",)),
    153: ("service", ("Service: building from source failed (make, gcc, cmake)",)),
    154: ("service", ("Service: native Node.js addon could not be built (node-gyp)",)),
    # Python (current client's range).
    160: ("dependency", ("Python: virtual environment (venv/uv) missing or unusable",)),
    161: ("dependency", ("Python: dependencies could not be resolved",)),
    162: ("dependency", ("Python: install refused (permissions or externally managed env)",)),
    # Databases (current client's ranges).
    170: ("database", ("Database: PostgreSQL server unreachable",)),
    171: ("database", ("Database: PostgreSQL rejected the credentials",)),
    172: ("database", ("Database: PostgreSQL database missing",)),
    173: ("database", ("Database: PostgreSQL query failed",)),
    180: ("database", ("Database: MySQL/MariaDB server unreachable",)),
    181: ("database", ("Database: MySQL/MariaDB rejected the credentials",)),
    182: ("database", ("Database: MySQL/MariaDB database missing",)),
    183: ("database", ("Database: MySQL/MariaDB query failed",)),
    190: ("database", ("Database: MongoDB server unreachable",)),
    191: ("database", ("Database: MongoDB rejected the credentials",)),
    192: ("database", ("Database: MongoDB database missing",)),
    193: ("database", ("Database: MongoDB query failed",)),
    # The scripts' own container/VM creation codes.
    200: ("proxmox", ("Scripts: could not create the lock file",)),
    203: ("config", ("Scripts: container ID (CTID) not set",)),
    204: ("config", ("Scripts: container OS type (PCT_OSTYPE) not set",)),
    205: ("config", ("Scripts: container ID below 100",)),
    206: ("config", ("Scripts: container ID already taken",)),
    207: ("config", ("Scripts: password holds special characters that were not escaped",)),
    208: ("config", ("Scripts: malformed network settings (DNS, MAC or address format)",)),
    209: ("proxmox", ("Scripts: pct create could not create the container",)),
    210: (
        "proxmox",
        (
            "Scripts: Proxmox cluster has lost quorum",
            "Python: virtual environment (venv/uv) missing or unusable",
        ),
    ),
    211: (
        "timeout",
        (
            "Scripts: gave up waiting for another template download's lock",
            "Python: dependencies could not be resolved",
        ),
    ),
    212: (
        "proxmox",
        (
            "Scripts: chosen storage type cannot hold containers (VM-only, e.g. iscsidirect)",
            "Python: install refused (permissions or externally managed env)",
        ),
    ),
    213: ("proxmox", ("Scripts: chosen storage does not allow container root disks",)),
    214: ("storage", ("Scripts: not enough free space on the storage",)),
    215: ("proxmox", ("Scripts: container was created but is not listed (ghost)",)),
    216: ("proxmox", ("Scripts: container config has no root filesystem entry",)),
    217: ("storage", ("Scripts: storage unusable for container root disks or unreachable",)),
    218: ("proxmox", ("Scripts: downloaded template is damaged or truncated",)),
    219: ("storage", ("Storage: CephFS cannot hold container disks (use RBD)",)),
    220: ("proxmox", ("Scripts: path of the template could not be determined",)),
    221: ("proxmox", ("Scripts: template file present but unreadable",)),
    222: ("proxmox", ("Scripts: template download kept failing after retries",)),
    223: ("proxmox", ("Scripts: template still missing after the download",)),
    224: ("storage", ("Storage: Proxmox Backup Server storage only holds backups",)),
    225: ("proxmox", ("Scripts: no template offered for the chosen OS and version",)),
    231: (
        "proxmox",
        (
            "Scripts: upgrading or retrying the LXC stack failed (pve-container too old)",
            "PostgreSQL: server unreachable",
        ),
    ),
    # PostgreSQL / MySQL / MongoDB (previous client's ranges).
    232: ("database", ("PostgreSQL: credentials rejected",)),
    233: ("database", ("PostgreSQL: database missing",)),
    234: ("database", ("PostgreSQL: query failed (syntax or fatal error)",)),
    241: ("database", ("MySQL/MariaDB: server unreachable",)),
    242: ("database", ("MySQL/MariaDB: credentials rejected",)),
    243: (
        "runtime",
        (
            "Node.js: JavaScript heap exhausted (out of memory)",
            "MySQL/MariaDB: database missing",
        ),
    ),
    244: ("database", ("MySQL/MariaDB: query failed (syntax or fatal error)",)),
    # Node.js runtime.
    245: ("runtime", ("Node.js: unknown or invalid command-line option",)),
    246: ("runtime", ("Node.js: internal JavaScript could not be parsed",)),
    247: ("runtime", ("Node.js: fatal error inside the runtime",)),
    248: ("runtime", ("Node.js: native addon (C++/N-API) unusable",)),
    249: (
        "runtime",
        (
            "Node.js: inspector (debugger) failure",
            "npm/pnpm/yarn: package manager failed without a specific reason",
        ),
    ),
    # MongoDB and npm (previous client's ranges).
    251: ("database", ("MongoDB: server unreachable",)),
    252: ("database", ("MongoDB: credentials rejected",)),
    253: ("database", ("MongoDB: database missing",)),
    254: (
        "database",
        (
            "MongoDB: query failed",
            "npm/pnpm/yarn: package manager failed without a specific reason",
        ),
    ),
}

_BY_CODE: Final[MappingProxyType[int, ExitCode]] = MappingProxyType(
    {code: ExitCode(code, cat, descs) for code, (cat, descs) in sorted(_TABLE.items())}
)
_ALL: Final[tuple[ExitCode, ...]] = tuple(_BY_CODE.values())

# Exact texts the previous client (2025 - Feb 2026) put into ``error`` instead
# of an exit code. Matching data, not descriptions: they must stay verbatim.
_PREVIOUS_CLIENT_TEXTS: Final[MappingProxyType[str, int]] = MappingProxyType(
    {
        "General error / Operation not permitted": 1,
        "Misuse of shell builtins (e.g. syntax error)": 2,
        "Command invoked cannot execute (permission problem?)": 126,
        "Command not found": 127,
        "Invalid argument to exit": 128,
        "Terminated by Ctrl+C (SIGINT)": 130,
        "Killed (SIGKILL / Out of memory?)": 137,
        "Segmentation fault (core dumped)": 139,
        "Terminated (SIGTERM)": 143,
        "APT: Package manager error (broken packages / dependency problems)": 100,
        "APT: Configuration error (bad sources.list, malformed config)": 101,
        "DPKG: Fatal internal error": 255,
        "Node.js: Out of memory (JavaScript heap out of memory)": 243,
        "Node.js: Invalid command-line option": 245,
        "Node.js: Internal JavaScript Parse Error": 246,
        "Node.js: Fatal internal error": 247,
        "Node.js: Invalid C++ addon / N-API failure": 248,
        "Node.js: Inspector error": 249,
        "npm/pnpm/yarn: Unknown fatal error": 254,
        "Python: Virtualenv / uv environment missing or broken": 210,
        "Python: Dependency resolution failed": 211,
        "Python: Installation aborted (permissions or EXTERNALLY-MANAGED)": 212,
        "PostgreSQL: Connection failed (server not running / wrong socket)": 231,
        "PostgreSQL: Authentication failed (bad user/password)": 232,
        "PostgreSQL: Database does not exist": 233,
        "PostgreSQL: Fatal error in query / syntax": 234,
        "MySQL/MariaDB: Connection failed (server not running / wrong socket)": 241,
        "MySQL/MariaDB: Authentication failed (bad user/password)": 242,
        "MySQL/MariaDB: Database does not exist": 243,
        "MySQL/MariaDB: Fatal error in query / syntax": 244,
        "MongoDB: Connection failed (server not running)": 251,
        "MongoDB: Authentication failed (bad user/password)": 252,
        "MongoDB: Database not found": 253,
        "MongoDB: Fatal query error": 254,
        "Custom: Failed to create lock file": 200,
        "Custom: Missing CTID variable": 203,
        "Custom: Missing PCT_OSTYPE variable": 204,
        "Custom: Invalid CTID (<100)": 205,
        "Custom: CTID already in use (check 'pct list' and /etc/pve/lxc/)": 206,
        "Custom: Password contains unescaped special characters (-, /, \\, *, etc.)": 207,
        "Custom: Invalid configuration (DNS/MAC/Network format error)": 208,
        "Custom: Container creation failed (check logs for pct create output)": 209,
        "Custom: Cluster not quorate": 210,
        "Custom: Timeout waiting for template lock (concurrent download in progress)": 211,
        "Custom: Not enough storage space": 214,
        "Custom: Container created but not listed (ghost state - check /etc/pve/lxc/)": 215,
        "Custom: RootFS entry missing in config (incomplete creation)": 216,
        "Custom: Storage does not support rootdir (check storage capabilities)": 217,
        "Custom: Template file corrupted or incomplete download"
        " (size <1MB or invalid archive)": 218,
        "Custom: Unable to resolve template path": 220,
        "Custom: Template file exists but not readable (check file permissions)": 221,
        "Custom: Template download failed after 3 attempts (network/storage issue)": 222,
        "Custom: Template not available after download (storage sync issue)": 223,
        "Custom: No template available for OS/Version (check 'pveam available')": 225,
        "Custom: LXC stack upgrade/retry failed (outdated pve-container - check"
        " https://github.com/community-scripts/ProxmoxVE/discussions/8126)": 231,
    }
)


def lookup_exit_code(code: int) -> ExitCode:
    """Return the table entry for ``code``; unknown codes get a placeholder.

    Never raises, so callers can describe whatever a client sent.
    """
    if code == 0:
        return ExitCode(0, "unknown", (_SUCCESS_DESCRIPTION,))
    known = _BY_CODE.get(code)
    if known is not None:
        return known
    return ExitCode(code, "unknown", (_UNKNOWN_DESCRIPTION,))


def all_exit_codes() -> tuple[ExitCode, ...]:
    """Every code in the table, sorted by code (for the ``exitCodes`` query)."""
    return _ALL


def category_for(code: int | None) -> str | None:
    """Category of ``code`` (``"unknown"`` if not in the table); None stays None."""
    if code is None:
        return None
    return lookup_exit_code(code).category


def infer_exit_code_from_text(error_text: str | None) -> int | None:
    """Recover the exit code from a previous-client explanation text.

    Only an exact (whitespace-stripped) match counts: a fuzzy match could
    attribute a free-form error to the wrong code, and a missing code is
    better than a wrong one. Anything else, including the client's own
    fallback ``"Unknown error"``, gives None.
    """
    if error_text is None:
        return None
    return _PREVIOUS_CLIENT_TEXTS.get(error_text.strip())
