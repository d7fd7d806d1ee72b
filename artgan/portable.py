"""What keeps artgan's folders usable on Linux, macOS and Windows alike, and when copied from one
to another: names every file system takes, and paths written into artgan's files with "/"."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import unicodedata
from pathlib import Path, PurePath

# Windows reserves these device names, in any case and with any extension ("con.old", "LPT1.x")
_DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?", re.IGNORECASE)
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')  # characters Windows refuses in a name


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file or folder name on every OS, or None when it can (its length
    is the caller's to cap)."""
    if not name or _FORBIDDEN.search(name):
        return 'is empty or holds a character Windows refuses in names (<>:"/\\|?* or a control character)'
    if name.endswith((".", " ")):
        return "ends in a dot or a space, which Windows drops from names"
    if _DEVICE.fullmatch(name):
        return "is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    return None


def name_key(name: str) -> str:
    """What macOS's and Windows' file systems see of ``name``: two names with the same key are one
    file there ("Faces" and "faces"; an accent composed or not)."""
    return unicodedata.normalize("NFC", name).casefold()


def stored(path: str | PurePath) -> str:
    """``path`` as artgan writes it into its files: with "/", which every OS reads."""
    return PurePath(path).as_posix()


def read_stored(text: str) -> Path:
    """A path artgan wrote into a file, on this OS: with "/", or with "\\" (written on Windows by
    an older artgan)."""
    return Path(text.replace("\\", "/"))


def command_line(words: list[str], windows: bool = os.name == "nt") -> str:
    """``words`` as a command to copy into this OS's shell: quoted for cmd.exe and PowerShell
    (double quotes) on Windows, for sh elsewhere (single quotes, which cmd.exe does not take)."""
    return subprocess.list2cmdline(words) if windows else shlex.join(words)
