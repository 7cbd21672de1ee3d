from integrations.models.routing import RoutingRule
from integrations.models.systems import ApiKey, System
from integrations.models.transactions import Attempt, Delivery, QuarantinedMessage, Transaction

__all__ = ["ApiKey", "Attempt", "Delivery", "QuarantinedMessage", "RoutingRule", "System", "Transaction"]
