"""Files named for a secret (--token-file, --key-passphrase-file, --webhook-secret-file, password files):
bounded, first line only, and errors that name the file but never show its content or directory."""
import pytest

from specs.errors import UsageError
from wire.secret_files import read_first_line
from wire.secret_files import read_first_line_text

SECRET = "s3cr3t-value-never-shown"


def test_only_the_first_line_counts_and_a_passphrase_keeps_its_spaces(tmp_path):
    path = tmp_path / "phrase"
    path.write_bytes(b" two words \nsecond line\n")
    assert read_first_line(path, "--key-passphrase-file") == b" two words "
    assert read_first_line_text(path, "--token-file") == "two words"


@pytest.mark.parametrize("content, message", [
    (b"\n" + SECRET.encode(), "the first line is empty"),
    (SECRET.encode() + b"x" * 5000, "larger than 4096 bytes"),
    (b"\xff\xfe" + SECRET.encode(), "not UTF-8"),
])
def test_a_bad_secret_file_is_a_usage_error_naming_the_file_only(tmp_path, content, message):
    path = tmp_path / "private-dir" / "token"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as error:
        read_first_line_text(path, "--token-file")
    text = str(error.value)
    assert "--token-file token" in text and SECRET not in text and "private-dir" not in text


def test_a_missing_file_says_so_without_its_directory(tmp_path):
    with pytest.raises(UsageError, match="cannot read it") as error:
        read_first_line(tmp_path / "hidden" / "nope", "broker password file")
    assert "hidden" not in str(error.value)
