"""One short module per task: ``python -m pipelines.TASK`` trains, evaluates and exports."""
