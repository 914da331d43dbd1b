"""Hot reload: poll the registry and swap in a newly promoted champion.

Started by the app's lifespan, the loop asks `ModelHolder.refresh` every
`LAKEHOUSE_MODEL_POLL_SECONDS` (0 disables polling; `POST /model/reload` still works). The
refresh runs in a worker thread, so loading a model — seconds of MLflow and Delta reads —
never blocks the event loop that is answering requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from api_ml.api.state import ModelHolder

logger = logging.getLogger("lakehouse.api_ml.reload")


async def poll_forever(holder: ModelHolder, every_seconds: float) -> None:
    """Refresh the holder every `every_seconds` until cancelled.

    A failed refresh is logged and retried at the next tick; a new champion is logged.

    Args:
        holder: the model holder to refresh (in a worker thread).
        every_seconds: the pause between two polls of the registry.
    """
    while True:
        await asyncio.sleep(every_seconds)
        try:
            if await asyncio.to_thread(holder.refresh):
                logger.info("new champion loaded: %s", holder.snapshot.versions())
        except Exception:  # keep polling: the next attempt may succeed
            logger.exception("model poll failed")
