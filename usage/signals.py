"""Events inside the usage app that its task layer acts on (connected in UsageConfig.ready), so
that alerts never import the tasks that wrap them.

- ``budget_alert_created(alert_id)``: a budget alert row was inserted (sent inside the
  transaction); its email is queued after the commit.
"""

from django.dispatch import Signal

budget_alert_created = Signal()
