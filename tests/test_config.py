import pytest

from train_jobs.config import ConfigError, config_from_yaml

GOOD = """
task: classification
model: {source: timm, name: resnet18}
dataset: {uri: /data/shapes}
class_names: [circle, square, triangle]
hyperparameters: {epochs: 3, batch_size: 16, learning_rate: 0.001, image_size: 64}
resources: {num_workers: 2, use_gpu: true, gpus_per_worker: 1}
early_stopping: {patience: 2, metric: val_loss, mode: min}
storage: {uri: s3://bucket/visiontrain}
"""


def test_yaml_loads_with_defaults_filled():
    cfg = config_from_yaml(GOOD)
    assert cfg.hyperparameters.epochs == 3
    assert cfg.hyperparameters.optimizer == "adamw"  # default
    assert cfg.resources.num_workers == 2 and cfg.resources.use_gpu
    assert cfg.early_stopping.patience == 2
    assert cfg.job_id.startswith("classification-")
    # the same config names the same job (so submitting it again resumes it) ...
    assert config_from_yaml(GOOD).job_id == cfg.job_id
    # ... and a different one another
    assert config_from_yaml(GOOD.replace("epochs: 3", "epochs: 4")).job_id != cfg.job_id


def test_round_trip_through_yaml():
    cfg = config_from_yaml(GOOD)
    assert config_from_yaml(cfg.to_yaml()) == cfg


@pytest.mark.parametrize(
    "change, expected",
    [
        (("epochs: 3", "epochs: -1"), ["hyperparameters.epochs", "greater than or equal to 1", "-1"]),
        (("task: classification", "task: clasification"), ["task", "'classification'", "'detection'", "clasification"]),
        (("batch_size: 16", "batch_size: 16, momentum: 0.9"), ["hyperparameters.momentum", "unknown field", "learning_rate"]),
        (("uri: /data/shapes", "uri: data/shapes"), ["dataset.uri", "absolute", "data/shapes"]),
        (("uri: s3://bucket/visiontrain", "uri: out"), ["storage.uri", "absolute folder or s3://"]),
        (("[circle, square, triangle]", "[circle, circle]"), ["class_names", "repeat", "circle"]),
    ],
)
def test_bad_configs_name_field_value_and_what_is_allowed(change, expected):
    with pytest.raises(ConfigError) as err:
        config_from_yaml(GOOD.replace(*change), source="cfg.yaml")
    msg = str(err.value)
    assert "cfg.yaml is not a valid TrainingConfig" in msg
    for part in expected:
        assert part in msg, msg


def test_missing_required_fields_are_listed():
    with pytest.raises(ConfigError) as err:
        config_from_yaml("task: classification\n")
    assert "model: required field is missing" in str(err.value)
    assert "dataset: required field is missing" in str(err.value)


def test_not_yaml_or_not_a_mapping():
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_from_yaml("task: [unclosed")
    with pytest.raises(ConfigError, match="expected a mapping"):
        config_from_yaml("- just\n- a list\n")
