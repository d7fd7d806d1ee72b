"""Image search providers: each turns a query into pages of hits, behind one small interface."""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from typing import Any, Callable, ClassVar, Iterator
from urllib.parse import quote_plus, urlsplit, urlunsplit

import artgan

GetJson = Callable[..., Any]  # get_json(url, params=None) -> parsed JSON; raises FetchError


@dataclass(frozen=True)
class Hit:
    """One search result: where the image is, and who made it under which licence."""

    url: str
    landing_page: str = ""  # the page that shows the image with its credits
    title: str = ""
    creator: str = ""
    license: str = ""  # "by-sa", "CC BY-SA", "cc0"…; empty when unknown
    license_version: str = ""
    attribution: str = ""  # the provider's own attribution text, when it gives one
    site: str = ""  # the website the image was found on, when the provider names it

    def credits(self) -> dict[str, str]:
        """Every credit field, the attribution text composed when the provider gave none."""
        return {**asdict(self), "attribution": self.attribution or self._compose()}

    def _compose(self) -> str:
        title = f'"{self.title}"' if self.title else "Untitled image"
        creator = f"by {self.creator}" if self.creator else "by an unknown creator"
        if self.site:
            creator += f" (found on {self.site})"
        license = " ".join(filter(None, (self.license, self.license_version)))
        return f"{title} {creator}, " + (f"licensed {license}" if license else "licence unknown")


class Provider:
    """Turns a query into pages of hits. ``get_json`` does the HTTP, with retries and limits."""

    name: ClassVar[str]
    default_endpoint: ClassVar[str]

    def __init__(self, options, get_json: GetJson):
        self.options = options
        self.endpoint = options.endpoint or self.default_endpoint
        self.get_json = get_json

    def pages(self, query: str) -> Iterator[list[Hit]]:
        """Pages of hits, best first; the caller stops when it has enough."""
        raise NotImplementedError


class Openverse(Provider):
    """Openverse: openly licensed images, no key needed."""

    name = "openverse"
    default_endpoint = "https://api.openverse.org"
    PAGE_SIZE = LAST_PAGE = 20  # the most an anonymous client may ask for

    def pages(self, query):
        for page in range(1, self.LAST_PAGE + 1):
            data = self.get_json(f"{self.endpoint.rstrip('/')}/v1/images/",
                                 {"q": query, "page": page, "page_size": self.PAGE_SIZE})
            yield [self._hit(r) for r in data.get("results") or [] if r.get("url")]
            if page >= (data.get("page_count") or self.LAST_PAGE):
                return

    @staticmethod
    def _hit(result: dict) -> Hit:
        text = {key: str(result.get(key) or "") for key in (
            "title", "creator", "license", "license_version", "attribution")}
        return Hit(url=clean_url(result["url"]),
                   landing_page=clean_url(result.get("foreign_landing_url") or ""), **text)


class Wikimedia(Provider):
    """Wikimedia Commons, through the MediaWiki API."""

    name = "wikimedia"
    default_endpoint = "https://commons.wikimedia.org/w/api.php"

    def pages(self, query):
        params = {"action": "query", "format": "json", "formatversion": 2, "generator": "search",
                  "gsrsearch": query, "gsrnamespace": 6, "gsrlimit": 50, "prop": "imageinfo",
                  "iiprop": "url|size|mime|sha1|extmetadata"}
        if self.options.thumb_width:
            params["iiurlwidth"] = self.options.thumb_width
        more: dict = {}
        while True:
            data = self.get_json(self.endpoint, {**params, **more})
            pages = sorted((data.get("query") or {}).get("pages") or [], key=lambda p: p.get("index", 0))
            yield [hit for page in pages if (hit := self._hit(page))]
            more = data.get("continue")
            if not more:
                return

    @staticmethod
    def _hit(page: dict) -> Hit | None:
        info = (page.get("imageinfo") or [{}])[0]
        if not str(info.get("mime", "")).startswith("image/") or not info.get("url"):
            return None  # Commons files also hold PDFs, videos and sound
        meta = info.get("extmetadata") or {}

        def value(key: str) -> str:
            return strip_html(str((meta.get(key) or {}).get("value") or ""))

        license, version = split_version(value("LicenseShortName"))
        return Hit(url=clean_url(info.get("thumburl") or info["url"]),
                   landing_page=clean_url(info.get("descriptionurl") or ""),
                   title=value("ObjectName") or str(page.get("title", "")).removeprefix("File:"),
                   creator=value("Artist"), license=license, license_version=version,
                   attribution=value("Attribution"))


class SerpApi(Provider):
    """Google Images through SerpApi; the key is read from an environment variable."""

    name = "serpapi"
    default_endpoint = "https://serpapi.com/search.json"

    def pages(self, query):
        key = os.environ.get(self.options.api_key_env)
        if not key:
            raise artgan.ArtganError(f"serpapi: set the environment variable {self.options.api_key_env} "
                                     f"to your SerpApi key (or pick another provider)")
        for ijn in itertools.count():
            data = self.get_json(self.endpoint, {"engine": "google_images", "q": query, "ijn": ijn,
                                                 "api_key": key})
            results = data.get("images_results") or []
            yield [Hit(url=clean_url(r["original"]), landing_page=clean_url(r.get("link") or ""),
                       title=str(r.get("title") or ""), site=str(r.get("source") or ""))
                   for r in results if r.get("original")]
            if not results:
                return


class Json(Provider):
    """Any JSON endpoint: a URL template, and paths to the image URLs and credits in the reply."""

    name = "json"
    default_endpoint = ""

    def pages(self, query):
        if "{query}" not in self.endpoint:
            raise artgan.ArtganError("json: set `endpoint` to a URL template containing {query}, "
                                     "e.g. https://example.org/search?q={query}&page={page}")
        head, list_marker, tail = self.options.json_path.rpartition("[]")
        offset = 0
        for page in itertools.count(1):
            data = self.get_json(self.endpoint.format(query=quote_plus(query), page=page, offset=offset))
            results = select(data, head + list_marker) if list_marker else [data]
            hits = [hit for result in results if (hit := self._hit(result, tail.lstrip(".")))]
            yield hits
            offset += len(results)
            if not results:
                return

    def _hit(self, result: Any, url_path: str) -> Hit | None:
        url = first(select(result, url_path)) if url_path else result
        if not isinstance(url, str) or not url:
            return None
        fields = {name: str(first(select(result, path)) or "") for name, path in self.options.json_fields.items()}
        if "landing_page" in fields:
            fields["landing_page"] = clean_url(fields["landing_page"])
        return Hit(url=clean_url(url), **fields)


PROVIDERS: dict[str, type[Provider]] = {p.name: p for p in (Openverse, Wikimedia, SerpApi, Json)}


def select(data: Any, path: str) -> list:
    """The values at ``path`` in parsed JSON: dotted keys, and ``[]`` for every item of a list
    (``images_results[].original``)."""
    nodes = [data]
    for part in re.findall(r"\[\]|[^.\[\]]+", path):
        if part == "[]":
            nodes = [item for node in nodes if isinstance(node, list) for item in node]
        else:
            nodes = [node[part] for node in nodes if isinstance(node, dict) and part in node]
    return nodes


def first(values: list) -> Any:
    return values[0] if values else None


def clean_url(url: str) -> str:
    """``url`` with lower-case scheme and host, without tracking (utm_*) parameters or fragment;
    equal images URLs compare equal after this."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and not pair.split("=", 1)[0].lower().startswith("utm_"))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))


def split_version(license: str) -> tuple[str, str]:
    """("CC BY-SA", "4.0") from "CC BY-SA 4.0"; a licence without a version stays whole."""
    match = re.fullmatch(r"(.*\S)\s+(\d+(?:\.\d+)*)", license.strip())
    return (match[1], match[2]) if match else (license.strip(), "")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def strip_html(html: str) -> str:
    """The text of an HTML fragment (Commons' Artist field is a link), whitespace collapsed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())
