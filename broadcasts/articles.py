"""Articles linked to a tip: found in the knowledge base by exact reference, quoted with their version.

The lookup itself is the knowledge base's (``knowledge.articles``: abbreviations, every text of a
law, the one in force today); a tip adds only its own limit on how many articles it links.
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.articles import ArticleIndex, ArticleQuote, bundled_records, load_index

__all__ = ["MAX_ARTICLES", "ArticleError", "ArticleIndex", "ArticleQuote", "bundled_records", "load_index", "resolve"]

MAX_ARTICLES = 5


class ArticleError(Exception):
    """A reference that names no article of the knowledge base."""


def resolve(index: ArticleIndex, references: Sequence[str]) -> list[ArticleQuote]:
    """Returns the articles named by references, in order; raises ArticleError for one that names none."""
    quotes: list[ArticleQuote] = []
    for reference in references:
        found, missing = index.find(reference)
        if missing or not found:
            raise ArticleError(f"no such article in the knowledge base: {reference}")
        for quote in found:
            if quote not in quotes:
                quotes.append(quote)
    if len(quotes) > MAX_ARTICLES:
        raise ArticleError(f"a tip links at most {MAX_ARTICLES} articles")
    return quotes
