"""Connectors: one adapter class per system format, found by `System.adapter`.

Adding an adapter is one module and one entry here (docs/connectors.md).
"""

from django.utils.module_loading import import_string

from integrations.connectors.base import Connector

ADAPTERS = {
    "wms_rest": "integrations.connectors.wms_rest.WmsRestConnector",
    "webhook": "integrations.connectors.webhook.WebhookConnector",
    "erp_s4": "integrations.connectors.erp_s4.ErpS4Connector",
    "mes_b2mml": "integrations.connectors.mes_b2mml.MesB2mmlConnector",
    "qms_epcis": "integrations.connectors.qms_epcis.QmsEpcisConnector",
}


def connector_for(system) -> Connector:
    """The connector for `system`, imported on first use."""
    try:
        path = ADAPTERS[system.adapter]
    except KeyError:
        raise LookupError(f"system {system.code} names unknown adapter {system.adapter!r}") from None
    return import_string(path)(system)
