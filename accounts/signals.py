"""What accounts tells the apps above it. Accounts is the ground: it imports no other app, so
keys (and others) connect to these in their AppConfig.ready and do their part.

All are sent inside the sender's transaction; receivers that touch anything outside PostgreSQL
(Redis, the queue) do it after the commit.

- ``organization_changed(organization, fields)``: an operator changed the organization's limits,
  time zone or models (``fields``: the changed field names).
- ``organization_deleting(organization)``: the organization is about to be deleted; a receiver
  may return a dict that goes into the audit entry (e.g. how many keys went with it).
- ``user_admission_changed(user)``: the user was approved, deactivated or reactivated (the keys
  of their personal organization are admitted only while they are active and approved).
"""

from django.dispatch import Signal

organization_changed = Signal()
organization_deleting = Signal()
user_admission_changed = Signal()
