// Start a training run: a real `desktune train` process; it keeps going if this page closes.
DT.views.train = (main) => {
  const name = DT.el("input", { id: "train-name", placeholder: "run name", required: true });
  const config = DT.el("input", { id: "train-config", placeholder: "config file (empty: the bundled example)", size: 50 });
  const overrides = DT.el("textarea", { id: "train-overrides", rows: 5, placeholder: "key=value overrides, one per line, e.g. train.lr=1e-4" });
  const message = DT.el("p", { id: "train-message" });
  const start = DT.el("button", { id: "train-start", onclick: async () => {
    try {
      const lines = overrides.value.split("\n").map((l) => l.trim()).filter(Boolean);
      await DT.api("/api/train", { method: "POST", body: JSON.stringify({ name: name.value.trim(), config: config.value.trim(), overrides: lines }) });
      location.hash = `#/run/${encodeURIComponent(name.value.trim())}`;
    } catch (e) { message.className = "error"; message.textContent = e.message; }
  } }, "start training");
  main.append(DT.el("h2", {}, "Start a run"), DT.el("div", { class: "card" },
    DT.el("p", { class: "muted" }, "Runs `desktune train CONFIG overrides output=RUNS/NAME`; stop it from its page (as Ctrl-C: it finishes the step and writes a checkpoint)."),
    DT.el("div", { class: "row" }, name, config), overrides, DT.el("div", { class: "row" }, start), message));
};
