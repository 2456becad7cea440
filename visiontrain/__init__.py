"""What every layer of visiontrain shares and nothing else: the root of the error tree, the generic name
registry that tasks, dataset formats and model sources are registered in, the task vocabulary
(``visiontrain.tasks``) and the settings. It imports nothing of the platform."""
from visiontrain.errors import VisiontrainError
from visiontrain.registry import AlreadyRegistered, Registry

__all__ = ["AlreadyRegistered", "Registry", "VisiontrainError"]
