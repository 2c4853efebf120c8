import pytest

from workflows.secret_values import SecretUnreadable, decrypt_value, encrypt_value


def test_a_value_round_trips_and_the_ciphertext_does_not_contain_it():
    ciphertext = encrypt_value("hunter2-very-secret")

    assert b"hunter2" not in ciphertext
    assert decrypt_value(ciphertext) == "hunter2-very-secret"


def test_a_changed_secret_key_says_to_set_the_secret_again(settings):
    ciphertext = encrypt_value("value")
    settings.SECRET_KEY = "another-key"

    with pytest.raises(SecretUnreadable, match="set it again"):
        decrypt_value(ciphertext)
