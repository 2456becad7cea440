"""What runs inside a Ray Job: the workflow driver (``run``), task trainers, data, store."""
