"""What the keys app tells the apps above it (connected in their AppConfig.ready), so that keys
never imports them.

- ``budgets_changed(scopes=[(scope, id), …])``: a budget, its period or its organization's time
  zone changed; sent inside the transaction, the receiver acts after the commit.
- ``snapshot_republishing()``: a full republish is under way (Redis lost its state); receivers
  rebuild what they keep in Redis before the epoch tells the proxy that the snapshot is whole.
"""

from django.dispatch import Signal

budgets_changed = Signal()
snapshot_republishing = Signal()
