// The accessibility checks of our own (tests/accessibility.py): landmarks, names of controls, images
// and charts, and WCAG AA text contrast (WCAG 2.1 relative luminance over the first opaque background
// up the tree). Evaluated in the page by Playwright; returns one line per problem.
() => {
  const problems = [];
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const named = (el) => (el.getAttribute("aria-label") || "").trim() || el.getAttribute("aria-labelledby")
    || (el.labels && [...el.labels].some((l) => l.textContent.trim())) || (el.title || "").trim();
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (document.querySelectorAll("main").length !== 1) problems.push("not exactly one main landmark");
  if (!document.querySelector("header")) problems.push("no banner (header)");
  document.querySelectorAll("nav").forEach((n) => { if (!named(n)) problems.push("a nav without a name"); });
  if (!document.querySelector("h1")) problems.push("no h1");
  document.querySelectorAll("img").forEach((i) => {
    const alt = i.getAttribute("alt");
    if (alt === null || !alt.trim() || /\.(png|jpe?g|gif|svg)$/i.test(alt)) problems.push(`img alt ${alt}: ${i.src.slice(0, 60)}`);
  });
  document.querySelectorAll("svg[role=img]").forEach((s) => {
    if (!s.querySelector("title") && !named(s)) problems.push(`svg ${s.id} without a name`);
  });
  document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach((c) => {
    if (visible(c) && !named(c)) problems.push(`unlabelled ${c.tagName.toLowerCase()} ${c.name}`);
  });
  document.querySelectorAll("button, a[href]").forEach((b) => {
    if (visible(b) && !b.textContent.trim() && !named(b)) problems.push(`${b.tagName.toLowerCase()} without a name`);
  });
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); }
    return [255, 255, 255]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || !visible(el) || el.closest("svg, option, select")) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    const a = lum(rgb(s.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && +s.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} "${el.textContent.trim().slice(0, 30)}"`);
  }
  return problems;
}
