"""source_label: the same case table as test/meter/source.test.ts."""
import pytest

from pipemeter import source_label


@pytest.mark.parametrize(
    "value, want",
    [
        ("https://www.beatport.com/track/x/1", "www.beatport.com"),
        ("http://WWW.Beatport.COM/track?id=1#frag", "www.beatport.com"),
        ("https://user:secret@api.example.com:8443/v1/items", "api.example.com"),
        ("//cdn.example.org/a.png", "cdn.example.org"),
        ("www.mixesdb.com", "www.mixesdb.com"),
        ("example.com.", "example.com"),
        ("http://[2001:db8::1]:8080/x", "[2001:db8::1]"),
        ("localhost", "localhost"),
        ("not a url", "invalid"),
        ("", "invalid"),
        ("https:///path-only", "invalid"),
        ("https://exa mple.com/", "invalid"),
        ("https://%s.com/" % ("a" * 300), "invalid"),
        # Python's str.strip() and re's $ differ from JavaScript's trim() and $: these follow JavaScript.
        ("\ufeffexample.com", "example.com"),
        ("\x1cexample.com", "invalid"),
        ("example.com\n", "example.com"),
        ("example.com/\n", "example.com"),
    ],
)
def test_source_label(value, want):
    assert source_label(value) == want


@pytest.mark.parametrize("value", [42, None, b"https://x.org/", ["x.org"], object()])
def test_non_strings_are_invalid_not_raised(value):
    assert source_label(value) == "invalid"


def test_a_100kb_url_is_invalid():
    assert source_label("https://" + "a" * 100_000 + ".com/x") == "invalid"
