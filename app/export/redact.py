"""Pseudonymize account ids for public release, the way transparency archives do.

A redacted export replaces every account id with a keyed hash (HMAC-SHA256
with the workspace secret), so the same account gets the same pseudonym in
every file of the export, and in every later export of the same workspace:
relations stay analysable while nobody without the secret can go back to the
account. Handles (public screen names) name an account as surely as its id
and are dropped. Free text (analyst comments, detection reasons and evidence)
is scanned word by word and any account id in it is replaced as well.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from graph.phone_text import PHONE_MASK, mask_phone_numbers_in

__all__ = ["Redactor", "PSEUDONYM_PREFIX", "PHONE_MASK", "scrub_phone_numbers"]

PSEUDONYM_PREFIX = "acct_"
# A "word" that could be an account id inside free text; ids with other
# characters are caught by plain substring replacement (see Redactor.text).
_TOKEN = re.compile(r"[\w.\-@]+")
_DIGEST_CHARS = 24  # 96 bits: no collisions among billions of accounts in practice


class Redactor:
    """Maps account ids to stable pseudonyms and scrubs them out of any value.

    Parameters
    ----------
    secret : bytes
        The workspace secret (:meth:`graph.workspace.Workspace.secret`).
    account_ids : iterable of str
        Every account id that could appear anywhere in the export, including
        inside free text: usually every account in the store.
    """

    def __init__(self, secret: bytes, account_ids: Iterable[str]):
        if not secret:
            raise ValueError("redaction needs the workspace secret")
        self._secret = secret
        self._known = {a for a in account_ids if a}
        self._odd = sorted(
            (a for a in self._known if not _TOKEN.fullmatch(a)), key=len, reverse=True
        )
        self._cache: dict[str, str] = {}

    def account(self, account_id: str | None) -> str | None:
        """The pseudonym of one account id (``None`` stays ``None``)."""
        if account_id is None or account_id == "":
            return account_id
        found = self._cache.get(account_id)
        if found is None:
            digest = hmac.new(self._secret, b"account:" + account_id.encode("utf-8"), hashlib.sha256)
            found = PSEUDONYM_PREFIX + digest.hexdigest()[:_DIGEST_CHARS]
            self._cache[account_id] = found
        return found

    def text(self, text: str) -> str:
        """``text`` with every known account id in it replaced by its pseudonym."""
        if text in self._known:
            return self.account(text)  # type: ignore[return-value]
        for odd in self._odd:
            if odd in text:
                text = text.replace(odd, self.account(odd))  # type: ignore[arg-type]
        return _TOKEN.sub(lambda m: self.account(m.group()) if m.group() in self._known else m.group(), text)

    def value(self, value: object) -> object:
        """Any JSON-like value with account ids scrubbed from every string, key and item."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def scrub_phone_numbers(value: object) -> object:
    """Any JSON-like value with phone numbers in its strings replaced by :data:`PHONE_MASK`.

    Phone numbers are personal data (CONTRACT section 4): the store already
    masks what it is given, and exports mask again whatever reaches them
    (:mod:`graph.phone_text` says what counts as a number).
    """
    return mask_phone_numbers_in(value)
