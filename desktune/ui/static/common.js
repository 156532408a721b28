// Shared helpers: DOM building, JSON requests, number formats like `desktune runs`, server-sent events.
const DT = { views: {}, cleanup: [] };

DT.el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
};

DT.api = async (path, options = {}) => {
  const r = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
};

// x.toFixed(d) with Python's rounding of exact ties (half to even: f"{72.5:.0f}" is "72", JS says "73").
DT.fixed = (x, d) => {
  const m = x * 10 ** d;
  if (Math.abs(m % 1) !== 0.5) return x.toFixed(d);
  const r = Math.floor(m);
  return ((r % 2 === 0 ? r : r + 1) / 10 ** d).toFixed(d);
};

// The cells of `desktune runs` (desktune/cli/runs.py row()), from the unformatted overview.
DT.cells = (o) => ({
  run: o.run, model: o.model, method: o.method, data: o.data,
  steps: o.steps === null || o.steps === undefined ? "—" : String(o.steps),
  best_eval: o.best_eval === null || o.best_eval === undefined ? "—" : DT.fixed(o.best_eval, 4),
  seconds: o.seconds === null || o.seconds === undefined ? "—" : `${DT.fixed(o.seconds, 0)}s`,
  tokens_per_s: o.tokens_per_s === null || o.tokens_per_s === undefined ? "—" : DT.fixed(o.tokens_per_s, 0),
  status: o.status,
});

DT.badge = (status) => DT.el("span", { class: `status status-${status.split(" ")[0]}`, "data-status": status }, status);

// An EventSource closed when the view changes.
DT.listen = (url, handlers) => {
  const source = new EventSource(url);
  for (const [name, fn] of Object.entries(handlers)) source.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  DT.cleanup.push(() => source.close());
  return source;
};

// Reads a text/event-stream body from fetch (POST), calling handlers[event](data) per event.
DT.readEvents = async (response, handlers) => {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const name = (block.match(/^event: (.*)$/m) || [, "message"])[1];
      const data = block.match(/^data: (.*)$/m);
      if (data && handlers[name]) handlers[name](JSON.parse(data[1]));
    }
  }
};

DT.showModels = (m) => {
  if (!m) return;
  document.getElementById("models").textContent =
    `chat models loaded: ${m.loaded.length ? m.loaded.join(", ") : "none"} (at most ${m.limit}; the least recently used is unloaded)`;
};
