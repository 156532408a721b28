// Chat with a run: tokens shown as they come, with the training template; the base model beside the tuned one.
DT.views.chat = async (main, name) => {
  const convo = { tuned: [], base: [] };
  const system = DT.el("input", { id: "system", placeholder: "system prompt (optional)", size: 50 });
  const temperature = DT.el("input", { id: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: 0.7, style: "width:5em" });
  const withBase = DT.el("input", { id: "with-base", type: "checkbox", checked: true });
  const input = DT.el("textarea", { id: "chat-input", rows: 3, maxlength: 4000, placeholder: "message (Enter sends, Shift+Enter: new line)" });
  const send = DT.el("button", { id: "send" }, "send");
  const reset = DT.el("button", { id: "reset", onclick: () => { convo.tuned = []; convo.base = []; logs.tuned.replaceChildren(); logs.base.replaceChildren(); } }, "reset");
  const logs = { tuned: DT.el("div", { id: "log-tuned" }), base: DT.el("div", { id: "log-base" }) };
  const prompt = DT.el("pre", { id: "prompt-seen" });
  main.append(DT.el("div", { class: "row" }, DT.el("h2", {}, `Chat: ${name}`), DT.el("a", { href: `#/run/${encodeURIComponent(name)}` }, "run")),
    DT.el("div", { class: "row" }, system, DT.el("label", {}, "temperature ", temperature), DT.el("label", {}, withBase, " base model beside"), reset),
    DT.el("div", { class: "chat-cols" },
      DT.el("div", { class: "card" }, DT.el("h3", {}, "tuned"), logs.tuned),
      DT.el("div", { class: "card", id: "base-col" }, DT.el("h3", {}, "base (adapter off)"), logs.base)),
    DT.el("div", { class: "row" }, input, send),
    DT.el("details", {}, DT.el("summary", {}, "the prompt exactly as the model reads it (training template)"), prompt));
  DT.showModels(await DT.api("/api/models"));

  const ask = async (side, text) => {
    convo[side].push({ role: "user", content: text });
    logs[side].append(DT.el("div", { class: "msg user" }, text));
    const out = DT.el("div", { class: "msg assistant", "data-state": "streaming" });
    logs[side].append(out);
    const body = { messages: convo[side], system: system.value, temperature: Number(temperature.value), base: side === "base" };
    const r = await fetch(`/api/chat/${encodeURIComponent(name)}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) { out.className = "msg error"; out.textContent = (await r.json().catch(() => ({}))).error || r.statusText; convo[side].pop(); return; }
    await DT.readEvents(r, {
      start: (e) => { if (side === "tuned") prompt.textContent = e.prompt; DT.showModels(e.models); },
      token: (e) => { out.textContent += e.text; out.dataset.pieces = Number(out.dataset.pieces || 0) + 1; out.dataset.streamed = out.textContent; },
      done: (e) => { out.textContent = e.text; out.dataset.state = "done"; if (!e.text) out.dataset.empty = "1"; out.title = e.finished ? "ended by the end-of-turn token" : "stopped at the token limit"; convo[side].push({ role: "assistant", content: e.text || "…" }); },
      error: (e) => { out.dataset.state = "error"; out.className = "msg error"; out.textContent = e.error; convo[side].pop(); },
    });
  };
  const go = async () => {
    const text = input.value.trim();
    if (!text) return;
    input.value = ""; send.disabled = true;
    try { await Promise.all(["tuned", ...(withBase.checked ? ["base"] : [])].map((side) => ask(side, text))); }
    finally { send.disabled = false; input.focus(); }
  };
  send.addEventListener("click", go);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); go(); } });
  system.addEventListener("change", () => reset.click());  // a new system prompt starts a new conversation
};
