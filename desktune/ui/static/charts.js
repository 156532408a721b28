// Line charts with uPlot: one helper builds a chart, and keeps its x count in data-points for anyone
// (a person with devtools, a test) who wants to know what is drawn.
const COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"];

// Learning rates are ~1e-4: uPlot's default ticks would print them as 0.
const tick = (v) => (v === null ? "" : v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(1) : String(+v.toPrecision(6)));

DT.chart = (box, { title, xLabel, yLabel, series, data, logY = false }) => {
  box.innerHTML = "";
  box.append(DT.el("h3", {}, title));
  const plotBox = DT.el("div");
  box.append(plotBox);
  const opts = {
    width: Math.max(320, box.clientWidth - 24), height: 220,
    scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
    axes: [{ label: xLabel }, { label: yLabel, size: 64, values: (u, splits) => splits.map(tick) }],
    series: [{ label: xLabel }, ...series.map((s, i) => ({
      label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      dash: s.dash, points: { show: s.points || false, size: 5 },
    }))],
    legend: { live: true },
  };
  const plot = new uPlot(opts, data, plotBox);
  const count = (d) => d[0].length;  // records drawn (x values)
  box.dataset.points = count(data);
  box.dataset.series = series.length;
  return {
    plot,
    update(d) { plot.setData(d); box.dataset.points = count(d); },
  };
};

// Columns {step: [...], loss: [...], ...} gain the columns of a new batch of records.
DT.extend = (cols, more) => { for (const k of Object.keys(cols)) cols[k].push(...(more[k] || [])); };
