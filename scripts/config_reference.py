"""Print the stack-configuration reference (Markdown) from components/config.py.

The README's "Configuration" section is this output; tests/unit/test_config.py checks every key
appears there, so the two cannot drift apart.
"""
from __future__ import annotations

import inspect
import re
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.config import _SECTIONS, SECRET_KEYS, PipelineConfig, _camel  # noqa: E402


def field_comments(cls: type) -> dict[str, str]:
    """The `# ...` comment after each field in the dataclass source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): [^=]+= .*?#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


def main() -> None:
    cfg = PipelineConfig()
    top_notes = field_comments(PipelineConfig)
    print("| key | default | notes |\n| --- | --- | --- |")
    for key, (attr, cls) in _SECTIONS.items():
        if cls is None:
            print(f"| `clickstreamer:{key}` | `{getattr(cfg, attr)}` | {top_notes.get(attr, '')} |")
            continue
        notes = field_comments(cls)
        for f in fields(cls):
            default = getattr(getattr(cfg, attr), f.name)
            shown = "(empty)" if default == "" else f"`{default}`"
            print(f"| `{key}.{_camel(f.name)}` | {shown} | {notes.get(f.name, '')} |")
    for key in SECRET_KEYS:
        print(f"| `clickstreamer:{key}` (secret) | generated | `pulumi config set --secret clickstreamer:{key} ...` |")


if __name__ == "__main__":
    main()
