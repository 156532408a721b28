// #/ runs · #/run/NAME · #/compare/A,B · #/chat/NAME · #/train
DT.route = () => {
  DT.cleanup.splice(0).forEach((close) => close());
  const main = document.getElementById("main");
  main.replaceChildren();
  const [, view, arg] = location.hash.match(/^#\/([a-z]*)\/?(.*)$/) || [, "", ""];
  const show = { "": DT.views.runs, run: DT.views.run, compare: DT.views.compare, chat: DT.views.chat, train: DT.views.train }[view] || DT.views.runs;
  Promise.resolve(show(main, view === "compare" ? arg : decodeURIComponent(arg))).catch((e) => main.append(DT.el("p", { class: "error" }, e.message)));
};
window.addEventListener("hashchange", DT.route);
DT.route();
DT.api("/api/models").then(DT.showModels).catch(() => {});
