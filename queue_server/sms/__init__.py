"""SMS: how a text becomes SMS parts (``parts``), the gateways it leaves through
(``gateways``: SMPP or HTTP) and the outbox adapter that ties them to notifications
(``notifier``)."""
