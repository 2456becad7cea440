"""What every layer of visiontrain shares and nothing else: the root of the error tree and the generic name
registry that tasks, dataset formats and model sources are registered in. It imports nothing of the platform."""
from visiontrain.errors import VisiontrainError
from visiontrain.registry import AlreadyRegistered, Registry

__all__ = ["AlreadyRegistered", "Registry", "VisiontrainError"]
