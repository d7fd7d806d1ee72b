"""Source "web-search": the first N images a search finds, downloaded politely, with credits.

providers.py turns a query into hits (one small class per search service); download.py fetches
them concurrently into a resumable store inside the source's cache folder.
"""
from __future__ import annotations

import tempfile
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Iterator, Literal

import httpx
from pydantic import Field

import artgan

from .download import Downloader, FetchError, Fetcher, Store, user_agent
from .providers import PROVIDERS, Hit, Provider

CreditField = Literal["landing_page", "title", "creator", "license", "license_version", "attribution", "site"]


class WebSearchOptions(artgan.Options):
    query: str = Field(min_length=1, description="what to search for, e.g. a name")
    provider: Literal["openverse", "wikimedia", "serpapi", "json"] = Field(
        "openverse", description="search service: openverse (openly licensed, no key), wikimedia "
        "(Commons), serpapi (Google Images; needs a key) or json (any JSON endpoint)")
    count: int = Field(500, ge=1, description="how many images to keep")
    endpoint: str | None = Field(
        None, description="the service's API URL (default: its public one); for json: a URL "
        "template with {query}, {page} (1, 2, …) and {offset} (results so far)")
    json_path: str = Field(
        "images_results[].original", description="json: where the image URLs are in a reply; "
        "[] goes through every item of a list")
    json_fields: dict[CreditField, str] = Field(
        {}, description="json: credit fields as paths inside each result, e.g. "
        "{landing_page = \"link\", site = \"source\"}")
    thumb_width: int | None = Field(
        1024, ge=16, description="wikimedia: download copies this many pixels wide instead of the "
        "originals (also turns SVG and TIFF into PNG or JPEG); none downloads the originals")
    api_key_env: str = Field(
        "SERPAPI_API_KEY", description="serpapi: the environment variable that holds the API key "
        "(keys never go in recipes)")
    contact: str = Field("", description="your e-mail or web page, sent in the User-Agent "
                                         "(Wikimedia asks for one)")
    workers: int = Field(8, ge=1, le=64, description="downloads at the same time")
    per_host: int = Field(4, ge=1, description="downloads at the same time from one host")
    timeout: float = Field(30.0, gt=0, description="seconds to wait for a connection or for the next bytes")
    retries: int = Field(3, ge=0, description="retries after a timeout, HTTP 429 or 5xx")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry, doubled each "
                                                  "time; a Retry-After header takes precedence")
    max_wait: float = Field(60.0, ge=0, description="longest wait before a retry, Retry-After included")
    max_bytes: int = Field(20_000_000, ge=1, description="largest file downloaded, in bytes")


class WebSearch(artgan.Source):
    """The first N images a web search finds, with URL, creator, licence and attribution for each."""

    Options = WebSearchOptions

    def items(self):
        o = self.options
        with ExitStack() as stack:
            folder = self.context.cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            client = stack.enter_context(httpx.Client(
                headers={"User-Agent": user_agent(o.contact)}, timeout=o.timeout, follow_redirects=True,
                limits=httpx.Limits(max_connections=o.workers + 1)))
            fetcher = Fetcher(client, per_host=o.per_host, retries=o.retries, backoff=o.backoff,
                              max_wait=o.max_wait, max_bytes=o.max_bytes)
            provider = PROVIDERS[o.provider](o, fetcher.get_json)
            # closed before the client, so downloads in flight finish (and are kept) first
            downloads = stack.enter_context(closing(
                Downloader(fetcher, Store(folder), o.workers).run(self._hits(provider))))
            yield from self._keep(downloads)

    def _keep(self, downloads) -> Iterator[artgan.Item | artgan.Skipped]:
        """Items for the first ``count`` distinct images; duplicates and failures as skips."""
        first_url: dict[str, str] = {}  # SHA-256 -> the URL it was first kept from
        kept = 0
        for hit, result in downloads:
            if isinstance(result, artgan.Skipped):
                yield result
            elif result.sha256 in first_url:
                yield artgan.Skipped(hit.url, f"duplicate image (same bytes as {first_url[result.sha256]})")
            else:
                first_url[result.sha256] = hit.url
                info = {"provider": self.options.provider, "query": self.options.query, **hit.credits()}
                yield artgan.Item(result.image, origin=hit.url, info=info)
                kept += 1
                if kept == self.options.count:
                    return

    def _hits(self, provider: Provider) -> Iterator[Hit | artgan.Skipped]:
        """Hits page by page, each URL once; stops when a page brings nothing new."""
        seen: set[str] = set()
        name = f'{provider.name} search for "{self.options.query}" ({provider.endpoint})'
        try:
            for page in provider.pages(self.options.query):
                if not any(hit.url not in seen for hit in page):
                    break
                for hit in page:
                    if hit.url in seen:
                        yield artgan.Skipped(hit.url, "duplicate URL (listed again by the search)")
                    else:
                        seen.add(hit.url)
                        yield hit
        except FetchError as exc:
            if not seen:
                raise artgan.ArtganError(f"{name} failed: {exc.reason}; check the endpoint and try again") from None
            yield artgan.Skipped(exc.url, f"search stopped (a result page failed: {exc.reason})")
        if not seen:
            raise artgan.ArtganError(f"{name}: no results; try another query or provider")


@artgan.hookimpl
def register_sources(register):
    register("web-search", WebSearch)
