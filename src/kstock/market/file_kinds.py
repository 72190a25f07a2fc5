"""Which files a drop folder may open: regular files only, decided from the inode, never by opening.

A FIFO named ``005930.csv`` in an import folder blocks ``open()`` until a writer comes — forever, for a cron
job — and a socket or a device is no CSV either. The CSV import and the csv drop-folder source skip such a
file and name it, like any other bad file.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: What a non-regular file is, in the words of the line that skips it.
_FILE_KINDS = ((stat.S_ISFIFO, "FIFO(이름 있는 파이프)"), (stat.S_ISSOCK, "소켓"), (stat.S_ISCHR, "문자 장치"),
               (stat.S_ISBLK, "블록 장치"))


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` must not be opened (a folder, a FIFO, a socket, a device, a broken link), or None for a
    regular file (a link to one is fine)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:  # a broken link, no permission on the folder
        return f"읽을 수 없습니다 ({exc.strerror or type(exc).__name__})"
    if stat.S_ISDIR(mode):
        return "CSV 파일이 아니라 폴더입니다"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "특수 파일")
    return f"일반 파일이 아닌 {kind}입니다 — 열지 않고 건너뛰었습니다"
