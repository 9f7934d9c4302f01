"""Alerts: recalls, thefts, clone signals, blocked listings and reports, sent to webhooks.

``publish`` queues an alert for every subscribed webhook of its recipients (the brand's
organisations and any named ones); ``DeliveryWorker`` POSTs the queued deliveries, signed
(``signing``), retried with backoff and every attempt logged; ``publish_chain_alerts``
turns indexed recall and theft events into alerts. Subscriptions live in
:mod:`ledger.store.webhooks`.
"""

from ledger.alerts.chain_alerts import publish_chain_alerts
from ledger.alerts.delivery import Backoff, DeliveryWorker
from ledger.alerts.publish import AlertKind, AlertSpec, publish, publish_many
from ledger.alerts.signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "AlertKind",
    "AlertSpec",
    "Backoff",
    "DeliveryWorker",
    "publish",
    "publish_chain_alerts",
    "publish_many",
    "sign",
    "verify",
]
