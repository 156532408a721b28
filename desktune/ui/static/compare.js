// Two or more runs: their curves overlaid, and how each config differs from the first run's.
DT.views.compare = async (main, list) => {
  const names = (list || "").split(",").filter(Boolean).map(decodeURIComponent);
  main.append(DT.el("h2", {}, "Compare"));
  if (names.length < 2) {
    main.append(DT.el("p", {}, "Tick two or more runs in the ", DT.el("a", { href: "#/" }, "runs table"), " and press “compare selected”."));
    return;
  }
  const c = await DT.api(`/api/compare?runs=${names.map(encodeURIComponent).join(",")}`);
  const charts = DT.el("div", { class: "grid" });
  main.append(charts);
  const overlay = (id, title, xKey, yKey, xLabel) => {
    const tables = names.map((n) => {
      const cols = c.runs[n].columns;
      const keep = cols[xKey].map((x, i) => (x !== null && cols[yKey][i] !== null ? i : -1)).filter((i) => i >= 0);
      return [keep.map((i) => cols[xKey][i]), keep.map((i) => cols[yKey][i])];
    });
    const box = DT.el("div", { class: "card", id });
    charts.append(box);
    DT.chart(box, { title, xLabel, yLabel: "loss", series: names.map((n) => ({ label: n, points: yKey === "eval_loss" })),
      data: uPlot.join(tables) });
  };
  overlay("compare-loss", "train loss against step", "step", "loss", "step");
  overlay("compare-eval", "eval loss against step", "step", "eval_loss", "step");
  overlay("compare-tokens", "train loss against tokens seen", "tokens", "loss", "tokens");
  const diffs = DT.el("div", { class: "card", id: "config-diff" }, DT.el("h3", {}, `config differences from ${c.base}`));
  for (const [run, lines] of Object.entries(c.differences)) {
    diffs.append(DT.el("h3", {}, run), DT.el("ul", {}, lines.length ? lines.map((l) => DT.el("li", { class: "diff" }, l)) : DT.el("li", {}, "none")));
  }
  main.append(diffs);
};
