"""Live change notices: small messages per plant group; browsers re-fetch the changed partial."""

import logging
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class TransactionsChanged(TypedDict):
    type: Literal["transactions.changed"]
    plant: str


def plant_group(plant_code: str) -> str:
    return f"plant.{plant_code}.transactions"


def notify_transactions_changed(plant_codes: set[str]) -> None:
    """Tell browsers watching these plants that transactions changed. Best effort: never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    for code in plant_codes:
        message: TransactionsChanged = {"type": "transactions.changed", "plant": code}
        try:
            async_to_sync(layer.group_send)(plant_group(code), message)
        except Exception:  # a live notice must never fail the pipeline; pages also refresh on load
            logger.warning("live notice for plant %s not sent", code, exc_info=True)
