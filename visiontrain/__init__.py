"""What every layer of visiontrain shares and nothing else: the generic name registry that tasks,
dataset formats and model sources are registered in. It imports nothing of the platform."""
from visiontrain.registry import AlreadyRegistered, Registry

__all__ = ["AlreadyRegistered", "Registry"]
