// One run: its curves live while it trains, then what it decided, its data, samples and report.
DT.views.run = async (main, name) => {
  const head = DT.el("div", { class: "row" });
  const charts = DT.el("div", { class: "grid", id: "charts" });
  const details = DT.el("div", { class: "grid", id: "details" });
  main.append(head, charts, details);
  let detail = null, m = null;
  try {  // both at once: the curves need not wait for the rest
    [detail, m] = await Promise.all([DT.api(`/api/runs/${encodeURIComponent(name)}`), DT.api(`/api/runs/${encodeURIComponent(name)}/metrics`)]);
  } catch (e) {
    return starting(main, name, head, e);
  }
  renderHead(head, name, detail.overview.status);
  const cols = m.columns;
  const preference = /^(dpo|orpo)/.test((detail.decisions || {}).objective || "");
  const plots = drawCurves(charts, cols, detail.planned_memory_gb, preference);
  renderDetails(details, name, detail);
  DT.listen(`/api/events/run/${encodeURIComponent(name)}?offset=${m.offset}`, {
    metrics: (e) => { DT.extend(cols, e.columns); plots.forEach((p) => p.refresh()); },
    status: async (e) => {
      renderHead(head, name, e.status);
      if (e.status !== "running" && e.status !== "starting") {  // the run wrote its summary, samples, report
        renderDetails(details, name, await DT.api(`/api/runs/${encodeURIComponent(name)}`));
      }
    },
    reset: () => DT.route(),
  });
};

function renderHead(head, name, status) {
  const stop = DT.el("button", { id: "stop-run", onclick: async (e) => {
    e.target.disabled = true;
    try { await DT.api(`/api/runs/${encodeURIComponent(name)}/stop`, { method: "POST" }); e.target.textContent = "stopping: finishing the step, writing a checkpoint…"; }
    catch (err) { e.target.textContent = err.message; }
  } }, "stop (as Ctrl-C: finish the step, checkpoint)");
  head.replaceChildren(...[DT.el("h2", {}, name), DT.badge(status), status === "running" ? stop : null,
    DT.el("a", { href: `#/chat/${encodeURIComponent(name)}` }, "chat")].filter(Boolean));
}

function starting(main, name, head, error) {
  head.replaceChildren(DT.el("h2", {}, name), DT.badge("starting"));
  const log = DT.el("pre", { id: "job-log" }, error.message);
  main.append(DT.el("div", { class: "card" }, DT.el("h3", {}, "training process output"), log));
  DT.listen(`/api/events/run/${encodeURIComponent(name)}?offset=0`, {
    job: (j) => {
      if (!j) return;
      log.textContent = j.log || "(no output yet)";
      if (j.returncode !== null) head.replaceChildren(DT.el("h2", {}, name), DT.badge(j.returncode === 0 ? "finished" : "failed"));
    },
    status: (e) => { if (e.status !== "starting") DT.route(); },
  });
}

function drawCurves(box, cols, planned, preference) {
  const card = (id) => { const c = DT.el("div", { class: "card", id }); box.append(c); return c; };
  const calls = (cols.calls_loss || []).some((v) => v !== null);  // tool rows: the loss that picks the kept step
  const specs = [
    ["chart-loss", () => ({ title: "loss against step", xLabel: "step", yLabel: "loss",
      series: [{ label: "train loss" }, { label: "eval loss (held out)", points: true },
        ...(calls ? [{ label: "held-out calls' loss (picks the kept step)", points: true }] : [])],
      data: [cols.step, cols.loss, cols.eval_loss, ...(calls ? [cols.calls_loss] : [])] })],
    ["chart-loss-tokens", () => ({ title: "loss against tokens seen", xLabel: "tokens", yLabel: "loss",
      series: [{ label: "train loss" }, { label: "eval loss", points: true }], data: [cols.tokens, cols.loss, cols.eval_loss] })],
    ["chart-lr", () => ({ title: "learning rate", xLabel: "step", yLabel: "lr", series: [{ label: "lr", color: "#16a34a" }],
      data: [cols.step, cols.lr] })],
    ["chart-speed", () => ({ title: "tokens/s", xLabel: "step", yLabel: "tokens/s", series: [{ label: "tokens/s", color: "#9333ea" }],
      data: [cols.step, cols.tokens_per_s] })],
    ["chart-memory", () => ({ title: "peak memory (GB): measured and planned", xLabel: "step", yLabel: "GB",
      series: [{ label: "measured", color: "#4b5563" }, { label: "planned", color: "#dc2626", dash: [6, 4] }],
      data: [cols.step, cols.memory_gb, cols.step.map(() => planned ?? null)] })],
  ];
  if (preference) specs.splice(2, 0,  // dpo / orpo: how often the chosen answer wins, and by how much
    ["chart-accuracy", () => ({ title: "preference accuracy (chosen reward above rejected)", xLabel: "step", yLabel: "accuracy",
      series: [{ label: "train" }, { label: "held out", points: true }],
      data: [cols.step, cols["rewards/accuracies"], cols["eval_rewards/accuracies"]] })],
    ["chart-rewards", () => ({ title: "rewards: chosen, rejected, held-out margin", xLabel: "step", yLabel: "reward",
      series: [{ label: "chosen", color: "#16a34a" }, { label: "rejected", color: "#dc2626" }, { label: "held-out margin", points: true }],
      data: [cols.step, cols["rewards/chosen"], cols["rewards/rejected"], cols["eval_rewards/margins"]] })]);
  return specs.map(([id, spec]) => {
    const chart = DT.chart(card(id), spec());
    return { refresh: () => chart.update(spec().data) };
  });
}

function renderDetails(box, name, d) {
  const card = (title, id, ...body) => DT.el("div", { class: "card", id }, DT.el("h3", {}, title), ...body);
  const decisions = DT.el("table", {}, Object.entries(d.decisions).map(([k, v]) => DT.el("tr", {}, DT.el("td", {}, k), DT.el("td", {}, v))));
  const cards = [card("every auto decision and why", "decisions", decisions),
    card("resolved config (config.yaml)", "config", DT.el("pre", {}, d.config)),
    dataCard(card, d.data)];
  if (d.failed) cards.unshift(card("failed", "failed", DT.el("pre", { class: "error" }, d.failed)));
  cards.push(card("samples: base vs tuned", "samples", d.samples ? DT.el("pre", {}, d.samples) : DT.el("p", { class: "muted" }, "written when the run ends")));
  cards.push(card("final report", "report", d.report
    ? [DT.el("pre", {}, d.report.replace("![loss](loss.png)", "")), DT.el("img", { src: `/api/runs/${encodeURIComponent(name)}/loss.png?t=${Date.now()}`, style: "max-width:100%" })]
    : DT.el("p", { class: "muted" }, "written when the run ends")));
  box.replaceChildren(...cards);
}

function dataCard(card, data) {
  if (!data || !Object.keys(data).length) return card("data", "data", DT.el("p", { class: "muted" }, "not read yet"));
  const counts = ["train_examples", "eval_examples", "train_tokens", "trained_tokens", "truncated", "dropped", "max_length_seen", "template"]
    .filter((k) => k in data).map((k) => DT.el("tr", {}, DT.el("td", {}, k.replaceAll("_", " ")), DT.el("td", { class: "num" }, data[k])));
  const hist = Object.entries(data.length_histogram || {});
  const most = Math.max(1, ...hist.map(([, n]) => n));
  const bars = hist.map(([range, n]) => DT.el("tr", {}, DT.el("td", {}, range), DT.el("td", { class: "num" }, n),
    DT.el("td", {}, DT.el("span", { class: "bar", style: `width:${Math.round(200 * n / most)}px` }))));
  const example = DT.el("pre", { id: "data-example" });
  // The trained tokens are between [[ and ]] in data.json's example.
  (data.example || "").split(/(\[\[[\s\S]*?\]\])/).forEach((part) => example.append(
    part.startsWith("[[") ? DT.el("mark", { title: "trained" }, part.slice(2, -2)) : part));
  return card("data", "data", DT.el("table", {}, counts), DT.el("h3", {}, "length histogram (tokens)"), DT.el("table", {}, bars),
    DT.el("h3", {}, "one example, trained tokens marked"), example);
}
