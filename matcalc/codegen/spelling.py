"""The user's spelling of names that matcalc spells otherwise (``lambda1`` is ``λ1``: ``lambda`` is a
Python keyword): the generated functions take the arguments and return the results under it."""
import functools
import re

from ..lang.parser import canonical_name

_IDENTIFIER = re.compile(r"[^\W\d]\w*")


def user_spellings(texts) -> dict:
    """{matcalc's name: the user's} for the identifiers of ``texts`` that matcalc renames."""
    out = {}
    for text in texts:
        for word in _IDENTIFIER.findall(str(text)):
            name = canonical_name(word)
            if name != word and word.isascii():
                out.setdefault(name, word)
    return out


def respelled(function, spellings: dict):
    """``function`` taking keyword arguments and returning result keys in the user's spelling
    (matcalc's spelling is still accepted); itself when nothing is renamed."""
    if not spellings:
        return function
    back = {user: name for name, user in spellings.items()}
    back.update({"v_" + user: "v_" + name for user, name in list(back.items())})   # hvp's directions

    def key(k):
        return ",".join(spellings.get(part, part) for part in k.split(",")) if isinstance(k, str) else k

    @functools.wraps(function)
    def call(*args, **kwargs):
        out = function(*args, **{back.get(k, k): v for k, v in kwargs.items()})
        return SpelledResults({key(k): v for k, v in out.items()}, {key(k): k for k in out}) \
            if isinstance(out, dict) else out
    return call


class SpelledResults(dict):
    """Results keyed by the user's spelling that also answer to matcalc's (``out["λ1"]``)."""

    def __init__(self, items: dict, internal: dict):
        super().__init__(items)
        self._user = {name: user for user, name in internal.items()}

    def __missing__(self, key):
        if key in self._user:
            return self[self._user[key]]
        raise KeyError(key)

    def __contains__(self, key):
        return super().__contains__(key) or key in self._user


def register_with_jax():
    """Let jax.jit return SpelledResults (a pytree like the dict it is)."""
    import jax
    try:
        jax.tree_util.register_pytree_with_keys(
            SpelledResults,
            lambda r: ([(jax.tree_util.DictKey(k), v) for k, v in r.items()], (tuple(r), r._user)),
            lambda aux, values: SpelledResults(dict(zip(aux[0], values)), {u: n for n, u in aux[1].items()}))
    except ValueError:   # registered already
        pass
