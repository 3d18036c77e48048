"""The speech generator runs espeak-ng on words from the spec: nothing but letters ever reaches it.

Attack: a Dataset whose words carry shell syntax or espeak-ng options (write a file, read a file,
run a command). Refused by `origami validate` at the word, with nothing run and nothing written; and
the generator refuses such a word again itself, should a spec ever be built without validation.
"""
from __future__ import annotations

import pytest

from controller.pipeline import speech
from specs.errors import StageError
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami

DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: words}
spec:
  task: classification
  sources:
    - {type: generated, generator: speech, utterancesPerWord: 2, words: [%s]}
"""
ATTACKS = ['"$(touch PWNED)"', '"`touch PWNED`"', '"yes; touch PWNED"', '"-wPWNED"', '"--stdout"',
           '"-f/etc/passwd"', '"yes\\nno"', '"../PWNED"']


@pytest.mark.parametrize("word", ATTACKS)
def test_a_word_with_shell_syntax_or_options_is_refused_at_validate_and_runs_nothing(tmp_path, word):
    (tmp_path / "dataset.yaml").write_text(DATASET % word)
    output = assert_clean_refusal(origami("validate", str(tmp_path), cwd=tmp_path), tmp_path)
    assert "Dataset/words: spec.sources[0].speech: String should match pattern" in output
    assert not (tmp_path / "PWNED").exists() and not (tmp_path.parent / "PWNED").exists()


@pytest.mark.parametrize("word", ["-wPWNED", "$(id)", "yes no", "Yes"])
def test_the_generator_refuses_such_a_word_itself(tmp_path, word):
    with pytest.raises(StageError, match="letters a-z only"):
        speech.synthesise(word, "en-us", "m1", 150, 50, 100, str(tmp_path))
    assert list(tmp_path.iterdir()) == []
