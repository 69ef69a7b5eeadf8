"""Hardware energy models: price an :class:`~energy_models.ledger.EventLedger` in picojoules.

Knows nothing of torch or ``analysis``: it only reads ledgers (plain numbers) and TOML tables.
"""

from energy_models.ledger import EVENTS, EventLedger, LayerEvents, LedgerError

__all__ = ["EVENTS", "EventLedger", "LayerEvents", "LedgerError"]
