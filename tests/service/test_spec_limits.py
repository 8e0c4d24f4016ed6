"""This server's limits: one table for the API's checks and the form's maxima."""

from __future__ import annotations

from pathlib import Path

from service.limits import LIMITED_FIELDS, effective_limits
from service.settings import Settings
from service.web._form import form_groups, form_limits
from studies.spec import StudySpec


def test_a_setting_tightens_its_field_and_never_loosens_the_spec() -> None:
    tight = effective_limits(Settings(max_width=64, max_depth=3, max_epochs=5, max_trials=7))
    assert tight == {"architecture.max_width": 64, "architecture.depth": 3,
                     "training.epochs": 5, "search.n_trials": 7}
    loose = effective_limits(Settings(max_width=10**6, max_depth=99, max_epochs=10**5,
                                      max_trials=10**6))
    assert loose == {"architecture.max_width": StudySpec.MAX_WIDTH,
                     "architecture.depth": StudySpec.MAX_DEPTH,
                     "training.epochs": StudySpec.MAX_EPOCHS,
                     "search.n_trials": StudySpec.MAX_TRIALS}


def test_the_forms_maxima_are_the_apis_limits(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, max_width=48, max_epochs=9)
    fields = {f.name: f for g in form_groups(limits=form_limits(settings),
                                             datasets=[("digits", "digits")]) for f in g.fields}
    limits = effective_limits(settings)
    for name in LIMITED_FIELDS:
        if name in fields:
            assert fields[name].maximum == limits[name], name
    assert fields["architecture.max_width"].maximum == 48
