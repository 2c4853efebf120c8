"""Human messages for YAML syntax errors and characters YAML does not allow."""

from __future__ import annotations

import codecs
import re

import yaml

from .errors import SpecError

# Everything YAML 1.1 accepts in a stream (section 5.1), as a negated class.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# A UTF-16 surrogate written as three UTF-8 bytes (CESU-8, or a lone surrogate
# that an editor saved): not UTF-8, and named as the same text sent as JSON is.
_ENCODED_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index, counting YAML line breaks."""
    index = max(0, min(index, len(text)))
    head = text[:index]
    breaks = list(_LINE_BREAK.finditer(head))
    if not breaks:
        return 1, index + 1
    return len(breaks) + 1, index - breaks[-1].end() + 1


def mark_position(mark: yaml.Mark | None) -> tuple[int, int]:
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def syntax_error(text: str, exc: yaml.MarkedYAMLError) -> SpecError:
    """One human error for a YAML syntax error, at the most useful mark."""
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    line, column = mark_position(mark)
    ctx_line, ctx_column = mark_position(exc.context_mark) if exc.context_mark else (line, column)
    char = text[mark.index] if mark is not None and 0 <= mark.index < len(text) else ""
    hint = None
    if problem == "found character that cannot start any token":
        if char == "\t":
            message = "tabs are not allowed for indentation in YAML; indent with spaces"
        elif char:
            message = (
                f"{char!r} cannot start a plain value in YAML; put the value in quotes, "
                f'e.g. "{char}..."'
            )
        else:
            message = "unexpected character; put the value in quotes"
    elif "quoted scalar" in context and "end of stream" in problem:
        line, column = ctx_line, ctx_column
        message = "this quoted string is never closed; add the closing quote"
    elif problem == "mapping values are not allowed in this context":
        message = (
            "unexpected ':' here; a value that contains ': ' must be quoted "
            '(e.g. "echo a: b"), or a key is indented wrongly'
        )
    elif problem == "did not find expected key":
        message = (
            f"this line does not line up with the keys of the mapping on line {ctx_line}; "
            "check the indentation, or quote a value that has text after a closing quote"
        )
    elif problem == "did not find expected '-' indicator":
        message = (
            f"this line does not line up with the list items that start on line {ctx_line}; "
            "check the indentation"
        )
    elif problem == "could not find expected ':'":
        line, column = ctx_line, ctx_column
        message = (
            "expected 'key: value' here; a ':' is missing, or a multi-line value "
            "is not indented under its key"
        )
    elif problem.startswith("did not find expected ','"):
        closer = "]" if "]" in problem else "}"
        message = (
            f"the flow collection opened on line {ctx_line}, column {ctx_column} is not "
            f"closed with '{closer}', or its items are missing a comma"
        )
    elif problem == "found undefined alias":
        message = "this alias (*name) refers to an anchor (&name) that is not defined before it"
    elif context.startswith("found duplicate anchor"):
        message = f"this anchor is already defined on line {ctx_line}; give it another name"
    elif context == "expected a single document in the stream":
        message = (
            "the spec must be a single YAML document; remove this '---' and what follows, "
            "or keep each spec in its own file"
        )
    elif problem == "found unknown escape character":
        message = (
            "unknown escape sequence in a double-quoted string; write \\\\ for a backslash, "
            "or use single quotes"
        )
    elif problem == "exceeded maximum nesting depth":
        message = "the document nests too deeply"
    elif mark is not None and not text[mark.index :].strip():
        message = (
            "the document ends before this value is complete; look for an unclosed "
            "bracket, brace or quote"
        )
        hint = f"YAML: {problem or context}"
    else:
        message = f"YAML syntax error: {problem or context}"
        if context and problem:
            hint = f"{context} (line {ctx_line}, column {ctx_column})"
    return SpecError("", *_within(text, line, column), message, hint)


def _within(text: str, line: int, column: int) -> tuple[int, int]:
    """The position, moved back to the end of the text when it is past it.

    libyaml reports the end of a stream without a final line break as the start
    of one more line.
    """
    last_line, last_column = line_column(text, len(text))
    if (line, column) > (last_line, last_column):
        return last_line, last_column
    return line, column


def invalid_characters(text: str) -> list[SpecError]:
    errors = []
    for match in _NOT_PRINTABLE.finditer(text):
        char = match.group()
        line, column = line_column(text, match.start())
        if 0xD800 <= ord(char) <= 0xDFFF:
            what = f"an unpaired surrogate U+{ord(char):04X}"
        else:
            what = f"the control character U+{ord(char):04X}"
        errors.append(
            SpecError(
                "",
                line,
                column,
                f"the text contains {what}, which YAML does not allow; remove it",
            )
        )
        if len(errors) >= 20:
            break
    return errors


def utf8_text(data: bytes) -> str | SpecError:
    """`data` as text (a UTF-8 byte order mark dropped), or an error at the first byte
    that is not UTF-8, with its line and column."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = body[: exc.start].decode("utf-8")
        line, column = line_column(head, len(head))
        surrogate = _ENCODED_SURROGATE.match(body, exc.start)
        if surrogate:
            code = ord(surrogate.group().decode("utf-8", "surrogatepass"))
            what = f"an unpaired surrogate U+{code:04X}, which YAML does not allow; remove it"
        else:
            what = (
                f"the byte 0x{body[exc.start]:02X}, which is not UTF-8; save the spec as UTF-8 text"
            )
        return SpecError("", line, column, f"the text contains {what}")


def utf8_size(text: str | bytes) -> int:
    """How many bytes `text` is as UTF-8; a lone surrogate (invalid, reported by the
    reader) counts as the three bytes it would take, instead of raising."""
    if isinstance(text, bytes):
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))
