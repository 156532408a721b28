// The runs table: the fields of `desktune runs`, sortable, updated by the server as runs appear and change.
const COLUMNS = [["run", "run"], ["model", "model"], ["method", "method"], ["data", "data"], ["steps", "steps", true],
  ["best_eval", "best eval", true], ["seconds", "time", true], ["tokens_per_s", "tok/s", true], ["status", "status"]];

DT.views.runs = (main) => {
  const state = { runs: [], sort: null, desc: false, picked: new Set() };
  const table = DT.el("table", { id: "runs-table" });
  const compareButton = DT.el("button", { id: "compare-picked", onclick: () => {
    location.hash = `#/compare/${[...state.picked].map(encodeURIComponent).join(",")}`;
  } }, "compare selected");
  main.append(DT.el("div", { class: "row" }, DT.el("h2", {}, "Runs"), compareButton,
    DT.el("span", { id: "runs-count", class: "muted" })), table);

  const sorted = () => {
    if (!state.sort) return state.runs;
    const v = (o) => o[state.sort] ?? (state.desc ? -Infinity : Infinity);
    return [...state.runs].sort((a, b) => (v(a) > v(b) ? 1 : v(a) < v(b) ? -1 : 0) * (state.desc ? -1 : 1));
  };
  const header = () => DT.el("tr", {}, DT.el("th", {}, ""), COLUMNS.map(([key, label, num]) => DT.el("th", {
    class: `sortable ${num ? "num" : ""} ${state.sort === key ? (state.desc ? "sorted-desc" : "sorted-asc") : ""}`,
    "data-key": key, onclick: () => { state.desc = state.sort === key ? !state.desc : false; state.sort = key; render(); },
  }, label)));
  const row = (o) => {
    const cells = DT.cells(o);
    const pick = DT.el("input", { type: "checkbox", checked: state.picked.has(o.run) || null, onchange: (e) => {
      e.target.checked ? state.picked.add(o.run) : state.picked.delete(o.run); compareButton.disabled = state.picked.size < 2;
    } });
    return DT.el("tr", { "data-run": o.run }, DT.el("td", {}, pick), COLUMNS.map(([key, , num]) => DT.el("td",
      { class: num ? "num" : "", "data-key": key },
      key === "run" ? DT.el("a", { href: `#/run/${encodeURIComponent(o.run)}` }, cells.run)
        : key === "status" ? DT.badge(cells.status) : cells[key])));
  };
  const render = () => {
    table.replaceChildren(DT.el("thead", {}, header()), DT.el("tbody", {}, sorted().map(row)));
    document.getElementById("runs-count").textContent = `${state.runs.length} runs`;
    compareButton.disabled = state.picked.size < 2;
  };
  render();
  DT.listen("/api/events/runs", { runs: (m) => { state.runs = m.runs; render(); table.dataset.ready = "1"; } });
};
