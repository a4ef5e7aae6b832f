"""Lifecycle of locally managed deployments: launch specs per backend kind (launch.py), the fleet
agent that starts processes on demand and stops them when idle (agent.py), and what the catalog
and the API say about availability in time (availability.py)."""
