"""The page's panels, one module each: the components it shows (a dataclass, by name), the label
key of each (``labels``: the page relabels them in the browser's language on load) and its
handlers (``wire``), which answer with ``{component: update}`` for what they change."""
