"""``run(settings)`` recipes for ``ltr/run_training.py slt NAME`` (reached through the shims that
``slt patch-host`` adds as ``ltr/train_settings/slt/NAME.py``)."""
