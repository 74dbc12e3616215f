"""`qtgen audit publish` (once `qtgen approve --lot`): the rest of a lot that passed its audit, published unread,
in one commit recording the lot."""

from __future__ import annotations

from ..config import Config
from ..errors import QtgenError
from .approval import Approval, approve
from .lots import PUBLISHED, publishable, status
from .recovery import finished


def approve_lot(config: Config, name: str, *, index=None, commit: bool = True, notify=None, reviewer=None):
    """Publish the rest of a lot that passed its audit, in one commit recording the lot; (Approval, held lines)."""
    lot = status(config, name)
    if lot.state == PUBLISHED:  # rerun after a crash: this process's recovery has just published it
        members = {m.draft for m in lot.members}
        done = [config.content / target for draft, target in finished.items() if str(config.drafts / draft) in members]
        if done:
            return Approval(done, lot.commit, ""), []
    paths, held = publishable(config, lot)
    if not paths:
        raise QtgenError(f"lot {name}: nothing left to publish unread" + (f" ({held[0]})" if held else
                         " (every draft of it was in the sample)"))
    expect = {m.draft: m.data_sha for m in lot.members}  # re-checked under the approval's lock
    result = approve(config, paths, index=index, commit=commit, notify=notify, expect=expect, lot=name,
                     reviewer=reviewer)
    return result, held
