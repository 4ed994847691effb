"""Chinese for the texts Streamlit's own widgets draw (it has no translations of its own).

Streamlit 1.67 writes a handful of English texts into every page whatever the app's language:
the multiselect's "Select all" and "Choose options", the uploader's "Upload" and "50MB per file",
"Press Enter to apply" under a text input, "No results" in a filtered list, the data-frame
toolbar's tooltips.  `translator_html` returns a small script (for ``st.html(...,
unsafe_allow_javascript=True)``) that rewrites exactly these texts in the page while the UI is
Chinese, and puts them back when the user switches to English.  Only the strings and patterns
listed here are touched; the app's own labels come from `layers.labels`.
"""

from __future__ import annotations

import json

#: Streamlit's exact English text -> Chinese.
STREAMLIT_ZH: dict[str, str] = {
    "Select all": "全选",
    "Clear all": "全部清除",
    "Choose options": "请选择",
    "Choose an option": "请选择",
    "Add options": "添加选项",
    "No options to select.": "没有可选项。",
    "No results": "无匹配项",
    "Upload": "上传",
    "Add files": "添加文件",
    "Drag and drop a file here": "将文件拖放到此处",
    "Drag and drop files here": "将文件拖放到此处",
    "Browse files": "选择文件",
    "Press Enter to apply": "按回车键确认",
    "Press Enter to submit form": "按回车键提交",
    "Running...": "运行中…",
    "Stop": "停止",
    "Skip to main content": "跳到主要内容",
    "Download as CSV": "下载为 CSV",
    "Search": "搜索",
    "Fullscreen": "全屏",
    "Close fullscreen": "退出全屏",
    "Show/hide columns": "显示/隐藏列",
    "Close": "关闭",
    "Rerun": "重新运行",
    "Settings": "设置",
    "Print": "打印",
    "About": "关于",
}

#: (JavaScript regular expression, replacement) for texts with a number in them.
STREAMLIT_ZH_PATTERNS: list[tuple[str, str]] = [
    (r"^(\d+(?:\.\d+)?\s?[KMG]B) per file$", "每个文件不超过 $1"),
    (r"^Select (\d+) matches$", "选择 $1 个匹配项"),
    (r"^Press (⌘|Ctrl)\+Enter to apply$", "按 $1+回车键确认"),
]

_SCRIPT = """
<script>
(() => {
  const want = %(lang)s;
  const w = window;
  if (!w.__yrdI18n) {
    const exact = new Map(Object.entries(%(exact)s));
    const patterns = %(patterns)s.map(([re, to]) => [new RegExp(re), to]);
    const originals = new Map();   // text node or element -> {kind, original}
    const ATTRS = ["placeholder", "aria-label", "title"];
    const zh = (text) => {
      const s = text.trim();
      if (!s) return null;
      if (exact.has(s)) return text.replace(s, exact.get(s));
      for (const [re, to] of patterns) if (re.test(s)) return text.replace(s, s.replace(re, to));
      return null;
    };
    const fixText = (node) => {
      const to = zh(node.nodeValue);
      if (to !== null && to !== node.nodeValue) {
        if (!originals.has(node)) originals.set(node, {kind: "text", original: node.nodeValue});
        node.nodeValue = to;
      }
    };
    const fixAttrs = (el) => {
      for (const a of ATTRS) {
        const v = el.getAttribute && el.getAttribute(a);
        if (!v) continue;
        const to = zh(v);
        if (to !== null && to !== v) {
          originals.set(el.__yrdKey || (el.__yrdKey = {el}), {kind: "attr", el, a, original: v});
          el.setAttribute(a, to);
        }
      }
    };
    const walk = (root) => {
      if (root.nodeType === 3) { fixText(root); return; }
      if (root.nodeType !== 1) return;
      fixAttrs(root);
      const tw = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
      for (let n = tw.nextNode(); n; n = tw.nextNode()) n.nodeType === 3 ? fixText(n) : fixAttrs(n);
    };
    const observer = new MutationObserver((records) => {
      if (w.__yrdLang !== "zh") return;
      for (const r of records) {
        if (r.type === "characterData") fixText(r.target);
        else if (r.type === "attributes") fixAttrs(r.target);
        else r.addedNodes.forEach(walk);
      }
    });
    w.__yrdI18n = {
      set(lang) {
        w.__yrdLang = lang;
        document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
        if (lang === "zh") { walk(document.body); return; }
        for (const [key, o] of originals) {
          if (o.kind === "text") { if (key.nodeValue === zh(o.original)) key.nodeValue = o.original; }
          else if (o.el.getAttribute(o.a) === zh(o.original)) o.el.setAttribute(o.a, o.original);
        }
        originals.clear();
      },
    };
    observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRS});
  }
  w.__yrdI18n.set(want);
})();
</script>
"""


#: deck.gl picks nothing on the first click of a map that no pointer has moved over yet (its
#: picking pass is first drawn on hover), so the first click on the dispatch map was lost.  A
#: synthetic pointer move over the corner of every map canvas draws that pass beforehand: on a new
#: map, and again after every rerun (a new layer such as the click grid needs a new pass), unless a
#: real pointer is over the map.  Changes of deck.gl's own tooltip are not reruns and start no pass.
_DECK_WARMUP = """
<script>
(() => {
  const w = window;
  if (w.__yrdDeckWarmup) return;
  const fire = (canvas) => {
    if (canvas.__yrdHover || !canvas.isConnected) return;
    const r = canvas.getBoundingClientRect();
    const at = {bubbles: true, clientX: r.left + 2, clientY: r.top + 2, pointerType: "mouse"};
    ["pointermove", "mousemove"].forEach((type) => canvas.dispatchEvent(new PointerEvent(type, at)));
  };
  const warm = (canvas) => {
    if (!canvas.__yrdWired) {  // a real pointer over the map: deck.gl draws its picking pass itself
      canvas.__yrdWired = true;
      canvas.addEventListener("pointerenter", (e) => { if (e.isTrusted) canvas.__yrdHover = true; });
      canvas.addEventListener("pointerleave", (e) => { if (e.isTrusted) canvas.__yrdHover = false; });
    }
    // again after every rerun (new layers, e.g. the click grid, need a new picking pass): soon after
    // the page starts changing (at most every 0.3 s while it goes on), and 0.3, 1 and 3 s after it
    // last changed, so that one pass comes after the map has drawn its new layers even on a slow machine
    const now = performance.now();
    if (!canvas.__yrdLast || now - canvas.__yrdLast > 300) {
      canvas.__yrdLast = now;
      setTimeout(() => fire(canvas), 50);
    }
    (canvas.__yrdTimers || []).forEach(clearTimeout);
    canvas.__yrdTimers = [300, 1000, 3000].map((ms) => setTimeout(() => { canvas.__yrdLast = performance.now(); fire(canvas); }, ms));
  };
  const scan = () => document.querySelectorAll('[data-testid="stDeckGlJsonChart"] canvas').forEach(warm);
  // Changes inside deck.gl's tooltip are the map's own answer to a pointer (often this synthetic
  // one): reacting to them would hover again, redraw and read the picking buffer back, in a loop
  // that kept a software-rendered page busy (about 15 frames in 2 s instead of 120).
  const inTooltip = (node) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    return !!(el && el.closest && el.closest(".deck-tooltip"));
  };
  w.__yrdDeckWarmup = new MutationObserver((records) => { if (!records.every((r) => inTooltip(r.target))) scan(); });
  w.__yrdDeckWarmup.observe(document.body, {subtree: true, childList: true});
  scan();
})();
</script>
"""


def deck_warmup_html() -> str:
    """The script that makes the first click on a pydeck map count (see `_DECK_WARMUP`)."""
    return _DECK_WARMUP


def translator_html(lang: str) -> str:
    """The script that puts Streamlit's own widget texts into `lang` ('zh' rewrites, 'en' restores)."""
    if lang not in ("zh", "en"):
        msg = f"`lang` was {lang!r} but is expected to be 'zh' or 'en'."
        raise ValueError(msg)
    return _SCRIPT % {
        "lang": json.dumps(lang),
        "exact": json.dumps(STREAMLIT_ZH, ensure_ascii=False),
        "patterns": json.dumps(STREAMLIT_ZH_PATTERNS, ensure_ascii=False),
    }
