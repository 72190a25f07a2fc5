"""What a chat is told when a request fails for a reason outside the user's hands.

The store locked by another writer, a full disk, a library's native error: the user or admin gets
one short Korean line they can act on ("잠시 후 다시"), never a stack trace, a server path or the
English text meant for the operator's log.
"""

from __future__ import annotations

from kstock.errors import WRITE_FAILED_KO, KstockError, is_write_failure, public_text
from kstock.market.store import StoreError

#: The store is held by another writer (an import, a training in another process): it works again shortly.
STORE_BUSY = "다른 작업이 데이터 저장소를 사용하고 있습니다. 잠시 후 다시 시도해 주세요."
#: A write failed (disk full, file-size limit, read-only disk): the admin has to make room.
WRITE_FAILED = f"{WRITE_FAILED_KO}: 저장하지 못했습니다. 관리자에게 알려 주세요. 잠시 후 다시 시도해 주세요."
#: Anything else that is not the user's doing.
INTERNAL = "요청을 처리하는 중 오류가 발생했습니다. 잠시 후 다시 시도해 주세요."


def explain(exc: BaseException) -> str:
    """The chat text for ``exc``: Korean for a busy store or a failed write, the message of any other
    :class:`KstockError` (written for people; paths and traces cut), else the generic apology."""
    if isinstance(exc, StoreError) and exc.locked:
        return STORE_BUSY
    if is_write_failure(exc):
        return WRITE_FAILED
    if isinstance(exc, KstockError):
        return public_text(str(exc), limit=600)
    return INTERNAL
