// Chat with a run: tokens shown as they come, with the training template; the base model beside the tuned one.
// With tools (a run whose template writes them), a reply's calls are shown as calls once it ends, as parsed on
// the server; a call's result is typed back ("tool result", or /tool RESULT as in `desktune chat`).
DT.views.chat = async (main, name) => {
  const convo = { tuned: [], base: [] };
  const system = DT.el("input", { id: "system", placeholder: "system prompt (optional)", size: 50 });
  const temperature = DT.el("input", { id: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: 0.7, style: "width:5em" });
  const withBase = DT.el("input", { id: "with-base", type: "checkbox", checked: true });
  const input = DT.el("textarea", { id: "chat-input", rows: 3, maxlength: 4000, placeholder: "message (Enter sends, Shift+Enter: new line)" });
  const send = DT.el("button", { id: "send" }, "send");
  const note = DT.el("div", { id: "chat-note", class: "muted" });
  const logs = { tuned: DT.el("div", { id: "log-tuned" }), base: DT.el("div", { id: "log-base" }) };
  const reset = DT.el("button", { id: "reset", onclick: () => { convo.tuned = []; convo.base = []; logs.tuned.replaceChildren(); logs.base.replaceChildren(); note.textContent = ""; showWaiting(); } }, "reset");
  const prompt = DT.el("pre", { id: "prompt-seen" });
  const tools = DT.el("textarea", { id: "tools", rows: 8, spellcheck: "false", placeholder: 'JSON list of functions, e.g. [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]' });
  const toolsBox = DT.el("details", { id: "tools-box", hidden: true }, DT.el("summary", {}, "tools the model may call (JSON; empty: none)"), tools);
  const result = DT.el("input", { id: "tool-result", size: 60 });
  const giveResult = DT.el("button", { id: "send-result" }, "give result");
  const resultRow = DT.el("div", { class: "row", id: "tool-result-row", hidden: true }, result, giveResult);
  main.append(DT.el("div", { class: "row" }, DT.el("h2", {}, `Chat: ${name}`), DT.el("a", { href: `#/run/${encodeURIComponent(name)}` }, "run")),
    DT.el("div", { class: "row" }, system, DT.el("label", {}, "temperature ", temperature), DT.el("label", {}, withBase, " base model beside"), reset),
    toolsBox,
    DT.el("div", { class: "chat-cols" },
      DT.el("div", { class: "card" }, DT.el("h3", {}, "tuned"), logs.tuned),
      DT.el("div", { class: "card", id: "base-col" }, DT.el("h3", {}, "base (adapter off)"), logs.base)),
    resultRow, DT.el("div", { class: "row" }, input, send), note,
    DT.el("details", {}, DT.el("summary", {}, "the prompt exactly as the model reads it (training template)"), prompt));
  DT.showModels(await DT.api("/api/models"));
  // Loads the model: the tools box appears where the run's template can write tools, filled with the run's own.
  DT.api(`/api/chat/${encodeURIComponent(name)}/tools`).then((t) => {
    DT.showModels(t.models);
    if (!t.tool_format) return;
    if (!tools.value && t.tools.length) tools.value = JSON.stringify(t.tools, null, 2);
    toolsBox.hidden = false; toolsBox.open = true; toolsBox.dataset.format = t.tool_format;
  }).catch(() => {});  // an unfinished run: sending a message says why

  // The calls of a side's last reply that have no result yet, in order (as `desktune chat` counts them).
  const waiting = (side) => {
    let results = 0;
    for (let i = convo[side].length - 1; i >= 0; i--) {
      const m = convo[side][i];
      if (m.role === "assistant") return (m.tool_calls || []).map((c) => c.name).slice(results);
      if (m.role === "tool") results++;
    }
    return [];
  };
  const showWaiting = () => {
    const names = ["tuned", "base"].map((s) => waiting(s)[0]).filter(Boolean);
    resultRow.hidden = !names.length;
    result.placeholder = names.length ? `tool result for ${[...new Set(names)].join(" / ")} (JSON or text; Enter gives it)` : "";
  };
  const callBlock = (c) => DT.el("div", { class: "call", "data-name": c.name },
    DT.el("div", { class: "call-head" }, "call ", DT.el("b", { class: "call-name" }, c.name)),
    DT.el("pre", { class: "call-args" }, JSON.stringify(c.arguments, null, 2)));
  const rawBlock = (raw) => DT.el("div", { class: "call unparsed" },
    DT.el("div", { class: "call-head" }, DT.el("span", { class: "unparsed-mark" }, "unparsed"), " a call the parser could not read, as written"),
    DT.el("pre", { class: "call-raw" }, raw));
  const showReply = (out, e) => {
    if (!e.calls.length && !e.raw_calls.length) { out.textContent = e.text; return; }
    out.replaceChildren(...(e.content ? [DT.el("div", { class: "words" }, e.content)] : []), ...e.calls.map(callBlock), ...e.raw_calls.map(rawBlock));
    out.dataset.calls = e.calls.length; out.dataset.unparsed = e.raw_calls.length;
  };
  const showMessage = (side, m) => logs[side].append(m.role === "tool"
    ? DT.el("div", { class: "msg tool" }, DT.el("span", { class: "call-head" }, `result of ${m.name}: `), m.content)
    : DT.el("div", { class: "msg user" }, m.content));

  // Adds message (the user's words or a call's result) to a side's conversation and streams the model's answer.
  const ask = async (side, message) => {
    convo[side].push(message);
    showMessage(side, message);
    const out = DT.el("div", { class: "msg assistant", "data-state": "streaming" });
    logs[side].append(out);
    const body = { messages: convo[side], system: system.value, temperature: Number(temperature.value), base: side === "base" };
    if (!toolsBox.hidden) body.tools = tools.value;  // sent as typed: the server checks it, a bad list is a 400
    const r = await fetch(`/api/chat/${encodeURIComponent(name)}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) { out.className = "msg error"; out.textContent = (await r.json().catch(() => ({}))).error || r.statusText; convo[side].pop(); return; }
    await DT.readEvents(r, {
      start: (e) => { if (side === "tuned") prompt.textContent = e.prompt; DT.showModels(e.models); },
      token: (e) => { out.textContent += e.text; out.dataset.pieces = Number(out.dataset.pieces || 0) + 1; out.dataset.streamed = out.textContent; },
      done: (e) => { showReply(out, e); out.dataset.state = "done"; if (!e.text) out.dataset.empty = "1"; out.title = e.finished ? "ended by the end-of-turn token" : "stopped at the token limit"; convo[side].push(e.message); showWaiting(); },
      error: (e) => { out.dataset.state = "error"; out.className = "msg error"; out.textContent = e.error; convo[side].pop(); },
    });
  };
  const busy = async (work) => {
    send.disabled = giveResult.disabled = true;
    try { await work(); } finally { send.disabled = giveResult.disabled = false; showWaiting(); input.focus(); }
  };
  // A call's result goes to each side whose last reply waits for one; that side answers once all its calls have one.
  const answerCall = (text) => {
    if (!text) { note.textContent = "usage: /tool RESULT (the result of the model's call, JSON or text)"; return; }
    const sides = ["tuned", "base"].filter((s) => waiting(s).length);
    if (!sides.length) { note.textContent = "no call is waiting for a result: the model's last reply called no function; nothing added"; return; }
    note.textContent = "";
    return busy(() => Promise.all(sides.map((side) => {
      const message = { role: "tool", name: waiting(side)[0], content: text };
      if (waiting(side).length > 1) { convo[side].push(message); showMessage(side, message); return null; }
      return ask(side, message);
    })));
  };
  const go = async () => {
    const text = input.value.trim();
    if (!text) return;
    if (text === "/tool" || text.startsWith("/tool ") || text.startsWith("/tool\n")) { input.value = ""; return answerCall(text.slice(5).trim()); }
    const sides = ["tuned", ...(withBase.checked ? ["base"] : [])];
    const blocked = sides.find((s) => waiting(s).length);
    if (blocked) { note.textContent = `the model called ${waiting(blocked)[0]} and waits for its result: type it in the tool result box (or /tool RESULT), or reset`; return; }
    input.value = ""; note.textContent = "";
    await busy(() => Promise.all(sides.map((side) => ask(side, { role: "user", content: text }))));
  };
  send.addEventListener("click", go);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); go(); } });
  const give = () => { const text = result.value.trim(); result.value = ""; answerCall(text); };
  giveResult.addEventListener("click", give);
  result.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); give(); } });
  system.addEventListener("change", () => reset.click());  // a new system prompt starts a new conversation
};
