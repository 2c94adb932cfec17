"""Built-in tasks and users' data sets: deterministic splits, metrics and baselines.

A built-in task is looked up by name (:func:`get_task`), a data set becomes a
:class:`DatasetTask`; options are validated from the study spec (:func:`parse_task_options`),
and :meth:`Task.load` builds train, validation and test :class:`SequenceSplit` objects.
"""

from ._adding import AddingOptions, AddingTask, generate_adding
from ._base import (
    Baseline,
    MetricDirection,
    SequenceSplit,
    Task,
    TaskData,
    TaskKind,
    metric_direction,
    metric_names,
)
from ._baselines import data_baselines
from ._copy_memory import CopyMemoryOptions, CopyMemoryTask, generate_copy_memory
from ._folds import validation_folds
from ._japanese_vowels import (
    DTW_1NN_TEST_ACCURACY,
    JapaneseVowelsOptions,
    JapaneseVowelsTask,
    load_japanese_vowels,
)
from ._metrics import compute_metrics
from ._parse_cache import ParsedCache, configure_parsed_cache, default_disk_dir, parsed_cache
from ._parsed import DatasetFormat, ParsedDataset, SequenceDataset, SeriesDataset
from ._registry import TASKS, get_task, parse_task_options, task_names
from ._sunspots import SunspotsOptions, SunspotsTask, load_sunspots
from ._upload import FORMATS, format_of, parse_dataset
from ._user import (
    DatasetTask,
    SequenceDatasetOptions,
    SeriesDatasetOptions,
    StoredDataset,
)

__all__ = [
    "DTW_1NN_TEST_ACCURACY",
    "FORMATS",
    "TASKS",
    "AddingOptions",
    "AddingTask",
    "Baseline",
    "CopyMemoryOptions",
    "CopyMemoryTask",
    "DatasetFormat",
    "DatasetTask",
    "JapaneseVowelsOptions",
    "JapaneseVowelsTask",
    "MetricDirection",
    "ParsedCache",
    "ParsedDataset",
    "SequenceDataset",
    "SequenceDatasetOptions",
    "SequenceSplit",
    "SeriesDataset",
    "SeriesDatasetOptions",
    "StoredDataset",
    "SunspotsOptions",
    "SunspotsTask",
    "Task",
    "TaskData",
    "TaskKind",
    "compute_metrics",
    "configure_parsed_cache",
    "data_baselines",
    "default_disk_dir",
    "format_of",
    "generate_adding",
    "generate_copy_memory",
    "get_task",
    "load_japanese_vowels",
    "load_sunspots",
    "metric_direction",
    "metric_names",
    "parse_dataset",
    "parse_task_options",
    "parsed_cache",
    "task_names",
    "validation_folds",
]
