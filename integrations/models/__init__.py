from integrations.models.configuration import (
    MaintenanceWindow,
    RoutingRuleVersion,
    ServiceLevel,
    ValueMapping,
)
from integrations.models.replay import ReplayItem, ReplayJob
from integrations.models.routing import RoutingRule
from integrations.models.systems import ApiKey, System
from integrations.models.transactions import Attempt, Delivery, QuarantinedMessage, Transaction

__all__ = [
    "ApiKey",
    "Attempt",
    "Delivery",
    "MaintenanceWindow",
    "QuarantinedMessage",
    "ReplayItem",
    "ReplayJob",
    "RoutingRule",
    "RoutingRuleVersion",
    "ServiceLevel",
    "System",
    "Transaction",
    "ValueMapping",
]
